"""Aggregate snapshots: a stream's folded state at version V, so a load folds only
the events after V instead of the whole stream (docs/snapshots.md).

A snapshot is derived data and never changes what a load returns:

- it is keyed by stream and by `fingerprint(store)`: the snapshot format, the upcaster
  chain and the source of the code that folds (projections' code fingerprint plus the
  aggregate and snapshot modules). Code that folds differently never reads another
  code's snapshot; old and new code can share a store, each with its own snapshots.
- a load re-reads the event at V and uses the snapshot only if that event is still at
  the position the snapshot recorded, so a log replaced under the snapshot is noticed.
- a snapshot that does not decode, fails its checksum or does not have the expected
  shape is ignored (logged at debug level) and the stream is folded from version 1.
- writing one never fails the command or load that triggered it (logged at debug level;
  after a failed write, e.g. on a read-only store file, this process stops writing them).

The state is the aggregate's whole MemoryDocumentSet (its own document and the stubs
its stream created), encoded with the store's codec, so it is compressed and
encrypted exactly like the events it was folded from.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from eventstate.domain.aggregates import FoldedState
from eventstate.store import EventStore
from projections import MACHINE_KEYS, MODEL_KEYS, MemoryDocumentSet
from projections.fingerprint import code_fingerprint, module_source

log = logging.getLogger(__name__)

# A load folds at most this many events on top of a snapshot before it writes a newer
# one (Repository(snapshot_every=...); 0 turns snapshots off).
DEFAULT_SNAPSHOT_EVERY = 100

# The layout of a stored snapshot; part of the fingerprint, so a new layout starts afresh.
SNAPSHOT_FORMAT = "aggregate-snapshot-1"
# Modules whose source decides what a snapshot holds, beside the projection fold's.
SNAPSHOT_CODE_MODULES = ("eventstate.domain.aggregates", "eventstate.snapshots.base")

_CHECKSUM_BYTES = 16
_MACHINE_KEYS = frozenset(MACHINE_KEYS)
_MODEL_KEYS = frozenset(MODEL_KEYS)
_UNIT_KEYS = frozenset({"model_uuid", "unit", "machine_id", "destroyed"})


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    """A snapshot as a storage holds it: `state` is opaque bytes (Snapshots encodes)."""

    version: int
    position: int
    state: bytes


class SnapshotStorage(Protocol):
    """Where a backend keeps snapshots: one per (stream, fingerprint), the newest."""

    def read(self, stream: str, fingerprint: str) -> StoredSnapshot | None: ...

    def write(self, stream: str, fingerprint: str, snapshot: StoredSnapshot) -> None:
        """Store it unless one of a higher or equal version is there already: a slow
        writer never replaces a newer snapshot."""
        ...


def storage_for(store: EventStore) -> SnapshotStorage | None:
    """The snapshot storage of the store's backend, or None when it has none."""
    backend = store.backend
    from eventstate.backends.sqlite import SQLiteBackend

    if isinstance(backend, SQLiteBackend):  # sqlite:/// files and memory://
        from eventstate.snapshots.sqlite import SQLiteSnapshotStorage

        return SQLiteSnapshotStorage(backend)
    if type(backend).__name__ == "MongoBackend":  # by name: no pymongo import otherwise
        from eventstate.backends.mongodb import MongoBackend
        from eventstate.snapshots.mongodb import MongoSnapshotStorage

        if isinstance(backend, MongoBackend):
            return MongoSnapshotStorage(backend)
    return None


def fingerprint(store: EventStore) -> str:
    """What a snapshot is keyed by besides its stream (see the module docstring)."""
    return _fingerprint(store.chain.fingerprint())


@lru_cache(maxsize=8)
def _fingerprint(chain_fingerprint: str) -> str:
    parts = [SNAPSHOT_FORMAT.encode(), code_fingerprint().encode(), chain_fingerprint.encode()]
    for name in SNAPSHOT_CODE_MODULES:
        parts += [name.encode(), module_source(name)]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguity
        digest.update(part)
    return digest.hexdigest()[:32]


