"""The JSON Lines interchange format (operations.md, "Interchange format").

Import validates each line before it is written and writes the whole file in
ONE transaction: the first problem is reported with its line number and the
transaction is rolled back, so a bad line, an exception or a kill part way
leaves the store exactly as it was. Validation and writing share one pass over
the file, so a million-event import never holds the file in memory. A large file
going into an empty store is validated by a forked child process while this one
writes (interchange_fork.py): the same checks, on a second core.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from eventstate import interchange_fork
from eventstate.backends.base import NewRow
from eventstate.codec import MAX_NESTING, MAX_PAYLOAD_BYTES, nesting_exceeds
from eventstate.domain.catalogue import OPENING_TYPES, STREAM_KINDS, validate_payload
from eventstate.errors import (
    CorruptEventError,
    EventStateError,
    InterchangeError,
    UpcastError,
    ValidationError,
)
from eventstate.gating import ImportGuard, check_readable
from eventstate.interchange_fork import ForkedParse, can_fork
from eventstate.releases import CODE_RELEASE, compare, is_release
from eventstate.store import EventStore
from eventstate.streams import (
    check_new_stream,
    model_stream,
    model_uuid_of,
    placement_problem,
)
from eventstate.timeutil import MAX_US, MIN_US, format_us, not_a_time, parse_iso_us

FORMAT = "eventstate-jsonl"
FORMAT_VERSION = 1
_EVENT_KEYS = frozenset(("stream", "version", "type", "schema", "recorded_at", "data"))
_EXPORT_KEYS = _EVENT_KEYS | {"position"}
BATCH = 2_000

Progress = Callable[[int], None]  # called with the number of bytes read so far


@dataclass(frozen=True)
class ImportResult:
    events: int
    streams: int
    release: str


def read_header(line: bytes, source: str) -> str:
    """Check line 1 and return the release it names."""
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InterchangeError(1, f"header is not JSON ({exc})", source) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InterchangeError(1, f'header must be {{"format": "{FORMAT}", ...}}', source)
    version = header.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise InterchangeError(
            1,
            f"format_version {header.get('format_version')!r} is not supported (expected 1)",
            source,
        )
    release = header.get("release")
    if not isinstance(release, str):
        raise InterchangeError(1, "header has no release", source)
    if not is_release(release):
        if compare(release, CODE_RELEASE) > 0:
            raise InterchangeError(
                1, f"release {release} is newer than this code ({CODE_RELEASE})", source
            )
        raise InterchangeError(1, f"unknown release {release!r}", source)
    return release


# What `_LineChecker` knows of a (type, schema) pair after its first line.
_REFUSED, _HELD, _CURRENT = 0, 1, 2
# A line nesting deeper than MAX_NESTING has more than MAX_NESTING opening and as
# many closing brackets: shorter lines need no count.
_NESTING_LINE = 2 * MAX_NESTING
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

QuickRow = Callable[[bytes], NewRow | None]


class _LineChecker:
    """Validates event lines and turns them into rows, tracking stream versions.

    Two paths, one result: `quick` (built once per import) takes a well-formed line
    in as few steps as possible and gives up, changing nothing, at the first doubt;
    `row` then checks that line in full, in the documented order, and raises the
    error naming what is wrong (or returns the row when nothing is).
    """

    def __init__(self, store: EventStore, release: str, source: str, store_empty: bool) -> None:
        self.store = store
        self.release = release
        self.source = source
        self.store_empty = store_empty
        self.last_versions: dict[str, int] = {}
        self.known: dict[tuple[str, int], int] = {}
        # (type, schema) the release holds -> (_HELD or _CURRENT, "<kind>:" the prefix
        # of the streams it belongs in, whether it opens its stream): one lookup a line
        self.kinds: dict[tuple[str, int], tuple[int, str, bool]] = {}
        self.encode = store.codec.encode
        # A store at the code's release reads old schemas at once, with no upgrade
        # preflight first: each must upcast now, or it would break every read for good.
        self.upcast = store.chain.upcast if release == CODE_RELEASE else None
        self.contextual = store.chain.read_plan(CODE_RELEASE).contextual
        self.providers: dict[str, str | None] = {}  # model stream -> its provider type
        self.quick = self._build_quick()

    def _build_quick(self) -> QuickRow:
        loads, from_iso, encode = orjson.loads, datetime.fromisoformat, self.encode
        kinds, last_versions, store_empty = self.kinds, self.last_versions, self.store_empty
        upcast, check_upcast = self.upcast, self._check_upcast

        def quick(line: bytes) -> NewRow | None:
            # Every check of `row`, in its order; any exception means "not sure".
            try:
                event = loads(line)
                size = len(event)
                if size != 6 and not (size == 7 and "position" in event):
                    return None
                stream, version, type_name = event["stream"], event["version"], event["type"]
                schema, data = event["schema"], event["data"]
                if not (
                    type(stream) is str
                    and type(version) is int
                    and version >= 1
                    and type(type_name) is str
                    and type(schema) is int
                    and type(data) is dict
                ):
                    return None
                # KeyError (a type not met yet, or refused): row says
                kind, prefix, opens = kinds[type_name, schema]
                if kind == _CURRENT:
                    validate_payload(type_name, data)
                # The kind is the id's prefix: the whole id is checked when first seen.
                if not stream.startswith(prefix) or (opens and version != 1):
                    return None
                if len(line) > _NESTING_LINE and (
                    line.count(b"{") + line.count(b"[") > MAX_NESTING
                ):
                    return None
                # parse_iso_us: a time without an offset cannot be subtracted from
                # the (aware) epoch either.
                recorded_at = (from_iso(event["recorded_at"]) - _EPOCH) // _ONE_US
                if not MIN_US <= recorded_at <= MAX_US:
                    return None
                last = last_versions.get(stream)
                if last is None:
                    if not store_empty:
                        return None
                    check_new_stream(stream)
                    last = 0
                if version != last + 1:
                    return None
                state = encode(data)
                if len(state) > MAX_PAYLOAD_BYTES:
                    return None
                if upcast is not None:
                    check_upcast(stream, version, type_name, schema, data)
            except Exception:
                return None
            last_versions[stream] = version
            return (stream, version, type_name, schema, recorded_at, state)

        return quick

    def row(self, number: int, line: bytes) -> NewRow:
        if not line.strip():
            raise InterchangeError(number, "empty line", self.source)
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InterchangeError(number, f"not valid JSON ({exc})", self.source) from None
        if type(event) is not dict:
            raise InterchangeError(number, "an event line must be a JSON object", self.source)
        keys = event.keys()
        if keys != _EVENT_KEYS and keys != _EXPORT_KEYS:
            missing = sorted(_EVENT_KEYS - keys)
            extra = sorted(keys - _EXPORT_KEYS)
            detail = f"missing {missing}" if missing else f"unexpected {extra}"
            raise InterchangeError(number, f"event keys wrong: {detail}", self.source)
        stream, version, type_name = event["stream"], event["version"], event["type"]
        schema, data = event["schema"], event["data"]
        if type(stream) is not str:
            raise InterchangeError(number, "stream must be a string", self.source)
        if type(version) is not int or version < 1:
            raise InterchangeError(
                number, f"{stream}: version must be an integer >= 1", self.source
            )
        if type(type_name) is not str or type(schema) is not int:
            raise InterchangeError(
                number,
                f"{stream} version {version}: type must be a string and schema an integer",
                self.source,
            )
        if type(data) is not dict:
            raise InterchangeError(
                number, f"{stream} version {version}: data must be a JSON object", self.source
            )
        self._check_stream(number, stream, version, type_name, schema)
        if self.known[type_name, schema] == _CURRENT:
            # Today's schema is read without upcasting, so nothing later checks it:
            # a payload the fold cannot read must not get in.
            try:
                validate_payload(type_name, data)
            except ValidationError as exc:
                raise InterchangeError(
                    number, f"{stream} version {version}: {exc}", self.source
                ) from None
        if (line.count(b"{") + line.count(b"[") > MAX_NESTING) and nesting_exceeds(data):
            raise InterchangeError(
                number,
                f"{stream} version {version}: data nests deeper than {MAX_NESTING} levels",
                self.source,
            )
        try:
            recorded_at = parse_iso_us(event["recorded_at"])
        except ValueError as exc:
            raise InterchangeError(
                number, f"{stream} version {version}: recorded_at: {exc}", self.source
            ) from None
        self._check_version(number, stream, version)
        state = self.encode(data)
        if len(state) > MAX_PAYLOAD_BYTES:
            raise InterchangeError(
                number, f"{stream} version {version}: payload too large", self.source
            )
        if self.upcast is not None:
            try:
                self._check_upcast(stream, version, type_name, schema, data)
            except UpcastError as exc:
                raise InterchangeError(
                    number,
                    f"{exc} (a {self.release} store reads it at once: it cannot be imported)",
                    self.source,
                ) from None
        return (stream, version, type_name, schema, recorded_at, state)

    def _check_stream(
        self, number: int, stream: str, version: int, type_name: str, schema: int
    ) -> None:
        """The type is one the release holds, in a stream id a write may create, of
        the kind the type belongs in; an opening event only at version 1."""
        self._check_type(number, stream, version, type_name, schema)
        _, prefix, opens = self.kinds[type_name, schema]
        problem = placement_problem(stream, version, prefix[:-1], opens)
        if problem is not None:
            where = f"{stream!r} version {version}: {type_name} schema {schema}"
            # A malformed id is the line's problem whatever its type: said on its own.
            message = problem[2:] if problem.startswith(": ") else where + problem
            raise InterchangeError(number, message, self.source)

    def _check_upcast(
        self, stream: str, version: int, type_name: str, schema: int, data: dict[str, Any]
    ) -> None:
        """Raise UpcastError unless the event reads at today's schema (changes `data`:
        only after it was encoded). A model's first event names its provider."""
        assert self.upcast is not None
        if version == 1 and stream.startswith("model:"):
            provider = data.get("provider_type")
            self.providers[stream] = provider if type(provider) is str else None
        provider = None
        if (type_name, schema) in self.contextual:
            model = model_stream(model_uuid_of(stream) or "")
            if model not in self.providers:
                # Into a store with events (never a forked child): its own models.
                known = None if self.store_empty else self.store._provider_for(model)
                self.providers[model] = known
            provider = self.providers[model]
        self.upcast(stream, version, type_name, schema, data, provider)

    def _check_type(
        self, number: int, stream: str, version: int, type_name: str, schema: int
    ) -> int:
        """Refuse a type/schema the release cannot hold; say whether it is today's schema."""
        key = (type_name, schema)
        kind = self.known.get(key)
        if kind is None:
            chain = self.store.chain
            kind = _REFUSED
            if chain.is_known(type_name, schema, self.release):
                current = (
                    chain.current_name(type_name) == type_name
                    and chain.current_schema(type_name) == schema
                )
                kind = _CURRENT if current else _HELD
                name = chain.current_name(type_name)
                self.kinds[key] = (kind, STREAM_KINDS[name] + ":", name in OPENING_TYPES)
            self.known[key] = kind
        if kind == _REFUSED:
            why = self.store.chain.why_not_storable(type_name, schema, self.release)
            raise InterchangeError(
                number,
                f"{stream} version {version}: {type_name} schema {schema} is not an event type "
                f"a {self.release} store can hold ({why})",
                self.source,
            )
        return kind

    def stream_count(self) -> int:
        return len(self.last_versions)

    def _check_version(self, number: int, stream: str, version: int) -> None:
        last = self.last_versions.get(stream)
        if last is None:
            last = (
                0 if self.store_empty else self.store.backend.stream_heads([stream]).get(stream, 0)
            )
        if version != last + 1:
            what = "repeats" if version <= last else "leaves a gap after"
            raise InterchangeError(
                number, f"{stream}: version {version} {what} version {last}", self.source
            )
        self.last_versions[stream] = version


