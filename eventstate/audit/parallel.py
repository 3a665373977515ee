"""Running verify's shares in parallel: share 0 in this process, the others in workers.

Each worker opens the store by URL (its own connection: SQLite readers in WAL mode and
MongoDB sessions do not block each other), runs one Scan and sends back its ScanResult.
Workers are spawned, not forked: a forked SQLite connection is not safe to use. They
start (imports, opening the store) as soon as the pool is made, while this process
plans the shares; this process then runs share 0 and reports progress from the slowest
share. The pool is terminated on any error or interrupt, so no worker outlives it.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Callable, Sequence
from multiprocessing.pool import AsyncResult, Pool
from types import TracebackType
from typing import Any

from eventstate.audit.scan import Scan, ScanPlan, ScanResult
from eventstate.store import EventStore

Progress = Callable[[int, int], None]

# Set in each worker by the pool's initializer: the shared progress counters, and the
# store (or why it did not open). The store closes with the worker's process.
_counters: Any = None
_store: EventStore | BaseException | None = None
# The worker's last Scan, kept: freeing its documents (a second or so on a large log)
# would delay the result, and the process's end frees them at no cost.
_scan: Scan | None = None


class Workers:
    """`count` worker processes for the shares after the first, on the store at `url`."""

    def __init__(self, url: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._counters = context.RawArray("q", count + 1)
        self._pool: Pool = context.Pool(
            count, initializer=_init_worker, initargs=(self._counters, url)
        )

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._pool.terminate()

    def run(
        self, store: EventStore, plans: Sequence[ScanPlan], progress: Progress | None
    ) -> list[ScanResult]:
        """Share 0 here, the others in the workers; the results in share order."""
        counters = self._counters
        pending: list[AsyncResult[ScanResult]] = [
            self._pool.apply_async(_run_share, (plan,)) for plan in plans[1:]
        ]

        def tick(position: int) -> None:
            counters[0] = position
            if progress is not None:
                progress(min(counters), plans[0].upto)  # every share reads to the end

        own = Scan(store, plans[0], tick).run()
        return [own, *(result.get() for result in pending)]


def _init_worker(counters: Any, url: str) -> None:
    global _counters, _store
    _counters = counters
    gc.disable()  # a worker lives for one pass: see scan.collection_paused
    try:
        from eventstate.api import open_store

        _store = open_store(url, check_release=False)
    except Exception as exc:  # an initializer that raises is restarted forever
        _store = exc


def _run_share(plan: ScanPlan) -> ScanResult:
    store = _store
    if isinstance(store, BaseException):
        raise store
    assert store is not None  # opened by _init_worker

    def tick(position: int) -> None:
        _counters[plan.share] = position

    global _scan
    _scan = None
    _scan = Scan(store, plan, tick)
    return _scan.run()
