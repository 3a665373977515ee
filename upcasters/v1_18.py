"""Release 1.18: deprecated config keys go, job integers become names, provisioning and
addresses become structured."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from upcasters.addresses import classify
from upcasters.hardware import parse_characteristics
from upcasters.registry import ReleaseSteps
from upcasters.steps import Retire, StepFailure, UpcastContext, shown

STEPS: Final = ReleaseSteps("1.18", __name__)

DEPRECATED_CONFIG_KEYS: Final = frozenset(
    {
        "public-bucket",
        "public-bucket-region",
        "public-bucket-url",
        "default-image-id",
        "default-instance-type",
        "shared-storage-port",
        "tools-url",
    }
)
# Names of the 1.16 job integers (frozen). 3, ManageState, merged into ManageEnviron.
JOB_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {
        1: "JobHostUnits",
        2: "JobManageEnviron",
        4: "JobHostEnvironStorage",
        5: "JobManageEnvironFirewall",
    }
)
MERGED_JOBS: Final = frozenset({3})
ADDRESS_ORIGIN: Final = "provider"


@STEPS.upcaster("EnvironmentCreated", 1)
def drop_deprecated_config(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """The deprecated keys leave config."""
    config = _str_map(data, "config")
    for key in DEPRECATED_CONFIG_KEYS.intersection(config):
        del config[key]
    return data


@STEPS.upcaster("EnvironConfigChanged", 1)
def drop_deprecated_changes(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """The deprecated keys leave set and unset; a change left empty is retired."""
    changes = _str_map(data, "set")
    if not DEPRECATED_CONFIG_KEYS.isdisjoint(changes):
        for key in DEPRECATED_CONFIG_KEYS.intersection(changes):
            del changes[key]
    unset = _list(data, "unset")
    if not DEPRECATED_CONFIG_KEYS.isdisjoint(unset):
        data["unset"] = unset = [key for key in unset if key not in DEPRECATED_CONFIG_KEYS]
    if not changes and not unset:
        raise Retire("the change held only deprecated config keys (removed at 1.18)")
    return data


@STEPS.upcaster("MachineAdded", 2)
def name_jobs(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Job integers become names through the 1.16 table; 3 (ManageState) is dropped."""
    names = []
    for job in _list(data, "jobs"):
        if type(job) is not int:
            raise StepFailure(f"job {shown(job)} is not an integer")
        if job in MERGED_JOBS:
            continue
        name = JOB_NAMES.get(job)
        if name is None:
            raise StepFailure(f"job {job} is not in the 1.16 job table")
        names.append(name)
    data["jobs"] = names
    return data


@STEPS.upcaster("MachineProvisioned", 1)
def structure_instance(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """The characteristics string becomes instance {instance_id, hardware}, sizes in MiB."""
    hardware = parse_characteristics(data.pop("characteristics"))
    data["instance"] = {"instance_id": data.pop("instance_id"), "hardware": hardware}
    return data


@STEPS.upcaster("MachineAddressesSet", 1)
def classify_addresses(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Each address string becomes {value, type, scope}; origin is the provider."""
    addresses = []
    for value in _list(data, "addresses"):
        kind = classify(value) if isinstance(value, str) else None
        if kind is None:
            raise StepFailure(
                f"address {shown(value)} is neither an IP address nor a valid host name"
            )
        addresses.append({"value": value, "type": kind[0], "scope": kind[1]})
    data["origin"] = ADDRESS_ORIGIN
    data["addresses"] = addresses
    return data


def _str_map(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data[key]
    if type(value) is not dict:
        raise StepFailure(f"{key} must be a map, got {shown(value)}")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data[key]
    if type(value) is not list:
        raise StepFailure(f"{key} must be a list, got {shown(value)}")
    return value
