"""The log as the fold reads it: (position, stream, version, type, schema, recorded_at_us,
data) tuples in position order, every one in this code's (3.0) schema.

Decoding and upcasting go through `EventStore.decode`, the store's one read path (it
already skips the upcaster for rows in today's schema); this module only adds the
progress ticks a rebuild reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any

from eventstate.backends.base import Row
from eventstate.store import EventStore

# (position, stream, version, type, schema, recorded_at_us, data): what Fold.apply_many takes.
EventTuple = tuple[int, str, int, str, int, int, dict[str, Any]]

# Rows between two `tick` calls of decode_rows.
TICK = 10_000


def fold_events(store: EventStore, after: int, upto: int) -> Iterator[EventTuple]:
    """The events in (after, upto], upcast to this code's schema, streamed page by page."""
    return store.decode(store.backend.iter_log(after, upto))


def decode_rows(
    store: EventStore, rows: Iterable[Row], tick: Callable[[int], None] | None = None
) -> Iterator[EventTuple]:
    """Raw rows as fold tuples; `tick(n)` every TICK rows handed to the decoder and at
    the end, with the number so far."""
    if tick is None:
        return store.decode(rows)
    return store.decode(_ticking(rows, tick))


def _ticking(rows: Iterable[Row], tick: Callable[[int], None]) -> Iterator[Row]:
    """`rows`, calling `tick` between chunks of TICK: the rows themselves pass through
    C (a chained list iterator), with no Python frame per row."""

    def chunks() -> Iterator[list[Row]]:
        source = iter(rows)
        done = 0
        while chunk := list(islice(source, TICK)):
            if done:
                tick(done)
            yield chunk
            done += len(chunk)
        tick(done)

    return chain.from_iterable(chunks())
