"""Aggregate snapshots (docs/snapshots.md): `base` holds the protocol and the
fingerprinted encoding; `sqlite` and `mongodb` store them for their backends."""

from eventstate.snapshots.base import (
    DEFAULT_SNAPSHOT_EVERY,
    Snapshots,
    SnapshotStorage,
    StoredSnapshot,
    fingerprint,
    storage_for,
)

__all__ = [
    "DEFAULT_SNAPSHOT_EVERY",
    "SnapshotStorage",
    "Snapshots",
    "StoredSnapshot",
    "fingerprint",
    "storage_for",
]
