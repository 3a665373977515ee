"""events.md, machine and unit streams besides MachineAdded: one test per rule and error."""

from __future__ import annotations

from typing import Any

import pytest

from eventstate.domain.catalogue import validate_payload
from eventstate.errors import UpcastError
from upcasters import CHAIN
from upcasters.addresses import classify
from upcasters.hardware import parse_characteristics

MACHINE = "machine:5f1c2a34-0000-4000-8000-000000000003:2"
UNIT = "unit:5f1c2a34-0000-4000-8000-000000000003:wordpress/0"


def upcast(
    type_name: str, schema: int, data: Any, target: str = "3.0", stream: str = MACHINE
) -> tuple[str, int, dict[str, Any]]:
    result = CHAIN.upcaster_for(target)(stream, 4, type_name, schema, data, "ec2")
    if target == "3.0":
        validate_payload(result[0], result[2])
    return result


# --- MachineProvisioned ---------------------------------------------------------------------


def provisioned(characteristics: str) -> dict[str, Any]:
    return {"instance_id": "i-1", "nonce": "machine-2:abc", "characteristics": characteristics}


def test_1_18_characteristics_become_hardware() -> None:
    _, schema, data = upcast(
        "MachineProvisioned",
        1,
        provisioned("arch=amd64 cpu-cores=1 mem=1740M root-disk=8G tags=virtual,fast"),
        "1.18",
    )
    assert schema == 2
    assert data == {
        "nonce": "machine-2:abc",
        "instance": {
            "instance_id": "i-1",
            "hardware": {
                "arch": "amd64",
                "cpu_cores": 1,
                "cpu_power": None,
                "mem_mib": 1740,
                "root_disk_mib": 8192,
                "tags": ["virtual", "fast"],
            },
        },
    }


@pytest.mark.parametrize(
    ("characteristics", "field", "value"),
    [
        ("mem=2048", "mem_mib", 2048),
        ("mem=2048M", "mem_mib", 2048),
        ("mem=3G", "mem_mib", 3072),
        ("root-disk=0", "root_disk_mib", 0),
        ("cpu-power=100", "cpu_power", 100),
        ("cpu-cores=16", "cpu_cores", 16),
        ("arch=arm64", "arch", "arm64"),
        ("tags=a", "tags", ["a"]),
        ("tags=", "tags", []),
        ("", "tags", []),
        ("", "mem_mib", None),
        ("", "arch", None),
    ],
)
def test_1_18_characteristics_values(characteristics: str, field: str, value: Any) -> None:
    assert parse_characteristics(characteristics)[field] == value


@pytest.mark.parametrize(
    "characteristics",
    [
        "mem=3T",
        "mem=big",
        "mem=-1",
        "mem=",
        "cpu-cores=two",
        "cpu-cores=1.5",
        "colour=red",
        "arch",
        "arch=",
        "mem=1 mem=2",
        "tags=a,,b",
        "mem=9999999999999999999",
    ],
)
def test_1_18_malformed_characteristics_are_an_error(characteristics: str) -> None:
    with pytest.raises(UpcastError, match="characteristics"):
        upcast("MachineProvisioned", 1, provisioned(characteristics))


def test_parsed_hardware_is_a_fresh_map_each_time() -> None:
    first = parse_characteristics("arch=amd64 tags=a")
    first["tags"].append("mutated")
    first["arch"] = "mutated"
    assert parse_characteristics("arch=amd64 tags=a") == {
        "arch": "amd64",
        "cpu_cores": None,
        "cpu_power": None,
        "mem_mib": None,
        "root_disk_mib": None,
        "tags": ["a"],
    }


def test_1_21_availability_zone_is_null() -> None:
    _, schema, data = upcast("MachineProvisioned", 1, provisioned("mem=1G"), "1.21")
    assert schema == 3
    assert data["instance"]["hardware"]["availability_zone"] is None


