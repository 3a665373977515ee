"""The 3.0 catalogue: schemas, exported vocabulary and validate_payload for every type."""

from __future__ import annotations

import copy
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import pytest

from eventstate.domain import catalogue
from eventstate.domain.catalogue import (
    CONTAINER_TYPES,
    CURRENT_SCHEMAS,
    JOB_HOST_UNITS,
    JOB_MANAGE_MODEL,
    JOBS,
    LIFE_VALUES,
    VALID_BASE_NAMES,
    VALID_BASES,
    validate_payload,
)
from eventstate.errors import ValidationError
from upcasters.tables import SERIES_3_0

VALID: dict[str, dict[str, Any]] = {
    "ModelCreated": {
        "model_uuid": "u",
        "name": "prod",
        "provider_type": "ec2",
        "controller_uuid": "c",
        "owner": "admin",
        "type": "iaas",
        "cloud": "aws",
        "cloud_region": "us-east-1",
        "cloud_credential": "aws/admin/default",
        "config": {"default-base": "ubuntu@22.04", "firewall-mode": "instance"},
    },
    "ModelConfigChanged": {"set": {"logging-config": "x"}, "unset": ["default-base"]},
    "AgentVersionSet": {"version": "3.0.2"},
    "ModelEnvironVersionSet": {"from_version": 0, "to_version": 1, "operations": ["x"]},
    "MachineAdded": {
        "machine_id": "0/lxd/1",
        "base": {"os": "ubuntu", "channel": "22.04/stable"},
        "container_type": "lxd",
        "nonce": "",
        "jobs": [JOB_HOST_UNITS],
        "constraints": "",
        "placement": "",
    },
    "MachineProvisioned": {
        "nonce": "n",
        "instance": {
            "instance_id": "i-1",
            "display_name": "",
            "keep_instance": False,
            "hardware": {
                "arch": "amd64",
                "cpu_cores": 2,
                "cpu_power": None,
                "mem_mib": 1740,
                "root_disk_mib": None,
                "tags": [],
                "availability_zone": None,
            },
        },
    },
    "MachineAddressesSet": {
        "origin": "provider",
        "addresses": [
            {"value": "10.0.0.1", "type": "ipv4", "scope": "local-cloud", "space_id": "0"}
        ],
    },
    "MachineAgentBinarySet": {
        "version": "3.0.2-ubuntu-amd64",
        "url": "https://x",
        "size": 1,
        "sha256": "ab",
    },
    "MachineLifeChanged": {"life": "dying", "force": False},
    "MachineSupportedContainersSet": {"types": ["kvm", "lxd"]},
    "MachineUpgradeActionsRequested": {
        "release": "1.16",
        "packages": ["cpu-checker"],
        "apt_sources": [],
    },
    "MachineUpgradeActionsCompleted": {"release": "1.16"},
    "UnitAssignedToMachine": {"unit": "wordpress/0", "application": "wordpress", "machine_id": "1"},
    "UnitDestroyed": {"unit": "wordpress/0"},
    "UpgradeStarted": {
        "from_release": "1.14",
        "to_release": "3.0",
        "holder": "host:1",
        "fencing_token": 3,
    },
    "UpgradeStepApplied": {"release": "1.16", "step": "request-cpu-checker", "events_written": 4},
    "UpgradeCompleted": {"release": "3.0", "events_written": 4, "duration_s": 1.5},
    "UpgradeAborted": {
        "reason": "unknown series",
        "stream": "machine:u:0",
        "version": 1,
        "type": "MachineAdded",
        "schema": 1,
    },
    "EventRetired": {"original_type": "EnvironConfigChanged", "reason": "only deprecated keys"},
}


def test_every_current_type_has_an_example() -> None:
    assert set(VALID) == set(CURRENT_SCHEMAS)


@pytest.mark.parametrize("type_name", sorted(VALID))
def test_valid_payload_passes(type_name: str) -> None:
    validate_payload(type_name, copy.deepcopy(VALID[type_name]))


@pytest.mark.parametrize("type_name", sorted(VALID))
def test_each_missing_field_is_named(type_name: str) -> None:
    for field in VALID[type_name]:
        data = copy.deepcopy(VALID[type_name])
        del data[field]
        with pytest.raises(ValidationError) as caught:
            validate_payload(type_name, data)
        message = str(caught.value)
        assert message.startswith(f"{type_name}: ") and f"missing {field}" in message
        assert "\n" not in message


@pytest.mark.parametrize("type_name", sorted(VALID))
def test_each_wrongly_typed_field_is_named(type_name: str) -> None:
    for field in VALID[type_name]:
        data = copy.deepcopy(VALID[type_name])
        data[field] = object()
        with pytest.raises(ValidationError) as caught:
            validate_payload(type_name, data)
        assert str(caught.value).startswith(f"{type_name}: field '{field}'")


