"""Output files: HDF5 snapshots (one module owns writing and reading) and the XDMF index for ParaView."""
from .hdf5 import SnapshotWriter, read_snapshot, snapshot_steps

__all__ = ["SnapshotWriter", "read_snapshot", "snapshot_steps"]