def test_2_0_display_name_and_keep_instance() -> None:
    _, schema, data = upcast("MachineProvisioned", 1, provisioned("mem=1G"))
    assert schema == 4
    assert data["instance"]["display_name"] == ""
    assert data["instance"]["keep_instance"] is False
    assert data["instance"]["instance_id"] == "i-1"


def test_provisioned_with_non_string_characteristics_is_an_error() -> None:
    with pytest.raises(UpcastError, match="characteristics must be a string"):
        upcast("MachineProvisioned", 1, provisioned(None))  # type: ignore[arg-type]


# --- MachineAddressesSet ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "scope"),
    [
        ("10.1.2.3", "ipv4", "local-cloud"),
        ("172.16.0.1", "ipv4", "local-cloud"),
        ("172.31.255.255", "ipv4", "local-cloud"),
        ("172.32.0.1", "ipv4", "public"),
        ("192.168.1.1", "ipv4", "local-cloud"),
        ("127.0.0.1", "ipv4", "local-machine"),
        ("127.8.9.10", "ipv4", "local-machine"),
        ("54.1.2.3", "ipv4", "public"),
        ("169.254.1.1", "ipv4", "public"),
        ("::1", "ipv6", "local-machine"),
        ("fe80::1", "ipv6", "link-local"),
        ("febf::1", "ipv6", "link-local"),
        ("fec0::1", "ipv6", "public"),
        ("2001:db8::1", "ipv6", "public"),
        ("fd00::1", "ipv6", "public"),
        ("node1.maas.local", "hostname", "local-cloud"),
        ("ip-10-0-0-1.ec2.internal", "hostname", "local-cloud"),
        ("HOST.INTERNAL", "hostname", "local-cloud"),
        ("ec2-54-1-2-3.compute-1.amazonaws.com", "hostname", "public"),
        ("localhost", "hostname", "public"),
        ("3com.com", "hostname", "public"),
    ],
)
def test_1_18_address_classification(value: str, kind: str, scope: str) -> None:
    assert classify(value) == (kind, scope)


def test_1_18_addresses_become_structured() -> None:
    _, schema, data = upcast(
        "MachineAddressesSet", 1, {"addresses": ["10.0.0.1", "example.com"]}, "1.18"
    )
    assert schema == 2
    assert data == {
        "origin": "provider",
        "addresses": [
            {"value": "10.0.0.1", "type": "ipv4", "scope": "local-cloud"},
            {"value": "example.com", "type": "hostname", "scope": "public"},
        ],
    }


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.256",
        "1.2.3",
        "-bad.example.com",
        "bad-.example.com",
        "a..b",
        "exa mple.com",
        "under_score.com",
        "",
        "x" * 64 + ".com",
        "1.2.3.4.",
        "10.0.0.1/8",
        5,
        None,
    ],
)
def test_1_18_invalid_address_is_an_error(value: Any) -> None:
    with pytest.raises(UpcastError, match="neither an IP address nor a valid host name"):
        upcast("MachineAddressesSet", 1, {"addresses": ["10.0.0.1", value]})


def test_2_7_addresses_gain_the_default_space() -> None:
    _, schema, data = upcast("MachineAddressesSet", 1, {"addresses": ["10.0.0.1"]})
    assert schema == 3
    assert data["addresses"] == [
        {"value": "10.0.0.1", "type": "ipv4", "scope": "local-cloud", "space_id": "0"}
    ]


def test_2_7_from_schema_2_written_by_1_18() -> None:
    stored = {
        "origin": "provider",
        "addresses": [{"value": "::1", "type": "ipv6", "scope": "local-machine"}],
    }
    _, _, data = upcast("MachineAddressesSet", 2, stored)
    assert data["addresses"][0]["space_id"] == "0"


# --- MachineAgentToolsSet / MachineAgentBinarySet ----------------------------------------------


def tools(version: str) -> dict[str, Any]:
    return {"tools": {"version": version, "url": "https://t/x.tgz", "size": 10, "sha256": "ab"}}


