"""The tamper-evident hash chain over stored events.

One chain over the whole log, in position order: each event's hash covers the
previous event's hash and every stored column of the event (stream, version,
type, schema, recorded-at, payload bytes). A global chain (rather than one per
stream) also catches a deleted or reordered event between streams and, with the
head hash kept in the store's metadata, a truncated tail. It hashes the stored
bytes, so upcasting (which never rewrites them) keeps every hash valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from hashlib import sha256
from typing import TypeVar

# (stream, version, type, schema, recorded_at_us, state): what the hash covers
HashedRow = tuple[str, int, str, int, int, bytes]
Blob = TypeVar("Blob", bytes, bytearray)

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


def chain(
    previous: bytes, rows: Iterable[HashedRow], blob: Callable[[bytes], Blob]
) -> list[tuple[str, int, str, int, int, Blob, Blob]]:
    """Consecutive rows (stream, version, type, schema, recorded-at us, state) after
    `previous`, each with its hash (`event_hash`) appended: bulk appends, one loop.
    `blob` gives the state and the hash the type the caller stores them as."""
    hashed: list[tuple[str, int, str, int, int, Blob, Blob]] = []
    append = hashed.append
    for stream, version, type_name, schema, recorded_at_us, state in rows:
        header = f"{stream}\x00{version}\x00{type_name}\x00{schema}\x00{recorded_at_us}\x00"
        previous = sha256(previous + header.encode() + state).digest()
        append((stream, version, type_name, schema, recorded_at_us, blob(state), blob(previous)))
    return hashed
