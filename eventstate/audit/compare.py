"""verify's projection check: the stored projection copy against a fresh fold of the log.

Each share of the pass reads the stored documents of its own models (one key range per
model, or everything when it is the only share) before it starts, folds the log up to
the copy's position and compares document by document. Reads are consistent: the copy's
position is read before and after, and a catch-up that moved it in between makes the
share read again at the new position (a catch-up writes documents and position in one
transaction, so an unchanged position means the documents belong to it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from eventstate.audit.redact import redact
from eventstate.store import EventStore
from projections import MemoryDocumentSet
from projections.documents import Document
from projections.storage import (
    KINDS,
    MACHINE,
    MODEL,
    READY,
    UNIT,
    CopyGoneError,
    CopyInfo,
    ProjectionStorage,
    storage_for,
)
from projections.storage.base import document_key, machine_key, model_key, model_prefix, unit_key

StoredDocs = dict[str, dict[str, Document]]  # kind -> document key -> document

# A share reads its models' documents one key range per model; with more models than
# this, one read of everything (filtered) costs less than the many small reads.
RANGE_READS_UP_TO: Final = 2_000
_ATTEMPTS = 20


class FreshDocuments(MemoryDocumentSet):
    """The fresh fold's documents, also indexed by their storage keys: the comparison is
    then one dict lookup per document, with no sorting."""

    def __init__(self) -> None:
        super().__init__()
        self.by_kind: StoredDocs = {kind: {} for kind in KINDS}

    def put_machine(self, doc: Document) -> None:
        super().put_machine(doc)
        self.by_kind[MACHINE][machine_key(doc["model_uuid"], doc["id"])] = doc

    def put_model(self, doc: Document) -> None:
        super().put_model(doc)
        self.by_kind[MODEL][model_key(doc["model_uuid"])] = doc

    def put_unit(self, doc: Document) -> None:
        super().put_unit(doc)
        self.by_kind[UNIT][unit_key(doc["model_uuid"], doc["unit"])] = doc


@dataclass
class StoredShare:
    """One share's documents of the stored copy, as of `position`."""

    copy: CopyInfo
    documents: StoredDocs
    uuids: set[str] | None  # the models read; None: every document was read
    count: int = 0

    @property
    def position(self) -> int:
        return self.copy.position


Owns = Callable[[str], bool]  # does this share verify that model?


def read_share(
    store: EventStore, copy: CopyInfo, mine: Owns | None, upto: int
) -> StoredShare | str:
    """This share's stored documents, or why they cannot be compared. `mine(uuid)` says
    whether a model belongs to this share (None: every model does)."""
    storage = storage_for(store)
    for _attempt in range(_ATTEMPTS):
        try:
            share = _read(store, storage, copy, mine)
        except CopyGoneError:
            return "the projection copy was replaced during verify: not compared"
        now = storage.copy(copy.copy_id)
        if now is None or now.state != READY:
            return "the projection copy was replaced during verify: not compared"
        if now.position == copy.position:
            return share
        copy = now  # a catch-up moved it: read again, as of the new position
        if copy.position > upto:
            return "the projection copy caught up past the log verified: not compared"
    return "the projection copy kept moving during verify: not compared"


def _read(
    store: EventStore, storage: ProjectionStorage, copy: CopyInfo, mine: Owns | None
) -> StoredShare:
    if mine is None:
        everything = {kind: _keyed(kind, storage.read_documents(copy, kind)) for kind in KINDS}
        return StoredShare(copy, everything, None, sum(map(len, everything.values())))
    models = [doc for doc in storage.read_documents(copy, MODEL) if mine(doc["model_uuid"])]
    # Models of the log, and of the copy (a stub model document may have no stream).
    uuids = {stream.partition(":")[2] for stream in store.backend.list_streams("model:")}
    uuids = {uuid for uuid in uuids | {doc["model_uuid"] for doc in models} if mine(uuid)}
    documents: StoredDocs = {MODEL: _keyed(MODEL, models)}
    for kind in (MACHINE, UNIT):
        if len(uuids) > RANGE_READS_UP_TO:
            found = [d for d in storage.read_documents(copy, kind) if mine(d["model_uuid"])]
        else:
            found = [
                d
                for u in sorted(uuids)
                for d in storage.read_documents(copy, kind, model_prefix(u))
            ]
        documents[kind] = _keyed(kind, found)
    return StoredShare(copy, documents, uuids, sum(map(len, documents.values())))


def read_late(store: EventStore, share: StoredShare, uuids: set[str]) -> bool:
    """Add the stored documents of models the share did not know when it read (models
    with no stream and no model document, only stubs the fold made). False when the copy
    moved meanwhile: those documents cannot be compared."""
    if share.uuids is None or not uuids:
        return True
    storage = storage_for(store)
    try:
        for kind in (MACHINE, UNIT):
            for uuid in sorted(uuids):
                for doc in storage.read_documents(share.copy, kind, model_prefix(uuid)):
                    share.documents[kind][document_key(kind, doc)] = doc
                    share.count += 1
    except CopyGoneError:
        return False
    now = storage.copy(share.copy.copy_id)
    share.uuids |= uuids
    return now is not None and now.position == share.position


def differences(
    stored: StoredDocs, fresh: StoredDocs
) -> Iterator[tuple[str, str, Document | None, Document | None]]:
    """(kind, key, stored, fresh) of every document that is not the same on both sides."""
    for kind in KINDS:
        kept, folded = stored.get(kind, {}), fresh.get(kind, {})
        for key, doc in kept.items():
            if folded.get(key) != doc:
                yield kind, key, doc, folded.get(key)
        for key in folded.keys() - kept.keys():
            yield kind, key, None, folded[key]


def describe(kind: str, key: str, stored: Document | None, fresh: Document | None) -> str:
    """What differs, field by field, with credentials redacted."""
    uuid, _, name = key.partition(" ")
    what = f"model {uuid}" if kind == MODEL else f"{kind} {name} of model {uuid}"
    if stored is None:
        return f"{what} is missing from the projection (a fresh fold of the log has it)"
    if fresh is None:
        return f"{what} is in the projection but a fresh fold of the log does not give it"
    fields = sorted(k for k in stored.keys() | fresh.keys() if stored.get(k) != fresh.get(k))
    return f"{what} differs from a fresh fold: " + "; ".join(
        f"{k} is {_shown(stored.get(k))} in the projection, {_shown(fresh.get(k))} in the log"
        for k in fields
    )


def _keyed(kind: str, docs: list[Document]) -> dict[str, Document]:
    return {document_key(kind, doc): doc for doc in docs}


def _shown(value: Any) -> str:
    text = repr(redact(value))
    return text if len(text) <= 120 else text[:117] + "..."
