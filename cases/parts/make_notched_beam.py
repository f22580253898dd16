"""Writes notched_beam.stl, the body of cases/notched_beam_3d.yaml (run once; the STL is shipped).

A beam 100 mm long (x), 20 mm high (y), 10 mm wide (z), with a notch 2 mm wide and 6 mm deep
(a/H = 0.3) from the bottom face at mid-length: a box less a box, through trimesh's boolean
difference. Lengths in mm (the case reads it with scale 1.0e-3). Every face lies on a whole
millimetre, so on the 1 mm lattice of the case no particle centre lies on the surface.
Needs trimesh and manifold3d (its boolean engine; not a dependency of pdgeneral):
    pip install trimesh manifold3d && python cases/parts/make_notched_beam.py
"""
from pathlib import Path

import trimesh

beam = trimesh.creation.box(bounds=[[0.0, 0.0, 0.0], [100.0, 20.0, 10.0]])
# the notch box reaches below and beside the beam, so that no face of the difference is shared
notch = trimesh.creation.box(bounds=[[49.0, -1.0, -1.0], [51.0, 6.0, 11.0]])
body = beam.difference(notch)
assert body.is_watertight and abs(body.volume - (100 * 20 * 10 - 2 * 6 * 10)) < 1e-9
path = Path(__file__).with_name("notched_beam.stl")
body.export(path, file_type="stl_ascii")
print(f"wrote {path}: {len(body.faces)} triangles, volume {body.volume:g} mm^3")
