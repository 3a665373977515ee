"""The event store: appends 3.0 events, reads every event upcast to today's schema.

Every read path (aggregate loads, projections, history, export --upcast,
verify) goes through `EventStore.decode` so no path can forget to upcast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from eventstate.backends.base import NO_READS, Backend, NewRow, Row, StoreMeta, WriteGuard
from eventstate.codec import MAX_PAYLOAD_BYTES, PayloadCodec
from eventstate.domain.catalogue import OPENING_TYPES, STREAM_KINDS, validate_payload
from eventstate.errors import UnknownEventTypeError, ValidationError
from eventstate.gating import APPEND_GUARD, check_readable
from eventstate.releases import CODE_RELEASE
from eventstate.streams import (
    legacy_machine_id,
    machine_stream,
    placement_problem,
    stream_kind,
)
from eventstate.timeutil import MAX_US, MIN_US, now_us
from upcasters import CHAIN, Chain, ReadPlan, no_express

Upcaster = Callable[
    [str, int, str, int, dict[str, Any], "str | None"], tuple[str, int, dict[str, Any]]
]


class _ProviderTypes(dict[str, "str | None"]):
    """The provider type of a model, as the model's first event recorded it.

    `providers[key]`, for a stream of a model or its `<kind>:<model-uuid>` part, gives
    the model's: read from the log on first use, then cached under the model stream
    and the key (a model's first event never changes); None when unknown, not cached,
    since the model stream may be written later.
    """

    def __init__(self, read_first: Callable[[str], str | None]) -> None:
        super().__init__()
        self._read_first = read_first  # model stream -> provider type in its first event

    def __missing__(self, key: str) -> str | None:
        kind, _, rest = key.partition(":")
        if kind == "model":
            model = key
        elif kind == "machine" or kind == "unit":
            model = "model:" + rest.partition(":")[0]
        else:
            return None
        provider = self.get(model)
        if provider is None:
            provider = self._read_first(model)
            if provider is None:
                return None
            self[model] = provider
        self[key] = provider
        return provider


class Event(NamedTuple):
    """One event as read: upcast to the target schema unless read raw."""

    position: int
    stream: str
    version: int
    type: str
    schema: int
    recorded_at: int  # microseconds since the epoch, UTC
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append, in today's (3.0) schema."""

    stream: str
    version: int
    type: str
    data: dict[str, Any]
    recorded_at: int | None = None


# --- the envelope of an append (EventStore.encode): the slow paths that say what is wrong


def _append_shape(chain: Chain, stream: str, version: int, type_name: str) -> tuple[int, str, bool]:
    """(schema, stream kind, whether it opens its stream) of a type that can be appended."""
    where = f"{_named(stream)} version {version}"
    try:
        schema = chain.current_schema(type_name)
        current = chain.current_name(type_name)
    except UnknownEventTypeError as exc:
        raise UnknownEventTypeError(f"{where}: {exc}") from None
    if current != type_name:
        raise UnknownEventTypeError(
            f"{where}: {type_name} is not a {CODE_RELEASE} event type (today it is {current})"
        )
    kind = STREAM_KINDS.get(type_name)
    if kind is None or not chain.is_known(type_name, schema, CODE_RELEASE):
        why = chain.why_not_storable(type_name, schema, CODE_RELEASE)
        raise ValidationError(f"{where}: {type_name} cannot be appended ({why})")
    return schema, kind, type_name in OPENING_TYPES


def _envelope_problem(event: NewEvent) -> str:
    """What is wrong with an event's stream, version, type or time (one of them is)."""
    stream, version, type_name, at = event.stream, event.version, event.type, event.recorded_at
    named = _named(stream)
    if type(stream) is not str:
        return (
            f"{named} version {version!r}: {type_name!r}: the stream id must be a string, "
            f"got {type(stream).__name__}"
        )
    if type(version) is not int or version < 1:
        return (
            f"{named} version {version!r}: {type_name!r}: the version must be an integer >= 1, "
            f"got {type(version).__name__} {version!r}"
        )
    if type(type_name) is not str:
        return f"{named} version {version}: the type must be a string, got {type_name!r}"
    return (
        f"{named} version {version}: {type_name}: recorded_at must be integer microseconds "
        f"since the epoch within the years 1 to 9999 (UTC), or None for now; got {at!r}"
    )


# Payload fields that repeat the stream id's last part: an append must agree with it, as
# projections key documents by stream. A stream id a write may create has no ":" in
# that part, so a suffix test is exact. (1.x streams keep 0/lxc/1 while the payload
# reads 0/lxd/1: appends create 3.0 ids only, and reads never check this.)
_NAMED_BY_STREAM: dict[str, str] = {
    "ModelCreated": "model_uuid",
    "MachineAdded": "machine_id",
    "UnitAssignedToMachine": "unit",
    "UnitDestroyed": "unit",
}


def _named(stream: object) -> str:
    """A stream id for a one-line message: quoted when it is odd (not a string, a newline,
    a lone surrogate), so the message still prints."""
    return stream if type(stream) is str and stream.isprintable() else repr(stream)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:160] if text.strip() else type(exc).__name__


