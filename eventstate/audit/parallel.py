"""Running verify's shares in worker processes.

Each worker opens the store by URL (its own connection: SQLite readers in WAL mode and
MongoDB sessions do not block each other), runs one Scan and sends back its ScanResult.
Workers are spawned, not forked: a forked SQLite connection is not safe to use. The
parent only polls the workers' progress counters; the pool is terminated on any error
or interrupt, so no worker outlives the command.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from multiprocessing.pool import AsyncResult
from typing import Any

from eventstate.audit.scan import Scan, ScanPlan, ScanResult

Progress = Callable[[int, int], None]
_POLL_S = 0.2

# Set in each worker by the pool's initializer: the shared progress counters.
_counters: Any = None


def run_shares(url: str, plans: Sequence[ScanPlan], progress: Progress | None) -> list[ScanResult]:
    context = multiprocessing.get_context("spawn")
    counters = context.RawArray("q", len(plans))
    with context.Pool(len(plans), initializer=_init_worker, initargs=(counters,)) as pool:
        pending: list[AsyncResult[ScanResult]] = [
            pool.apply_async(_run_share, (url, plan)) for plan in plans
        ]
        while not all(result.ready() for result in pending):
            time.sleep(_POLL_S)
            if progress is not None:
                progress(min(counters), plans[0].upto)  # every share reads every row
        return [result.get() for result in pending]


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
