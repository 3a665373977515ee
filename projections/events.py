"""The log as the fold reads it: (position, stream, version, type, schema, recorded_at_us,
data) tuples in position order, every one in this code's (3.0) schema.

Rows already in today's schema (the whole log of a store written at today's release)
only need their payload decoded, so they skip `EventStore.decode`'s per-event upcast
bookkeeping: a rebuild reads a million of them and that bookkeeping is a third of its
decode time. Any other row goes through `EventStore.decode`, the one place that
upcasts, so the fast path can never hand the fold an event in an older schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from eventstate.backends.base import Row
from eventstate.errors import EventStateError
from eventstate.store import EventStore

# (position, stream, version, type, schema, recorded_at_us, data): what Fold.apply_many takes.
EventTuple = tuple[int, str, int, str, int, int, dict[str, Any]]

# Rows between two `tick` calls of decode_rows.
TICK = 10_000


def fold_events(store: EventStore, after: int, upto: int) -> Iterator[EventTuple]:
    """The events in (after, upto], upcast to this code's schema, streamed page by page."""
    return decode_rows(store, store.backend.iter_log(after, upto))


def decode_rows(
    store: EventStore, rows: Iterable[Row], tick: Callable[[int], None] | None = None
) -> Iterator[EventTuple]:
    """Raw rows as fold tuples; `tick(n)` every TICK rows and at the end, with the
    number decoded so far (one loop for both: this is a rebuild's innermost loop)."""
    decode = store.codec.decode
    current = _CurrentSchemas(store)
    schema_of = current.schemas.get
    done = 0
    for row in rows:
        position, stream, version, type_name, schema, recorded_at, state = row
        done += 1
        if tick is not None and not done % TICK:
            tick(done)
        if schema_of(type_name) == schema or current.learn(type_name) == schema:
            try:
                data = decode(state, "")
            except EventStateError:
                yield from store.decode([row])  # raises, naming the event
                continue
            yield (position, stream, version, type_name, schema, recorded_at, data)
        else:
            yield from store.decode([row])
    if tick is not None:
        tick(done)


class _CurrentSchemas:
    """type name -> its schema today, for the types that still have today's name."""

    def __init__(self, store: EventStore) -> None:
        self._chain = store.chain
        self.schemas: dict[str, int | None] = {}

    def learn(self, type_name: str) -> int | None:
        if type_name in self.schemas:
            return self.schemas[type_name]
        schema: int | None = None
        try:
            if self._chain.current_name(type_name) == type_name:
                schema = self._chain.current_schema(type_name)
        except EventStateError:  # an unknown type: EventStore.decode will say so
            schema = None
        self.schemas[type_name] = schema
        return schema
