"""The msgpack codec: event payloads <-> stored bytes.

`MsgpackTranscoder` is an eventsourcing `Transcoder`, so it sits under
eventsourcing's `Mapper` and the Mapper's compressor and cipher keep working.
`PayloadCodec` is the store's hot path on top of the same Mapper: it encodes and
decodes bare payload maps (the type name, schema and time live in columns beside
the payload), with no per-event object beyond the decoded map itself.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

import msgpack
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.persistence import (
    Cipher,
    Compressor,
    Mapper,
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
)

from eventstate.errors import CorruptEventError

# Ext type code for objects encoded through a registered Transcoding. Plain
# payloads (maps, lists, strings, numbers) never use it, so decoding them never
# calls back into Python.
_EXT_TRANSCODED = 1

# Hostile bytes: `unpackb` bounds every declared length by the input's own
# size (so a forged length prefix fails instead of allocating) and refuses
# nesting deeper than its fixed stack; stored payloads are capped on write.
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
# Maps and lists nested deeper than this are refused on the way in: export and
# history write JSON with orjson, which stops at 255 levels, and no real payload
# comes near it.
MAX_NESTING = 200


def nesting_exceeds(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether maps/lists nest deeper than `limit` (iterative: no recursion to blow)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if type(item) is dict:
            stack.extend((child, depth + 1) for child in item.values())
        elif type(item) is list:
            stack.extend((child, depth + 1) for child in item)
    return False


class MsgpackTranscoder(Transcoder):
    """msgpack with eventsourcing's Transcoding registry for non-plain types."""

    def __init__(self) -> None:
        self.types: dict[type, Transcoding] = {}
        self.names: dict[str, Transcoding] = {}
        self._packer_default = self._encode_obj

    def register(self, transcoding: Transcoding) -> None:
        self.types[transcoding.type] = transcoding
        self.names[transcoding.name] = transcoding

    def encode(self, obj: Any) -> bytes:
        packed: bytes = msgpack.packb(obj, default=self._packer_default, use_bin_type=True)
        return packed

    def decode(self, data: bytes) -> Any:
        return msgpack.unpackb(data, strict_map_key=False, ext_hook=self._decode_ext)

    def _encode_obj(self, obj: Any) -> msgpack.ExtType:
        try:
            transcoding = self.types[type(obj)]
        except KeyError:
            raise TranscodingNotRegisteredError(
                f"Object of type {type(obj)} is not serializable: register a transcoding for it"
            ) from None
        body = msgpack.packb(
            [transcoding.name, transcoding.encode(obj)],
            default=self._packer_default,
            use_bin_type=True,
        )
        return msgpack.ExtType(_EXT_TRANSCODED, body)

    def _decode_ext(self, code: int, body: bytes) -> Any:
        if code != _EXT_TRANSCODED:
            raise ValueError(f"unknown msgpack ext type {code}")
        name, data = self.decode(body)
        try:
            transcoding = self.names[name]
        except KeyError:
            raise TranscodingNotRegisteredError(
                f"Data serialized with name {name!r} is not deserializable: register it"
            ) from None
        return transcoding.decode(data)


class PayloadCodec:
    """Payload map <-> stored bytes, through a Mapper's transcoder, compressor and cipher."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.encode: Callable[[dict[str, Any]], bytes] = self._build_encoder(mapper)
        self._decode: Callable[[bytes], Any] = self._build_decoder(mapper)
        # Stored bytes -> whatever they decode to, raising anything: for hot loops that
        # check the result themselves and call `decode` only to name a failure.
        self.unpack: Callable[[bytes], Any] = self._decode

    @classmethod
    def plain(cls) -> PayloadCodec:
        return cls(Mapper(transcoder=MsgpackTranscoder()))

    @property
    def cipher(self) -> Cipher | None:
        return self.mapper.cipher

    @property
    def compressor(self) -> Compressor | None:
        return self.mapper.compressor

    def decode(self, state: bytes, where: str) -> dict[str, Any]:
        """Stored bytes -> payload map; anything else raises CorruptEventError naming `where`."""
        try:
            data = self._decode(state)
        except Exception as exc:  # a decoder can fail in many ways on hostile bytes
            raise CorruptEventError(
                f"{where}: stored payload does not decode ({_short(exc)})"
            ) from None
        if type(data) is not dict:
            raise CorruptEventError(
                f"{where}: stored payload is a {type(data).__name__}, not a map"
            )
        return data

    @staticmethod
    def _build_encoder(mapper: Mapper[Any]) -> Callable[[dict[str, Any]], bytes]:
        transcoder = mapper.transcoder
        if isinstance(transcoder, MsgpackTranscoder) and not transcoder.types:
            packer_encode = msgpack.Packer(use_bin_type=True, autoreset=True).pack
            base: Callable[[dict[str, Any]], bytes] = packer_encode
        else:
            base = transcoder.encode
        compressor, cipher = mapper.compressor, mapper.cipher
        if compressor is None and cipher is None:
            return base

        def encode(data: dict[str, Any]) -> bytes:
            state = base(data)
            if compressor is not None:
                state = compressor.compress(state)
            if cipher is not None:
                state = cipher.encrypt(state)
            return state

        return encode

    @staticmethod
    def _build_decoder(mapper: Mapper[Any]) -> Callable[[bytes], Any]:
        transcoder = mapper.transcoder
        if isinstance(transcoder, MsgpackTranscoder):
            # Without registered transcodings no ext hook is needed: the bare
            # C call is half the cost of one with keyword arguments.
            if transcoder.types:
                base: Callable[[bytes], Any] = partial(
                    msgpack.unpackb, strict_map_key=False, ext_hook=transcoder._decode_ext
                )
            else:
                base = msgpack.unpackb
        else:
            base = transcoder.decode
        compressor, cipher = mapper.compressor, mapper.cipher
        if compressor is None and cipher is None:
            return base
        if isinstance(compressor, ZlibCompressor):
            compressor = _BoundedZlib()

        def decode(state: bytes) -> Any:
            if cipher is not None:
                state = cipher.decrypt(state)
            if compressor is not None:
                state = compressor.decompress(state)
            return base(state)

        return decode


class _BoundedZlib(ZlibCompressor):
    """zlib that stops at MAX_PAYLOAD_BYTES: a few stored bytes must not inflate
    into gigabytes (a decompression bomb) before the payload check can refuse them."""

    def decompress(self, data: bytes) -> bytes:
        inflater = zlib.decompressobj()
        plain = inflater.decompress(data, MAX_PAYLOAD_BYTES)
        if inflater.unconsumed_tail:
            raise ValueError(f"payload inflates past {MAX_PAYLOAD_BYTES} bytes")
        return plain


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
