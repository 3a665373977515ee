"""eventsourcing's InfrastructureFactoryTestCase for the SQLite factory, and an
eventsourcing Application running on it."""

from __future__ import annotations

from pathlib import Path
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
from eventsourcing.utils import Environment

from eventstate.backends.sqlite import SQLiteBackend
from eventstate.backends.sqlite_factory import SQLiteFactory
from eventstate.backends.views import AggregateRecorderView


class SQLiteBackendSubclass(SQLiteBackend):
    pass


class TestSQLiteFactory(InfrastructureFactoryTestCase[SQLiteFactory]):
    def expected_factory_class(self) -> type[SQLiteFactory]:
        return SQLiteFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return AggregateRecorderView

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return SQLiteBackend

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return SQLiteBackend

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return SQLiteBackendSubclass

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return SQLiteBackend

    def setUp(self) -> None:
        self.env = Environment("TestCase")
        self.env[InfrastructureFactory.PERSISTENCE_MODULE] = "eventstate.backends.sqlite_factory"
        self.env[SQLiteFactory.SQLITE_DBNAME] = ":memory:"
        super().setUp()


def test_missing_database_name_is_a_clear_error() -> None:
    env = Environment("App", {InfrastructureFactory.PERSISTENCE_MODULE: SQLiteFactory.__module__})
    with pytest.raises(OSError, match="SQLITE_DBNAME"):
        InfrastructureFactory.construct(env)


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


def test_an_application_keeps_its_events_in_the_store(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    env = {"PERSISTENCE_MODULE": SQLiteFactory.__module__, "SQLITE_DBNAME": str(path)}
    app = DogSchool(env=env)
    dog_id = app.register("Fido")
    dog: Dog = app.repository.get(dog_id)
    dog.add_trick("roll over")
    app.save(dog)
    assert app.repository.get(dog_id).tricks == ["roll over"]
    notifications = app.notification_log.select(start=1, limit=10)
    assert [n.id for n in notifications] == [1, 2]
    app.close()
    # The same file, opened as a plain eventstate backend: the log is there.
    backend = SQLiteBackend(str(path), initial_release="3.0")
    assert backend.head() == 2 and [r[1] for r in backend.iter_log()] == [str(dog_id)] * 2
    backend.close()