class EventStore:
    def __init__(self, backend: Backend, codec: PayloadCodec, chain: Chain = CHAIN) -> None:
        self.backend = backend
        self.codec = codec
        self.chain = chain
        self.url = backend.url
        # stream id -> the model's provider type, the one context upcasters need.
        self._providers = _ProviderTypes(self._first_provider)

    # --- metadata ----------------------------------------------------------------

    def meta(self) -> StoreMeta:
        return self.backend.read_meta()

    def close(self) -> None:
        self.backend.close()

    # --- writing ---------------------------------------------------------------------

    def encode(self, events: Iterable[NewEvent]) -> list[NewRow]:
        """Validate 3.0 events and turn them into rows; raises before anything is written.

        Checks the envelope (README, "The low-level append"): stream id, version,
        recorded-at time, a type that can be stored in that kind of stream, opening
        events at version 1, and the payload. Aggregate rules are the repository's.
        The bulk path: a few type tests, one dict lookup and one cached call per event.
        """
        rows: list[NewRow] = []
        stamp = now_us()
        chain = self.chain
        encode = self.codec.encode
        # type -> (schema, stream kind, opens its stream), for the types met in this call
        shapes: dict[str, tuple[int, str, bool]] = {}
        named_by_stream = _NAMED_BY_STREAM
        for event in events:
            stream, version, type_name, data = event.stream, event.version, event.type, event.data
            recorded_at = stamp if event.recorded_at is None else event.recorded_at
            if not (
                type(stream) is str
                and type(version) is int
                and version >= 1
                and type(type_name) is str
                and type(recorded_at) is int
                and MIN_US <= recorded_at <= MAX_US
            ):
                raise ValidationError(_envelope_problem(event))
            shape = shapes.get(type_name)
            if shape is None:
                shape = shapes[type_name] = _append_shape(chain, stream, version, type_name)
            schema, kind, opens = shape
            if stream_kind(stream) != kind or (opens and version != 1):
                problem = placement_problem(stream, version, kind, opens)
                raise ValidationError(f"{_named(stream)} version {version}: {type_name}{problem}")
            try:
                validate_payload(type_name, data)
            except ValidationError as exc:
                raise ValidationError(f"{stream} version {version}: {exc}") from None
            field = named_by_stream.get(type_name)
            if field is not None and not stream.endswith(":" + data[field]):
                raise ValidationError(
                    f"{stream} version {version}: {type_name}: field '{field}' "
                    f"{data[field]!r} is not the one its stream id names"
                )
            try:
                state = encode(data)
            except Exception as exc:  # what the catalogue let through: never a raw error
                raise ValidationError(
                    f"{stream} version {version}: {type_name} payload cannot be stored "
                    f"({_first_line(exc)})"
                ) from None
            if len(state) > MAX_PAYLOAD_BYTES:
                raise ValidationError(
                    f"{stream} version {version}: payload of {len(state)} bytes "
                    f"exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
                )
            rows.append((stream, version, type_name, schema, recorded_at, state))
        return rows

    def append(
        self,
        events: Sequence[NewEvent],
        guard: WriteGuard = APPEND_GUARD,
        unchanged: Mapping[str, int] = NO_READS,
    ) -> list[int]:
        """Append atomically; returns the positions. Gating and versions are checked
        in the same transaction as the write, and so are `unchanged`: streams the
        decision read but does not write, each at the version it read."""
        if not events:
            return []
        return self.backend.append(self.encode(events), guard, unchanged)

    # --- reading -----------------------------------------------------------------------

    def upcaster(self, target: str | None = CODE_RELEASE) -> Upcaster | None:
        """The chain to `target`, or None to read events as stored."""
        if target is None:
            return None
        if target == CODE_RELEASE:
            return self.chain.upcast
        return self.chain.upcaster_for(target)

    def decode(self, rows: Iterable[Row], target: str | None = CODE_RELEASE) -> Iterator[Event]:
        """Rows -> events: payload decoded and, unless target is None, upcast.

        The hot read path: one C decode per event; the error message naming the event
        is only built when a payload does not decode to a map. Upcasting costs one
        lookup for an event already current, and one express call for the busy old
        schemas (the chain's steps run when there is none or it declines).
        """
        unpack = self.codec.unpack
        checked_decode = self.codec.decode
        upcast = self.upcaster(target)
        new = tuple.__new__
        if upcast is None:
            # The same loop shape as the upcast one below, so raw reads are as lean.
            for position, stream, version, type_name, schema, recorded_at, state in rows:
                try:
                    data = unpack(state)
                except Exception:
                    data = None
                if type(data) is not dict:
                    where = f"{stream} version {version} (position {position})"
                    data = checked_decode(state, where)
                yield new(Event, (position, stream, version, type_name, schema, recorded_at, data))
            return
        assert target is not None  # upcast is None for target None
        plan = self.chain.read_plan(target)
        plans = plan.express
        providers = self._providers
        for position, stream, version, type_name, schema, recorded_at, state in rows:
            try:
                data = unpack(state)
            except Exception:
                data = None
            if type(data) is not dict:
                data = checked_decode(state, f"{stream} version {version} (position {position})")
            try:
                express = plans[type_name][schema]
            except (KeyError, TypeError):  # unknown: the steps raise the UpcastError
                express = no_express
            if express is not None:  # not current: upcast
                try:
                    result = express(data, stream, providers)
                except Exception:  # declined: the steps give the result or the error
                    result = None
                if result is None:
                    result = self._upcast_stepwise(plan, stream, version, type_name, schema, data)
                type_name, schema, data = result
            yield new(Event, (position, stream, version, type_name, schema, recorded_at, data))

    def _upcast_stepwise(
        self,
        plan: ReadPlan,
        stream: str,
        version: int,
        type_name: str,
        schema: int,
        data: dict[str, Any],
    ) -> tuple[str, int, dict[str, Any]]:
        """The chain's steps, for what no express function took (and every error)."""
        providers = self._providers
        # A model's first event (never an express plan's) names its provider: remembered
        # while reading an old log, so context-aware upcasts need no lookup in the log.
        if version == 1 and stream.startswith("model:"):
            value = data.get("provider_type")
            if isinstance(value, str):
                providers[stream] = value
        try:
            contextual = (type_name, schema) in plan.contextual
        except TypeError:  # an unhashable type or schema: the steps say it is unknown
            contextual = False
        provider = providers[stream] if contextual else None
        return plan.stepwise(stream, version, type_name, schema, data, provider)

    def _provider_for(self, stream: str) -> str | None:
        """The provider type of the model a stream belongs to, from the log (cached)."""
        return self._providers[stream]

    def _first_provider(self, model_stream: str) -> str | None:
        """The provider type in a model stream's first event, None if there is none."""
        first = self.backend.read_stream(model_stream, 0, 1)
        if not first:
            return None
        row = first[0]
        data = self.codec.decode(row[6], f"{model_stream} version 1 (position {row[0]})")
        value = data.get("provider_type")
        return value if isinstance(value, str) else None

    def read_stream(
        self, stream: str, gt: int = 0, lte: int | None = None, target: str | None = CODE_RELEASE
    ) -> list[Event]:
        return list(self.decode(self.backend.read_stream(stream, gt, lte), target))

    def iter_events(
        self,
        after: int = 0,
        upto: int | None = None,
        types: Sequence[str] = (),
        target: str | None = CODE_RELEASE,
    ) -> Iterator[Event]:
        """The log in position order, streamed page by page."""
        check_readable(self.meta())
        return self.decode(self.backend.iter_log(after, upto, types), target)

    def head(self) -> int:
        return self.backend.head()

    def machine_stream_of(self, model_uuid: str, machine_id: str) -> str:
        """The stream a machine lives in. Stream ids are never rewritten, so a
        container a 1.x server added as `0/lxc/1` (which reads as `0/lxd/1`
        today) keeps its `machine:<uuid>:0/lxc/1` stream forever."""
        stream = machine_stream(model_uuid, machine_id)
        legacy = legacy_machine_id(machine_id)
        if legacy == machine_id:
            return stream
        candidates = [stream, machine_stream(model_uuid, legacy)]
        heads = self.backend.stream_heads(candidates)
        return next((c for c in candidates if c in heads), stream)
