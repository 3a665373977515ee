"""The MongoDB backend's small parts: the server clock, concerns, mode detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from eventstate.backends.mongo.clock import ServerClock
from eventstate.backends.mongo.settings import effective_read_concern, effective_write_concern
from eventstate.timeutil import to_us
from tests.backends.mongomock_adapter import (  # noqa: F401 - the `target` fixture
    MockServer,
    Target,
    open_backend,
    target_fixture,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def clock_seeing(server_time: datetime | None, rtt_us: int = 2_000) -> ServerClock:
    local = to_us(NOW)
    clock = ServerClock(lambda: {}, local=lambda: local, refresh_s=1e9)
    reply = {} if server_time is None else {"localTime": server_time.replace(tzinfo=None)}
    clock.observe(reply, local - rtt_us // 2, local + rtt_us // 2)
    return clock


def test_the_server_clock_offset_is_applied_when_measurable() -> None:
    ahead = clock_seeing(NOW + timedelta(minutes=5))
    assert ahead.source == "server"
    assert ahead.offset_us() == 5 * 60 * 1_000_000
    assert ahead.to_server(1_000) == 1_000 + 5 * 60 * 1_000_000


def test_an_offset_below_the_measurements_precision_is_not_applied() -> None:
    # localTime has millisecond resolution and the round trip took 2ms.
    assert clock_seeing(NOW - timedelta(microseconds=900)).offset_us() == 0
    assert clock_seeing(NOW + timedelta(milliseconds=1), rtt_us=4_000).offset_us() == 0


def test_without_local_time_the_callers_clock_is_used() -> None:
    clock = clock_seeing(None)
    assert clock.source == "caller" and clock.offset_us() == 0


def test_the_clock_is_measured_again_after_refresh_s() -> None:
    replies = [{"localTime": (NOW + timedelta(seconds=s)).replace(tzinfo=None)} for s in (10, 20)]
    local = to_us(NOW)
    clock = ServerClock(lambda: replies.pop(0), local=lambda: local, refresh_s=0)
    assert clock.offset_us() == 10_000_000
    assert clock.offset_us() == 20_000_000


def test_majority_concerns_by_default_and_the_url_wins() -> None:
    default: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        "mongodb://h/db", connect=False
    )
    w1: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        "mongodb://h/db?w=1&readConcernLevel=local", connect=False
    )
    try:
        assert effective_write_concern(default.write_concern, True).document == {"w": "majority"}
        assert effective_read_concern(default.read_concern, True).level == "majority"
        assert effective_write_concern(w1.write_concern, True).document == {"w": 1}
        assert effective_read_concern(w1.read_concern, True).level == "local"
        standalone = effective_write_concern(WriteConcern(), False).document
        assert standalone == {"w": 1, "j": True}
        assert effective_read_concern(ReadConcern(), False).level == "local"
    finally:
        default.close()
        w1.close()


def test_commits_are_chosen_from_hello(target: Target) -> None:
    backend = open_backend(target)
    if target.name in ("mongomock-rs",):
        assert backend.transactions and backend.describe()["write_concern"] == {"w": "majority"}
    if target.name == "mongomock-standalone":
        assert not backend.transactions
        assert backend.describe()["commits"] == "head-pointer commits"
    forced = open_backend(target, mode="standalone")
    assert not forced.transactions


def test_a_forced_transaction_mode_on_a_standalone_server_is_a_clear_error() -> None:
    import pytest

    from eventstate.backends.mongo.retry import MongoOperationError
    from eventstate.gating import APPEND_GUARD

    server = MockServer(replica_set=False)
    target = Target("x", "mongodb://localhost/forced", "transactions", server)
    backend = open_backend(target)
    with pytest.raises(MongoOperationError, match="only allowed on a replica set"):
        backend.append([("a", 1, "T", 1, 1, b"")], APPEND_GUARD)


def test_an_unreachable_server_is_a_one_line_store_error() -> None:
    import pytest

    from eventstate.backends.mongodb import MongoBackend
    from eventstate.errors import StoreURLError

    with pytest.raises(StoreURLError) as caught:
        MongoBackend(
            "mongodb://admin:n0tshown@127.0.0.1:1/db?serverSelectionTimeoutMS=200",
            initial_release="3.0",
        )
    message = str(caught.value)
    assert message.startswith("cannot open store mongodb://admin:***@127.0.0.1:1/db")
    assert "n0tshown" not in message and "\n" not in message
    assert caught.value.exit_code == 2
