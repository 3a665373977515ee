"""eventsourcing's own recorder test cases, run against the MongoDB backend.

Every case runs on mongomock as a replica set (transactions) and as a
standalone server (head-pointer commits), and on a real server when
EVENTSTATE_TEST_MONGODB_URI is set (as it is, and with head-pointer commits
forced).
"""

from __future__ import annotations

import unittest
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)

from eventstate.backends.mongodb import MongoBackend
from eventstate.backends.views import AggregateRecorderView
from tests.backends.mongomock_adapter import (
    REAL_URI,
    TARGET_NAMES,
    Target,
    make_target,
    open_backend,
    target_fixture,  # noqa: F401 - the `target` fixture
)


class _MongoStore:
    target_name = "mongomock-rs"
    target: Target
    backends: list[MongoBackend]

    def setUp(self) -> None:
        if self.target_name.startswith("real") and not REAL_URI:
            raise unittest.SkipTest("EVENTSTATE_TEST_MONGODB_URI is not set")
        self.target = make_target(self.target_name)
        self.backends = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        for backend in self.backends:
            backend.close()
        self.target.cleanup()
        super().tearDown()  # type: ignore[misc]

    def create_recorder(self) -> Any:
        backend = open_backend(self.target)
        self.backends.append(backend)
        return backend

    def new_originator_id(self) -> Any:
        return f"machine:{uuid4()}:0"


class _Aggregate(_MongoStore, AggregateRecorderTestCase):
    def create_recorder(self) -> Any:
        return AggregateRecorderView(super().create_recorder())


class _Application(_MongoStore, ApplicationRecorderTestCase[MongoBackend]):
    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class _Tracking(_MongoStore, TrackingRecorderTestCase):
    pass


class _Process(_MongoStore, ProcessRecorderTestCase):
    pass


class _UUIDs(_MongoStore, AggregateRecorderTestCase):
    """The aggregate cases again with eventsourcing's default UUID originator ids."""

    def create_recorder(self) -> Any:
        return AggregateRecorderView(super().create_recorder())

    def new_originator_id(self) -> Any:
        return uuid4()


def _per_target(base: type, name: str) -> None:
    for target in TARGET_NAMES:
        suffix = "".join(part.capitalize() for part in target.split("-"))
        cls = type(f"Test{name}{suffix}", (base,), {"target_name": target})
        globals()[cls.__name__] = cls


_per_target(_Aggregate, "AggregateRecorder")
_per_target(_Application, "ApplicationRecorder")
_per_target(_Tracking, "TrackingRecorder")
_per_target(_Process, "ProcessRecorder")
_per_target(_UUIDs, "UUIDOriginators")
del _Aggregate, _Application, _Tracking, _Process, _UUIDs


def test_uuid_originator_ids_round_trip_as_notifications(target: Target) -> None:
    backend = open_backend(target)
    originator = uuid4()
    backend.insert_events([StoredEvent(originator, 1, "topic", b"\x80")])
    (notification,) = backend.select_notifications(1, 10)
    assert notification.originator_id == originator
    (event,) = backend.select_events(originator)
    assert event.originator_id == originator and event.state == b"\x80"


def test_tracking_is_atomic_with_events(target: Target) -> None:
    backend = open_backend(target)
    stream = f"machine:{uuid4()}:0"
    backend.insert_events([StoredEvent(stream, 1, "t", b"a")], tracking=Tracking("up", 5))
    with pytest.raises(Exception, match="not beyond"):
        backend.insert_events([StoredEvent(stream, 2, "t", b"b")], tracking=Tracking("up", 5))
    assert [e.originator_version for e in backend.select_events(stream)] == [1]
    assert backend.max_tracking_id("up") == 5
