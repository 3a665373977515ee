"""eventsourcing InfrastructureFactory for the SQLite backend.

    PERSISTENCE_MODULE=eventstate.backends.sqlite_factory
    SQLITE_DBNAME=/var/lib/eventstate/store.db    (or :memory:)

An eventsourcing Application then keeps its events in an eventstate store: the
application, tracking and process recorders are the backend itself (one per
recorder class, shared), the aggregate recorder is an AggregateRecorderView
over it. Snapshots (`aggregate_recorder("snapshots")`) go to a store of their
own beside it: they are not events and must not enter the log.

`BackendFactory` is the part shared with the MongoDB factory.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import Generic, TypeVar

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool

from eventstate.backends.sqlite import SQLiteBackend
from eventstate.backends.views import AggregateRecorderView
from eventstate.releases import CODE_RELEASE

B = TypeVar("B", bound=ProcessRecorder)


class BackendFactory(InfrastructureFactory[B], Generic[B]):
    """Recorders over one backend class; generic, so eventsourcing's module
    lookup (`InfrastructureFactory.construct`) never picks it by itself."""

    CREATE_TABLE = "CREATE_TABLE"
    INITIAL_RELEASE = "EVENTSTATE_INITIAL_RELEASE"
    backend_class: type[B]

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        self._backends: dict[tuple[type[B], str], B] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def create_backend(self, cls: type[B], purpose: str) -> B:
        """A new backend of class cls for `purpose` ("events" or "snapshots")."""

    def backend(self, cls: type[B] | None = None, purpose: str = "events") -> B:
        cls = cls or self.backend_class
        with self._lock:
            key = (cls, purpose)
            if key not in self._backends:
                self._backends[key] = self.create_backend(cls, purpose)
            return self._backends[key]

    def initial_release(self) -> str:
        return self.env.get(self.INITIAL_RELEASE) or CODE_RELEASE

    def create_table(self) -> bool:
        return bool(strtobool(self.env.get(self.CREATE_TABLE, "yes") or "yes"))

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return AggregateRecorderView(self.backend(purpose=purpose))

    def application_recorder(self) -> ApplicationRecorder:
        return self.backend(self._topic_class(self.APPLICATION_RECORDER_TOPIC))

    def tracking_recorder(self, tracking_recorder_class: type[B] | None = None) -> B:
        return self.backend(
            tracking_recorder_class or self._topic_class(self.TRACKING_RECORDER_TOPIC)
        )

    def process_recorder(self) -> ProcessRecorder:
        return self.backend(self._topic_class(self.PROCESS_RECORDER_TOPIC))

    def _topic_class(self, key: str) -> type[B]:
        topic = self.env.get(key)
        if not topic:
            return self.backend_class
        cls = resolve_topic(topic)
        if not (isinstance(cls, type) and issubclass(cls, self.backend_class)):
            raise OSError(f"{key}={topic} is not a {self.backend_class.__name__} class")
        return cls

    def close(self) -> None:
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for backend in backends:
            close = getattr(backend, "close", None)
            if close is not None:
                close()


class SQLiteFactory(BackendFactory[SQLiteBackend]):
    SQLITE_DBNAME = "SQLITE_DBNAME"
    backend_class = SQLiteBackend

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        self.path = self.env.get(self.SQLITE_DBNAME) or ""
        if not self.path:
            keys = ", ".join(self.env.create_keys(self.SQLITE_DBNAME))
            raise OSError(f"SQLite database name not found in environment with keys: {keys}")

    def create_backend(self, cls: type[SQLiteBackend], purpose: str) -> SQLiteBackend:
        path = self.path
        if purpose != "events" and path != ":memory:":
            path = f"{path}.{purpose}"
        return cls(path, initial_release=self.initial_release())
