"""verify's projection check: the stored projection copy against a fresh fold of the log.

Each share of the pass reads the stored documents of its own models (one key range per
model, or everything when it is the only share) before it starts, folds the log up to
the copy's position and compares document by document. Reads are consistent: the copy's
position is read before and after, and a catch-up that moved it in between makes the
share read again at the new position (a catch-up writes documents and position in one
transaction, so an unchanged position means the documents belong to it).

Stored documents stay encoded (their JSON) until compared: the fresh document under the
same key is encoded instead, which costs less than decoding, and equal JSON means equal
documents. Only a stored document that differs is decoded; it is then keyed by its own
fields (as a decoded copy always was), so a document moved to another key or given
another model's uuid is reported the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from eventstate.audit.redact import redact
from eventstate.store import EventStore
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
from projections.storage.base import document_key, model_prefix
from projections.storage.codec import dumps_json
from projections.storage.memory import BulkDocuments

Blobs = list[tuple[str, bytes]]  # (document key, the stored document's JSON), as read
FreshDocs = Mapping[str, Mapping[str, Document]]  # kind -> document key -> document
Owns = Callable[[str], bool]  # does this share verify that model?

# A share reads its models' documents one key range per model; with more models than
# this, one read of everything (filtered) costs less than the many small reads.
RANGE_READS_UP_TO: Final = 2_000
_ATTEMPTS = 20


class FreshDocuments(BulkDocuments):
    """The fresh fold's documents, keyed by their storage keys (`by_kind`) like the
    stored copy: the comparison is then one dict lookup per document, with no sorting."""


@dataclass
class StoredShare:
    """One share's documents of the stored copy, as of `position`."""

    copy: CopyInfo
    blobs: dict[str, Blobs]  # kind -> documents as read
    uuids: set[str] | None  # the models read; None: every document was read
    # Kinds whose documents count only if `mine(their model_uuid)`: read in bulk.
    filtered: frozenset[str] = frozenset()
    mine: Owns | None = None
    late: dict[str, Blobs] = field(default_factory=dict)  # read_late's, counted apart

    @property
    def position(self) -> int:
        return self.copy.position


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
        everything = {kind: storage.read_document_blobs(copy, kind) for kind in KINDS}
        return StoredShare(copy, everything, None)
    models = storage.read_document_blobs(copy, MODEL)
    # Models of the log, and of the copy (a stub model document may have no stream).
    uuids = {stream.partition(":")[2] for stream in store.backend.list_streams("model:")}
    uuids |= {orjson.loads(blob)["model_uuid"] for _key, blob in models}
    uuids = {uuid for uuid in uuids if mine(uuid)}
    blobs = {MODEL: models}
    filtered = {MODEL}
    for kind in (MACHINE, UNIT):
        if len(uuids) > RANGE_READS_UP_TO:
            blobs[kind] = storage.read_document_blobs(copy, kind)
            filtered.add(kind)
        else:
            blobs[kind] = [
                pair
                for u in sorted(uuids)
                for pair in storage.read_document_blobs(copy, kind, model_prefix(u))
            ]
    return StoredShare(copy, blobs, uuids, frozenset(filtered), mine)


def read_late(store: EventStore, share: StoredShare, uuids: set[str]) -> bool:
    """Add the stored documents of models the share did not know when it read (models
    with no stream and no model document, only stubs the fold made). False when the copy
    moved meanwhile: those documents cannot be compared."""
    if share.uuids is None or not uuids:
        return True
    storage = storage_for(store)
    try:
        for kind in (MACHINE, UNIT):
            late = share.late.setdefault(kind, [])
            for uuid in sorted(uuids):
                late += storage.read_document_blobs(share.copy, kind, model_prefix(uuid))
    except CopyGoneError:
        return False
    now = storage.copy(share.copy.copy_id)
    share.uuids |= uuids
    return now is not None and now.position == share.position


class _Same:
    """Stands for a stored document whose JSON is the fresh document's."""


_SAME: Final = _Same()
Kept = dict[str, Document | _Same]  # document key (from its own fields) -> document


def keyed(share: StoredShare, fresh: FreshDocs) -> tuple[dict[str, Kept], int]:
    """The share's stored documents by kind, keyed by their own fields, and how many
    there are: a document equal to the fresh one under its key is not decoded."""
    kept: dict[str, Kept] = {}
    for kind in KINDS:
        owned = share.mine if kind in share.filtered else None
        kept[kind] = _keyed(kind, share.blobs.get(kind, ()), fresh.get(kind, {}), owned)
    count = sum(map(len, kept.values()))
    for kind, blobs in share.late.items():
        kept[kind].update(_keyed(kind, blobs, fresh.get(kind, {}), None))
        count += len(blobs)
    return kept, count


def _keyed(
    kind: str, blobs: Blobs | tuple[()], fresh: Mapping[str, Document], owned: Owns | None
) -> Kept:
    kept: Kept = {}
    for key, blob in blobs:
        doc = fresh.get(key)
        if doc is not None and _json(doc) == blob:
            # Its fields are the fresh document's: same key, and a model of this share.
            kept[key] = _SAME
            continue
        stored: Document = orjson.loads(blob)
        if owned is None or owned(stored["model_uuid"]):
            kept[document_key(kind, stored)] = stored
    return kept


def differences(
    kept: Mapping[str, Kept], fresh: FreshDocs
) -> Iterator[tuple[str, str, Document | None, Document | None]]:
    """(kind, key, stored, fresh) of every document that is not the same on both sides."""
    for kind in KINDS:
        stored, folded = kept.get(kind, {}), fresh.get(kind, {})
        for key, doc in stored.items():
            if doc is _SAME:
                continue
            assert not isinstance(doc, _Same)
            if folded.get(key) != doc:
                yield kind, key, doc, folded.get(key)
        for key in folded.keys() - stored.keys():
            yield kind, key, None, folded[key]


def _json(doc: Document) -> bytes | None:
    try:
        return dumps_json(doc)
    except orjson.JSONEncodeError:
        return None  # a value JSON cannot hold: decoded and compared, and it differs


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


def _shown(value: Any) -> str:
    text = repr(redact(value))
    return text if len(text) <= 120 else text[:117] + "..."
