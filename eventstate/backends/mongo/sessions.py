"""Causally consistent sessions and the transaction runner.

Every operation runs in a session advanced to the newest operation time this
process has seen, so with majority read and write concerns a process always
reads its own writes (and everything before them), whichever thread wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from pymongo import MongoClient, ReadPreference
from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from eventstate.backends.mongo.retry import RetryPolicy

T = TypeVar("T")
_COMMIT_RETRIES = 3


class Sessions:
    def __init__(
        self,
        client: MongoClient[dict[str, Any]],
        policy: RetryPolicy,
        write_concern: WriteConcern,
    ) -> None:
        self._client = client
        self.policy = policy
        self.write_concern = write_concern
        self._lock = threading.Lock()
        self._cluster_time: Any = None
        self._operation_time: Any = None

    @contextmanager
    def session(self) -> Iterator[ClientSession]:
        session = self._client.start_session(causal_consistency=True)
        try:
            with self._lock:
                cluster_time, operation_time = self._cluster_time, self._operation_time
            if cluster_time is not None:
                session.advance_cluster_time(cluster_time)
            if operation_time is not None:
                session.advance_operation_time(operation_time)
            yield session
            self._observe(session)
        finally:
            session.end_session()

    def _observe(self, session: ClientSession) -> None:
        cluster_time, operation_time = session.cluster_time, session.operation_time
        with self._lock:
            if operation_time is not None and (
                self._operation_time is None or operation_time > self._operation_time
            ):
                self._operation_time = operation_time
            if cluster_time is not None and (
                self._cluster_time is None
                or cluster_time["clusterTime"] > self._cluster_time["clusterTime"]
            ):
                self._cluster_time = cluster_time

    def run(self, operation: str, fn: Callable[[ClientSession], T]) -> T:
        """One retried operation (not a transaction) in a causal session."""

        def attempt() -> T:
            with self.session() as session:
                return fn(session)

        return self.policy.call(operation, attempt)

    def transaction(self, operation: str, body: Callable[[ClientSession], T]) -> T:
        """Run body in a multi-document transaction; retry the whole of it on
        transient errors.

        An unknown commit result is retried as a commit first (the server
        answers a repeated commit with the first one's outcome). If that still
        fails the body runs again in a new transaction, so a body must
        recognise its own earlier commit (appends do, by their batch id).
        """

        def attempt() -> T:
            with self.session() as session:
                session.start_transaction(
                    read_concern=ReadConcern("snapshot"),
                    write_concern=self.write_concern,
                    read_preference=ReadPreference.PRIMARY,
                )
                try:
                    result = body(session)
                except BaseException:
                    _abort(session)
                    raise
                _commit(session)
                return result

        return self.policy.call(operation, attempt)


def _abort(session: ClientSession) -> None:
    if session.in_transaction:
        # The server aborts an abandoned transaction by itself.
        with suppress(PyMongoError):
            session.abort_transaction()


def _commit(session: ClientSession) -> None:
    for attempt in range(_COMMIT_RETRIES):
        try:
            session.commit_transaction()
            return
        except PyMongoError as exc:
            if attempt + 1 < _COMMIT_RETRIES and exc.has_error_label(
                "UnknownTransactionCommitResult"
            ):
                continue
            raise
