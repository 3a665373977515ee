"""Running verify's shares in parallel: share 0 in this process, the others in workers.

Each worker opens the store by URL (its own connection: SQLite readers in WAL mode and
MongoDB sessions do not block each other), runs one Scan and sends back its ScanResult.
Workers are spawned, not forked: a forked SQLite connection is not safe to use. This
process runs share 0 meanwhile (one process fewer to start) and reports progress from
the slowest share; the pool is terminated on any error or interrupt, so no worker
outlives the call.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from multiprocessing.pool import AsyncResult
from typing import Any

from eventstate.audit.scan import Scan, ScanPlan, ScanResult
from eventstate.store import EventStore

Progress = Callable[[int, int], None]

# Set in each worker by the pool's initializer: the shared progress counters.
_counters: Any = None


def run_shares(
    store: EventStore, plans: Sequence[ScanPlan], progress: Progress | None
) -> list[ScanResult]:
    context = multiprocessing.get_context("spawn")
    counters = context.RawArray("q", len(plans))
    workers = len(plans) - 1
    with context.Pool(workers, initializer=_init_worker, initargs=(counters,)) as pool:
        pending: list[AsyncResult[ScanResult]] = [
            pool.apply_async(_run_share, (store.url, plan)) for plan in plans[1:]
        ]

        def tick(position: int) -> None:
            counters[0] = position
            if progress is not None:
                progress(min(counters), plans[0].upto)  # every share reads every row

        own = Scan(store, plans[0], tick).run()
        return [own, *(result.get() for result in pending)]


def _init_worker(counters: Any) -> None:
    global _counters
    _counters = counters


def _run_share(url: str, plan: ScanPlan) -> ScanResult:
    from eventstate.api import open_store

    store = open_store(url, check_release=False)
    try:

        def tick(position: int) -> None:
            _counters[plan.share] = position

        return Scan(store, plan, tick).run()
    finally:
        store.close()
