"""What the low-level append refuses (README, "The low-level append"): a malformed
envelope and payloads that are not plain JSON, each as one ValidationError line naming
the event, with nothing written; and the plain JSON it takes, read back as it was."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstate.api import open_store
from eventstate.audit import verify
from eventstate.codec import MAX_NESTING, nesting_exceeds
from eventstate.domain.catalogue import validate_payload
from eventstate.errors import EventStateError, UnknownEventTypeError, UpcastError, ValidationError
from eventstate.interchange import export_jsonl, import_jsonl
from eventstate.repository import Repository
from eventstate.store import EventStore, NewEvent
from eventstate.timeutil import MAX_US, MIN_US
from projections import service
from upcasters import CHAIN

FIXTURES = Path(__file__).parents[1] / "fixtures"
U = "8a3c1f66-0000-4000-8000-000000000001"
M = f"model:{U}"
M0 = f"machine:{U}:0"
UNIT = f"unit:{U}:wordpress/0"
UPGRADE = "upgrade:20261125T000000Z-abc123"


def _created(config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "model_uuid": U,
        "name": "prod",
        "provider_type": "ec2",
        "controller_uuid": "c0ffee00-0000-4000-8000-000000000000",
        "owner": "admin",
        "type": "iaas",
        "cloud": "aws",
        "cloud_region": "us-east-1",
        "cloud_credential": "",
        "config": config or {},
    }


def _added(machine_id: str = "0") -> dict[str, Any]:
    return {
        "machine_id": machine_id,
        "base": {"os": "ubuntu", "channel": "22.04/stable"},
        "container_type": "",
        "nonce": "",
        "jobs": ["JobHostUnits"],
        "constraints": "",
        "placement": "",
    }


def _agent(version: Any = 2, stream: Any = M, recorded_at: Any = None) -> NewEvent:
    return NewEvent(stream, version, "AgentVersionSet", {"version": "3.0.1"}, recorded_at)


def _change(value: Any, version: int = 2) -> NewEvent:
    return NewEvent(M, version, "ModelConfigChanged", {"set": value, "unset": []})


def _nest(levels: int) -> Any:
    """`levels` maps, one inside the other, around a string."""
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


@pytest.fixture
def seeded(store: EventStore) -> EventStore:
    """A model and its machine 0: streams for the refused events to land in."""
    store.append(
        [NewEvent(M, 1, "ModelCreated", _created()), NewEvent(M0, 1, "MachineAdded", _added())]
    )
    return store


def _state(store: EventStore) -> tuple[int, str, list[str]]:
    report = verify(store, workers=1)
    return store.head(), report.head_hash, [p.message for p in report.problems]


def _refused(
    store: EventStore,
    events: list[NewEvent],
    fragments: tuple[str, ...],
    error: type[EventStateError] = ValidationError,
) -> None:
    """The append raises exactly `error`, one line naming every fragment; nothing written."""
    before = _state(store)
    with pytest.raises(EventStateError) as caught:
        store.append(events)
    assert type(caught.value) is error, repr(caught.value)
    text = str(caught.value)
    assert "\n" not in text
    text.encode()  # prints: an odd stream id is quoted, not echoed
    for fragment in fragments:
        assert fragment in text, text
    assert _state(store) == before
    assert before[2] == []  # and what was there still verifies


# --- the envelope ---------------------------------------------------------------------------

ENVELOPES: list[tuple[str, list[NewEvent], tuple[str, ...], type[EventStateError]]] = [
    # stream kinds (events.md, "Envelope"): each type belongs to one kind of stream
    (
        "machine event in a model stream",
        [NewEvent(M, 2, "MachineSupportedContainersSet", {"types": ["lxd"]})],
        (f"{M} version 2", "MachineSupportedContainersSet", "belongs in machine streams"),
        ValidationError,
    ),
    (
        "model event in a machine stream",
        [_agent(2, M0)],
        (f"{M0} version 2", "AgentVersionSet", "belongs in model streams"),
        ValidationError,
    ),
    (
        "unit event in an upgrade stream",
        [NewEvent(UPGRADE, 1, "UnitDestroyed", {"unit": "wordpress/0"})],
        (f"{UPGRADE} version 1", "UnitDestroyed", "belongs in unit streams"),
        ValidationError,
    ),
    (
        "upgrade event in a unit stream",
        [
            NewEvent(
                UNIT, 1, "UpgradeStepApplied", {"release": "3.0", "step": "s", "events_written": 0}
            )
        ],
        (f"{UNIT} version 1", "UpgradeStepApplied", "belongs in upgrade streams"),
        ValidationError,
    ),
    (
        "garbage stream",
        [_agent(1, "garbage")],
        ("garbage version 1", "AgentVersionSet", "malformed stream id 'garbage'"),
        ValidationError,
    ),
    (
        "model stream with a third part",
        [_agent(1, f"{M}:x")],
        (f"{M}:x version 1", "AgentVersionSet", "malformed stream id"),
        ValidationError,
    ),
    (
        "model stream without a uuid",
        [_agent(1, "model:")],
        ("model: version 1", "AgentVersionSet", "malformed stream id"),
        ValidationError,
    ),
    (
        "machine stream without an id",
        [NewEvent(f"machine:{U}:", 1, "MachineAdded", _added())],
        (f"machine:{U}: version 1", "MachineAdded", "malformed stream id"),
        ValidationError,
    ),
    (
        "stream id that is not UTF-8",
        [_agent(1, "model:\ud800")],
        (repr("model:\ud800") + " version 1", "AgentVersionSet", "not valid UTF-8"),
        ValidationError,
    ),
    # what a write may name: stricter than what reads of an older store accept
    *(
        (
            f"stream {stream!r}",
            [event],
            (f"version {event.version}", event.type, problem),
            ValidationError,
        )
        for stream, event, problem in (
            ("upper-case uuid", _agent(1, f"model:{U.upper()}"), "is not a lowercase model uuid"),
            ("not a uuid", _agent(1, "model:not-a-uuid"), "is not a lowercase model uuid"),
            (
                "negative machine id",
                NewEvent(f"machine:{U}:-1", 1, "MachineAdded", _added()),
                "'-1' is not a machine id",
            ),
            (
                "container without a number",
                NewEvent(f"machine:{U}:0/lxd/", 1, "MachineAdded", _added()),
                "'0/lxd/' is not a machine id",
            ),
            (
                "unit without a number",
                NewEvent(f"unit:{U}:wordpress", 1, "UnitDestroyed", {"unit": "wordpress/0"}),
                "'wordpress' is not a unit name",
            ),
            ("newline", _agent(1, f"model:{U}\n"), "unprintable characters"),
        )
    ),
    # the version
    *(
        (
            f"version {version!r}",
            [_agent(version)],
            (f"{M} version {version!r}", "AgentVersionSet", "version must be an integer >= 1"),
            ValidationError,
        )
        for version in (True, 1.0, "2", 0, -1, None)
    ),
    (
        "stream None",
        [_agent(2, None)],
        ("None version 2", "AgentVersionSet", "stream id must be a string"),
        ValidationError,
    ),
    (
        "type None",
        [NewEvent(M, 2, None, {"version": "3.0.1"})],  # type: ignore[arg-type]
        (f"{M} version 2", "type must be a string"),
        ValidationError,
    ),
    # the time: integer microseconds a datetime can hold
    *(
        (
            f"recorded_at {at!r}",
            [_agent(2, recorded_at=at)],
            (f"{M} version 2", "AgentVersionSet", "recorded_at", repr(at)),
            ValidationError,
        )
        for at in (-(10**18), MIN_US - 1, MAX_US + 1, "now", 1.5, True)
    ),
    # the type
    (
        "EventRetired",
        [NewEvent(M, 2, "EventRetired", {"original_type": "X", "reason": "y"})],
        (f"{M} version 2", "EventRetired", "is never stored, only made by upcasting"),
        ValidationError,
    ),
    (
        "a type's old name",
        [NewEvent(M, 2, "EnvironConfigChanged", {"set": {}, "unset": []})],
        (f"{M} version 2", "EnvironConfigChanged", "today it is ModelConfigChanged"),
        UnknownEventTypeError,
    ),
    (
        "an unknown type",
        [NewEvent(M, 2, "Bogus", {})],
        (f"{M} version 2", "Bogus"),
        UnknownEventTypeError,
    ),
    # opening events: version 1 only
    (
        "ModelCreated at version 5",
        [_agent(2), _agent(3), _agent(4), NewEvent(M, 5, "ModelCreated", _created())],
        (f"{M} version 5", "ModelCreated", "opens its stream"),
        ValidationError,
    ),
    (
        "a second MachineAdded",
        [NewEvent(M0, 2, "MachineAdded", _added())],
        (f"{M0} version 2", "MachineAdded", "opens its stream"),
        ValidationError,
    ),
    (
        "UpgradeStarted after version 1",
        [
            NewEvent(
                UPGRADE,
                1,
                "UpgradeAborted",
                {"reason": "r", "stream": "", "version": 0, "type": "", "schema": 0},
            ),
            NewEvent(
                UPGRADE,
                2,
                "UpgradeStarted",
                {"from_release": "2.0", "to_release": "3.0", "holder": "h", "fencing_token": 1},
            ),
        ],
        (f"{UPGRADE} version 2", "UpgradeStarted", "opens its stream"),
        ValidationError,
    ),
    (
        "MachineAdded of another machine",
        [NewEvent(f"machine:{U}:1", 1, "MachineAdded", _added("2"))],
        (f"machine:{U}:1 version 1", "MachineAdded", "field 'machine_id' '2'"),
        ValidationError,
    ),
    (
        "MachineAdded of a 1.x container id",
        [NewEvent(f"machine:{U}:0/lxc/1", 1, "MachineAdded", _added("0/lxd/1"))],
        (f"machine:{U}:0/lxc/1 version 1", "MachineAdded", "field 'machine_id' '0/lxd/1'"),
        ValidationError,
    ),
    (
        "ModelCreated of another model",
        [
            NewEvent(
                "model:8a3c1f66-0000-4000-8000-000000000002",
                1,
                "ModelCreated",
                _created(),
            )
        ],
        ("ModelCreated", f"field 'model_uuid' '{U}' is not the one its stream id names"),
        ValidationError,
    ),
    (
        "UnitDestroyed of another unit",
        [NewEvent(f"unit:{U}:wordpress/1", 1, "UnitDestroyed", {"unit": "wordpress/0"})],
        (f"unit:{U}:wordpress/1 version 1", "field 'unit' 'wordpress/0'"),
        ValidationError,
    ),
    (
        "UnitAssignedToMachine of another unit (a suffix of its name)",
        [
            NewEvent(
                f"unit:{U}:wordpress/10",
                1,
                "UnitAssignedToMachine",
                {"unit": "wordpress/0", "application": "wordpress", "machine_id": "0"},
            )
        ],
        (f"unit:{U}:wordpress/10 version 1", "field 'unit' 'wordpress/0'"),
        ValidationError,
    ),
    # a refused event anywhere in a batch refuses the batch
    (
        "a bad event after a good one",
        [_agent(2), _agent(3, recorded_at="now")],
        (f"{M} version 3", "recorded_at"),
        ValidationError,
    ),
]


@pytest.mark.parametrize(
    ("events", "fragments", "error"),
    [pytest.param(*case[1:], id=case[0]) for case in ENVELOPES],
)
def test_a_bad_envelope_is_refused_and_nothing_is_written(
    seeded: EventStore,
    events: list[NewEvent],
    fragments: tuple[str, ...],
    error: type[EventStateError],
) -> None:
    _refused(seeded, events, fragments, error)


def _import_3_0(
    store: EventStore, path: Path, events: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Import (stream, type, data) lines, versions counted per stream, into a 3.0 store."""
    versions: dict[str, int] = {}
    lines = [{"format": "eventstate-jsonl", "format_version": 1, "release": "3.0"}]
    for stream, type_name, data in events:
        versions[stream] = versions.get(stream, 0) + 1
        lines.append(
            {
                "stream": stream,
                "version": versions[stream],
                "type": type_name,
                "schema": CHAIN.current_schema(type_name),
                "recorded_at": "2024-05-01T09:00:00.000000+00:00",
                "data": data,
            }
        )
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    import_jsonl(store, path)


