"""Version rules for appends (pure functions, shared by both write paths).

They mirror SQLiteBackend exactly: within a batch each stream's versions must
be consecutive; the first must follow the stream's last stored version (an
existing version is a ConcurrencyConflictError, a gap a StreamVersionGapError).
eventsourcing's insert_events only insists on uniqueness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from eventstate.backends.base import NewRow
from eventstate.errors import ConcurrencyConflictError, StreamVersionGapError

Heads = Callable[[list[str]], dict[str, int]]
Existing = Callable[[dict[str, list[int]]], list[tuple[str, int]]]


def firsts_in_batch(rows: Sequence[NewRow]) -> dict[str, int]:
    """Each stream's first version in the batch; raises on a gap inside it."""
    firsts: dict[str, int] = {}
    lasts: dict[str, int] = {}
    for stream, version, *_ in rows:
        if stream not in firsts:
            firsts[stream] = version
        elif version != lasts[stream] + 1:
            raise StreamVersionGapError(
                f"{stream}: version {version} does not follow {lasts[stream]} in the batch"
            )
        lasts[stream] = version
    return firsts


def check_strict(rows: Sequence[NewRow], heads: Heads) -> None:
    firsts = firsts_in_batch(rows)
    if not firsts:
        return
    stored = heads(list(firsts))
    for stream, first in firsts.items():
        head = stored.get(stream, 0)
        if first <= head:
            raise ConcurrencyConflictError(stream, first, f"stream is at version {head}")
        if first != head + 1:
            raise StreamVersionGapError(
                f"{stream}: version {first} would leave a gap after version {head}"
            )


def check_unique(rows: Sequence[NewRow], existing: Existing) -> None:
    """eventsourcing's rule: any starting version, but (stream, version) unique."""
    wanted: dict[str, list[int]] = {}
    seen: set[tuple[str, int]] = set()
    for stream, version, *_ in rows:
        if (stream, version) in seen:
            raise ConcurrencyConflictError(stream, version, "twice in one batch")
        seen.add((stream, version))
        wanted.setdefault(stream, []).append(version)
    if not wanted:
        return
    clashes = set(existing(wanted))
    for stream, version, *_ in rows:
        if (stream, version) in clashes:
            raise ConcurrencyConflictError(stream, version)


def chunks(items: Sequence[NewRow], size: int) -> Iterable[Sequence[NewRow]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
