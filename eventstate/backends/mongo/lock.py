"""The store-wide write lock, kept in the store document.

Writers that cannot use one transaction take it: every write on a standalone
server, and imports everywhere (a transaction cannot hold a million events).
While it is held, transactional appends wait. Its expiry is on the server's
clock; a holder that dies leaves it to expire, and the next writer that takes
it removes whatever the dead holder left above the head. The commit step of a
lock holder is conditional on still owning it, so a holder whose lock expired
and was taken over can never commit.
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection

from eventstate.backends.mongo.clock import ServerClock
from eventstate.backends.mongo.documents import STORE_ID, Doc
from eventstate.backends.mongo.sessions import Sessions
from eventstate.errors import EventStateError
from eventstate.timeutil import format_us


class StoreBusyError(EventStateError):
    """Another writer held the store's write lock for longer than we could wait."""


class LockLostError(EventStateError):
    """Our write lock expired and another writer took it: nothing was committed."""


@dataclass(frozen=True)
class LockInfo:
    owner: str
    kind: str
    since_us: int
    expires_us: int

    @staticmethod
    def of(doc: Mapping[str, Any] | None) -> LockInfo | None:
        lock = (doc or {}).get("lock")
        if not lock:
            return None
        return LockInfo(
            str(lock.get("owner", "")),
            str(lock.get("kind", "")),
            int(lock.get("since", 0)),
            int(lock.get("expires_at", 0)),
        )

    def describe(self) -> str:
        return (
            f"{self.kind} by {self.owner} has held the write lock since "
            f"{format_us(self.since_us)} (expires {format_us(self.expires_us)})"
        )


class WriteLock:
    def __init__(
        self,
        meta: Collection[Doc],
        sessions: Sessions,
        clock: ServerClock,
        ttl_s: float,
        timeout_s: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._meta = meta
        self._sessions = sessions
        self._clock = clock
        self.ttl_us = int(ttl_s * 1_000_000)
        self.timeout_s = timeout_s
        self._sleep = sleep
        self._renewed: dict[str, float] = {}

    @staticmethod
    def new_owner(kind: str) -> str:
        return f"{socket.gethostname()}:{os.getpid()}:{kind}:{uuid.uuid4().hex[:12]}"

    def try_take(self, owner: str, kind: str) -> Doc | None:
        """One attempt: the store document with the lock ours, or None if it is held."""
        now = self._clock.now_us()

        def take(session: Any) -> Doc | None:
            return self._meta.find_one_and_update(
                {
                    "_id": STORE_ID,
                    "$or": [
                        {"lock": None},
                        {"lock.expires_at": {"$lte": now}},
                        {"lock.owner": owner},  # a retry after a lost acknowledgement
                    ],
                },
                {
                    "$set": {
                        "lock": {
                            "owner": owner,
                            "kind": kind,
                            "since": now,
                            "expires_at": now + self.ttl_us,
                        }
                    }
                },
                return_document=ReturnDocument.AFTER,
                session=session,
            )

        doc = self._sessions.run("take the write lock", take)
        if doc is not None:
            self._renewed[owner] = time.monotonic()
        return doc

    def take(self, owner: str, kind: str) -> Doc:
        """Wait (up to timeout_s) for the lock; the store document with it ours."""
        deadline = time.monotonic() + self.timeout_s
        delay = 0.005
        while True:
            doc = self.try_take(owner, kind)
            if doc is not None:
                return doc
            if time.monotonic() >= deadline:
                raise self.busy_error()
            self.pause(delay)
            delay = min(delay * 2, 0.1)

    def pause(self, delay: float) -> None:
        self._sleep(delay * (0.5 + random.random()))

    def busy_error(self) -> StoreBusyError:
        doc = self._sessions.run(
            "read the write lock",
            lambda s: self._meta.find_one({"_id": STORE_ID}, {"lock": 1}, session=s),
        )
        info = LockInfo.of(doc)
        holder = info.describe() if info else "another writer held the write lock"
        return StoreBusyError(f"store is busy: {holder}; gave up after {self.timeout_s:g}s")

    def keep_alive(self, owner: str) -> None:
        """Renew once a third of the lifetime has passed (called between batches)."""
        if time.monotonic() - self._renewed.get(owner, 0.0) < self.ttl_us / 3_000_000:
            return
        expires = self._clock.now_us() + self.ttl_us
        result = self._sessions.run(
            "renew the write lock",
            lambda s: self._meta.update_one(
                {"_id": STORE_ID, "lock.owner": owner},
                {"$set": {"lock.expires_at": expires}},
                session=s,
            ),
        )
        if result.matched_count != 1:
            raise LockLostError(
                "the write lock expired and another writer took it: nothing was written"
            )
        self._renewed[owner] = time.monotonic()

    def forget(self, owner: str) -> None:
        """A commit released the lock with its own update: drop the bookkeeping."""
        self._renewed.pop(owner, None)

    def release(self, owner: str) -> None:
        self._renewed.pop(owner, None)
        self._sessions.run(
            "release the write lock",
            lambda s: self._meta.update_one(
                {"_id": STORE_ID, "lock.owner": owner}, {"$set": {"lock": None}}, session=s
            ),
        )

    def is_live(self, info: LockInfo | None) -> bool:
        return info is not None and info.expires_us > self._clock.now_us()
