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
several processes, each taking a share of the models (scan.py explains the split).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

from eventstate.audit.redact import redact_text
from eventstate.audit.report import HEAD, PROJECTION, Problem, VerifyReport
from eventstate.audit.scan import Scan, ScanPlan, ScanResult, StoredDocs, VersionGap, share_of
from eventstate.backends.base import Backend, StoreMeta
from eventstate.errors import EventStateError
from eventstate.gating import check_readable
from eventstate.hashing import GENESIS
from eventstate.store import EventStore

# Called as progress(done, total) with log positions.
Progress = Callable[[int, int], None]

# Below this many events a second process costs more (start-up, imports) than it saves.
PARALLEL_FROM: Final = 200_000
MAX_WORKERS: Final = 4


def verify(
    store: EventStore, progress: Progress | None = None, *, workers: int | None = None
) -> VerifyReport:
    """Verify the whole log as it is when the call starts (later appends are left for
    the next run). `workers`: processes sharing the pass; None picks one per CPU (up to
    MAX_WORKERS) for a log of PARALLEL_FROM events or more, else 1."""
    started = time.perf_counter()
    meta, head = _stable_head(store.backend)
    check_readable(meta)
    copy = _stored_copy(store)
    shares = _shares(store, head, workers)
    compare_at = None if copy is None else copy.position
    stored = None if copy is None else _split(copy.documents, shares)
    plans = [
        ScanPlan(share, shares, head, compare_at, None if stored is None else stored[share])
        for share in range(shares)
    ]
    if shares == 1:
        tick = None if progress is None else (lambda done: progress(done, head))
        results = [Scan(store, plans[0], tick).run()]
    else:
        from eventstate.audit.parallel import run_shares

        results = run_shares(store.url, plans, progress)
    if progress is not None:
        progress(head, head)
    return _report(meta, head, copy, results, shares, time.perf_counter() - started)


# --- before the pass ------------------------------------------------------------------


def _stable_head(backend: Backend) -> tuple[StoreMeta, int]:
    """The head position and the metadata written with it. An append commits both in one
    transaction, so an unchanged head around the meta read means they belong together."""
    for _attempt in range(50):
        head = backend.head()
        meta = backend.read_meta()
        if backend.head() == head:
            return meta, head
    raise EventStateError("the log keeps growing too fast to take a snapshot; try again")


class StoredCopy:
    """The projection copy this code reads, as stored: its documents and position."""

    def __init__(self, name: str, position: int, documents: dict[str, list[dict[str, Any]]]):
        self.name = name
        self.position = position
        self.documents = documents

    @property
    def count(self) -> int:
        return sum(len(docs) for docs in self.documents.values())


def _stored_copy(store: EventStore) -> StoredCopy | None:
    """The live copy's documents and position, read consistently: a catch-up moving the
    copy meanwhile makes it read again. None when there is no copy (or no projection
    storage on this backend): nothing to compare."""
    try:
        from projections.runner import copy_key, copy_name
        from projections.storage import KINDS, READY, CopyGoneError, storage_for

        storage = storage_for(store)
        key = copy_key(store)
    except EventStateError:
        return None
    for _attempt in range(20):
        copy = storage.live_copy(key)
        if copy is None:
            return None
        try:
            documents = {kind: storage.read_documents(copy, kind) for kind in KINDS}
        except CopyGoneError:
            continue
        again = storage.copy(copy.copy_id)
        if again is not None and again.state == READY and again.position == copy.position:
            return StoredCopy(copy_name(copy), copy.position, documents)
    raise EventStateError("the projection copy keeps changing during verify; try again")


def _shares(store: EventStore, head: int, workers: int | None) -> int:
    if store.url.startswith("memory:"):
        return 1  # another process cannot open this store
    if workers is not None:
        return max(1, workers)
    if head < PARALLEL_FROM:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def _split(documents: dict[str, list[dict[str, Any]]], shares: int) -> list[StoredDocs]:
    """Each share's models' documents, keyed as the fresh fold keys them."""
    from projections.storage.base import document_key

    parts: list[StoredDocs] = [{kind: {} for kind in documents} for _ in range(shares)]
    for kind, docs in documents.items():
        for doc in docs:
            parts[share_of(doc.get("model_uuid"), shares)][kind][document_key(kind, doc)] = doc
    return parts


# --- after the pass -------------------------------------------------------------------


def _report(
    meta: StoreMeta,
    head: int,
    copy: StoredCopy | None,
    results: list[ScanResult],
    shares: int,
    seconds: float,
) -> VerifyReport:
    first = results[0]  # share 0 also reports positions and the last row
    problems = [problem for result in results for problem in result.problems]
    problems = _pin_deleted_events(problems, results)
    last_hash = first.last[7] if first.last is not None else GENESIS
    problems += _head_problems(meta, head, first, copy)
    problems.sort(key=Problem.sort_key)
    return VerifyReport(
        events=sum(result.events for result in results),
        streams=sum(result.streams for result in results),
        head=head,
        head_hash=last_hash.hex() if first.last is not None else "",
        projection=None if copy is None else copy.name,
        documents=sum(result.documents for result in results),
        workers=shares,
        seconds=seconds,
        problems=problems,
    )


def _pin_deleted_events(problems: list[Problem], results: list[ScanResult]) -> list[Problem]:
    """A stream missing one version, between two of its events with exactly one deleted
    position between them that no other such stream also claims: that position was the
    missing event's."""
    missing = results[0].missing_positions
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
    meta: StoreMeta, head: int, first: ScanResult, copy: StoredCopy | None
) -> list[Problem]:
    found: list[Problem] = []
    last = first.last
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
    if copy is not None and copy.position > head:
        found.append(
            Problem(
                PROJECTION,
                redact_text(
                    f"projection copy {copy.name} has folded up to position {copy.position} "
                    f"but the log ends at {head}: events it folded are gone from the log"
                ),
                None,
                None,
                head + 1,
            )
        )
    return found
