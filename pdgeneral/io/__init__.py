"""Output files: HDF5 snapshots (one module owns writing and reading), each in its own file under
OUT.h5.d/ and linked from OUT.h5, and the XDMF index for ParaView."""
from .hdf5 import SnapshotWriter, data_folder, read_snapshot, snapshot_steps

__all__ = ["SnapshotWriter", "data_folder", "read_snapshot", "snapshot_steps"]
