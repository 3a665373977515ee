"""Aggregate snapshots in the MongoDB store's own database.

One collection, `aggregate_snapshots`: `{_id: "<fingerprint>|<stream>", version,
position, state}`. A write is one conditional upsert: it replaces the stored snapshot
only when its version is higher, and a DuplicateKeyError means a snapshot as new or
newer is there already. Snapshots are derived data, so neither side needs a session
or a transaction.
"""

from __future__ import annotations

from contextlib import suppress

from pymongo.errors import DuplicateKeyError

from eventstate.backends.mongodb import MongoBackend
from eventstate.snapshots.base import StoredSnapshot

COLLECTION = "aggregate_snapshots"


class MongoSnapshotStorage:
    def __init__(self, backend: MongoBackend) -> None:
        self.collection = backend.collection(COLLECTION)

    def read(self, stream: str, fingerprint: str) -> StoredSnapshot | None:
        doc = self.collection.find_one({"_id": _key(stream, fingerprint)})
        if doc is None:
            return None
        return StoredSnapshot(int(doc["version"]), int(doc["position"]), bytes(doc["state"]))

    def write(self, stream: str, fingerprint: str, snapshot: StoredSnapshot) -> None:
        key = _key(stream, fingerprint)
        fields = {
            "version": snapshot.version,
            "position": snapshot.position,
            "state": snapshot.state,
        }
        # A snapshot at this version or a newer one is stored already: keep it.
        with suppress(DuplicateKeyError):
            self.collection.update_one(
                {"_id": key, "version": {"$lt": snapshot.version}}, {"$set": fields}, upsert=True
            )


def _key(stream: str, fingerprint: str) -> str:
    return f"{fingerprint}|{stream}"
