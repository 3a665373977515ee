"""Naming the event behind a failure that altered bytes cause where no event is known.

A recorded_at that is no time (out of range, or not an integer at all) fails as an
OverflowError or a TypeError deep in code that does not know which event it had: the
export's formatting, history's time filter. Those are searched for here, after the
failure, so that the error names the stream, version and position to repair.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eventstate.errors import CorruptEventError
from eventstate.store import EventStore
from eventstate.timeutil import format_stored_us


def bad_recorded_at(store: EventStore, stream: str | None = None) -> CorruptEventError | None:
    """The first event (of `stream`, else of the log) whose recorded_at is no time."""
    backend = store.backend
    rows = backend.iter_log() if stream is None else iter(backend.read_stream(stream))
    for position, stream_id, version, _, _, recorded_at, _ in rows:
        try:
            format_stored_us(recorded_at)
        except ValueError as exc:
            return CorruptEventError(f"{stream_id} version {version} (position {position}): {exc}")
    return None


@contextmanager
def bad_times_named(store: EventStore, stream: str | None = None) -> Iterator[None]:
    """Turn an OverflowError or TypeError into the CorruptEventError naming the event,
    when a bad recorded_at explains it; anything else is left as it was (a bug)."""
    try:
        yield
    except (OverflowError, TypeError):
        bad = bad_recorded_at(store, stream)
        if bad is None:
            raise
        raise bad from None
