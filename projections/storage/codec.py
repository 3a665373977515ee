"""Documents <-> stored bytes: compact JSON (orjson), encrypted like the log when the
store is encrypted (EVENTSTATE_CIPHER_KEY): a projection holds the same values as the
events it was folded from, so it must never put them back into the file in clear."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from eventsourcing.persistence import Cipher

from eventstate.errors import CorruptEventError
from eventstate.store import EventStore
from projections.documents import Document


def _dumps(doc: Document) -> bytes:
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError as exc:
        # A payload folded into the document held what JSON cannot (bytes, an ext
        # type, nesting past 255): stored bytes were changed behind the store's back.
        key = doc.get("id", doc.get("unit", ""))
        raise CorruptEventError(
            f"{doc.get('model_uuid', '')} {key}: the projected document cannot be stored: "
            f"a payload folded into it holds a value JSON cannot ({exc})"
        ) from None


def dumps_json(doc: Document) -> bytes:
    """A document's JSON as storage writes it (before any encryption); raises
    orjson.JSONEncodeError for a value JSON cannot hold."""
    return orjson.dumps(doc)


class DocumentCodec:
    """`dumps(doc) -> bytes` and `loads(bytes) -> doc` for one store; `plain(bytes)` is
    the document's JSON as `dumps_json` writes it (decrypted)."""

    __slots__ = ("dumps", "encrypted", "loads", "plain")

    def __init__(self, cipher: Cipher | None = None) -> None:
        self.encrypted = cipher is not None
        self.dumps: Callable[[Document], bytes]
        self.loads: Callable[[bytes], Document]
        self.plain: Callable[[bytes], bytes]
        if cipher is None:
            self.dumps = _dumps
            self.loads = orjson.loads
            self.plain = bytes
        else:
            encrypt, decrypt = cipher.encrypt, cipher.decrypt
            self.dumps = lambda doc: encrypt(_dumps(doc))
            self.loads = lambda blob: orjson.loads(decrypt(blob))
            self.plain = decrypt

    @classmethod
    def for_store(cls, store: EventStore) -> DocumentCodec:
        """The store's own cipher (from its Mapper), if it has one."""
        return cls(store.codec.cipher)