def import_jsonl(
    store: EventStore, path: str | Path, progress: Progress | None = None
) -> ImportResult:
    source = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in finally, shared with the generator
    except OSError as exc:
        raise EventStateError(f"cannot read {source}: {exc.strerror}") from None
    try:
        first = handle.readline()
        if not first.strip():
            raise InterchangeError(1, "file is empty: expected a header line", source)
        release = read_header(first, source)
        meta = store.meta()
        check_readable(meta)
        store_empty = store.head() == 0
        if not store_empty and meta.release != release:
            raise InterchangeError(
                1,
                f"file is at release {release} but the store (not empty) is at {meta.release}",
                source,
            )
        checker = _LineChecker(store, release, source, store_empty)
        guard = ImportGuard(release, source)
        if not (store_empty and _worth_forking(handle)):
            total = store.backend.append_stream_of_batches(
                _batches(handle, checker, progress), guard, trusted_versions=store_empty
            )
            streams = len(checker.last_versions)
        else:
            # Checking a line into an empty store never reads the store: a child
            # process can do it (interchange_fork.py).
            parse = _batches(handle, checker, None)
            with ForkedParse(parse, handle.tell, checker.stream_count, progress) as forked:
                total = store.backend.append_stream_of_batches(forked, guard, trusted_versions=True)
            streams = forked.summary
    finally:
        handle.close()
    return ImportResult(events=total, streams=streams, release=release)


