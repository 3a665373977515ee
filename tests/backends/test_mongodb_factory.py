"""eventsourcing's InfrastructureFactoryTestCase for the MongoDB factory (on
mongomock, and on a real server when EVENTSTATE_TEST_MONGODB_URI is set), and
an eventsourcing Application running on it."""

from __future__ import annotations

import unittest
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests.persistence import InfrastructureFactoryTestCase
from eventsourcing.utils import Environment, get_topic

from eventstate.backends.mongo_factory import MongoFactory, _with_database_suffix
from eventstate.backends.mongodb import MongoBackend
from eventstate.backends.views import AggregateRecorderView
from tests.backends.mongomock_adapter import REAL_URI, MockServer, make_target

_SERVER = MockServer()


class MockMongoFactory(MongoFactory):
    """The factory with mongomock (through the adapter) in place of a server."""

    def create_client(self) -> Any:
        return _SERVER.client()


class MongoBackendSubclass(MongoBackend):
    pass


class _FactoryCase(InfrastructureFactoryTestCase[MongoFactory]):
    factory_class: type[MongoFactory] = MockMongoFactory
    uri = "mongodb://localhost/eventstate_factory_test"

    def expected_factory_class(self) -> type[MongoFactory]:
        return self.factory_class

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return AggregateRecorderView

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return MongoBackend

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return MongoBackend

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return MongoBackendSubclass

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return MongoBackend

    def setUp(self) -> None:
        self.env = Environment("TestCase")
        self.env[InfrastructureFactory.PERSISTENCE_MODULE] = get_topic(self.factory_class)
        self.env[MongoFactory.MONGODB_URI] = self.uri
        super().setUp()


class TestMongoFactoryOnMongomock(_FactoryCase):
    pass


class TestMongoFactoryOnRealServer(_FactoryCase):
    factory_class = MongoFactory

    def setUp(self) -> None:
        if not REAL_URI:
            raise unittest.SkipTest("EVENTSTATE_TEST_MONGODB_URI is not set")
        self.target = make_target("real")
        self.uri = self.target.url
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self.target.cleanup()


def test_module_topic_finds_the_factory() -> None:
    env = Environment(
        "App",
        {
            InfrastructureFactory.PERSISTENCE_MODULE: "eventstate.backends.mongo_factory",
            MongoFactory.MONGODB_URI: "mongodb://localhost/x",
        },
    )
    factory = InfrastructureFactory.construct(env)
    assert type(factory) is MongoFactory
    factory.close()


def test_missing_uri_is_a_clear_error() -> None:
    env = Environment("App", {InfrastructureFactory.PERSISTENCE_MODULE: get_topic(MongoFactory)})
    with pytest.raises(OSError, match="MONGODB_URI"):
        InfrastructureFactory.construct(env)


def test_snapshots_live_in_their_own_database() -> None:
    assert _with_database_suffix("mongodb://h1,h2/db?replicaSet=rs", "snapshots") == (
        "mongodb://h1,h2/db_snapshots?replicaSet=rs"
    )
    # A user keeps authenticating where it did: the URL's database, else admin.
    assert _with_database_suffix("mongodb://u:p@h", "snapshots") == (
        "mongodb://u:p@h/eventstate_snapshots?authSource=admin"
    )
    assert _with_database_suffix("mongodb://u:p@h/prod?w=1", "snapshots") == (
        "mongodb://u:p@h/prod_snapshots?w=1&authSource=prod"
    )


class Dog(Aggregate):
    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.tricks: list[str] = []

    @event("TrickAdded")
    def add_trick(self, trick: str) -> None:
        self.tricks.append(trick)


class DogSchool(Application[Any]):
    def register(self, name: str) -> Any:
        dog = Dog(name)
        self.save(dog)
        return dog.id


def test_an_application_with_snapshots_runs_on_the_factory() -> None:
    env = {
        "PERSISTENCE_MODULE": get_topic(MockMongoFactory),
        "MONGODB_URI": "mongodb://localhost/dogschool",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }
    app = DogSchool(env=env)
    dog_id = app.register("Fido")
    dog: Dog = app.repository.get(dog_id)
    dog.add_trick("roll over")
    app.save(dog)
    app.take_snapshot(dog_id)
    assert app.repository.get(dog_id).tricks == ["roll over"]
    assert [n.id for n in app.notification_log.select(start=1, limit=10)] == [1, 2]
    app.close()
    events = _SERVER.client().get_database("dogschool").get_collection("events")
    snapshots = _SERVER.client().get_database("dogschool_snapshots").get_collection("events")
    assert events.count_documents({}) == 2  # snapshots never enter the log
    assert snapshots.count_documents({}) == 1
