"""eventsourcing InfrastructureFactory for the MongoDB backend.

    PERSISTENCE_MODULE=eventstate.backends.mongo_factory
    MONGODB_URI=mongodb://host1,host2,host3/eventstate?replicaSet=rs0

The twin of eventstate.backends.sqlite_factory: the application, tracking and
process recorders are a MongoBackend (one per recorder class, on one shared
client), the aggregate recorder an AggregateRecorderView over it. Snapshots go
to a database of their own (`<db>_snapshots`). `create_client` is the seam
tests use to substitute mongomock.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import Environment, EnvType
from pymongo import MongoClient

from eventstate.backends.mongo.settings import parse_mongo_url, with_database
from eventstate.backends.mongodb import MongoBackend
from eventstate.backends.sqlite_factory import BackendFactory


class MongoFactory(BackendFactory[MongoBackend]):
    MONGODB_URI = "MONGODB_URI"
    backend_class = MongoBackend

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        self.uri = self.env.get(self.MONGODB_URI) or ""
        if not self.uri:
            keys = ", ".join(self.env.create_keys(self.MONGODB_URI))
            raise OSError(f"MongoDB URI not found in environment with keys: {keys}")
        self._client: MongoClient[dict[str, Any]] | None = None

    def create_client(self) -> MongoClient[dict[str, Any]]:
        return MongoClient(self.uri, appname="eventstate", uuidRepresentation="standard")

    def client(self) -> MongoClient[dict[str, Any]]:
        if self._client is None:
            self._client = self.create_client()
        return self._client

    def create_backend(self, cls: type[MongoBackend], purpose: str) -> MongoBackend:
        uri = self.uri if purpose == "events" else _with_database_suffix(self.uri, purpose)
        return cls(
            uri,
            initial_release=self.initial_release(),
            client=self.client(),
            create_indexes=self.create_table(),
        )

    def close(self) -> None:
        super().close()
        if self._client is not None:
            self._client.close()
            self._client = None


def _with_database_suffix(uri: str, purpose: str) -> str:
    return with_database(uri, f"{parse_mongo_url(uri).database}_{purpose}")
