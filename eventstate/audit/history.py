"""The audit history: events oldest first, filtered, streamed.

    for event in iter_history(store, "machine:<uuid>:0", since=..., types=["MachineAdded"]):
        ...

Selections: the whole log; one stream (`model:<uuid>`, `machine:<uuid>:<id>`,
`unit:<uuid>:<name>`, `upgrade:<id>`); or a model with everything in it (its model
stream, machines and units), given as `model=<uuid>` or as a bare uuid for `stream`.
One stream is read through the (stream, version) index, a model through three index
ranges merged by position, and the whole log page by page: nothing ever holds the log.

Events are upcast to today's schema unless `raw`. The type filter takes any name a type
ever had (`EnvironmentCreated` and `ModelCreated` select the same events), and runs on
the stored type column before any payload is decoded.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import itemgetter

from eventstate.backends.base import Backend, Row
from eventstate.errors import (
    CorruptEventError,
    NotFoundError,
    UnknownEventTypeError,
    ValidationError,
)
from eventstate.gating import check_readable
from eventstate.releases import CODE_RELEASE
from eventstate.store import Event, EventStore
from eventstate.streams import (
    MACHINE,
    legacy_machine_id,
    machine_stream,
    model_stream,
    model_uuid_of,
    parse_stream,
)
from eventstate.timeutil import not_a_time
from upcasters import RETIRED_TYPE, Chain

_POSITION = itemgetter(0)


def iter_history(
    store: EventStore,
    stream: str | None = None,
    model: str | None = None,
    types: Iterable[str] = (),
    since: int | None = None,
    until: int | None = None,
    raw: bool = False,
) -> Iterator[Event]:
    """Events in position order (oldest first), upcast unless `raw`.

    `since` and `until` are microseconds since the epoch (UTC), both inclusive, on the
    recorded-at time. Arguments are checked at once (ValidationError, NotFoundError,
    UnknownEventTypeError); the events are read as the iterator is consumed.
    """
    check_readable(store.meta())
    if isinstance(types, str):
        types = (types,)
    names = type_family(store.chain, types)
    # EventRetired is never stored: it is what some old events upcast to, so asking for
    # it means looking at every event's upcast type, not only at the stored column.
    retired = not raw and names is not None and RETIRED_TYPE in names
    pushed = None if retired else names
    rows = _selected_rows(store.backend, stream, model, pushed)
    if since is not None or until is not None:
        rows = _in_time(rows, since, until)
    target = None if raw else CODE_RELEASE
    if not retired:
        return store.decode(rows, target)
    assert names is not None
    return _matching_upcast(store, rows, names)


def type_family(chain: Chain, types: Iterable[str]) -> frozenset[str] | None:
    """Every name the given types ever had; None for no filter. An unknown name raises
    UnknownEventTypeError rather than silently matching nothing."""
    names: set[str] = set()
    for name in types:
        family = chain.family(name)
        if not family:
            raise UnknownEventTypeError(f"unknown event type {name!r}")
        names |= family
    return frozenset(names) if names else None


# --- selections --------------------------------------------------------------------------


def _selected_rows(
    backend: Backend, stream: str | None, model: str | None, types: frozenset[str] | None
) -> Iterator[Row]:
    if stream is not None and ":" not in stream:
        if model is not None and model != stream:
            raise ValidationError(f"{stream} and --model {model} name two different models")
        stream, model = None, stream
    if stream is None:
        if model is None:
            return backend.iter_log(types=sorted(types) if types else ())
        return _of_types(model_rows(backend, model), types)
    parse_stream(stream)  # a malformed id is a ValidationError naming it
    if model is not None and model_uuid_of(stream) != model:
        raise ValidationError(f"stream {stream} is not in model {model}")
    found = resolve_stream(backend, stream)
    if found is None:
        raise NotFoundError(f"stream {stream} has no events")
    return _of_types(iter(backend.read_stream(found)), types)


def resolve_stream(backend: Backend, stream: str) -> str | None:
    """The stored id of `stream`, or None. A container written by 1.x keeps its `lxc`
    id in its stream id (stream ids never change), so `machine:<uuid>:0/lxd/1` also
    finds `machine:<uuid>:0/lxc/1`."""
    candidates = [stream]
    kind, _, rest = stream.partition(":")
    if kind == MACHINE:
        uuid, _, machine_id = rest.partition(":")
        legacy = legacy_machine_id(machine_id)
        if legacy != machine_id:
            candidates.append(machine_stream(uuid, legacy))
    heads = backend.stream_heads(candidates)
    return next((c for c in candidates if heads.get(c)), None)


def model_rows(backend: Backend, model_uuid: str) -> Iterator[Row]:
    """The rows of a model's stream, machines and units, merged in position order.
    NotFoundError when the model has no events at all."""
    own = backend.read_stream(model_stream(model_uuid))
    machines = backend.iter_streams_prefix(f"machine:{model_uuid}:")
    units = backend.iter_streams_prefix(f"unit:{model_uuid}:")
    first_machine = next(machines, None)
    first_unit = next(units, None)
    if not own and first_machine is None and first_unit is None:
        raise NotFoundError(f"model {model_uuid} not found")
    return heapq.merge(
        own, _prepend(first_machine, machines), _prepend(first_unit, units), key=_POSITION
    )


def _prepend(first: Row | None, rest: Iterator[Row]) -> Iterator[Row]:
    if first is not None:
        yield first
        yield from rest


# --- filters -----------------------------------------------------------------------------


def _of_types(rows: Iterator[Row], types: frozenset[str] | None) -> Iterator[Row]:
    if types is None:
        return rows
    return (row for row in rows if row[3] in types)


def _in_time(rows: Iterator[Row], since: int | None, until: int | None) -> Iterator[Row]:
    # On the raw row, before its payload is decoded: most of a long log is skipped cheaply.
    low = since if since is not None else -(2**63)
    high = until if until is not None else 2**63
    for row in rows:
        try:
            inside = low <= row[5] <= high
        except TypeError:  # altered bytes: a recorded_at that is no number, named
            position, stream, version = row[:3]
            raise CorruptEventError(
                f"{stream} version {version} (position {position}): {not_a_time(row[5])}"
            ) from None
        if inside:
            yield row


def _matching_upcast(
    store: EventStore, rows: Iterator[Row], names: frozenset[str]
) -> Iterator[Event]:
    """Events whose stored or upcast type is in `names`."""
    stored: list[str] = [""]

    def remembered() -> Iterator[Row]:
        # decode pulls one row per event it yields, so stored[0] is that event's row type.
        for row in rows:
            stored[0] = row[3]
            yield row

    for event in store.decode(remembered()):
        if event.type in names or stored[0] in names:
            yield event
