"""A machine document as it was at a time, or at a version of its stream.

The document is folded afresh from the upcast history of everything it depends on: the
model stream (provider type: `is_manual`), the model's machine streams (a container's
MachineAdded lists it in its host's `containers`) and the model's unit streams
(`principals`, `clean`). Other models never touch it, so only this model's streams are
read, through the stream index: the cost is the model's size, not the log's.
"""

from __future__ import annotations

from collections.abc import Iterator

from eventstate.audit.history import model_rows, resolve_stream
from eventstate.backends.base import Row
from eventstate.errors import NotFoundError, ValidationError
from eventstate.gating import check_readable
from eventstate.store import EventStore
from eventstate.streams import machine_stream
from eventstate.timeutil import format_us
from projections import MACHINE_KEYS, Fold, MemoryDocumentSet
from projections.documents import Document, current_machine_id


def machine_as_of(
    store: EventStore,
    model_uuid: str,
    machine_id: str,
    at_us: int | None = None,
    version: int | None = None,
) -> Document:
    """The machine document (documents.md keys) as of `at_us` (microseconds since the
    epoch, UTC: every event recorded at or before it) or as of `version` of the
    machine's own stream (every event of the model up to that one, in log order).
    Neither: as of now. A 1.x id (`0/lxc/1`) finds the machine under its 3.0 id.

    NotFoundError when the machine, or that version, does not exist, or the machine
    had no event of its own yet at that time.
    """
    if at_us is not None and version is not None:
        raise ValidationError("give a time or a version, not both")
    check_readable(store.meta())
    backend = store.backend
    stream = resolve_stream(backend, machine_stream(model_uuid, machine_id))
    if stream is None:
        raise NotFoundError(f"machine {machine_id} not found in model {model_uuid}")
    rows = model_rows(backend, model_uuid)
    if version is not None:
        rows = _upto(rows, _position_of(store, stream, machine_id, version))
    elif at_us is not None:
        rows = (row for row in rows if row[5] <= at_us)
    docs = MemoryDocumentSet()
    Fold(docs).apply_many(store.decode(rows))
    doc = docs.get_machine(model_uuid, current_machine_id(machine_id))
    if doc is None or not doc["stream_version"]:  # none, or a stub other streams made
        when = "" if at_us is None else f" at {format_us(at_us)}"
        raise NotFoundError(f"machine {machine_id} of model {model_uuid} did not exist yet{when}")
    return {key: doc[key] for key in MACHINE_KEYS}


def _position_of(store: EventStore, stream: str, machine_id: str, version: int) -> int:
    if version < 1:
        raise ValidationError(f"version must be 1 or more, not {version}")
    found = store.backend.read_stream(stream, version - 1, version)
    if not found:
        last = store.backend.stream_heads([stream]).get(stream, 0)
        raise NotFoundError(f"machine {machine_id} has no version {version} (its last is {last})")
    return found[0][0]


def _upto(rows: Iterator[Row], position: int) -> Iterator[Row]:
    # Rows come in position order: stop reading at the first one past the version.
    for row in rows:
        if row[0] > position:
            return
        yield row
