"""Release 2.0: environments become models (with clouds and credentials), lxc becomes
lxd, job integers' names become model jobs, life becomes a name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from upcasters.registry import ReleaseSteps
from upcasters.steps import Retire, StepFailure, UpcastContext, shown

STEPS: Final = ReleaseSteps("2.0", __name__)

# All of this is frozen as 2.0 defined it.
CREDENTIAL_KEYS: Final = frozenset({"access-key", "secret-key", "password"})
CLOUD_OF_PROVIDER: Final[Mapping[str, str]] = MappingProxyType({"ec2": "aws"})
LOCAL_USER_SUFFIX: Final = "@local"
MODEL_TYPE: Final = "iaas"
JOB_RENAMES: Final[Mapping[str, str]] = MappingProxyType(
    {"JobHostUnits": "JobHostUnits", "JobManageEnviron": "JobManageModel"}
)
# In 2.0 these became model capabilities (documents.md, ModelCapabilities).
DROPPED_JOBS: Final = frozenset(
    {"JobManageNetworking", "JobHostEnvironStorage", "JobManageEnvironFirewall"}
)
CONTAINER_RENAMES: Final[Mapping[str, str]] = MappingProxyType({"": "", "lxc": "lxd", "kvm": "kvm"})
LIFE_NAMES: Final = ("alive", "dying", "dead")

STEPS.introduce("ModelEnvironVersionSet", "{from_version, to_version, operations}")


@STEPS.upcaster("EnvironmentCreated", 3, to_type="ModelCreated")
def environment_to_model(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Becomes ModelCreated: model/controller uuids, owner, cloud, region, credential."""
    config = _str_map(data, "config")
    provider = data["provider_type"]
    owner = data.pop("owner")
    if not isinstance(provider, str) or not isinstance(owner, str):
        raise StepFailure(
            f"provider_type and owner must be strings, got {shown(provider)}, {shown(owner)}"
        )
    region = config.pop("region", "")
    if not isinstance(region, str):
        raise StepFailure(f"config region must be a string, got {shown(region)}")
    credentials = CREDENTIAL_KEYS.intersection(config)
    for key in credentials:
        del config[key]
    owner = owner.removesuffix(LOCAL_USER_SUFFIX)
    cloud = CLOUD_OF_PROVIDER.get(provider, provider)
    data["model_uuid"] = data.pop("uuid")
    data["controller_uuid"] = data.pop("server_uuid")
    data["owner"] = owner
    data["type"] = MODEL_TYPE
    data["cloud"] = cloud
    data["cloud_region"] = region
    data["cloud_credential"] = f"{cloud}/{owner}/default" if credentials else ""
    return data


@STEPS.upcaster("EnvironConfigChanged", 2, to_type="ModelConfigChanged")
def environ_to_model_config(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Becomes ModelConfigChanged; credential keys are dropped, an empty change retired."""
    changes = _str_map(data, "set")
    if not CREDENTIAL_KEYS.isdisjoint(changes):
        for key in CREDENTIAL_KEYS.intersection(changes):
            del changes[key]
    unset = data["unset"]
    if type(unset) is not list:
        raise StepFailure(f"unset must be a list, got {shown(unset)}")
    if not CREDENTIAL_KEYS.isdisjoint(unset):
        data["unset"] = unset = [key for key in unset if key not in CREDENTIAL_KEYS]
    if not changes and not unset:
        raise Retire("the change held only credential keys (cloud credentials since 2.0)")
    return data


@STEPS.upcaster("MachineAdded", 4)
def model_jobs_and_lxd(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """JobManageEnviron becomes JobManageModel, capability jobs go, lxc becomes lxd."""
    jobs = set()
    for job in data["jobs"]:
        renamed = JOB_RENAMES.get(job)
        if renamed is not None:
            jobs.add(renamed)
        elif job not in DROPPED_JOBS:
            raise StepFailure(f"job {shown(job)} is not a 1.21 job name")
    data["jobs"] = sorted(jobs)
    container_type = data["container_type"]
    renamed_type = CONTAINER_RENAMES.get(container_type)
    if renamed_type is None:
        raise StepFailure(f"unknown container type {shown(container_type)}")
    data["container_type"] = renamed_type
    data["machine_id"] = lxd_machine_id(data["machine_id"])
    return data


@STEPS.upcaster("MachineProvisioned", 3)
def add_display_name_and_keep(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """instance gains display_name "" and keep_instance false."""
    instance = data["instance"]
    instance["display_name"] = ""
    instance["keep_instance"] = False
    return data


@STEPS.upcaster("MachineLifeChanged", 1)
def name_life(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """life 0/1/2 becomes alive/dying/dead, with force false."""
    life = data["life"]
    if type(life) is not int or not 0 <= life < len(LIFE_NAMES):
        raise StepFailure(f"life {shown(life)} is not 0, 1 or 2")
    data["life"] = LIFE_NAMES[life]
    data["force"] = False
    return data


@STEPS.upcaster("MachineSupportedContainersSet", 1)
def lxd_containers(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """lxc becomes lxd; the types are sorted, without duplicates."""
    types = set()
    for container_type in data["types"]:
        renamed = CONTAINER_RENAMES.get(container_type) if container_type else None
        if renamed is None:
            raise StepFailure(f"unknown container type {shown(container_type)}")
        types.add(renamed)
    data["types"] = sorted(types)
    return data


@STEPS.upcaster("UnitAssignedToMachine", 1)
def service_to_application(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """service becomes application; an lxc segment of the machine id becomes lxd."""
    data["application"] = data.pop("service")
    data["machine_id"] = lxd_machine_id(data["machine_id"])
    return data


def lxd_machine_id(machine_id: Any) -> str:
    """`0/lxc/1` -> `0/lxd/1`: container segments are every second one."""
    if not isinstance(machine_id, str):
        raise StepFailure(f"machine_id must be a string, got {shown(machine_id)}")
    if "lxc" not in machine_id:
        return machine_id
    parts = machine_id.split("/")
    parts[1::2] = ["lxd" if part == "lxc" else part for part in parts[1::2]]
    return "/".join(parts)


def _str_map(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data[key]
    if type(value) is not dict:
        raise StepFailure(f"{key} must be a map, got {shown(value)}")
    return value
