"""What every part of the MongoDB backend shares: collections, sessions, lock, clock,
and the small queries the write paths have in common."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.client_session import ClientSession
from pymongo.collection import Collection

from eventstate.backends.base import LeaseState
from eventstate.backends.mongo.clock import ServerClock
from eventstate.backends.mongo.documents import LEASE_ID, STORE_ID, Doc, lease_from_doc
from eventstate.backends.mongo.lock import WriteLock
from eventstate.backends.mongo.sessions import Sessions

Session = ClientSession | None
_IN_CHUNK = 500


@dataclass
class Context:
    events: Collection[Doc]
    meta: Collection[Doc]
    lease: Collection[Doc]
    tracking: Collection[Doc]
    sessions: Sessions
    lock: WriteLock
    clock: ServerClock
    transactions: bool  # True: multi-document transactions; False: head-pointer commits
    chunk: int = 1000  # events per insert_many

    def store_doc(self, session: Session) -> Doc:
        doc = self.meta.find_one({"_id": STORE_ID}, session=session)
        if doc is None:  # deleted by hand: behave as an empty store at no release
            return {"_id": STORE_ID, "head": 0, "head_hash": b"", "release": ""}
        return doc

    def visible_head(self, session: Session) -> int:
        doc = self.meta.find_one({"_id": STORE_ID}, {"head": 1}, session=session)
        return int(doc["head"]) if doc else 0

    def read_lease(self, session: Session) -> LeaseState | None:
        return lease_from_doc(self.lease.find_one({"_id": LEASE_ID}, session=session))

    def heads(
        self, streams: list[str], session: Session, upto: int | None = None
    ) -> dict[str, int]:
        """Last version of each stream (rows at positions <= upto when given)."""
        heads: dict[str, int] = {}
        for start in range(0, len(streams), _IN_CHUNK):
            match: dict[str, Any] = {"stream": {"$in": streams[start : start + _IN_CHUNK]}}
            if upto is not None:
                match["_id"] = {"$lte": upto}
            # $sort + $group/$first on the (stream, version) index: one key per stream.
            pipeline: list[dict[str, Any]] = [
                {"$match": match},
                {"$sort": {"stream": ASCENDING, "version": DESCENDING}},
                {"$group": {"_id": "$stream", "version": {"$first": "$version"}}},
            ]
            for doc in self.events.aggregate(pipeline, session=session):
                heads[doc["_id"]] = int(doc["version"])
        return heads

    def existing(self, wanted: dict[str, list[int]], session: Session) -> list[tuple[str, int]]:
        """Which of the wanted (stream, version) pairs are stored."""
        found: list[tuple[str, int]] = []
        items = list(wanted.items())
        for start in range(0, len(items), _IN_CHUNK):
            clauses = [
                {"stream": stream, "version": {"$in": versions}}
                for stream, versions in items[start : start + _IN_CHUNK]
            ]
            cursor = self.events.find(
                {"$or": clauses}, {"stream": 1, "version": 1, "_id": 0}, session=session
            )
            found.extend((doc["stream"], int(doc["version"])) for doc in cursor)
        return found

    def has_rows_above(self, head: int, session: Session) -> bool:
        return self.events.find_one({"_id": {"$gt": head}}, {"_id": 1}, session=session) is not None

    def batch_at(self, position: int, session: Session) -> str | None:
        doc = self.events.find_one({"_id": position}, {"batch": 1}, session=session)
        return None if doc is None else str(doc.get("batch", ""))
