"""Where projection copies live: in the store's own database, one storage per backend.

`storage_for(store)` gives the store's `ProjectionStorage` (base.py holds the protocol
and its contract); one instance per open store, so its document cache is shared by
every read of the process.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from weakref import WeakKeyDictionary

from eventstate.errors import EventStateError
from eventstate.store import EventStore
from projections.storage.base import (
    BUILDING,
    KINDS,
    MACHINE,
    MODEL,
    READY,
    RETIRED,
    UNIT,
    CatchUpConflictError,
    CatchUpSession,
    CopyGoneError,
    CopyInfo,
    CopyKey,
    ProjectionStorage,
    PublishSession,
    document_key,
    partition_of,
)
from projections.storage.codec import DocumentCodec

__all__ = [
    "BUILDING",
    "KINDS",
    "MACHINE",
    "MODEL",
    "READY",
    "RETIRED",
    "UNIT",
    "CatchUpConflictError",
    "CatchUpSession",
    "CopyGoneError",
    "CopyInfo",
    "CopyKey",
    "DocumentCodec",
    "ProjectionStorage",
    "PublishSession",
    "document_key",
    "partition_of",
    "storage_for",
]

_STORAGES: WeakKeyDictionary[EventStore, ProjectionStorage] = WeakKeyDictionary()
_LOCK = threading.Lock()

# Backends other than SQLite: backend class name -> "module:class" of its storage.
_OTHER_STORAGES = {"MongoBackend": "projections.storage.mongodb:MongoProjectionStorage"}


def storage_for(store: EventStore) -> ProjectionStorage:
    """The projection storage of `store` (created, with its tables, on first use)."""
    with _LOCK:
        storage = _STORAGES.get(store)
        if storage is None:
            storage = _STORAGES[store] = _open(store)
        return storage


def _open(store: EventStore) -> ProjectionStorage:
    from eventstate.backends.sqlite import SQLiteBackend

    backend = store.backend
    codec = DocumentCodec.for_store(store)
    if isinstance(backend, SQLiteBackend):
        from projections.storage.sqlite import SQLiteProjectionStorage

        return SQLiteProjectionStorage(backend, codec)
    target = _OTHER_STORAGES.get(type(backend).__name__)
    if target is None:
        raise EventStateError(f"projections are not supported on {type(backend).__name__}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise EventStateError(
            f"projections are not available on {type(backend).__name__} yet"
        ) from None
    factory = getattr(module, class_name)
    # A storage that takes the document codec encrypts documents like the log.
    takes_codec = "codec" in inspect.signature(factory).parameters
    storage: ProjectionStorage = factory(backend, codec=codec) if takes_codec else factory(backend)
    return storage
