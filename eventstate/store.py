"""The event store: appends 3.0 events, reads every event upcast to today's schema.

Every read path (aggregate loads, projections, history, export --upcast,
verify) goes through `EventStore.decode` so no path can forget to upcast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from eventstate.backends.base import Backend, NewRow, Row, StoreMeta, WriteGuard
from eventstate.codec import MAX_PAYLOAD_BYTES, PayloadCodec
from eventstate.domain.catalogue import validate_payload
from eventstate.errors import UnknownEventTypeError, ValidationError
from eventstate.gating import APPEND_GUARD, check_readable
from eventstate.releases import CODE_RELEASE
from eventstate.streams import legacy_machine_id, machine_stream
from eventstate.timeutil import now_us
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
        """Validate 3.0 events and turn them into rows; raises before anything is written."""
        rows: list[NewRow] = []
        stamp = now_us()
        chain = self.chain
        encode = self.codec.encode
        for event in events:
            schema = chain.current_schema(event.type)
            if chain.current_name(event.type) != event.type:
                raise UnknownEventTypeError(
                    f"{event.stream} version {event.version}: {event.type} is not a "
                    f"{CODE_RELEASE} event type (today it is {chain.current_name(event.type)})"
                )
            try:
                validate_payload(event.type, event.data)
            except ValidationError as exc:
                raise ValidationError(f"{event.stream} version {event.version}: {exc}") from None
            state = encode(event.data)
            if len(state) > MAX_PAYLOAD_BYTES:
                raise ValidationError(
                    f"{event.stream} version {event.version}: payload of {len(state)} bytes "
                    f"exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
                )
            recorded_at = stamp if event.recorded_at is None else event.recorded_at
            rows.append((event.stream, event.version, event.type, schema, recorded_at, state))
        return rows

    def append(self, events: Sequence[NewEvent], guard: WriteGuard = APPEND_GUARD) -> list[int]:
        """Append atomically; returns the positions. Gating and versions are checked
        in the same transaction as the write."""
        if not events:
            return []
        return self.backend.append(self.encode(events), guard)

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
