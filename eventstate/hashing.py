"""The tamper-evident hash chain over stored events.

One chain over the whole log, in position order: each event's hash covers the
previous event's hash and every stored column of the event (stream, version,
type, schema, recorded-at, payload bytes). A global chain (rather than one per
stream) also catches a deleted or reordered event between streams and, with the
head hash kept in the store's metadata, a truncated tail. It hashes the stored
bytes, so upcasting (which never rewrites them) keeps every hash valid.
"""

from __future__ import annotations

from hashlib import sha256

GENESIS = bytes(32)


def event_hash(
    previous: bytes,
    stream: str,
    version: int,
    type_name: str,
    schema: int,
    recorded_at_us: int,
    state: bytes,
) -> bytes:
    header = f"{stream}\x00{version}\x00{type_name}\x00{schema}\x00{recorded_at_us}\x00"
    return sha256(previous + header.encode() + state).digest()
