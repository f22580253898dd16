"""XDMF 2 index of an output, so that ParaView opens the time series directly.

Points are Polyvertex cells on the particles' reference positions; each snapshot is one grid of a
temporal collection with displacement and velocity (vectors) and damage (scalar) as point attributes.
The index refers to the snapshot files themselves (not through the external links of OUT.h5), by
paths relative to its own folder: a reader of the index only ever opens files that never change.
This module builds the text; hdf5.py writes it, atomically, with the rest of the output.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

_TYPES = {"float64": ("Float", 8), "float32": ("Float", 4)}


def xdmf_path(h5_path: Path) -> Path:
    """The index of an output: OUT.h5 -> OUT.xdmf, next to it."""
    return h5_path.with_suffix(".xdmf")


def xdmf_document(particles_file: str, snapshots: list[tuple[int, float, str]], particle_count: int,
                  dimension: int, dtype: str) -> str:
    """The XDMF text. ``particles_file`` holds /position; each snapshot is (step, time, file) with the
    file holding /displacement, /velocity, /damage; file paths are relative to the index's folder."""
    number, precision = _TYPES[dtype]
    geometry_type = "XYZ" if dimension == 3 else "XY"
    n = particle_count

    def item(dimensions: str, number_type: str, size: int, file: str, dataset: str) -> str:
        return (f'<DataItem Dimensions="{dimensions}" NumberType="{number_type}" Precision="{size}" '
                f'Format="HDF">{escape(file)}:{dataset}</DataItem>')

    vectors = f"{n} {dimension}"
    grids = []
    for step, time, file in snapshots:
        grids.append(f"""      <Grid Name="step {step}" GridType="Uniform">
        <Time Value="{time!r}"/>
        <Topology TopologyType="Polyvertex" NumberOfElements="{n}" NodesPerElement="1"/>
        <Geometry GeometryType="{geometry_type}">
          {item(vectors, "Float", 8, particles_file, "/position")}
        </Geometry>
        <Attribute Name="displacement" AttributeType="Vector" Center="Node">
          {item(vectors, number, precision, file, "/displacement")}
        </Attribute>
        <Attribute Name="velocity" AttributeType="Vector" Center="Node">
          {item(vectors, number, precision, file, "/velocity")}
        </Attribute>
        <Attribute Name="damage" AttributeType="Scalar" Center="Node">
          {item(str(n), number, precision, file, "/damage")}
        </Attribute>
      </Grid>""")
    return ('<?xml version="1.0" ?>\n<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>\n<Xdmf Version="2.0">\n'
            '  <Domain>\n    <Grid Name="particles" GridType="Collection" CollectionType="Temporal">\n'
            + "\n".join(grids) + "\n    </Grid>\n  </Domain>\n</Xdmf>\n")