def _worth_forking(handle: IO[bytes]) -> bool:
    if not can_fork():
        return False
    try:
        left = os.fstat(handle.fileno()).st_size - handle.tell()
    except (OSError, io.UnsupportedOperation):
        return False
    return left >= interchange_fork.MIN_FORK_BYTES


def _batches(
    handle: IO[bytes], checker: _LineChecker, progress: Progress | None
) -> Iterator[list[NewRow]]:
    quick, row = checker.quick, checker.row
    batch: list[NewRow] = []
    append = batch.append
    # Bytes counted, not handle.tell(): a pipe or a FIFO (`... | eventstate import
    # /dev/stdin`) cannot tell (its header's bytes are not counted then).
    done = handle.tell() if handle.seekable() else 0
    for number, line in enumerate(handle, 2):
        append(quick(line) or row(number, line))
        done += len(line)
        if len(batch) >= BATCH:
            yield batch
            batch = []
            append = batch.append
            if progress is not None:
                progress(done)
    if batch:
        yield batch
    if progress is not None:
        progress(done)


def export_jsonl(
    store: EventStore,
    out: IO[bytes],
    *,
    upcast: bool = False,
    stream: str | None = None,
) -> int:
    """Write the header and every event in position order; returns the count."""
    meta = store.meta()
    check_readable(meta)
    release = CODE_RELEASE if upcast else meta.release
    out.write(
        orjson.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "release": release})
    )
    out.write(b"\n")
    target = CODE_RELEASE if upcast else None
    if stream is None:
        events = store.iter_events(target=target)
    else:
        events = iter(store.read_stream(stream, target=target))
    dumps = orjson.dumps
    count = 0
    for position, stream_id, version, type_name, schema, recorded_at, data in events:
        try:
            recorded = format_us(recorded_at)
        except (OverflowError, TypeError):  # altered bytes: a recorded_at that is no time
            raise CorruptEventError(
                f"{stream_id} version {version} (position {position}): {not_a_time(recorded_at)}"
            ) from None
        line: dict[str, Any] = {
            "stream": stream_id,
            "version": version,
            "type": type_name,
            "schema": schema,
            "recorded_at": recorded,
            "data": data,
            "position": position,
        }
        try:
            encoded = dumps(line)
        except orjson.JSONEncodeError as exc:  # altered bytes: nesting or types JSON lacks
            raise CorruptEventError(
                f"{stream_id} version {version} (position {position}): payload cannot be "
                f"written as JSON ({exc})"
            ) from None
        out.write(encoded)
        out.write(b"\n")
        count += 1
    return count
