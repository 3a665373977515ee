"""The Chain's API: lookups of types and schemas, staged targets, errors, describe, fingerprint."""

from __future__ import annotations

from typing import Any

import pytest

from eventstate.domain.catalogue import CURRENT_SCHEMAS
from eventstate.errors import UnknownEventTypeError, UpcastError
from eventstate.releases import CODE_RELEASE, RELEASES
from upcasters import CHAIN, RETIRED_TYPE, Chain, ChainStep, UpcastContext, build_chain

STREAM = "model:5f1c2a34-0000-4000-8000-000000000004"
UPGRADE_TYPES = ("UpgradeStarted", "UpgradeStepApplied", "UpgradeCompleted", "UpgradeAborted")


def test_current_schema_for_every_name_of_a_family() -> None:
    assert CHAIN.current_schema("ModelCreated") == 5
    assert CHAIN.current_schema("EnvironmentCreated") == 5
    assert CHAIN.current_schema("EnvironmentCreated", "1.18") == 2
    assert CHAIN.current_schema("ModelCreated", "1.14") == 1
    assert CHAIN.current_schema("MachineAdded", "2.7") == 5
    assert CHAIN.current_schema("MachineAgentToolsSet") == 2


def test_current_schema_matches_the_catalogue() -> None:
    for type_name, schema in CURRENT_SCHEMAS.items():
        assert CHAIN.current_schema(type_name) == schema
        assert CHAIN.current_name(type_name) == type_name


def test_current_name_follows_renames_by_release() -> None:
    assert CHAIN.current_name("EnvironmentCreated") == "ModelCreated"
    assert CHAIN.current_name("EnvironmentCreated", "1.18") == "EnvironmentCreated"
    assert CHAIN.current_name("ModelCreated", "1.21") == "EnvironmentCreated"
    assert CHAIN.current_name("EnvironConfigChanged", "2.0") == "ModelConfigChanged"
    assert CHAIN.current_name("MachineAgentToolsSet", "2.7") == "MachineAgentToolsSet"
    assert CHAIN.current_name("MachineAgentToolsSet") == "MachineAgentBinarySet"


def test_unknown_names_and_types_not_yet_existing_raise_unknown_event_type() -> None:
    with pytest.raises(UnknownEventTypeError):
        CHAIN.current_schema("MachineTeleported")
    with pytest.raises(UnknownEventTypeError):
        CHAIN.current_name("MachineTeleported")
    with pytest.raises(UnknownEventTypeError, match=r"did not exist at release 1.18"):
        CHAIN.current_schema("ModelEnvironVersionSet", "1.18")


def test_family() -> None:
    assert CHAIN.family("ModelCreated") == {"EnvironmentCreated", "ModelCreated"}
    assert CHAIN.family("EnvironConfigChanged") == {"EnvironConfigChanged", "ModelConfigChanged"}
    assert CHAIN.family("MachineAgentBinarySet") == {
        "MachineAgentToolsSet",
        "MachineAgentBinarySet",
    }
    assert CHAIN.family("MachineAdded") == {"MachineAdded"}
    assert CHAIN.family("Nope") == frozenset()


def test_is_known() -> None:
    assert CHAIN.is_known("MachineAdded", 1, "1.14")
    assert not CHAIN.is_known("MachineAdded", 2, "1.14")
    assert CHAIN.is_known("MachineAdded", 2, "1.16")
    assert CHAIN.is_known("MachineAdded", 1, "3.0")
    assert CHAIN.is_known("ModelCreated", 4, "2.0")
    assert not CHAIN.is_known("EnvironmentCreated", 4, "2.0")
    assert not CHAIN.is_known("ModelCreated", 3, "2.0")
    assert not CHAIN.is_known("ModelCreated", 6, "3.0")
    assert not CHAIN.is_known("ModelEnvironVersionSet", 1, "1.21")
    assert CHAIN.is_known("MachineUpgradeActionsRequested", 1, "1.16")
    assert not CHAIN.is_known("MachineUpgradeActionsRequested", 1, "1.14")
    assert not CHAIN.is_known("Nope", 1, "3.0")


@pytest.mark.parametrize("release", RELEASES)
def test_upgrade_records_are_known_at_every_release(release: str) -> None:
    for type_name in UPGRADE_TYPES:
        assert CHAIN.is_known(type_name, 1, release)
        assert CHAIN.current_schema(type_name, release) == 1
    assert not CHAIN.is_known(RETIRED_TYPE, 1, release)


@pytest.mark.parametrize("release", RELEASES)
def test_upgrade_records_read_unchanged_at_every_release(release: str) -> None:
    data = {"from_release": "1.14", "to_release": "3.0", "holder": "h", "fencing_token": 1}
    result = CHAIN.upcaster_for(release)("upgrade:u1", 1, "UpgradeStarted", 1, data, None)
    assert result == ("UpgradeStarted", 1, data)


def test_release_of() -> None:
    assert CHAIN.release_of("EnvironmentCreated", 1) == "1.14"
    assert CHAIN.release_of("EnvironmentCreated", 3) == "1.21"
    assert CHAIN.release_of("ModelCreated", 4) == "2.0"
    assert CHAIN.release_of("MachineAddressesSet", 3) == "2.7"
    assert CHAIN.release_of("MachineAgentBinarySet", 2) == "3.0"
    with pytest.raises(UnknownEventTypeError):
        CHAIN.release_of("EnvironmentCreated", 4)