def test_the_envelopes_of_every_kind_of_stream_are_taken(store: EventStore, tmp_path: Path) -> None:
    # A 1.x container keeps its 0/lxc/1 stream while its payload reads 0/lxd/1: imports
    # and reads never compare the two, and later appends go to that stream.
    legacy = f"machine:{U}:0/lxc/1"
    _import_3_0(
        store,
        tmp_path / "log.jsonl",
        [
            (M, "ModelCreated", _created()),
            (M0, "MachineAdded", _added()),
            (legacy, "MachineAdded", _added("0/lxd/1")),
        ],
    )
    upgrade = {"from_release": "2.0", "to_release": "3.0", "holder": "h", "fencing_token": 1}
    unit = {"unit": "wordpress/0", "application": "wordpress", "machine_id": "0/lxd/1"}
    store.append(
        [
            _agent(2, recorded_at=MIN_US),
            _agent(3, recorded_at=MAX_US),
            NewEvent(legacy, 2, "MachineSupportedContainersSet", {"types": ["lxd"]}),
            NewEvent(f"machine:{U}:0/lxd/2", 1, "MachineAdded", _added("0/lxd/2")),
            NewEvent(UNIT, 1, "UnitAssignedToMachine", unit),
            NewEvent(UPGRADE, 1, "UpgradeStarted", upgrade),
        ]
    )
    assert [(e.version, e.recorded_at) for e in store.read_stream(M)][1:] == [
        (2, MIN_US),
        (3, MAX_US),
    ]
    assert [e.type for e in store.read_stream(legacy)] == [
        "MachineAdded",
        "MachineSupportedContainersSet",
    ]
    container = service.machine(store, U, "0/lxd/1")
    assert container["supported_containers"] == ["lxd"]
    assert container["principals"] == ["wordpress/0"]
    assert service.machine(store, U, "0/lxd/2")["parent"] == "0"
    assert verify(store, workers=1).ok


