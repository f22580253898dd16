"""XDMF 2 index of an output, so that ParaView opens the time series directly.

Points are Polyvertex cells on the particles' reference positions; each snapshot is one grid of a
temporal collection with the fields its file holds as point attributes: (N, dim) arrays
(displacement, velocity) as vectors, (N,) arrays (damage, strain_energy_density) as scalars, each
with the number type it is stored in (snapshots of one output may differ: a resume may change
output.precision or output.fields). Compressed datasets need nothing here: the HDF5 library the
reader uses decompresses them. The index refers to the snapshot files themselves (not through the
external links of OUT.h5), by paths relative to its own folder: a reader of the index only ever
opens files that never change. This module builds the text; hdf5.py writes it, atomically, with the
rest of the output.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

_TYPES = {"float64": ("Float", 8), "float32": ("Float", 4), "int64": ("Int", 8), "int32": ("Int", 4),
          "uint32": ("UInt", 4), "uint8": ("UChar", 1)}

#: A snapshot field as stored: (name, dtype name, number of dimensions: 1 scalar, 2 vector).
Field = tuple[str, str, int]


def xdmf_path(h5_path: Path) -> Path:
    """The index of an output: OUT.h5 -> OUT.xdmf, next to it."""
    return h5_path.with_suffix(".xdmf")


def xdmf_document(particles_file: str, snapshots: list[tuple[int, float, str, tuple[Field, ...]]],
                  particle_count: int, dimension: int) -> str:
    """The XDMF text. ``particles_file`` holds /position; each snapshot is (step, time, file, fields)
    with ``fields`` the (name, dtype, ndim) of the datasets /<name> of that file to list; file paths
    are relative to the index's folder."""
    geometry_type = "XYZ" if dimension == 3 else "XY"
    n = particle_count

    def item(dimensions: str, dtype: str, file: str, dataset: str) -> str:
        number, size = _TYPES[dtype]
        return (f'<DataItem Dimensions="{dimensions}" NumberType="{number}" Precision="{size}" '
                f'Format="HDF">{escape(file)}:{dataset}</DataItem>')

    vectors = f"{n} {dimension}"
    grids = []
    for step, time, file, fields in snapshots:
        attributes = "".join(
            f"""
        <Attribute Name="{escape(name)}" AttributeType="{'Vector' if ndim == 2 else 'Scalar'}" Center="Node">
          {item(vectors if ndim == 2 else str(n), dtype, file, '/' + name)}
        </Attribute>""" for name, dtype, ndim in fields)
        grids.append(f"""      <Grid Name="step {step}" GridType="Uniform">
        <Time Value="{time!r}"/>
        <Topology TopologyType="Polyvertex" NumberOfElements="{n}" NodesPerElement="1"/>
        <Geometry GeometryType="{geometry_type}">
          {item(vectors, "float64", particles_file, "/position")}
        </Geometry>{attributes}
      </Grid>""")
    return ('<?xml version="1.0" ?>\n<!DOCTYPE Xdmf SYSTEM "Xdmf.dtd" []>\n<Xdmf Version="2.0">\n'
            '  <Domain>\n    <Grid Name="particles" GridType="Collection" CollectionType="Temporal">\n'
            + "\n".join(grids) + "\n    </Grid>\n  </Domain>\n</Xdmf>\n")