def test_current_event_returns_at_once_as_the_same_object() -> None:
    data = {"version": "3.0.1"}
    result = CHAIN.upcast(STREAM, 2, "AgentVersionSet", 1, data, None)
    assert result[2] is data


def test_upcast_is_upcaster_for_code_release() -> None:
    assert CHAIN.upcaster_for(CODE_RELEASE) is CHAIN.upcast
    assert CHAIN.upcaster_for("2.0") is CHAIN.upcaster_for("2.0")


def test_unknown_release_target_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown release"):
        CHAIN.upcaster_for("2.5")


@pytest.mark.parametrize(
    ("type_name", "schema", "reason"),
    [
        ("MachineTeleported", 1, "unknown event type 'MachineTeleported'"),
        (
            "MachineAdded",
            7,
            "schema 7 is newer than this code (3.0 knows MachineAdded up to schema 6)",
        ),
        ("ModelCreated", 6, "newer than this code"),
        ("EnvironmentCreated", 4, "EnvironmentCreated has no schema 4: schema 4 is ModelCreated"),
        ("ModelCreated", 2, "ModelCreated has no schema 2: schema 2 is EnvironmentCreated"),
        ("MachineAdded", 0, "MachineAdded has no schema 0"),
        ("MachineAdded", "1", "schema must be an integer"),
        ("MachineAdded", [1], "schema must be an integer"),
    ],
)
def test_unknown_type_or_schema_is_an_upcast_error_naming_everything(
    type_name: str, schema: int, reason: str
) -> None:
    with pytest.raises(UpcastError) as caught:
        CHAIN.upcast(STREAM, 9, type_name, schema, {}, "ec2")
    error = caught.value
    assert (error.stream, error.version, error.type_name, error.schema) == (
        STREAM,
        9,
        type_name,
        schema,
    )
    assert reason in error.reason
    assert STREAM in str(error) and "version 9" in str(error)


def test_schema_newer_than_the_target_is_an_error() -> None:
    upcast_to_2_0 = CHAIN.upcaster_for("2.0")
    with pytest.raises(UpcastError, match=r"introduced at 3.0, newer than the target release 2.0"):
        upcast_to_2_0(STREAM, 1, "MachineAdded", 6, {}, "ec2")


def test_staged_target_stops_at_that_release() -> None:
    data = {"set": {"default-series": "trusty", "a": 1}, "unset": []}
    assert CHAIN.upcaster_for("2.7")(STREAM, 3, "EnvironConfigChanged", 1, data, "ec2") == (
        "ModelConfigChanged",
        3,
        {"set": {"default-series": "trusty", "a": 1}, "unset": []},
    )


def test_payload_that_is_not_a_map_is_an_upcast_error() -> None:
    payloads: list[Any] = [[], "x", None, 3]
    for payload in payloads:
        with pytest.raises(UpcastError, match="malformed payload"):
            CHAIN.upcast(STREAM, 1, "MachineLifeChanged", 1, payload, "ec2")


def test_describe_lists_every_type_release_by_release() -> None:
    rows = CHAIN.describe()
    assert all(isinstance(row, ChainStep) for row in rows)
    assert {row.current_type for row in rows} == set(CURRENT_SCHEMAS)
    model = [row for row in rows if row.current_type == "ModelCreated"]
    assert [(r.release, r.from_type, r.from_schema, r.to_type, r.to_schema) for r in model] == [
        ("1.14", None, None, "EnvironmentCreated", 1),
        ("1.18", "EnvironmentCreated", 1, "EnvironmentCreated", 2),
        ("1.21", "EnvironmentCreated", 2, "EnvironmentCreated", 3),
        ("2.0", "EnvironmentCreated", 3, "ModelCreated", 4),
        ("3.0", "ModelCreated", 4, "ModelCreated", 5),
    ]
    assert all(row.summary and "\n" not in row.summary for row in rows)
    machine = [row.release for row in rows if row.current_type == "MachineAdded"]
    assert machine == ["1.14", "1.16", "1.18", "1.21", "2.0", "3.0"]


def test_fingerprint_is_short_hex_and_stable() -> None:
    fingerprint = CHAIN.fingerprint()
    assert len(fingerprint) == 16
    int(fingerprint, 16)
    assert build_chain().fingerprint() == fingerprint


def test_fingerprint_changes_with_the_source_and_the_registrations() -> None:
    from dataclasses import replace

    spec = CHAIN.spec
    edited_source = replace(spec, sources=(*spec.sources[:-1], spec.sources[-1] + "\n# edit"))
    assert Chain(edited_source).fingerprint() != CHAIN.fingerprint()
    ups = list(spec.upcasters)
    index = next(i for i, up in enumerate(ups) if not up.needs_context)
    ups[index] = replace(ups[index], needs_context=True)
    assert Chain(replace(spec, upcasters=tuple(ups))).fingerprint() != CHAIN.fingerprint()


def test_context_reads_the_machine_id_from_the_stream() -> None:
    ctx = UpcastContext.of("machine:uuid-1:0/lxc/3", 4, "MachineAdded", 1, "maas", {"nonce": "n"})
    assert (ctx.machine_id, ctx.provider_type, ctx.nonce, ctx.version) == (
        "0/lxc/3",
        "maas",
        "n",
        4,
    )
    assert UpcastContext.of(STREAM, 1, "X", 1, None, {"nonce": 5}).machine_id is None
    assert UpcastContext.of(STREAM, 1, "X", 1, None, []).nonce is None
