"""`verify`: is the log whole, untampered and readable, and do the projections match it?

    report = verify(store)
    if not report.ok:
        for problem in report.errors: print(problem.stream, problem.version, problem.position, ...)

One pass over the log (scan.py) checks positions, the hash chain, stream versions,
decoding, upcasting and the fold, and folds a fresh MemoryDocumentSet that is compared
with the stored projection copy. Afterwards the store's head hash must be the last
event's hash: the only check that sees a truncated tail (no row is left to break).

Verify only reads: it never catches a projection up or writes a document. A copy
behind the log head is compared at its own position. Large logs are verified by
several processes, each taking a share of the models and a span of the positions
(scan.py explains the split, split.py sizes the spans).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from eventstate.audit.redact import redact_text
from eventstate.audit.report import HEAD, PROJECTION, Problem, VerifyReport
from eventstate.audit.scan import Scan, ScanPlan, ScanResult, VersionGap, collection_paused
from eventstate.audit.split import split_spans
from eventstate.backends.base import Backend, FullRow, StoreMeta
from eventstate.errors import EventStateError, ValidationError
from eventstate.gating import check_readable
from eventstate.hashing import GENESIS
from eventstate.store import EventStore
from projections.cpus import idle_cpus
from projections.storage import CopyInfo

# Called as progress(done, total) with log positions.
Progress = Callable[[int, int], None]

# Below this many events a second process costs more (start-up, imports) than it saves.
PARALLEL_FROM: Final = 200_000
MAX_WORKERS: Final = 4


def verify(
    store: EventStore,
    progress: Progress | None = None,
    *,
    workers: int | None = None,
    upto: int | None = None,
) -> VerifyReport:
    """Verify the log as it is when the call starts (later appends are left for the next
    run), or only up to position `upto`: its `head_hash` is then the hash at `upto`, to
    compare with one recorded earlier (docs/audit.md, anchoring). `workers`: processes
    sharing the pass; None picks one per idle CPU (up to MAX_WORKERS) for a log of
    PARALLEL_FROM events or more, else 1."""
    started = time.perf_counter()
    meta, head = _stable_head(store.backend)
    check_readable(meta)
    if upto is not None and upto < 0:
        raise ValidationError(f"upto must be a position >= 0, not {upto}")
    limit = head if upto is None else min(upto, head)
    shares = _shares(store, limit, workers)
    with collection_paused():
        if shares == 1:
            copy, plans = _plan(store, head, limit, 1)
            tick = None if progress is None else (lambda done: progress(done, limit))
            results = [Scan(store, plans[0], tick).run()]
        else:
            from eventstate.audit.parallel import Workers

            with Workers(store.url, shares - 1) as pool:
                # The workers start up meanwhile.
                copy, plans = _plan(store, head, limit, shares)
                results = pool.run(store, plans, progress)
    if progress is not None:
        progress(limit, limit)
    # The recorded head hash belongs to the real head: only a pass to it can check it.
    head_meta = meta if limit == head else None
    return _report(head_meta, limit, copy, results, shares, time.perf_counter() - started)


# --- before the pass ------------------------------------------------------------------


def _plan(
    store: EventStore, head: int, limit: int, shares: int
) -> tuple[LiveCopy | None, list[ScanPlan]]:
    """The copy to compare with, and what each share does (split.py)."""
    copy = _live_copy(store)
    if copy is not None and limit < head and copy.info.position > limit:
        copy = None  # folded past the part verified: nothing comparable
    info = None if copy is None else copy.info
    if shares == 1:
        return copy, [ScanPlan(0, 1, limit, info)]
    spans = split_spans(limit, _partition_sizes(store, shares))
    return copy, [ScanPlan(share, shares, limit, info, span) for share, span in enumerate(spans)]


def _partition_sizes(store: EventStore, shares: int) -> list[int] | None:
    """About how many events each share's partition holds, when the backend can tell
    cheaply (the projections' rebuild partitions are the same)."""
    try:
        from projections.storage import storage_for

        return storage_for(store).partition_sizes(shares)
    except EventStateError:
        return None


def _stable_head(backend: Backend) -> tuple[StoreMeta, int]:
    """The head position and the metadata written with it. An append commits both in one
    transaction, so an unchanged head around the meta read means they belong together."""
    for _attempt in range(50):
        head = backend.head()
        meta = backend.read_meta()
        if backend.head() == head:
            return meta, head
    raise EventStateError("the log keeps growing too fast to take a snapshot; try again")


@dataclass(frozen=True)
class LiveCopy:
    """The projection copy this code reads: what it is and how many documents it holds."""

    name: str
    info: CopyInfo
    documents: int


def _live_copy(store: EventStore) -> LiveCopy | None:
    """None when there is no copy yet (or no projection storage on this backend)."""
    try:
        from projections.runner import copy_key, copy_name
        from projections.storage import storage_for

        storage = storage_for(store)
        info = storage.live_copy(copy_key(store))
        if info is None:
            return None
        count = sum(storage.count_documents(info).values())
    except EventStateError:
        return None
    return LiveCopy(copy_name(info), info, count)


def _shares(store: EventStore, head: int, workers: int | None) -> int:
    if store.url.startswith("memory:"):
        return 1  # another process cannot open this store
    if workers is not None:
        return max(1, workers)
    if head < PARALLEL_FROM:
        return 1
    # A share on a busy CPU costs more than it saves.
    return max(1, min(round(idle_cpus()), MAX_WORKERS))


# --- after the pass -------------------------------------------------------------------


def _report(
    meta: StoreMeta | None,
    head: int,
    copy: LiveCopy | None,
    results: list[ScanResult],
    shares: int,
    seconds: float,
) -> VerifyReport:
    # The log's last row: the last of the last share whose span holds any.
    last = max((r.last for r in results if r.last is not None), default=None)
    problems = [problem for result in results for problem in result.problems]
    problems = _pin_deleted_events(problems, results)
    last_hash = last[7] if last is not None else GENESIS
    if meta is not None:
        problems += _head_problems(meta, head, last, copy)
    problems += _unaccounted_documents(copy, results)
    problems.sort(key=Problem.sort_key)
    return VerifyReport(
        events=sum(result.events for result in results),
        streams=sum(result.streams for result in results),
        head=head,
        head_hash=last_hash.hex() if last is not None else "",
        projection=None if copy is None else copy.name,
        documents=sum(result.documents for result in results),
        workers=shares,
        seconds=seconds,
        problems=problems,
    )


def _unaccounted_documents(copy: LiveCopy | None, results: list[ScanResult]) -> list[Problem]:
    """Shares read the documents of the models they know (from the log and the copy's
    model documents); documents of any other model are in no fresh fold either."""
    if copy is None or any(r.compared_at != copy.info.position for r in results):
        return []  # not compared, or compared at another position: counts differ anyway
    extra = copy.documents - sum(result.documents for result in results)
    if extra <= 0:
        return []
    return [
        Problem(
            PROJECTION,
            f"projection copy {copy.name} holds {extra} documents of models that neither "
            "the log nor the copy's model documents know",
        )
    ]


def _pin_deleted_events(problems: list[Problem], results: list[ScanResult]) -> list[Problem]:
    """A stream missing one version, between two of its events with exactly one deleted
    position between them that no other such stream also claims: that position was the
    missing event's."""
    missing = [span for result in results for span in result.missing_positions]
    if not missing:
        return problems
    claims: dict[int, list[VersionGap]] = {}
    for gap in (gap for result in results for gap in result.gaps if gap.missing == 1):
        inside = [
            position
            for low, high in missing
            for position in range(
                max(low, gap.after_position + 1), min(high, gap.before_position - 1) + 1
            )
        ]
        if len(inside) == 1:
            claims.setdefault(inside[0], []).append(gap)
    pinned = {
        id(gaps[0].problem): replace(gaps[0].problem, position=position)
        for position, gaps in claims.items()
        if len(gaps) == 1
    }
    return [pinned.get(id(problem), problem) for problem in problems]


def _head_problems(
    meta: StoreMeta, head: int, last: FullRow | None, copy: LiveCopy | None
) -> list[Problem]:
    found: list[Problem] = []
    recorded = meta.head_hash or (GENESIS if head == 0 else b"")
    expected = last[7] if last is not None else GENESIS
    if recorded != expected:
        after = (
            "the last event"
            if last is None
            else f"{last[1]} version {last[2]} (position {last[0]})"
        )
        found.append(
            Problem(
                HEAD,
                f"the store's head hash is not the hash of {after}: events after position "
                f"{head} were removed (a truncated log), or the head hash was changed",
                None,
                None,
                head + 1,
            )
        )
    if copy is not None and copy.info.position > head:
        found.append(
            Problem(
                PROJECTION,
                redact_text(
                    f"projection copy {copy.name} has folded up to position {copy.info.position} "
                    f"but the log ends at {head}: events it folded are gone from the log"
                ),
                None,
                None,
                head + 1,
            )
        )
    return found