@pytest.mark.parametrize("type_name", sorted(VALID))
def test_extra_field_is_refused(type_name: str) -> None:
    data = copy.deepcopy(VALID[type_name])
    data["colour"] = "blue"
    with pytest.raises(ValidationError, match="unexpected colour"):
        validate_payload(type_name, data)


@pytest.mark.parametrize(
    ("type_name", "path", "value", "where"),
    [
        ("MachineAdded", ("jobs",), ["JobManageModel", "JobHostUnits"], "jobs"),
        ("MachineAdded", ("jobs",), ["JobHostUnits", "JobHostUnits"], "jobs"),
        ("MachineAdded", ("jobs",), ["JobManageEnviron"], "jobs"),
        ("MachineAdded", ("machine_id",), "0/lxc/1", "machine_id"),
        ("MachineAdded", ("container_type",), "lxc", "container_type"),
        ("MachineAdded", ("base",), {"os": "ubuntu", "channel": "26.04/stable"}, "base"),
        ("MachineAdded", ("base",), {"os": "ubuntu", "channel": []}, "base"),
        (
            "MachineProvisioned",
            ("instance", "hardware", "mem_mib"),
            -1,
            "instance.hardware.mem_mib",
        ),
        (
            "MachineProvisioned",
            ("instance", "hardware", "cpu_cores"),
            True,
            "instance.hardware.cpu_cores",
        ),
        ("MachineProvisioned", ("instance", "hardware", "tags"), [""], "instance.hardware.tags[0]"),
        ("MachineProvisioned", ("instance", "keep_instance"), 0, "instance.keep_instance"),
        ("MachineAddressesSet", ("addresses",), [{"value": "x"}], "addresses[0]"),
        ("MachineAgentBinarySet", ("version",), "3.0.2-precise-amd64", "version"),
        ("MachineLifeChanged", ("life",), 1, "life"),
        ("MachineSupportedContainersSet", ("types",), ["lxc"], "types"),
        ("ModelCreated", ("config",), {"access-key": "k"}, "config['access-key']"),
        ("ModelCreated", ("config",), {"default-series": "jammy"}, "config['default-series']"),
        ("ModelCreated", ("config",), {"default-base": "ubuntu@9.10"}, "config['default-base']"),
        ("ModelCreated", ("config",), {"default-base": ["x"]}, "config['default-base']"),
        ("ModelCreated", ("cloud_credential",), "aws/admin", "cloud_credential"),
        ("ModelConfigChanged", ("set",), {"password": "p"}, "set['password']"),
        ("ModelConfigChanged", ("unset",), ["secret-key"], "unset[0]"),
        ("UnitAssignedToMachine", ("unit",), "wordpress", "unit"),
        ("UpgradeStarted", ("to_release",), "4.0", "to_release"),
        ("UpgradeCompleted", ("duration_s",), float("nan"), "duration_s"),
    ],
)
def test_field_rules(type_name: str, path: tuple[str, ...], value: Any, where: str) -> None:
    data = copy.deepcopy(VALID[type_name])
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as caught:
        validate_payload(type_name, data)
    assert str(caught.value).startswith(f"{type_name}: field '{where}'")


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"'EnvironmentCreated' is not a 3.0 event type"):
        validate_payload("EnvironmentCreated", {})


def test_payload_must_be_a_map() -> None:
    with pytest.raises(ValidationError, match="AgentVersionSet: payload must be a map"):
        validate_payload("AgentVersionSet", ["3.0"])  # type: ignore[arg-type]


def test_any_mapping_and_str_subclasses_are_accepted() -> None:
    class Job(StrEnum):
        HOST_UNITS = JOB_HOST_UNITS

    data = copy.deepcopy(VALID["MachineAdded"])
    data["jobs"] = [Job.HOST_UNITS]
    validate_payload("MachineAdded", MappingProxyType(data))


def test_vocabulary() -> None:
    assert {"JobHostUnits", "JobManageModel"} == JOBS
    assert JOB_MANAGE_MODEL == "JobManageModel"
    assert CONTAINER_TYPES == ("", "lxd", "kvm")
    assert LIFE_VALUES == ("alive", "dying", "dead")
    assert "ubuntu@22.04" in VALID_BASE_NAMES and "centos@7" in VALID_BASE_NAMES


def test_valid_bases_are_the_images_of_the_frozen_series_table() -> None:
    images = {(os, f"{version}/stable") for os, version in SERIES_3_0.values()}
    assert images == VALID_BASES


def test_every_type_has_a_fast_or_a_full_validator() -> None:
    assert set(catalogue.VALIDATORS) == set(CURRENT_SCHEMAS)
    assert set(catalogue.FAST_CHECKS) <= set(CURRENT_SCHEMAS)