# --- payloads: plain JSON only (operations.md) -----------------------------------------------

# (config value, the field the message names, what it says)
NOT_PLAIN: list[tuple[str, dict[Any, Any], str, str]] = [
    ("an integer key", {"limits": {1: "one"}}, "set['limits']", "must have string keys, got 1"),
    ("bytes", {"x": b"\x00\xff"}, "set['x']", "must be plain JSON"),
    ("NaN", {"x": float("nan")}, "set['x']", "must be a finite number, got nan"),
    ("infinity", {"x": [float("-inf")]}, "set['x'][0]", "must be a finite number, got -inf"),
    ("a set", {"x": {1, 2}}, "set['x']", "must be plain JSON"),
    ("a tuple", {"x": (1, 2)}, "set['x']", "must be plain JSON"),
    ("an object", {"x": object()}, "set['x']", "must be plain JSON"),
    ("2**64", {"x": 2**64}, "set['x']", "must be an integer from -2**63 to 2**64-1"),
    ("-2**63 - 1", {"x": -(2**63) - 1}, "set['x']", "must be an integer from -2**63"),
    ("a lone surrogate", {"x": "\ud800"}, "set['x']", "must be valid UTF-8 text"),
    ("a lone surrogate key", {"a": {"\udc00": 1}}, "set['a']", "must have valid UTF-8 keys"),
    ("deep inside", {"x": [1, {"y": [b""]}]}, "set['x'][1]['y'][0]", "must be plain JSON"),
    # the payload is level 1, set level 2: 198 maps put the leaf at level 201
    ("too deep", {"x": _nest(198)}, "set", f"nests deeper than {MAX_NESTING} levels"),
]