class Snapshots:
    """Reads and writes one store's snapshots; never raises to its caller."""

    def __init__(self, store: EventStore, storage: SnapshotStorage, every: int) -> None:
        if every < 1:
            raise ValueError(f"snapshot_every must be at least 1, not {every}")
        self.store = store
        self.storage = storage
        self.every = every
        self.fingerprint = fingerprint(store)
        self.writable = True

    @classmethod
    def for_store(cls, store: EventStore, every: int) -> Snapshots | None:
        """Snapshots every `every` events, or None when off (0) or not supported."""
        if every <= 0:
            return None
        storage = storage_for(store)
        return None if storage is None else cls(store, storage, every)

    def due(self, version: int, snapshot_version: int) -> bool:
        return self.writable and version - snapshot_version >= self.every

    def read(self, stream: str) -> FoldedState | None:
        """The stream's latest usable snapshot, or None (missing or ignored)."""
        try:
            stored = self.storage.read(stream, self.fingerprint)
        except Exception as exc:  # derived data: a failing read only costs a full fold
            log.debug("snapshot of %s not read: %s", stream, exc)
            return None
        if stored is None:
            return None
        try:
            return self._decode(stream, stored)
        except Exception as exc:
            log.debug(
                "snapshot of %s at version %s ignored (folding from version 1): %s",
                stream,
                stored.version,
                exc,
            )
            return None

    def write(self, stream: str, state: FoldedState) -> bool:
        """Store the state as the stream's snapshot; False when it was not written."""
        if not self.writable:
            return False
        try:
            blob = self._encode(stream, state)
        except Exception as exc:  # a state the codec cannot hold: skip this one only
            log.debug("snapshot of %s at version %s not encoded: %s", stream, state.version, exc)
            return False
        try:
            self.storage.write(
                stream, self.fingerprint, StoredSnapshot(state.version, state.position, blob)
            )
        except Exception as exc:
            # Read-only file, full disk, lost server: stop trying in this process.
            self.writable = False
            log.debug("snapshot of %s not written, no more snapshot writes: %s", stream, exc)
            return False
        return True

    # --- encoding ---------------------------------------------------------------------

    def _encode(self, stream: str, state: FoldedState) -> bytes:
        docs = state.docs
        body = self.store.codec.encode(
            {
                "format": SNAPSHOT_FORMAT,
                "stream": stream,
                "version": state.version,
                "position": state.position,
                "machines": docs.machines(),
                "models": docs.models(),
                "units": docs.units(),
            }
        )
        return _checksum(body) + body

    def _decode(self, stream: str, stored: StoredSnapshot) -> FoldedState:
        checksum, body = stored.state[:_CHECKSUM_BYTES], stored.state[_CHECKSUM_BYTES:]
        if checksum != _checksum(body):
            raise ValueError("checksum mismatch")
        where = f"snapshot of {stream} at version {stored.version}"
        payload = self.store.codec.decode(body, where)
        header = tuple(payload.get(key) for key in ("format", "stream", "version", "position"))
        if header != (SNAPSHOT_FORMAT, stream, stored.version, stored.position):
            raise ValueError(f"header {header} does not match the stored row")
        docs = MemoryDocumentSet()
        for doc in _documents(payload, "machines", _MACHINE_KEYS):
            docs.put_machine(doc)
        for doc in _documents(payload, "models", _MODEL_KEYS):
            docs.put_model(doc)
        for doc in _documents(payload, "units", _UNIT_KEYS):
            docs.put_unit(doc)
        return FoldedState(stored.version, stored.position, docs)


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=_CHECKSUM_BYTES).digest()


def _documents(payload: dict[str, Any], kind: str, keys: frozenset[str]) -> Iterable[Any]:
    docs = payload.get(kind)
    if type(docs) is not list:
        raise ValueError(f"{kind} is not a list")
    for doc in docs:
        if type(doc) is not dict or doc.keys() != keys:
            raise ValueError(f"a {kind} entry does not have the document's keys")
    return docs
