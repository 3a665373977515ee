"""The verify pass: one read of the log that checks everything an event can be checked for.

Per row, in position order: the position follows the previous one; the stored hash is
the chain's hash over the previous stored hash and this row's stored bytes; the stream
id is well formed and its version follows the stream's last; the payload decodes, upcasts
to today's schema and is a valid 3.0 payload; the fold accepts it. The upcast events go
straight into a fresh fold (a MemoryDocumentSet), which is compared with the stored
projection copy when the pass reaches the copy's position.

A pass can be one *share* of the work (verify.py runs shares in parallel processes).
Share k of n checks the log's order for its span of positions (plan.span: the positions,
the hash chain; a hash check needs only the row and the previous row's stored hash, read
once before the span starts), and checks, decodes, upcasts and folds the streams of its
partition (`stream_partition(stream, n) == k`: a model's streams share one) over the
whole log. Models fold independently (no document depends on another model's streams),
so shares never need each other's state. The backend reads a share only the rows that
are in its span or its partition. One share (n = 1) spans the whole log.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from itertools import chain
from typing import Any, Final

from eventstate.audit.compare import (
    FreshDocuments,
    StoredShare,
    describe,
    differences,
    keyed,
    read_late,
    read_share,
)
from eventstate.audit.report import (
    DECODE,
    ERROR,
    FOLD,
    HASH,
    PAYLOAD,
    POSITIONS,
    PROJECTION,
    PROVIDER,
    STREAM_ID,
    UPCAST,
    VERSIONS,
    WARNING,
    Problem,
)
from eventstate.backends.base import FullRow, stream_partition
from eventstate.domain.catalogue import VALIDATORS
from eventstate.errors import CorruptEventError, EventStateError, UpcastError
from eventstate.hashing import GENESIS
from eventstate.store import EventStore
from eventstate.streams import (
    MODEL,
    StreamId,
    legacy_machine_id,
    machine_stream,
    model_stream,
    model_uuid_of,
    parse_stream,
    unit_stream,
)
from projections import Fold
from projections.documents import PROVIDER_CAPABILITIES, Document
from projections.fold import EventTuple
from projections.storage import MACHINE, UNIT, CopyInfo
from projections.storage import MODEL as MODEL_KIND

# Beyond this many problems of one check, a report says how many more there were: a
# wholesale-damaged store must not bury the first findings or exhaust memory.
MAX_PER_CHECK: Final = 1000
TICK: Final = 8192  # rows between progress calls


def share_of(stream: str, shares: int) -> int:
    """Which share checks and folds a stream: its partition, the backend's filter."""
    return 0 if shares == 1 else stream_partition(stream, shares)


@dataclass(frozen=True)
class ScanPlan:
    share: int
    shares: int
    upto: int  # the last position to verify
    copy: CopyInfo | None  # the projection copy to compare with (None: there is none)
    # The positions whose order and hashes this share checks (low, high: both included;
    # empty when low > high). None: the whole log.
    span: tuple[int, int] | None = None

    @property
    def positions(self) -> tuple[int, int]:
        return (1, self.upto) if self.span is None else self.span


@dataclass(frozen=True)
class VersionGap:
    """Versions a stream lacks between two of its events (verify.py may then pin the
    position of a deleted event)."""

    problem: Problem
    missing: int  # how many versions are missing
    after_position: int  # the stream's event before the gap (0: none)
    before_position: int  # its event after the gap


@dataclass
class ScanResult:
    rows: int = 0  # rows read (those of the span and of the partition)
    events: int = 0  # rows of this share's streams
    streams: int = 0
    documents: int = 0  # stored documents compared
    compared_at: int | None = None  # the copy's position they were compared at
    last: FullRow | None = None  # the span's last row (the log's last: head check)
    missing_positions: list[tuple[int, int]] = field(default_factory=list)  # in the span
    gaps: list[VersionGap] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


_NO_PROVIDER: Final[Any] = object()


