"""Transient errors, lost acknowledgements and bounded retries, by fault injection.

FaultyClient raises chosen errors before or after chosen operations on any
client, so these run on mongomock and, unchanged, on a real server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from eventstate.backends.base import NewRow
from eventstate.backends.mongo.retry import (
    MongoOperationError,
    MongoRetryExhaustedError,
    RetryPolicy,
    is_transient,
)
from eventstate.errors import ConcurrencyConflictError
from eventstate.gating import APPEND_GUARD
from tests.backends.mongomock_adapter import (
    FaultyClient,
    Target,
    open_backend,
    target_fixture,  # noqa: F401 - the `target` fixture
    transient,
)


def row(stream: str, version: int) -> NewRow:
    return (stream, version, "T", 1, 1_000 + version, b"payload")


def faulty_backend(target: Target, **options: Any) -> tuple[Any, FaultyClient]:
    client = FaultyClient(target.client())
    return open_backend(target, client=client, **options), client


def assert_log(backend: Any, expected: list[tuple[str, int]]) -> None:
    rows = list(backend.iter_log())
    assert [(r[1], r[2]) for r in rows] == expected
    assert [r[0] for r in rows] == list(range(1, len(expected) + 1))
    assert backend.count() == len(expected) == backend.head()


def _labelled(label: str) -> Callable[[], Exception]:
    return transient(label=label)


ERRORS: dict[str, Callable[[], Exception]] = {
    "AutoReconnect": lambda: AutoReconnect("connection reset"),
    "NotPrimaryError": lambda: NotPrimaryError("not primary"),
    "NetworkTimeout": lambda: NetworkTimeout("timed out"),
    "WriteConflict": transient("TransientTransactionError", code=112),
    "TransientTransactionError": _labelled("TransientTransactionError"),
    "PrimarySteppedDown": lambda: OperationFailure("stepped down", 189),
}


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_transient_errors_are_retried(target: Target, kind: str) -> None:
    backend, client = faulty_backend(target)
    client.faults.add("events.insert_many", ERRORS[kind], times=3)
    assert backend.append([row("a", 1), row("a", 2)], APPEND_GUARD) == [1, 2]
    assert_log(backend, [("a", 1), ("a", 2)])
    assert backend.append([row("a", 3)], APPEND_GUARD) == [3]


def test_reads_are_retried_too(target: Target) -> None:
    backend, client = faulty_backend(target)
    backend.append([row("a", 1)], APPEND_GUARD)
    client.faults.add("events.find", ERRORS["NotPrimaryError"], times=2)
    assert [r[0] for r in backend.iter_log()] == [1]


def _commit_op(backend: Any) -> str:
    # The operation whose reply a lost acknowledgement loses: the transaction's
    # commit, or the head-pointer update of a staged write.
    return "commit_transaction" if backend.transactions else "meta.update_one"


@pytest.mark.parametrize("times", [1, 5])
def test_a_lost_acknowledgement_does_not_write_twice(target: Target, times: int) -> None:
    """The server commits, the reply is lost, the append is retried: once only.

    times=5 outlasts the commit's own retries, so the whole append runs again
    and must recognise its batch id at the head.
    """
    backend, client = faulty_backend(target)
    backend.append([row("a", 1)], APPEND_GUARD)
    client.faults.add(
        _commit_op(backend), _labelled("UnknownTransactionCommitResult"), times=times, after=True
    )
    assert backend.append([row("a", 2), row("b", 1)], APPEND_GUARD) == [2, 3]
    assert_log(backend, [("a", 1), ("a", 2), ("b", 1)])
    assert backend.read_meta().head_hash == list(backend.iter_hashes())[-1][1]


def test_a_lost_acknowledgement_of_an_eventsourcing_insert(target: Target) -> None:
    from eventsourcing.persistence import StoredEvent, Tracking

    backend, client = faulty_backend(target)
    client.faults.add(_commit_op(backend), lambda: AutoReconnect("reply lost"), after=True, times=4)
    positions = backend.insert_events(
        [StoredEvent("s", 1, "t", b"1"), StoredEvent("s", 2, "t", b"2")],
        tracking=Tracking("upstream", 7),
    )
    assert list(positions) == [1, 2]
    assert [e.originator_version for e in backend.select_events("s")] == [1, 2]
    assert backend.max_tracking_id("upstream") == 7


def test_a_lost_acknowledgement_of_a_staged_insert(target: Target) -> None:
    backend, client = faulty_backend(target, chunk=2)
    client.faults.add("events.insert_many", lambda: AutoReconnect("reply lost"), after=True)
    rows = [row("imp", v) for v in range(1, 6)]
    assert backend.append_stream_of_batches([rows[:3], rows[3:]], APPEND_GUARD) == 5
    assert_log(backend, [("imp", v) for v in range(1, 6)])


def test_retries_are_bounded_with_growing_jittered_waits(target: Target) -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=8, base_s=0.01, max_wait_s=0.5, sleep=waits.append)
    backend, client = faulty_backend(target, retry=policy)
    client.faults.add("events.insert_many", ERRORS["AutoReconnect"], times=1000)
    with pytest.raises(MongoRetryExhaustedError) as caught:
        backend.append([row("a", 1)], APPEND_GUARD)
    message = str(caught.value)
    assert message.startswith("MongoDB append") and "after 8 attempts" in message
    assert "connection reset" in message and "\n" not in message
    assert len(waits) == 7 and all(0 <= w <= 0.5 for w in waits)
    # Exponential: the cap of the random wait doubles (0.01, 0.02, 0.04 ...).
    assert max(waits[4:]) > max(waits[:2])
    client.faults.faults.clear()
    assert_log(backend, [])
    assert backend.append([row("a", 1)], APPEND_GUARD) == [1]


def test_errors_that_retrying_cannot_fix_are_not_retried(target: Target) -> None:
    backend, client = faulty_backend(target)
    client.faults.add("events.insert_many", lambda: OperationFailure("not authorized", 13))
    with pytest.raises(
        MongoOperationError, match=r"^MongoDB append( insert)? failed: not authorized"
    ):
        backend.append([row("a", 1)], APPEND_GUARD)
    assert client.faults.calls.count("events.insert_many") == 1
    assert_log(backend, [])


def test_a_conflict_is_reported_not_retried(target: Target) -> None:
    backend, client = faulty_backend(target)
    backend.append([row("a", 1)], APPEND_GUARD)
    before = len(client.faults.calls)
    with pytest.raises(ConcurrencyConflictError):
        backend.append([row("a", 1)], APPEND_GUARD)
    assert "events.insert_many" not in client.faults.calls[before:]


def test_which_errors_are_transient() -> None:
    for make in ERRORS.values():
        assert is_transient(make())
    unknown = AutoReconnect("x")
    unknown._add_error_label("UnknownTransactionCommitResult")
    assert is_transient(unknown)
    assert is_transient(OperationFailure("write conflict", 112))
    assert not is_transient(OperationFailure("unauthorized", 13))
    assert not is_transient(DuplicateKeyError("E11000", 11000))
    assert not is_transient(ServerSelectionTimeoutError("no servers"))
    assert not is_transient(ValueError("x"))


def test_tracking_survives_a_crash_right_after_the_commit(target: Target) -> None:
    """Events and their tracking record commit together, also when the writer
    dies between its commit and anything after it (on a standalone server the
    record is applied from the store document by whoever comes next)."""
    from eventsourcing.persistence import StoredEvent, Tracking

    client = FaultyClient(target.client())
    dying = open_backend(target, client=client, retry=RetryPolicy(attempts=1))
    survivor = open_backend(target)

    def cut() -> None:
        client.faults.cut = True  # the commit reached the server; then the process died

    client.faults.add(_commit_op(dying), cut, after=True)
    try:
        dying.insert_events([StoredEvent("s", 1, "t", b"1")], tracking=Tracking("up", 3))
        died_before_returning = False
    except MongoRetryExhaustedError:
        died_before_returning = True
    # A transaction's commit is the last step; a staged write still had work after it.
    assert died_before_returning is not dying.transactions
    assert survivor.max_tracking_id("up") == 3
    assert [e.originator_version for e in survivor.select_events("s")] == [1]
    with pytest.raises(Exception, match="not beyond"):
        survivor.insert_events([StoredEvent("s", 2, "t", b"2")], tracking=Tracking("up", 3))
    survivor.insert_events([StoredEvent("s", 2, "t", b"2")], tracking=Tracking("up", 4))
    assert survivor.max_tracking_id("up") == 4
    raw = target.client().get_database(survivor.database).get_collection("meta")
    assert raw.find_one({"_id": "store"})["pending_tracking"] is None  # applied


def test_when_every_reply_is_lost_committed_events_are_kept(target: Target) -> None:
    """An append the server did commit is never rolled back by the cleanup after
    a failure. (A staged write reads its commit back and succeeds; a
    transaction's every commit reply is lost, so past the bound its caller
    hears of a failure.)"""
    backend, client = faulty_backend(target, retry=RetryPolicy(attempts=3, base_s=0.001))
    client.faults.add(
        _commit_op(backend), lambda: AutoReconnect("reply lost"), after=True, times=10_000
    )
    if backend.transactions:
        with pytest.raises(MongoRetryExhaustedError):
            backend.append([row("a", 1), row("a", 2)], APPEND_GUARD)
    else:
        assert backend.append([row("a", 1), row("a", 2)], APPEND_GUARD) == [1, 2]
    client.faults.faults.clear()
    assert_log(backend, [("a", 1), ("a", 2)])
    assert backend.append([row("a", 3)], APPEND_GUARD) == [3]


def test_a_lost_acknowledgement_of_a_tracking_only_write(target: Target) -> None:
    """A process application that handled a notification without new events
    records only its position; the retry after a lost reply is not refused."""
    from eventsourcing.persistence import Tracking

    backend, client = faulty_backend(target)
    client.faults.add(_commit_op(backend), lambda: AutoReconnect("reply lost"), after=True, times=4)
    assert list(backend.insert_events([], tracking=Tracking("up", 9))) == []
    client.faults.add(_commit_op(backend), lambda: AutoReconnect("reply lost"), after=True, times=4)
    backend.insert_tracking(Tracking("up", 10))
    assert backend.max_tracking_id("up") == 10