@pytest.mark.parametrize(
    ("value", "field", "problem"), [pytest.param(*case[1:], id=case[0]) for case in NOT_PLAIN]
)
def test_config_that_is_not_plain_json_is_refused(
    seeded: EventStore, value: dict[Any, Any], field: str, problem: str
) -> None:
    _refused(
        seeded, [_change(value)], (f"{M} version 2: ModelConfigChanged: field '{field}' {problem}",)
    )
    # ModelCreated's config gets the same check (config is level 2 of its payload too)
    other = "model:8a3c1f66-0000-4000-8000-000000000002"
    config_field = field.replace("set", "config", 1)
    _refused(
        seeded,
        [NewEvent(other, 1, "ModelCreated", _created(value))],
        (f"{other} version 1: ModelCreated: field '{config_field}' {problem}",),
    )


def test_the_repository_refuses_what_the_catalogue_refuses(store: EventStore) -> None:
    # The exploratory tester's reproductions, through the API a state server calls.
    repo = Repository(store)
    uuid = repo.create_model("m", provider_type="ec2")
    before = _state(store)
    reproductions: list[tuple[dict[Any, Any], str]] = [
        ({"limits": {1: "one"}}, "set['limits']"),
        ({"x": b"\x00\xff"}, "set['x']"),
        ({"x": float("nan")}, "set['x']"),
        ({"x": {1, 2}}, "set['x']"),
        ({"x": 2**64}, "set['x']"),
        ({"x": "\ud800"}, "set['x']"),
    ]
    for value, field in reproductions:
        with pytest.raises(
            ValidationError, match=re.escape(f"ModelConfigChanged: field '{field}'")
        ):
            repo.change_model_config(uuid, value)
    assert _state(store) == before
    assert service.model(store, uuid)["config"] == {}


@pytest.mark.parametrize(
    ("event", "fragments"),
    [
        pytest.param(
            NewEvent(M, 2, "ModelConfigChanged", {"set": {}, "unset": ["\ud800"]}),
            (f"{M} version 2: ModelConfigChanged payload cannot be stored", "surrogates"),
            id="an unset key",
        ),
        pytest.param(
            NewEvent(M, 2, "AgentVersionSet", {"version": "3.0\udfff"}),
            (f"{M} version 2: AgentVersionSet payload cannot be stored", "surrogates"),
            id="a string field",
        ),
    ],
)
def test_a_payload_the_codec_cannot_encode_is_a_validation_error(
    seeded: EventStore, event: NewEvent, fragments: tuple[str, ...]
) -> None:
    # Fields the catalogue checks only for their type: the codec's own refusal still
    # reads as one ValidationError naming the event, never a raw UnicodeEncodeError.
    _refused(seeded, [event], fragments)


