"""A rebuild's heavy part: folding the log, model partition by model partition.

Documents of different models never touch each other, so the log splits by model
(`storage.base.partition_of`) into partitions folded independently: each one in memory
(`BulkDocuments`), then written into the BUILDING copy in one bulk transaction. Folding
in partitions bounds the memory a rebuild needs (one partition's documents at a time
per process), and partitions spread over processes use every core: the fold is
CPU-bound Python, so threads would not help.

Partitions are handed out one at a time, largest first (`ProjectionStorage.
partition_sizes`, an estimate): the parent process and its worker processes (`python -m
projections.partitions ORDER`) each take the next one whenever they are free, so all
finish at about the same time, however unevenly the models fall into partitions (and
although a worker starts a little later). A worker asks for a partition with a line on
its standard output and reads the answer on its standard input; it reports progress
and results as JSON lines on its standard output. A worker whose parent disappears
(killed part way) stops at its next tick or question; one that writes after its copy was
dropped as abandoned gets CopyGoneError and writes nothing.
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
_CLAIM = '{"claim"'  # a worker's question: which partition next?

Tick = Callable[[int], None]  # called with the events folded so far in this partition
Written = Callable[[int, int], None]  # (documents written, documents to write)


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    parts: int  # model partitions
    workers: int  # processes folding them, this one included


class Claims:
    """The partitions nobody has taken yet, in the order they go out."""

    def __init__(self, order: list[int]) -> None:
        self._order = order
        self._next = 0
        self._lock = threading.Lock()  # the parent's worker threads answer claims too

    @classmethod
    def largest_first(cls, storage: ProjectionStorage, parts: int) -> Claims:
        """Largest first (by the storage's estimate; in number order without one): the
        last ones to go out are then small, and every process ends at about one time."""
        sizes = storage.partition_sizes(parts)
        order = list(range(parts))
        if sizes is not None:
            order.sort(key=lambda part: -sizes[part])
        return cls(order)

    def take(self) -> int | None:
        """The next partition, or None when all are taken."""
        with self._lock:
            if self._next >= len(self._order):
                return None
            self._next += 1
            return self._order[self._next - 1]


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
    """Fold every partition into the building copy, in this process and in
    `plan.workers - 1` worker processes, each taking the next partition when free.
    `on_events(total)` reports events folded so far by all of them (also where the
    parent heartbeats); `on_written` the parent's own writes; `while_waiting()` runs
    once no partition is left for the parent, while workers still fold. Returns
    (events, documents) over all partitions; raises if any worker fails."""
    if plan.workers == 1:
        in_order = Claims(list(range(plan.parts))).take
        own = _fold_claimed(store, storage, copy, plan, in_order, head, on_events, on_written)
        while_waiting()
        return own
    progress = _Progress(on_events)
    claims = _PendingClaims()
    workers = [
        _Worker.start(store.url, copy, plan, worker, head, claims)
        for worker in range(1, plan.workers)
    ]
    try:
        # Estimated while the workers start up (they ask for their first partition
        # only once their imports are done).
        claims.ready(Claims.largest_first(storage, plan.parts))
        own = _fold_claimed(store, storage, copy, plan, claims.take, head, progress.own, on_written)
        while_waiting()  # e.g. drop leftover copies: workers take longer (they start up)
        others = progress.wait(workers)
        return own[0] + others[0], own[1] + others[1]
    finally:
        claims.ready(Claims([]))  # a worker still asking gets "none left"
        for worker in workers:
            worker.stop()


class _PendingClaims:
    """Claims that worker threads may ask for before the parent has made them."""

    def __init__(self) -> None:
        self._made = threading.Event()
        self._claims: Claims | None = None

    def ready(self, claims: Claims) -> None:
        if self._claims is None:
            self._claims = claims
            self._made.set()

    def take(self) -> int | None:
        self._made.wait()
        assert self._claims is not None
        return self._claims.take()


def _fold_claimed(
    store: EventStore,
    storage: ProjectionStorage,
    copy: CopyInfo,
    plan: PartitionPlan,
    take: Callable[[], int | None],
    head: int,
    on_events: Callable[[int], None],
    on_written: Written | None = None,
) -> tuple[int, int]:
    """Fold partitions as `take()` hands them out, until it says none are left."""
    events = written = 0
    while (part := take()) is not None:
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

    def __init__(self, number: int, process: subprocess.Popen[str], claims: _PendingClaims) -> None:
        self.number = number
        self.process = process
        self.lines: queues.Queue[str | None] = queues.Queue()
        self._claims = claims
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def start(
        cls,
        url: str,
        copy: CopyInfo,
        plan: PartitionPlan,
        number: int,
        head: int,
        claims: _PendingClaims,
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
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        return cls(number, process, claims)

    def _read(self) -> None:
        """Answers the worker's questions at once (the parent's main thread is busy
        folding); queues its reports for the main thread."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(_CLAIM):
                self._answer(self._claims.take())
            else:
                self.lines.put(line)
        self.lines.put(None)  # end of output: the process is exiting

    def _answer(self, part: int | None) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps({"part": part}) + "\n")
            self.process.stdin.flush()
        except OSError:
            pass  # it is gone: its end of output says so

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

        def check_parent() -> None:
            if os.getppid() != parent:
                os._exit(_WORKER_EXIT_PARENT_GONE)  # the build is abandoned: stop here

        def on_events(events: int) -> None:
            nonlocal beat
            check_parent()
            if time.monotonic() - beat > _POLL_S:
                report(events=events)
                beat = time.monotonic()

        def take() -> int | None:
            check_parent()
            report(claim=True)
            answer = sys.stdin.readline()
            if not answer:
                os._exit(_WORKER_EXIT_PARENT_GONE)  # no one to answer: the parent is gone
            part: int | None = json.loads(answer)["part"]
            return part

        events, written = _fold_claimed(store, storage, copy, plan, take, order["head"], on_events)
        report(events=events, documents=written)
        store.close()
    except Exception as exc:
        report(error=f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    _work(json.loads(sys.argv[1]))
