"""A rebuild's heavy part: folding the log, model partition by model partition.

Documents of different models never touch each other, so the log splits by model
(`storage.base.partition_of`) into partitions folded independently: each one in memory
(`BulkDocuments`), then written into the BUILDING copy in one bulk transaction. Folding
in partitions bounds the memory a rebuild needs (one partition's documents at a time
per process), and partitions spread over processes use every core: the fold is
CPU-bound Python, so threads would not help.

The parent process folds partition 0 (and every `workers`-th after it) itself; worker
processes (`python -m projections.partitions ORDER`) fold the others and report JSON
lines on their standard output. A worker whose parent disappears (killed part way)
stops at its next tick; one that writes after its copy was dropped as abandoned gets
CopyGoneError and writes nothing.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import queue as queues
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventstate.errors import EventStateError
from eventstate.store import EventStore
from projections.events import decode_rows
from projections.fold import Fold
from projections.storage import CopyInfo, ProjectionStorage, storage_for
from projections.storage.memory import BulkDocuments

_POLL_S = 0.2
_WORKER_EXIT_PARENT_GONE = 3

Tick = Callable[[int], None]  # called with the events folded so far in this partition
Written = Callable[[int, int], None]  # (documents written, documents to write)


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    parts: int  # model partitions
    workers: int  # processes folding them, this one included

    def own(self, worker: int) -> range:
        """The partitions process `worker` folds (0 is the parent)."""
        return range(worker, self.parts, self.workers)


def fold_partition(
    store: EventStore,
    storage: ProjectionStorage,
    copy: CopyInfo,
    part: int,
    parts: int,
    head: int,
    tick: Tick | None,
    on_written: Written | None = None,
) -> tuple[int, int]:
    """Fold partition `part` of the log up to `head` and write its documents into the
    building `copy` in one transaction; returns (events folded, documents written)."""
    # No cycle collection while millions of objects are made and kept: each pass would
    # walk every document (seconds in all). Nothing here makes cyclic garbage, and the
    # documents are freed by reference counting as they are written.
    collecting = gc.isenabled()
    gc.disable()
    try:
        docs = BulkDocuments()
        rows = storage.iter_partition(0, head, part, parts)
        events = Fold(docs).apply_many(decode_rows(store, rows, tick))
        total = docs.count()

        def written(done: int) -> None:
            if on_written is not None:
                on_written(done, total)

        return events, storage.write_documents(copy, docs.drain(), written)
    finally:
        if collecting:
            gc.enable()


def run_partitions(
    store: EventStore,
    storage: ProjectionStorage,
    copy: CopyInfo,
    plan: PartitionPlan,
    head: int,
    on_events: Callable[[int], None],
    on_written: Written | None = None,
    while_waiting: Callable[[], None] = lambda: None,
) -> tuple[int, int]:
    """Fold every partition into the building copy, the parent's share here and the
    rest in `plan.workers - 1` worker processes. `on_events(total)` reports events
    folded so far by all of them (also where the parent heartbeats); `on_written` the
    parent's own writes; `while_waiting()` runs once the parent's own share is done,
    while workers still fold. Returns (events, documents) over all partitions; raises
    if any worker fails."""
    if plan.workers == 1:
        own = _fold_own(store, storage, copy, plan, 0, head, on_events, on_written)
        while_waiting()
        return own
    progress = _Progress(on_events)
    workers = [
        _Worker.start(store.url, copy, plan, worker, head) for worker in range(1, plan.workers)
    ]
    try:
        own = _fold_own(store, storage, copy, plan, 0, head, progress.own, on_written)
        while_waiting()  # e.g. drop leftover copies: workers take longer (they start up)
        others = progress.wait(workers)
        return own[0] + others[0], own[1] + others[1]
    finally:
        for worker in workers:
            worker.stop()


def _fold_own(
    store: EventStore,
    storage: ProjectionStorage,
    copy: CopyInfo,
    plan: PartitionPlan,
    worker: int,
    head: int,
    on_events: Callable[[int], None],
    on_written: Written | None = None,
) -> tuple[int, int]:
    events = written = 0
    for part in plan.own(worker):
        before = events

        def tick(done: int, before: int = before) -> None:
            on_events(before + done)

        folded, docs = fold_partition(
            store, storage, copy, part, plan.parts, head, tick, on_written
        )
        events += folded
        written += docs
    return events, written


class _Worker:
    """A worker process (`python -m projections.partitions`, not multiprocessing: that
    would import the caller's main module again) and its report lines."""

    def __init__(self, number: int, process: subprocess.Popen[str]) -> None:
        self.number = number
        self.process = process
        self.lines: queues.Queue[str | None] = queues.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def start(
        cls, url: str, copy: CopyInfo, plan: PartitionPlan, number: int, head: int
    ) -> _Worker:
        order = {
            "url": url,
            "copy": dataclasses.asdict(copy),
            "parts": plan.parts,
            "workers": plan.workers,
            "worker": number,
            "head": head,
            "parent": os.getpid(),
        }
        # The same imports as this process, whatever put them on its path.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen(
            [sys.executable, "-m", "projections.partitions", json.dumps(order)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        return cls(number, process)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)  # end of output: the process is exiting

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait()


class _Progress:
    """The parent's view of every partition's progress: its own and the workers'."""

    def __init__(self, on_events: Callable[[int], None]) -> None:
        self._on_events = on_events
        self._own = 0
        self._workers: dict[int, int] = {}
        self._done: dict[int, tuple[int, int]] = {}
        self._watched: list[_Worker] = []

    def own(self, events: int) -> None:
        self._own = events
        self._drain()
        self._report()

    def wait(self, workers: list[_Worker]) -> tuple[int, int]:
        """Until every worker has reported its result; raises if one fails."""
        self._watched = workers
        while len(self._done) < len(workers):
            time.sleep(_POLL_S)
            self._drain()
            self._report()
        return sum(e for e, _ in self._done.values()), sum(d for _, d in self._done.values())

    def _report(self) -> None:
        self._on_events(self._own + sum(self._workers.values()))

    def _drain(self) -> None:
        for worker in self._watched:
            while True:
                try:
                    line = worker.lines.get_nowait()
                except queues.Empty:
                    break
                if line is None:
                    if worker.number not in self._done:
                        code = worker.process.wait()
                        raise EventStateError(
                            f"rebuild worker {worker.number} died (exit code {code})"
                        )
                    break
                self._message(worker.number, json.loads(line))

    def _message(self, number: int, message: dict[str, Any]) -> None:
        if "error" in message:
            raise EventStateError(f"rebuild worker {number} failed: {message['error']}")
        self._workers[number] = message["events"]
        if "documents" in message:
            self._done[number] = (message["events"], message["documents"])


def _work(order: dict[str, Any]) -> None:
    """A worker process's share of a rebuild; reports JSON lines on stdout."""
    from eventstate.api import open_store

    def report(**message: Any) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    try:
        store = open_store(order["url"])
        storage = storage_for(store)
        copy = CopyInfo(**order["copy"])
        plan = PartitionPlan(order["parts"], order["workers"])
        parent = order["parent"]
        beat = time.monotonic()

        def on_events(events: int) -> None:
            nonlocal beat
            if os.getppid() != parent:
                os._exit(_WORKER_EXIT_PARENT_GONE)  # the build is abandoned: stop here
            if time.monotonic() - beat > _POLL_S:
                report(events=events)
                beat = time.monotonic()

        events, written = _fold_own(
            store, storage, copy, plan, order["worker"], order["head"], on_events
        )
        report(events=events, documents=written)
        store.close()
    except Exception as exc:
        report(error=f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    _work(json.loads(sys.argv[1]))
