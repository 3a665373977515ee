"""The read API that the CLI and state servers call: documents.md's documents.

Every read first catches this code's copy up to the log head (`runner.catch_up`), so a
caller reads its own writes and every write committed before the read began. Documents
come out with exactly documents.md's keys, in the 3.0 shape whatever release the store
is at: machines by model uuid then numeric id, models by uuid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from eventstate.errors import EventStateError, NotFoundError
from eventstate.store import EventStore
from projections.documents import (
    MACHINE_KEYS,
    MODEL_KEYS,
    Document,
    current_machine_id,
    machine_sort_key,
)
from projections.runner import catch_up
from projections.storage import MACHINE, MODEL, CopyGoneError, CopyInfo, storage_for
from projections.storage.base import machine_key, model_key, model_prefix

T = TypeVar("T")

_ATTEMPTS = 20


def machines(store: EventStore, model_uuid: str | None = None) -> list[Document]:
    """Machine documents (of one model, if given), by model uuid then numeric id.
    NotFoundError for a model uuid the store has never heard of."""
    prefix = "" if model_uuid is None else model_prefix(model_uuid)

    def read(copy: CopyInfo) -> tuple[list[Document], Document | None]:
        storage = storage_for(store)
        found = storage.read_documents(copy, MACHINE, prefix)
        model = None if found or model_uuid is None else _model_doc(store, copy, model_uuid)
        return found, model

    docs, model = _read(store, read)
    if model_uuid is not None and not docs and model is None:
        raise NotFoundError(f"model {model_uuid} not found")
    docs.sort(key=_machine_order)
    return [_shape(doc, MACHINE_KEYS) for doc in docs]


def models(store: EventStore) -> list[Document]:
    """Model documents by uuid."""
    docs = _read(store, lambda copy: storage_for(store).read_documents(copy, MODEL))
    docs.sort(key=lambda doc: doc["model_uuid"])
    return [_shape(doc, MODEL_KEYS) for doc in docs]


def model(store: EventStore, model_uuid: str) -> Document:
    """One model document; NotFoundError when there is none."""
    doc = _read(store, lambda copy: _model_doc(store, copy, model_uuid))
    if doc is None:
        raise NotFoundError(f"model {model_uuid} not found")
    return _shape(doc, MODEL_KEYS)


def machine(store: EventStore, model_uuid: str, machine_id: str) -> Document:
    """One machine document; NotFoundError when there is none. An id in a 1.x spelling
    (`0/lxc/1`) finds the machine under its 3.0 id (`0/lxd/1`)."""
    wanted = current_machine_id(machine_id)
    key = machine_key(model_uuid, wanted)
    doc = _read(store, lambda copy: storage_for(store).read_document(copy, MACHINE, key))
    if doc is None:
        if not _read(store, lambda copy: _model_doc(store, copy, model_uuid)):
            raise NotFoundError(f"model {model_uuid} not found")
        raise NotFoundError(f"machine {machine_id} not found in model {model_uuid}")
    return _shape(doc, MACHINE_KEYS)


def _model_doc(store: EventStore, copy: CopyInfo, model_uuid: str) -> Document | None:
    return storage_for(store).read_document(copy, MODEL, model_key(model_uuid))


def _read(store: EventStore, read: Callable[[CopyInfo], T]) -> T:
    """Catch up, then read from the copy caught up; again if a rebuild switched copies
    between the two (the copy read is then newer, never older)."""
    for _attempt in range(_ATTEMPTS):
        copy = catch_up(store)
        try:
            return read(copy)
        except CopyGoneError:
            continue
    raise EventStateError("projection copies keep changing under this read; try again")


def _machine_order(doc: Document) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    return doc["model_uuid"], machine_sort_key(doc["id"])


def _shape(doc: Document, keys: tuple[str, ...]) -> Document:
    """Exactly documents.md's keys, in its order."""
    return {key: doc[key] for key in keys}
