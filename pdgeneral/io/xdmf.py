"""XDMF 2 index of an HDF5 output file, so that ParaView opens the time series directly.

Points are Polyvertex cells on /particles/position; each snapshot is one grid of a temporal
collection with displacement and velocity (vectors) and damage (scalar) as point attributes.
"""
from __future__ import annotations

import os
from pathlib import Path

_TYPES = {"float64": ("Float", 8), "float32": ("Float", 4)}


def write_xdmf(h5_path: Path, particle_count: int, dimension: int, steps: list[tuple[int, float]],
               dtype: str) -> Path:
    """Write <name>.xdmf next to the HDF5 file, atomically (write then rename)."""
    h5_name = h5_path.name
    number, precision = _TYPES[dtype]
    geometry_type = "XYZ" if dimension == 3 else "XY"
    n = particle_count
    def item(dimensions: str, number_type: str, size: int, path: str) -> str:
        return (f'<DataItem Dimensions="{dimensions}" NumberType="{number_type}" Precision="{size}" '
                f'Format="HDF">{path}</DataItem>')

    vectors = f"{n} {dimension}"
    grids = []
    for step, time in steps:
        base = f"{h5_name}:/steps/{step:08d}"
        grids.append(f"""      <Grid Name="step {step}" GridType="Uniform">
        <Time Value="{time!r}"/>
        <Topology TopologyType="Polyvertex" NumberOfElements="{n}" NodesPerElement="1"/>
        <Geometry GeometryType="{geometry_type}">
          {item(vectors, "Float", 8, f"{h5_name}:/particles/position")}
        </Geometry>
        <Attribute Name="displacement" AttributeType="Vector" Center="Node">
          {item(vectors, number, precision, f"{base}/displacement")}
        </Attribute>
        <Attribute Name="velocity" AttributeType="Vector" Center="Node">
          {item(vectors, number, precision, f"{base}/velocity")}
        </Attribute>
        <Attribute Name="damage" AttributeType="Scalar" Center="Node">
          {item(str(n), number, precision, f"{base}/damage")}
        </Attribute>
      </Grid>""")
    text = ('<?xml version="1.0" ?>\n<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>\n<Xdmf Version="2.0">\n'
            '  <Domain>\n    <Grid Name="particles" GridType="Collection" CollectionType="Temporal">\n'
            + "\n".join(grids) + "\n    </Grid>\n  </Domain>\n</Xdmf>\n")
    path = h5_path.with_suffix(".xdmf")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
