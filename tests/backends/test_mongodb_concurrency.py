"""Many writers and catching-up readers at once: positions are gap-free and in
commit order, so a reader that follows the head never skips an event that
commits late. Threads on mongomock (several backends = several state servers
on one server), processes too on a real server."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from eventstate.backends.base import NewRow
from eventstate.backends.mongo.retry import RetryPolicy
from eventstate.errors import ConcurrencyConflictError
from eventstate.gating import APPEND_GUARD
from eventstate.hashing import GENESIS, event_hash
from tests.backends.mongomock_adapter import (
    FaultyClient,
    Target,
    open_backend,
    target_fixture,  # noqa: F401 - the `target` fixture
)


def row(stream: str, version: int, writer: int) -> NewRow:
    return (stream, version, "T", 1, version, f"{writer}".encode())


class Follower:
    """A reader catching up with the log, as a projection does."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.seen: list[int] = []
        self.problems: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        last = 0
        while True:
            stopping = self.stop.is_set()
            for r in self.backend.iter_log(after=last, page=7):
                if r[0] != last + 1:
                    self.problems.append(f"after {last} came {r[0]}: skipped {last + 1}")
                last = r[0]
                self.seen.append(r[0])
            if stopping:
                return
            time.sleep(0.001)


def check_log(backend: Any) -> None:
    rows = list(backend.iter_log())
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    versions: dict[str, int] = {}
    previous = GENESIS
    hashes = dict(backend.iter_hashes())
    for position, stream, version, type_name, schema, recorded_at, state in rows:
        assert version == versions.get(stream, 0) + 1, f"{stream} {version} out of order"
        versions[stream] = version
        previous = event_hash(previous, stream, version, type_name, schema, recorded_at, state)
        assert hashes[position] == previous
    assert backend.read_meta().head_hash == (previous if rows else b"")


def test_concurrent_appenders_and_followers(target: Target) -> None:
    servers = [open_backend(target) for _ in range(3)]  # three state servers
    streams = [f"machine:m:{i}" for i in range(4)]
    appended: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(number: int) -> None:
        backend = servers[number % len(servers)]
        rng = random.Random(number)
        done = 0
        try:
            while done < 15:
                stream = rng.choice(streams)
                head = backend.stream_heads([stream]).get(stream, 0)
                rows = [row(stream, head + 1 + i, number) for i in range(rng.randint(1, 3))]
                try:
                    positions = backend.append(rows, APPEND_GUARD)
                except ConcurrencyConflictError:
                    continue  # another state server wrote first: reload and retry
                with lock:
                    appended.append(positions)
                done += 1
        except BaseException as exc:
            errors.append(exc)

    followers = [Follower(servers[i % len(servers)]) for i in range(2)]
    for follower in followers:
        follower.thread.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    for follower in followers:
        follower.stop.set()
        follower.thread.join()
    assert not errors, errors
    head = servers[0].head()
    assert sorted(p for ps in appended for p in ps) == list(range(1, head + 1))
    for positions in appended:  # each append's events are contiguous
        assert positions == list(range(positions[0], positions[0] + len(positions)))
    for follower in followers:
        assert follower.problems == []
        assert follower.seen == list(range(1, head + 1))
    check_log(servers[0])


def test_a_reader_never_sees_part_of_a_commit(target: Target) -> None:
    """A writer paused between writing its events and committing: readers see
    none of its events until the commit, then all of them; the next writer
    commits after it (no "max + 1" position from under a late committer)."""
    client = FaultyClient(target.client())
    slow = open_backend(target, client=client)
    # On a real replica set `other` write-conflicts with the paused transaction
    # and retries until it commits: give it a budget longer than the pause.
    other = open_backend(target, retry=RetryPolicy(attempts=40, base_s=0.01, max_wait_s=0.1))
    reader = open_backend(target)
    staged = threading.Event()
    release = threading.Event()
    commit_op = "commit_transaction" if slow.transactions else "meta.update_one"

    def pause() -> None:
        staged.set()
        release.wait(10)

    client.faults.add(commit_op, pause)
    results: dict[str, Any] = {}
    slow_thread = threading.Thread(
        target=lambda: results.__setitem__(
            "slow", slow.append([row("a", v, 1) for v in (1, 2, 3)], APPEND_GUARD)
        )
    )
    slow_thread.start()
    assert staged.wait(10)
    other_thread = threading.Thread(
        target=lambda: results.__setitem__("other", other.append([row("b", 1, 2)], APPEND_GUARD))
    )
    other_thread.start()
    views: list[list[int]] = []
    read_thread = threading.Thread(target=lambda: views.append([r[0] for r in reader.iter_log()]))
    read_thread.start()
    read_thread.join(0.3)
    if not read_thread.is_alive():  # a real server answers at once: nothing committed yet
        assert views == [[]]
    release.set()
    for thread in (slow_thread, other_thread, read_thread):
        thread.join(10)
    assert results["slow"] == [1, 2, 3] and results["other"] == [4]
    assert views[-1] in ([], [1, 2, 3], [1, 2, 3, 4])
    check_log(reader)


def test_exactly_once_processing_with_tracking(target: Target) -> None:
    """Several processors race to handle upstream notifications 1..N: each
    notification produces its event once, the tracking position never skips."""
    processors = [open_backend(target) for _ in range(3)]
    upstream = 30
    errors: list[BaseException] = []

    def process(backend: Any) -> None:
        try:
            while True:
                done = backend.max_tracking_id("upstream") or 0
                if done >= upstream:
                    return
                n = done + 1
                try:
                    backend.insert_events(
                        [StoredEvent(f"result:{n}", 1, "Processed", str(n).encode())],
                        tracking=Tracking("upstream", n),
                    )
                except IntegrityError:
                    continue  # another processor handled n first
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=process, args=(b,)) for b in processors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    results = [r[1] for r in processors[0].iter_log()]
    assert sorted(results) == sorted(f"result:{n}" for n in range(1, upstream + 1))
    assert processors[1].max_tracking_id("upstream") == upstream
    check_log(processors[2])


_CHILD = """
import sys
from eventstate.backends.mongodb import MongoBackend
from eventstate.errors import ConcurrencyConflictError
from eventstate.gating import APPEND_GUARD
url, me = sys.argv[1], int(sys.argv[2])
backend = MongoBackend(url, initial_release="3.0")
done = 0
while done < 20:
    stream = f"machine:shared:{done % 3}"
    head = backend.stream_heads([stream]).get(stream, 0)
    try:
        backend.append([(stream, head + 1, "T", 1, 1, str(me).encode())], APPEND_GUARD)
    except ConcurrencyConflictError:
        continue
    done += 1
"""


def test_concurrent_processes(target: Target) -> None:
    if not target.is_real:
        pytest.skip("processes cannot share an in-process mongomock server")
    open_backend(target).close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, target.url, str(n)], env=env)
        for n in range(4)
    ]
    assert [child.wait(300) for child in children] == [0, 0, 0, 0]
    backend = open_backend(target)
    assert backend.head() == 80
    check_log(backend)
