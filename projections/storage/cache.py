"""A cache-aware DocumentSet for catch-up sessions, shared by every storage backend.

A catch-up after one append touches one or two documents, so a session loads only the
documents the fold asks for (one keyed read each) and writes back only what it put.
Decoded documents stay cached between sessions of the same process, valid as long as
the copy's stored position is the one this process last saved or read: any other change
to the copy (another process's catch-up) moves the position and empties the cache.
"""

from __future__ import annotations

from collections.abc import Callable

from projections.documents import Document
from projections.storage.base import MACHINE, MODEL, UNIT, machine_key, model_key, unit_key

CacheKey = tuple[str, str]  # (kind, key)
Loader = Callable[[str, str], Document | None]

# Past this many cached documents a session starts from an empty cache: bounds a long
# running server's memory (a catch-up rarely touches more than a few documents).
CACHE_LIMIT = 50_000


class DocumentCache:
    """Decoded documents of one copy as of `position` (None = known not to exist)."""

    __slots__ = ("docs", "position")

    def __init__(self, position: int) -> None:
        self.position = position
        self.docs: dict[CacheKey, Document | None] = {}

    def valid_at(self, position: int) -> bool:
        return self.position == position and len(self.docs) <= CACHE_LIMIT


class SessionDocuments:
    """The DocumentSet a catch-up session hands to the fold.

    `get_*` return the cached objects themselves and the fold changes them in place, so
    a session that fails must throw its cache away (the storage does).
    """

    __slots__ = ("_cache", "_dirty", "_load")

    def __init__(self, cache: DocumentCache, load: Loader) -> None:
        self._cache = cache.docs
        self._load = load
        self._dirty: dict[CacheKey, Document] = {}

    @property
    def dirty(self) -> dict[CacheKey, Document]:
        """What the fold put, by (kind, key): the documents to write at commit."""
        return self._dirty

    def _get(self, kind: str, key: str) -> Document | None:
        entry = (kind, key)
        try:
            return self._cache[entry]
        except KeyError:
            doc = self._cache[entry] = self._load(kind, key)
            return doc

    def _put(self, kind: str, key: str, doc: Document) -> None:
        entry = (kind, key)
        self._cache[entry] = doc
        self._dirty[entry] = doc

    def get_machine(self, model_uuid: str, machine_id: str) -> Document | None:
        return self._get(MACHINE, machine_key(model_uuid, machine_id))

    def put_machine(self, doc: Document) -> None:
        self._put(MACHINE, machine_key(doc["model_uuid"], doc["id"]), doc)

    def get_model(self, model_uuid: str) -> Document | None:
        return self._get(MODEL, model_key(model_uuid))

    def put_model(self, doc: Document) -> None:
        self._put(MODEL, model_key(doc["model_uuid"]), doc)

    def get_unit(self, model_uuid: str, unit_name: str) -> Document | None:
        return self._get(UNIT, unit_key(model_uuid, unit_name))

    def put_unit(self, doc: Document) -> None:
        self._put(UNIT, unit_key(doc["model_uuid"], doc["unit"]), doc)
