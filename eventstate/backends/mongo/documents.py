"""How the store looks in MongoDB.

- `events`: one document per event, `_id` = global position. Fields `stream`,
  `version`, `type`, `schema`, `recorded_at` (µs), `state` (bytes), `hash`
  (the global chain, see eventstate.hashing) and `batch` (the id of the append
  that wrote it: a retried append recognises its own rows by it).
- `meta`: ONE store document (`_id: "store"`) holding the metadata, the log
  head (`head`, `head_hash`), the write lock (`lock`) and a pending tracking
  record (`pending_tracking`, standalone servers only). Keeping the head and the
  metadata in one document makes every append and every metadata change write
  the same document, so two of them can never both commit against a state the
  other changed (no write skew between a gating check and an upgrade start).
- `lease`: the upgrade lease (`_id: "upgrade"`): holder, token, acquired_at,
  expires_at, grant.
- `tracking`: eventsourcing tracking records, `_id` = application name.

A row is visible when its position is <= the store document's `head`; rows
above it belong to a write that has not committed (or died) and no reader
ever returns them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventstate.backends.base import AVAILABLE, LeaseState, NewRow, Row, StoreMeta
from eventstate.hashing import event_hash

Doc = dict[str, Any]

EVENTS = "events"
META = "meta"
LEASE = "lease"
TRACKING = "tracking"
STORE_ID = "store"
LEASE_ID = "upgrade"

ROW_FIELDS = {"stream": 1, "version": 1, "type": 1, "schema": 1, "recorded_at": 1, "state": 1}
_META_FIELDS = ("release", "status", "upgrade_id", "upgrade_holder", "upgrade_since")


def new_store_doc(release: str, created_at: str) -> Doc:
    return {
        "release": release,
        "status": AVAILABLE,
        "upgrade_id": "",
        "upgrade_holder": "",
        "upgrade_since": "",
        "extra": [["created_at", created_at]],
        "head": 0,
        "head_hash": b"",
        "lock": None,
        "pending_tracking": None,
        "last_commit": "",
    }


def to_row(doc: Mapping[str, Any]) -> Row:
    return (
        int(doc["_id"]),
        doc["stream"],
        int(doc["version"]),
        doc["type"],
        int(doc["schema"]),
        int(doc["recorded_at"]),
        bytes(doc["state"]),
    )


def event_docs(
    rows: Sequence[NewRow], first_position: int, previous_hash: bytes, batch: str
) -> tuple[list[Doc], bytes]:
    """Documents for rows at first_position.., extending the hash chain."""
    docs: list[Doc] = []
    position = first_position
    for stream, version, type_name, schema, recorded_at, state in rows:
        previous_hash = event_hash(
            previous_hash, stream, version, type_name, schema, recorded_at, state
        )
        docs.append(
            {
                "_id": position,
                "stream": stream,
                "version": version,
                "type": type_name,
                "schema": schema,
                "recorded_at": recorded_at,
                "state": state,
                "hash": previous_hash,
                "batch": batch,
            }
        )
        position += 1
    return docs, previous_hash


def meta_from_doc(doc: Mapping[str, Any] | None) -> StoreMeta:
    if doc is None:
        return StoreMeta(release="")
    return StoreMeta(
        release=str(doc.get("release", "")),
        status=str(doc.get("status", AVAILABLE)),
        upgrade_id=str(doc.get("upgrade_id", "")),
        upgrade_holder=str(doc.get("upgrade_holder", "")),
        upgrade_since=str(doc.get("upgrade_since", "")),
        head_hash=bytes(doc.get("head_hash") or b""),
        extra={str(k): str(v) for k, v in doc.get("extra") or []},
    )


def meta_set(new: StoreMeta, doc: Mapping[str, Any]) -> Doc:
    """`$set` fields that save `new` (extra keys merge, as SQLite's upsert does).

    `extra` is a list of pairs, not a subdocument: its keys are free text and
    may contain dots, which MongoDB field names must not.
    """
    extra = {str(k): str(v) for k, v in doc.get("extra") or []}
    extra.update(new.extra)
    fields: Doc = {name: getattr(new, name) for name in _META_FIELDS}
    fields["extra"] = [[k, v] for k, v in extra.items()]
    return fields


def lease_from_doc(doc: Mapping[str, Any] | None) -> LeaseState | None:
    if doc is None:
        return None
    return LeaseState(
        holder=str(doc.get("holder", "")),
        token=int(doc.get("token", 0)),
        acquired_at_us=int(doc.get("acquired_at", 0)),
        expires_at_us=int(doc.get("expires_at", 0)),
    )
