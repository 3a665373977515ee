"""Opening a store by URL: the one entry point for state servers and the CLI.

    from eventstate.api import open_store
    store = open_store("sqlite:///state.db")

Encryption at rest (eventsourcing's AES cipher) is on when EVENTSTATE_CIPHER_KEY
holds a base64 key (`eventstate keygen` makes one); compression when
EVENTSTATE_COMPRESSOR=zlib. A store remembers both: opening it without its key,
or with another key, is a clear error, never garbage.
"""

from __future__ import annotations

import base64
import os
from dataclasses import replace
from typing import Any

from eventsourcing.compressor import ZlibCompressor
from eventsourcing.persistence import Cipher, Compressor, Mapper
from eventsourcing.utils import Environment

from eventstate.backends.base import Backend, LeaseState, StoreMeta
from eventstate.codec import MsgpackTranscoder, PayloadCodec
from eventstate.errors import EventStateError, StoreURLError
from eventstate.gating import check_readable
from eventstate.releases import CODE_RELEASE
from eventstate.store import EventStore
from eventstate.url import parse_url, redact_url, resolve_url

CIPHER_KEY_VAR = "EVENTSTATE_CIPHER_KEY"
COMPRESSOR_VAR = "EVENTSTATE_COMPRESSOR"
_KEY_CHECK_PLAINTEXT = b"eventstate key check"


def open_backend(url: str) -> Backend:
    parsed = parse_url(url)
    if parsed.scheme in ("sqlite", "memory"):
        from eventstate.backends.sqlite import SQLiteBackend

        synchronous = parsed.options.get("synchronous", "full").upper()
        if synchronous not in ("FULL", "NORMAL", "EXTRA", "OFF"):
            raise StoreURLError(
                f"store URL option synchronous={synchronous.lower()} "
                "is not one of full, normal, extra"
            )
        try:
            timeout = float(parsed.options.get("timeout", "30"))
        except ValueError:
            raise StoreURLError("store URL option timeout must be a number of seconds") from None
        return SQLiteBackend(
            parsed.path,
            initial_release=CODE_RELEASE,
            synchronous=synchronous,
            timeout_s=timeout,
            url=url,
        )
    from eventstate.backends.mongodb import MongoBackend

    return MongoBackend(url, initial_release=CODE_RELEASE)


def open_store(url: str | None = None, *, check_release: bool = True) -> EventStore:
    """Open (creating if needed) the store at `url` (else $EVENTSTATE_STORE, else
    sqlite:///eventstate.db). A store newer than this code is refused at once."""
    resolved = resolve_url(url)
    backend = open_backend(resolved)
    try:
        codec = _codec_for(backend)
        store = EventStore(backend, codec)
        if check_release:
            check_readable(backend.read_meta())
    except BaseException:
        backend.close()
        raise
    return store


def _codec_for(backend: Backend) -> PayloadCodec:
    """The Mapper this store was created with; records it in a new, empty store."""
    key = os.environ.get(CIPHER_KEY_VAR, "")
    compress = os.environ.get(COMPRESSOR_VAR, "").lower()
    if compress not in ("", "zlib", "none"):
        raise EventStateError(f"{COMPRESSOR_VAR}={compress} is not supported (use zlib)")
    meta = backend.read_meta()
    recorded = meta.extra
    if "encrypted" not in recorded:
        if backend.head() > 0:
            # A store written before these settings existed: plain msgpack.
            recorded = {"encrypted": "no", "compressed": "no"}
        else:
            recorded = _record_settings(backend, key, compress == "zlib")
    cipher: Cipher | None = None
    if recorded.get("encrypted") == "yes":
        if not key:
            raise EventStateError(
                f"store {redact_url(backend.url)} is encrypted: set {CIPHER_KEY_VAR} to its key"
            )
        cipher = _make_cipher(key)
        _check_key(cipher, recorded.get("key_check", ""))
    elif key:
        raise EventStateError(
            f"store {redact_url(backend.url)} was created without encryption; "
            f"unset {CIPHER_KEY_VAR}"
        )
    compressor: Compressor | None = (
        ZlibCompressor() if recorded.get("compressed") == "yes" else None
    )
    return PayloadCodec(
        Mapper(transcoder=MsgpackTranscoder(), compressor=compressor, cipher=cipher)
    )


def _make_cipher(key: str) -> Cipher:
    from eventsourcing.cipher import AESCipher

    try:
        return AESCipher(Environment(env={AESCipher.CIPHER_KEY: key}))
    except (ValueError, OSError, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
        raise EventStateError(f"{CIPHER_KEY_VAR} is not a valid AES key: {exc}") from None


def _check_key(cipher: Cipher, key_check: str) -> None:
    try:
        plain = cipher.decrypt(base64.b64decode(key_check))
    except Exception:  # the cipher raises several kinds on a wrong key
        plain = b""
    if plain != _KEY_CHECK_PLAINTEXT:
        raise EventStateError(f"{CIPHER_KEY_VAR} is not the key this store was encrypted with")


class _RecordSettings:
    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings

    def check(self, meta: StoreMeta, lease: LeaseState | None, head: int) -> StoreMeta | None:
        if "encrypted" in meta.extra:  # another process recorded them first
            return None
        return replace(meta, extra={**meta.extra, **self.settings})


def _record_settings(backend: Backend, key: str, compress: bool) -> dict[str, str]:
    settings: dict[str, Any] = {"encrypted": "no", "compressed": "yes" if compress else "no"}
    if key:
        cipher = _make_cipher(key)
        settings["encrypted"] = "yes"
        settings["key_check"] = base64.b64encode(cipher.encrypt(_KEY_CHECK_PLAINTEXT)).decode()
    return backend.write_meta(_RecordSettings(settings)).extra


def new_cipher_key() -> str:
    from eventsourcing.cipher import AESCipher

    return AESCipher.create_key(32)