class Scan:
    """One share of the verify pass over `store`'s log, up to `plan.upto`."""

    def __init__(
        self, store: EventStore, plan: ScanPlan, tick: Callable[[int], None] | None = None
    ) -> None:
        self.store = store
        self.plan = plan
        self.tick = tick or _no_tick
        self.result = ScanResult()
        self.docs = FreshDocuments()
        self.fold = Fold(self.docs)
        self._counts: dict[str, int] = {}
        # stream -> [is it this share's, last version, provider type, last position]:
        # one dict lookup per row.
        self._streams: dict[str, list[Any]] = {}
        self._model_providers: dict[str, str | None] = {}
        self._rows: Iterator[FullRow] = store.backend.iter_full_rows_share(
            0, plan.upto, plan.positions, plan.share, plan.shares
        )
        self._pending: FullRow | None = None
        # The position of the next progress call (never, without a progress callback).
        self._next_tick = TICK if tick is not None else plan.upto + 1
        self._previous_hash = GENESIS
        self._expected = 1  # the next position of the span
        low, high = plan.positions
        if 1 < low <= high:
            # The chain goes on from the row before the span (which may be further
            # back than low - 1, if rows there were deleted).
            before = store.backend.hash_before(low)
            if before is not None:
                self._expected, self._previous_hash = before[0] + 1, before[1]
        self._current: FullRow | None = None  # the row of the event being folded
        # Version jumps (stream, last version, version, their positions), and versions
        # that came after a higher one: settled into problems when the pass ends.
        self._jumps: list[tuple[str, int, int, int, int]] = []
        self._late: dict[str, set[int]] = {}

    # --- driving -------------------------------------------------------------------

    def run(self) -> ScanResult:
        """The pass (best inside `collection_paused`)."""
        plan = self.plan
        if plan.copy is not None:
            mine = None if plan.shares == 1 else self._owns
            stored = read_share(self.store, plan.copy, mine, plan.upto)
            if isinstance(stored, str):
                self._add(PROJECTION, stored, severity=WARNING)
            else:
                self._fold_until(min(stored.position, plan.upto))
                self._compare(stored)
        self._fold_until(plan.upto)
        self._settle_gaps()
        self._warn_unknown_providers()
        self.result.streams = sum(1 for info in self._streams.values() if info[0])
        self.result.problems.extend(self._overflow())
        return self.result

    def _owns(self, model_uuid: str) -> bool:
        return share_of(model_stream(model_uuid), self.plan.shares) == self.plan.share

    def _fold_until(self, stop: int) -> None:
        events = self._events(stop)
        while True:
            try:
                self.fold.apply_many(events)
                return
            except Exception as exc:
                if inspect.getgeneratorstate(events) == inspect.GEN_CLOSED:
                    raise  # the pass itself failed, not the fold
                row = self._current
                assert row is not None  # the fold only fails on an event it was given
                self._add(FOLD, f"the fold rejects {_where(row)}: {_why(exc)}", *row[1:3], row[0])

    # --- the pass --------------------------------------------------------------------

    def _events(self, stop: int) -> Generator[EventTuple, None, None]:
        """Check rows up to position `stop`; yield this share's events, upcast."""
        plan = self.plan
        upto = plan.upto
        low, high = plan.positions
        result = self.result
        streams = self._streams
        unpack = self.store.codec.unpack
        upcast = self.store.chain.upcast
        validators = VALIDATORS
        tick = self.tick
        previous = self._previous_hash
        expected = self._expected
        rows: Iterator[FullRow] = self._rows
        if self._pending is not None:
            rows = chain((self._pending,), rows)
            self._pending = None
        read = events = 0
        last = None
        next_tick = self._next_tick
        try:
            for row in rows:
                position, stream, version, type_name, schema, recorded_at, state, stored = row
                if position > stop:
                    if position <= upto:
                        self._pending = row
                    return
                read += 1
                if low <= position <= high:
                    last = row
                    after_gap = position != expected
                    if after_gap:
                        self._missing(expected, position)
                    expected = position + 1
                    header = (
                        f"{stream}\x00{version}\x00{type_name}\x00{schema}\x00{recorded_at}\x00"
                    )
                    if sha256(previous + header.encode() + state).digest() != stored:
                        self._hash_broken(row, after_gap)
                    previous = stored
                if position >= next_tick:
                    tick(position)
                    next_tick = position + TICK
                info = streams.get(stream)
                if info is None:
                    info = self._new_stream(stream)
                if not info[0]:
                    continue  # another share's model
                events += 1
                if version != info[1] + 1:
                    self._version_jump(row, info)
                if version > info[1]:
                    info[1] = version
                    info[3] = position
                # The bare decoder (EventStore.decode does the same): a payload that is
                # not a map is named and reported by _undecodable.
                try:
                    data = unpack(state)
                except Exception:
                    data = None
                if type(data) is not dict:
                    self._undecodable(row)
                    continue
                provider = info[2]
                if provider is _NO_PROVIDER:  # a model stream: from its creation event
                    provider = self._model_provider(stream, version, data, info)
                try:
                    new_type, new_schema, data = upcast(
                        stream, version, type_name, schema, data, provider
                    )
                except UpcastError as exc:
                    self._add(UPCAST, str(exc), stream, version, position)
                    continue
                if new_schema == schema and new_type == type_name:
                    # Stored at today's schema: no upcaster validated it on the way.
                    try:
                        validators[type_name](data)
                    except Exception as exc:
                        self._add(PAYLOAD, f"{_where(row)}: {_why(exc)}", stream, version, position)
                        continue
                self._current = row
                yield (position, stream, version, new_type, new_schema, recorded_at, data)
        finally:
            self._previous_hash = previous
            self._expected = expected
            self._next_tick = next_tick
            result.rows += read
            result.events += events
            if last is not None:
                result.last = last

    def _new_stream(self, stream: str) -> list[Any]:
        """[is it this share's, last version, provider type, last position]."""
        mine = share_of(stream, self.plan.shares) == self.plan.share
        info: list[Any] = [mine, 0, None, 0]
        self._streams[stream] = info
        if not mine:
            return info  # only its hashes are this share's
        try:
            parsed: StreamId | None = parse_stream(stream)
        except EventStateError as exc:
            parsed, malformed = None, exc
        uuid = model_uuid_of(stream) if parsed is None else parsed.model_uuid
        if parsed is None:
            self._add(STREAM_ID, str(malformed), stream)
        elif parsed.kind == MODEL:
            info[2] = _NO_PROVIDER  # from its own creation event
        elif uuid:
            info[2] = self._provider_of(uuid)
        return info

    def _model_provider(
        self, stream: str, version: int, data: dict[str, Any], info: list[Any]
    ) -> str | None:
        # Read from the model's first event before it is upcast (upcasting may mutate it).
        value = data.get("provider_type") if version == 1 else None
        provider = value if isinstance(value, str) else self._provider_of(stream[6:])
        info[2] = provider
        return provider

    def _provider_of(self, uuid: str) -> str | None:
        """A model's provider type as first recorded (the context upcasters need), read
        from its first event: it may come later in the log than the model's machines."""
        if uuid in self._model_providers:
            return self._model_providers[uuid]
        provider = None
        first = self.store.backend.read_stream(model_stream(uuid), 0, 1)
        if first:
            try:
                value = self.store.codec.decode(first[0][6], "").get("provider_type")
            except CorruptEventError:
                value = None  # reported where that row is checked
            provider = value if isinstance(value, str) else None
        self._model_providers[uuid] = provider
        return provider

    # --- findings --------------------------------------------------------------------

    def _add(
        self,
        check: str,
        message: str,
        stream: str | None = None,
        version: int | None = None,
        position: int | None = None,
        severity: str = ERROR,
    ) -> Problem | None:
        count = self._counts.get(check, 0) + 1
        self._counts[check] = count
        if count > MAX_PER_CHECK:
            return None
        problem = Problem(check, message, stream, version, position, severity)
        self.result.problems.append(problem)
        return problem

    def _missing(self, expected: int, position: int) -> None:
        if position < expected:
            self._add(
                POSITIONS, f"position {position} comes after {expected - 1}", None, None, position
            )
            return
        self.result.missing_positions.append((expected, position - 1))
        span = (
            f"position {expected}"
            if expected == position - 1
            else (f"positions {expected}..{position - 1}")
        )
        self._add(POSITIONS, f"{span} missing: deleted from the log", None, None, expected)

    def _hash_broken(self, row: FullRow, after_gap: bool) -> None:
        position, stream, version = row[0], row[1], row[2]
        if after_gap:
            why = "the event before it was deleted"
        else:
            why = (
                "this event was changed (stream, version, type, schema, time or payload), "
                "or the event before it was replaced"
            )
        self._add(
            HASH,
            f"hash chain broken at {stream} version {version}: {why}",
            stream,
            version,
            position,
        )

    def _version_jump(self, row: FullRow, info: list[Any]) -> None:
        position, stream, version = row[0], row[1], row[2]
        last = info[1]
        if version > last:
            # Judged at the end of the pass: a version seen late was moved, not lost.
            if len(self._jumps) < MAX_PER_CHECK:
                self._jumps.append((stream, last, version, info[3], position))
            return
        self._late.setdefault(stream, set()).add(version)
        self._add(
            VERSIONS,
            f"{stream} version {version} comes after version {last}: out of order or repeated",
            stream,
            version,
            position,
        )

    def _settle_gaps(self) -> None:
        for stream, last, version, after, before in self._jumps:
            late = self._late.get(stream, ())
            missing = [v for v in range(last + 1, version) if v not in late]
            if not missing:
                continue
            listed = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
            problem = self._add(
                VERSIONS,
                f"{stream} version{'s' if len(missing) > 1 else ''} {listed} missing: version "
                f"{version} (position {before}) follows "
                + (f"version {last} (position {after})" if last else "nothing"),
                stream,
                missing[0],
                None,
            )
            if problem is not None:
                self.result.gaps.append(VersionGap(problem, len(missing), after, before))

    def _undecodable(self, row: FullRow) -> None:
        try:
            self.store.codec.decode(row[6], _where(row))
        except CorruptEventError as exc:
            self._add(DECODE, str(exc), row[1], row[2], row[0])

    # --- projections -------------------------------------------------------------------

    def _compare(self, stored: StoredShare) -> None:
        fresh = self.docs.by_kind
        if stored.uuids is not None:
            folded = {doc["model_uuid"] for kind in (MACHINE, UNIT) for doc in fresh[kind].values()}
            unknown = folded - stored.uuids
            if unknown and not read_late(self.store, stored, unknown):
                # The copy moved: leave out the few documents that could not be read.
                fresh = {
                    kind: {k: d for k, d in docs.items() if d["model_uuid"] not in unknown}
                    for kind, docs in fresh.items()
                }
        kept, count = keyed(stored, fresh)
        for kind, key, kept_doc, folded_doc in differences(kept, fresh):
            message = describe(kind, key, kept_doc, folded_doc)
            self._add(PROJECTION, message, *self._locate(kind, key, kept_doc, folded_doc))
        self.result.documents = count
        self.result.compared_at = stored.position

    def _locate(
        self, kind: str, key: str, stored: Document | None, fresh: Document | None
    ) -> tuple[str, int | None, int | None]:
        """The document's stream and the event a difference points at: for a machine,
        the newest stream version either side has folded (a projection ahead of the log
        names the event the log lost); for the others, the stream's last event."""
        uuid, _, name = key.partition(" ")
        if kind == MODEL_KIND:
            stream = model_stream(uuid)
        elif kind == MACHINE:
            stream = machine_stream(uuid, name)
            legacy = machine_stream(uuid, legacy_machine_id(name))
            stream = legacy if stream not in self._streams and legacy in self._streams else stream
        else:
            stream = unit_stream(uuid, name)
        info = self._streams.get(stream)
        logged, logged_at = (info[1], info[3]) if info is not None else (0, 0)
        if kind == MACHINE:
            folded = [d["stream_version"] for d in (stored, fresh) if d is not None]
            version = max(folded, default=0)
            if version != logged:
                return stream, version or None, None
        return stream, logged or None, logged_at or None

    def _warn_unknown_providers(self) -> None:
        for model in self.docs.models():
            provider = model["provider_type"]
            if provider is not None and provider not in PROVIDER_CAPABILITIES:
                stream = model_stream(model["model_uuid"])
                first = self.store.backend.read_stream(stream, 0, 1)
                self._add(
                    PROVIDER,
                    f"model {model['model_uuid']} has provider type {provider!r}, which the "
                    "capability table does not know: every capability is false",
                    stream,
                    1,
                    first[0][0] if first else None,
                    WARNING,
                )

    def _overflow(self) -> list[Problem]:
        """One line per check that had more problems than a report lists."""
        return [
            Problem(check, f"{count - MAX_PER_CHECK} more {check} problems not listed")
            for check, count in self._counts.items()
            if count > MAX_PER_CHECK
        ]


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cycle collection while Scans run and are freed. A pass makes no cyclic
    garbage, and every collection would walk every document and stored copy a Scan
    holds (seconds in all); freed before collection resumes, they are not walked when
    it does either (objects made while it is paused wait in its youngest generation)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _no_tick(_position: int) -> None:
    pass


def _where(row: FullRow) -> str:
    return f"{row[1]} version {row[2]} (position {row[0]})"


def _why(exc: BaseException) -> str:
    if isinstance(exc, EventStateError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