def test_3_0_tools_become_agent_binary() -> None:
    type_name, schema, data = upcast("MachineAgentToolsSet", 1, tools("1.14.1-precise-amd64"))
    assert (type_name, schema) == ("MachineAgentBinarySet", 2)
    assert data == {
        "version": "1.14.1-ubuntu-amd64",
        "url": "https://t/x.tgz",
        "size": 10,
        "sha256": "ab",
    }


def test_3_0_tools_version_os_through_the_series_table() -> None:
    _, _, data = upcast("MachineAgentToolsSet", 1, tools("2.0-beta1-centos7-arm64"))
    assert data["version"] == "2.0-beta1-centos-arm64"


def test_tools_stay_tools_before_3_0() -> None:
    stored = tools("1.14.1-trusty-amd64")
    assert upcast("MachineAgentToolsSet", 1, stored, "2.7") == (
        "MachineAgentToolsSet",
        1,
        tools("1.14.1-trusty-amd64"),
    )


@pytest.mark.parametrize("version", ["1.14.1-vivid-amd64", "1.14.1", "1.14.1-amd64"])
def test_3_0_unknown_tools_series_is_an_error(version: str) -> None:
    with pytest.raises(UpcastError, match=r"series|<number>-<series>-<arch>"):
        upcast("MachineAgentToolsSet", 1, tools(version))


def test_3_0_tools_with_other_keys_is_an_error() -> None:
    stored = tools("1.14.1-trusty-amd64")
    stored["tools"]["extra"] = 1
    with pytest.raises(UpcastError, match="tools must be a map"):
        upcast("MachineAgentToolsSet", 1, stored)


# --- MachineLifeChanged, MachineSupportedContainersSet ----------------------------------------


@pytest.mark.parametrize(("life", "name"), [(0, "alive"), (1, "dying"), (2, "dead")])
def test_2_0_life_becomes_a_name_with_force_false(life: int, name: str) -> None:
    assert upcast("MachineLifeChanged", 1, {"life": life}) == (
        "MachineLifeChanged",
        2,
        {"life": name, "force": False},
    )


@pytest.mark.parametrize("life", [3, -1, "alive", True, None])
def test_2_0_other_life_values_are_an_error(life: Any) -> None:
    with pytest.raises(UpcastError, match="is not 0, 1 or 2"):
        upcast("MachineLifeChanged", 1, {"life": life})


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (["lxc", "kvm"], ["kvm", "lxd"]),
        (["lxc", "lxc"], ["lxd"]),
        ([], []),
        (["kvm"], ["kvm"]),
    ],
)
def test_2_0_supported_containers_lxd_sorted_unique(types: list[str], expected: list[str]) -> None:
    _, schema, data = upcast("MachineSupportedContainersSet", 1, {"types": types})
    assert (schema, data) == (2, {"types": expected})


@pytest.mark.parametrize("kind", ["lxd", "docker", "", None])
def test_2_0_unknown_1_14_container_type_is_an_error(kind: Any) -> None:
    with pytest.raises(UpcastError, match="unknown container type"):
        upcast("MachineSupportedContainersSet", 1, {"types": ["lxc", kind]})


# --- units -------------------------------------------------------------------------------------


def test_2_0_service_becomes_application_and_lxc_lxd() -> None:
    stored = {"unit": "wordpress/0", "service": "wordpress", "machine_id": "1/lxc/2"}
    assert upcast("UnitAssignedToMachine", 1, stored, stream=UNIT) == (
        "UnitAssignedToMachine",
        2,
        {"unit": "wordpress/0", "application": "wordpress", "machine_id": "1/lxd/2"},
    )


def test_unit_assigned_machine_id_must_be_a_string() -> None:
    stored = {"unit": "wordpress/0", "service": "wordpress", "machine_id": 1}
    with pytest.raises(UpcastError, match="machine_id must be a string"):
        upcast("UnitAssignedToMachine", 1, stored, stream=UNIT)


def test_unit_destroyed_passes_untouched() -> None:
    data = {"unit": "wordpress/0"}
    assert upcast("UnitDestroyed", 1, data, stream=UNIT)[2] is data