PLAIN: dict[str, Any] = {
    "limits": {"cpu": [1, 2, {"deep": [None, True, False, [], {}]}], "mem": 4096},
    "largest": 2**64 - 1,
    "smallest": -(2**63),
    "unicode": "h\u00e9llo \u2713 \u65e5\u672c \U0001f389",
    "cl\u00e9": "a non-ASCII key",
    "ratio": 0.1,
    "tiny": 5e-324,
    "huge": 1.7976931348623157e308,
    "negative": -2.5,
    "empty": "",
    # the deepest a payload may go: the leaf at level 200
    "deepest": _nest(197),
}


def test_plain_json_config_round_trips_through_append_read_export_and_import(
    store: EventStore, tmp_path: Path
) -> None:
    repo = Repository(store)
    uuid = repo.create_model("m", provider_type="ec2", config={"first": PLAIN["limits"]})
    repo.change_model_config(uuid, PLAIN, unset=["first"])
    stream = f"model:{uuid}"
    assert store.read_stream(stream)[-1].data == {"set": PLAIN, "unset": ["first"]}
    assert store.read_stream(stream)[0].data["config"] == {"first": PLAIN["limits"]}
    assert service.model(store, uuid)["config"] == PLAIN
    assert verify(store, workers=1).ok

    out = io.BytesIO()
    export_jsonl(store, out)
    exported = out.getvalue()
    lines = [orjson.loads(line) for line in exported.splitlines()[1:]]
    assert lines[-1]["data"] == {"set": PLAIN, "unset": ["first"]}

    backup = tmp_path / "backup.jsonl"
    backup.write_bytes(exported)
    restored = open_store(f"sqlite:///{tmp_path / 'restored.db'}")
    try:
        import_jsonl(restored, backup)
        assert restored.read_stream(stream)[-1].data == {"set": PLAIN, "unset": ["first"]}
        assert service.model(restored, uuid)["config"] == PLAIN
        again = io.BytesIO()
        export_jsonl(restored, again)
        assert again.getvalue() == exported
    finally:
        restored.close()


def _stored_and_read_back(value: Any) -> bool:
    """The oracle: msgpack stores it and reads it back equal, and so does JSON (export)."""
    try:
        return bool(
            msgpack.unpackb(msgpack.packb(value)) == value
            and orjson.loads(orjson.dumps(value)) == value
        )
    except Exception:
        return False


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.floats(),
    st.text(st.characters(codec=None, categories=None), max_size=4),  # surrogates too
    st.binary(max_size=2),
)
_KEYS = st.one_of(
    st.text(st.characters(codec=None, categories=None), max_size=3), st.integers(0, 2)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=2).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_config_is_accepted_exactly_when_msgpack_and_json_give_it_back(config: Any) -> None:
    try:
        validate_payload("ModelConfigChanged", {"set": config, "unset": []})
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == _stored_and_read_back(config)


@pytest.mark.parametrize("levels", [196, 197, 198, 199])
def test_the_config_depth_limit_is_the_import_limit(levels: int) -> None:
    data = {"set": {"x": _nest(levels)}, "unset": []}
    try:
        validate_payload("ModelConfigChanged", data)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == (not nesting_exceeds(data))
    assert accepted == (levels <= 197)


def test_a_legacy_config_value_the_3_0_check_refuses_reads_as_the_steps_say(
    store: EventStore, store_url: str
) -> None:
    # Import never lets NaN in (it is not JSON), but a stored 1.14 change holding one
    # must read as the release steps say (an UpcastError), express plan or not.
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    row = next(e for e in store.iter_events(target=None) if e.type == "EnvironConfigChanged")
    data = {"set": {"logging-config": float("nan")}, "unset": []}
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as raw:
        raw.execute(
            "UPDATE events SET state = ? WHERE position = ?", (msgpack.packb(data), row.position)
        )
    stepwise = CHAIN.upcaster_for("3.0", express=False)
    for upcast in (stepwise, CHAIN.upcast):
        with pytest.raises(UpcastError, match=re.escape("field 'set['logging-config']'")):
            upcast(row.stream, row.version, row.type, row.schema, dict(data), "ec2")
    with pytest.raises(UpcastError, match=f"{re.escape(row.stream)} version {row.version}"):
        store.read_stream(row.stream)
