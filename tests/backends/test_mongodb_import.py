"""Imports (append_stream_of_batches): all or nothing at any size, also when the
importing process dies part way; the next writer or opener cleans up."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from eventstate.backends.base import NewRow
from eventstate.backends.mongo.lock import StoreBusyError
from eventstate.backends.mongo.retry import MongoRetryExhaustedError, RetryPolicy
from eventstate.errors import StreamVersionGapError
from eventstate.gating import APPEND_GUARD
from tests.backends.mongomock_adapter import (
    FaultyClient,
    Target,
    open_backend,
    target_fixture,  # noqa: F401 - the `target` fixture
)


def row(stream: str, version: int) -> NewRow:
    return (stream, version, "T", 1, version, b"imported")


def batches(count: int, size: int, stream: str = "imp") -> Iterator[list[NewRow]]:
    for b in range(count):
        yield [row(stream, b * size + i + 1) for i in range(size)]


def stored(target: Target, backend: Any) -> int:
    """Every event document, visible or not."""
    raw = target.client().get_database(backend.database).get_collection("events")
    return int(raw.count_documents({}))


def visible(backend: Any) -> tuple[int, int, list[int]]:
    return backend.head(), backend.count(), [r[0] for r in backend.iter_log()]


def test_a_failing_batch_leaves_the_store_as_it_was(target: Target) -> None:
    backend = open_backend(target, chunk=4)
    backend.append([row("a", 1)], APPEND_GUARD)
    before = (visible(backend), backend.read_meta())

    def bad() -> Iterator[list[NewRow]]:
        yield from batches(3, 5)
        yield [row("imp", 99)]  # a gap in the fourth batch

    with pytest.raises(StreamVersionGapError, match="imp: version 99"):
        backend.append_stream_of_batches(bad(), APPEND_GUARD)
    assert (visible(backend), backend.read_meta()) == before
    assert stored(target, backend) == 1  # the staged rows are gone
    assert backend.append([row("a", 2)], APPEND_GUARD) == [2]  # and the lock is free


def test_an_exception_in_the_callers_batches_writes_nothing(target: Target) -> None:
    backend = open_backend(target)

    def broken() -> Iterator[list[NewRow]]:
        yield from batches(2, 3)
        raise ValueError("line 7: not JSON")

    with pytest.raises(ValueError, match="line 7"):
        backend.append_stream_of_batches(broken(), APPEND_GUARD)
    assert visible(backend) == (0, 0, []) and stored(target, backend) == 0


def test_a_killed_import_is_invisible_and_cleaned_up_by_the_next_writer(target: Target) -> None:
    client = FaultyClient(target.client())
    fast_fail = RetryPolicy(attempts=2, base_s=0.001, max_wait_s=0.001)
    importer = open_backend(target, client=client, retry=fast_fail, lock_ttl_s=0.5, chunk=10)
    other = open_backend(target, lock_ttl_s=0.5, lock_timeout_s=10)
    other.append([row("before", 1)], APPEND_GUARD)

    def dying() -> Iterator[list[NewRow]]:
        yield from batches(4, 25)
        client.faults.cut = True  # the process dies: nothing more reaches the server
        yield from batches(2, 25)

    with pytest.raises(MongoRetryExhaustedError):
        importer.append_stream_of_batches(dying(), APPEND_GUARD)
    # 100 staged rows (and the dead importer's lock) are in the database ...
    assert stored(target, other) == 101
    # ... and no reader sees any of them.
    assert visible(other) == (1, 1, [1])
    assert other.stream_heads(["imp"]) == {}
    assert other.read_stream("imp") == []
    assert [n.id for n in other.select_notifications(None, 100)] == [1]
    assert other.max_notification_id() == 1
    # The next writer waits for the dead lock to expire, cleans up, and writes at 2.
    assert other.append([row("after", 1)], APPEND_GUARD) == [2]
    assert stored(target, other) == 2
    assert [(r[0], r[1]) for r in other.iter_log()] == [(1, "before"), (2, "after")]


def test_the_next_opener_cleans_up_a_dead_import(target: Target) -> None:
    client = FaultyClient(target.client())
    fast_fail = RetryPolicy(attempts=2, base_s=0.001, max_wait_s=0.001)
    importer = open_backend(target, client=client, retry=fast_fail, lock_ttl_s=0.3)

    def dying() -> Iterator[list[NewRow]]:
        yield from batches(3, 10)
        client.faults.cut = True
        yield from batches(1, 10)

    with pytest.raises(MongoRetryExhaustedError):
        importer.append_stream_of_batches(dying(), APPEND_GUARD)
    time.sleep(0.4)
    reopened = open_backend(target)
    assert stored(target, reopened) == 0 and visible(reopened) == (0, 0, [])
    assert reopened.append_stream_of_batches(batches(2, 10), APPEND_GUARD) == 20


def test_a_long_import_keeps_its_lock_and_other_writers_wait(target: Target) -> None:
    importer = open_backend(target, lock_ttl_s=0.4, chunk=5)
    writer = open_backend(target, lock_ttl_s=0.4, lock_timeout_s=20)
    started = threading.Event()
    results: dict[str, Any] = {}

    def slow() -> Iterator[list[NewRow]]:
        for part in batches(6, 5):
            started.set()
            time.sleep(0.15)  # 0.9s in all: longer than the lock's lifetime
            yield part

    def append_meanwhile() -> None:
        started.wait(5)
        results["append"] = writer.append([row("live", 1)], APPEND_GUARD)

    thread = threading.Thread(target=append_meanwhile)
    thread.start()
    assert importer.append_stream_of_batches(slow(), APPEND_GUARD) == 30
    thread.join(20)
    # The import committed first, in one step; the waiting append came after it.
    assert results["append"] == [31]
    rows = list(writer.iter_log())
    assert [r[1] for r in rows[:30]] == ["imp"] * 30 and rows[30][1] == "live"


def test_a_writer_gives_up_on_a_live_lock_with_a_clear_error(target: Target) -> None:
    importer = open_backend(target, lock_ttl_s=30)
    writer = open_backend(target, lock_timeout_s=0.3)
    in_import = threading.Event()
    finish = threading.Event()

    def held() -> Iterator[list[NewRow]]:
        yield [row("imp", 1)]
        in_import.set()
        finish.wait(10)

    thread = threading.Thread(
        target=lambda: importer.append_stream_of_batches(held(), APPEND_GUARD)
    )
    thread.start()
    try:
        assert in_import.wait(5)
        with pytest.raises(StoreBusyError, match=r"store is busy: import by .* since"):
            writer.append([row("x", 1)], APPEND_GUARD)
    finally:
        finish.set()
        thread.join(10)
    assert writer.append([row("x", 1)], APPEND_GUARD) == [2]


def test_trusted_versions_skip_checks_but_never_duplicates(target: Target) -> None:
    from eventstate.errors import ConcurrencyConflictError

    backend = open_backend(target)
    assert (
        backend.append_stream_of_batches(batches(3, 4), APPEND_GUARD, trusted_versions=True) == 12
    )
    other = open_backend(target)
    other_batches = [[row("t", 1), row("t", 2)], [row("t", 2)]]  # the caller's check missed one
    fresh = open_backend(target.sibling("empty"))
    with pytest.raises(ConcurrencyConflictError, match="t version 2"):
        fresh.append_stream_of_batches(other_batches, APPEND_GUARD, trusted_versions=True)
    assert visible(fresh) == (0, 0, []) and stored(target, fresh) == 0
    assert other.head() == 12


_IMPORTER = """
import sys, time
from eventstate.backends.mongodb import MongoBackend
from eventstate.gating import APPEND_GUARD
url = sys.argv[1]
backend = MongoBackend(url, initial_release="3.0", lock_ttl_s=1.0, chunk=50)

def batches():
    for b in range(10_000):
        yield [("imp", b * 50 + i + 1, "T", 1, 1, b"x") for i in range(50)]
        if b == 3:
            print("importing", flush=True)
        time.sleep(0.01)

backend.append_stream_of_batches(batches(), APPEND_GUARD)
"""


def test_a_process_killed_mid_import_leaves_nothing_visible(target: Target) -> None:
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    if not target.is_real:
        pytest.skip("a killed process needs a server outside this process")
    before = open_backend(target)
    before.append([row("before", 1)], APPEND_GUARD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    child = subprocess.Popen(
        [sys.executable, "-c", _IMPORTER, target.url], env=env, stdout=subprocess.PIPE
    )
    assert child.stdout is not None and child.stdout.readline().strip() == b"importing"
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGKILL)  # no cleanup code runs
    child.wait()
    assert stored(target, before) > 1  # its staged rows are there ...
    assert visible(before) == (1, 1, [1])  # ... and invisible
    time.sleep(1.2)  # its write lock expires
    reopened = open_backend(target)  # the next opener removes them
    assert stored(target, reopened) == 1 and visible(reopened) == (1, 1, [1])
    assert reopened.append([row("after", 1)], APPEND_GUARD) == [2]
