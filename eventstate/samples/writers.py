"""How each release's servers wrote each event (events.md, applied release by release).

`Writer114` writes schema 1 of everything. A later writer overrides only what its release
changed, as the releases did: a 1.18 server writes MachineAdded schema 3 (job names),
MachineProvisioned schema 2 and MachineAddressesSet schema 2; a 2.0 server writes
ModelCreated schema 4, MachineAdded schema 5 and so on. Everything else stays as the
older server wrote it (AgentVersionSet, MachineAgentToolsSet and UnitDestroyed are
schema 1 in every release here).

Each method returns (type name, schema, payload); payloads are fresh dicts every time.
"""

from __future__ import annotations

from typing import Any

from eventstate.samples import values
from eventstate.samples.state import JOB_HOST_UNITS, JOB_MANAGE_STATE, Machine, Model, Unit

Payload = tuple[str, int, dict[str, Any]]
Tools = tuple[str, str, int, str]  # version, url, size, sha256

# Frozen 1.16 job table (events.md, MachineAdded): the 1.14 integers plus 4 and 5.
_JOB_NAMES_116 = {
    1: "JobHostUnits",
    2: "JobManageEnviron",
    4: "JobHostEnvironStorage",
    5: "JobManageEnvironFirewall",
}
_STORAGE_PROVIDERS = ("local", "null", "manual")


class Writer114:
    release = "1.14"
    agent = "1.14.1"
    container_word = "lxc"
    tools_base = "https://juju-dist.s3.amazonaws.com/tools/releases"
    # Series of new machines and their weights; manual machines may also run CentOS.
    series: tuple[str, ...] = ("precise", "trusty")
    series_weights: tuple[float, ...] = (8, 2)
    manual_series: tuple[str, ...] = ("centos7", "precise", "trusty")
    manual_weights: tuple[float, ...] = (2, 6, 2)

    def __init__(self, rng: values.SampleRandom) -> None:
        self.rng = rng

    def keeps(self, key: str) -> bool:
        """Whether this release still stores a config key."""
        return True

    # --- model stream --------------------------------------------------------------

    def model_created(self, model: Model, controller_uuid: str) -> Payload:
        return (
            "EnvironmentCreated",
            1,
            {
                "uuid": model.uuid,
                "name": model.name,
                "provider_type": model.provider,
                "config": self._config(model.config),
            },
        )

    def _config(self, config: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in config.items() if self.keeps(key)}

    def config_changed(self, set_: dict[str, Any], unset: list[str]) -> Payload | None:
        """None when this release would have nothing left to write."""
        kept_set = self._config(set_)
        kept_unset = [key for key in unset if self.keeps(key)]
        if not kept_set and not kept_unset:
            return None
        return (*self._config_type(), {"set": kept_set, "unset": kept_unset})

    def _config_type(self) -> tuple[str, int]:
        return "EnvironConfigChanged", 1

    def agent_version(self) -> Payload:
        return "AgentVersionSet", 1, {"version": self.agent}

    # --- machine stream ------------------------------------------------------------

    def machine_added(self, model: Model, machine: Machine) -> Payload:
        return (
            "MachineAdded",
            1,
            self._added(machine, machine.id, machine.ctype, list(machine.jobs)),
        )

    @staticmethod
    def _added(machine: Machine, machine_id: str, ctype: str, jobs: list[Any]) -> dict[str, Any]:
        return {
            "machine_id": machine_id,
            "series": machine.series,
            "container_type": ctype,
            "nonce": machine.nonce,
            "jobs": jobs,
            "constraints": machine.constraints,
            "placement": machine.placement,
        }

    def provisioned(
        self, instance_id: str, nonce: str, hw: values.Hardware, zone: str | None
    ) -> Payload:
        data = {
            "instance_id": instance_id,
            "nonce": nonce,
            "characteristics": values.characteristics(self.rng, hw),
        }
        return "MachineProvisioned", 1, data

    def addresses(self, found: list[values.Address]) -> Payload:
        return "MachineAddressesSet", 1, {"addresses": [a.value for a in found]}

    def tools(self, tools: Tools) -> Payload:
        version, url, size, sha256 = tools
        return (
            "MachineAgentToolsSet",
            1,
            {"tools": {"version": version, "url": url, "size": size, "sha256": sha256}},
        )

    def life(self, life: int) -> Payload:
        return "MachineLifeChanged", 1, {"life": life}

    def containers(self, types: tuple[str, ...]) -> Payload:
        return "MachineSupportedContainersSet", 1, {"types": list(types)}

    # --- unit stream ---------------------------------------------------------------

    def unit_assigned(self, unit: Unit) -> Payload:
        data = {"unit": unit.name, "service": unit.service, "machine_id": unit.machine.id}
        return "UnitAssignedToMachine", 1, data

    def unit_destroyed(self, unit: Unit) -> Payload:
        return "UnitDestroyed", 1, {"unit": unit.name}


class Writer118(Writer114):
    release = "1.18"
    agent = "1.18.4"
    tools_base = "https://streams.canonical.com/juju/tools/releases"
    series_weights = (4, 6)
    manual_weights = (2, 3, 5)

    def keeps(self, key: str) -> bool:
        return key not in values.DEPRECATED_KEYS

    def model_created(self, model: Model, controller_uuid: str) -> Payload:
        _, _, data = super().model_created(model, controller_uuid)
        return "EnvironmentCreated", 2, data

    def _config_type(self) -> tuple[str, int]:
        return "EnvironConfigChanged", 2

    def machine_added(self, model: Model, machine: Machine) -> Payload:
        return (
            "MachineAdded",
            3,
            self._added(machine, machine.id, machine.ctype, self._jobs(model, machine)),
        )

    @staticmethod
    def _jobs(model: Model, machine: Machine) -> list[Any]:
        # What a 1.18 machine 0 holds: the 1.16 job for its provider, ManageState merged away.
        jobs = list(machine.jobs)
        if machine.id == "0" and machine.manager:
            jobs.append(4 if model.provider in _STORAGE_PROVIDERS else 5)
        return [_JOB_NAMES_116[job] for job in jobs if job != JOB_MANAGE_STATE]

    def provisioned(
        self, instance_id: str, nonce: str, hw: values.Hardware, zone: str | None
    ) -> Payload:
        instance = {"instance_id": instance_id, "hardware": values.hardware_map(hw)}
        return "MachineProvisioned", 2, {"nonce": nonce, "instance": instance}

    def addresses(self, found: list[values.Address]) -> Payload:
        listed = [{"value": a.value, "type": a.type, "scope": a.scope} for a in found]
        return "MachineAddressesSet", 2, {"origin": "provider", "addresses": listed}


class Writer20(Writer118):
    release = "2.0"
    agent = "2.0.2"
    container_word = "lxd"
    series = ("xenial", "trusty")
    series_weights = (7, 3)
    manual_series = ("centos7", "xenial", "trusty")
    manual_weights = (2, 6, 2)

    def keeps(self, key: str) -> bool:
        return key not in values.DEPRECATED_KEYS and key not in values.CREDENTIAL_KEYS

    def model_created(self, model: Model, controller_uuid: str) -> Payload:
        config = self._config(model.config)
        region = config.pop("region", "")
        cloud = "aws" if model.provider == "ec2" else model.provider
        has_credential = any(key in model.config for key in values.CREDENTIAL_KEYS)
        data = {
            "model_uuid": model.uuid,
            "name": model.name,
            "provider_type": model.provider,
            "controller_uuid": controller_uuid,
            "owner": "admin",
            "type": "iaas",
            "cloud": cloud,
            "cloud_region": region,
            "cloud_credential": f"{cloud}/admin/default" if has_credential else "",
            "config": config,
        }
        return "ModelCreated", 4, data

    def _config_type(self) -> tuple[str, int]:
        return "ModelConfigChanged", 3

    def machine_added(self, model: Model, machine: Machine) -> Payload:
        ctype = "lxd" if machine.ctype == "lxc" else machine.ctype
        # 2.0 kept only these two jobs (the others became model capabilities), sorted.
        jobs = []
        if JOB_HOST_UNITS in machine.jobs:
            jobs.append("JobHostUnits")
        if machine.manager:
            jobs.append("JobManageModel")
        return "MachineAdded", 5, self._added(machine, machine.modern_id, ctype, jobs)

    def provisioned(
        self, instance_id: str, nonce: str, hw: values.Hardware, zone: str | None
    ) -> Payload:
        hardware = values.hardware_map(hw)
        hardware["availability_zone"] = zone
        instance = {
            "instance_id": instance_id,
            "display_name": "",
            "keep_instance": False,
            "hardware": hardware,
        }
        return "MachineProvisioned", 4, {"nonce": nonce, "instance": instance}

    def life(self, life: int) -> Payload:
        return "MachineLifeChanged", 2, {"life": ("alive", "dying", "dead")[life], "force": False}

    def containers(self, types: tuple[str, ...]) -> Payload:
        renamed = sorted({"lxd" if t == "lxc" else t for t in types})
        return "MachineSupportedContainersSet", 2, {"types": renamed}

    def unit_assigned(self, unit: Unit) -> Payload:
        data = {
            "unit": unit.name,
            "application": unit.service,
            "machine_id": unit.machine.modern_id,
        }
        return "UnitAssignedToMachine", 2, data


WRITERS: dict[str, type[Writer114]] = {"1.14": Writer114, "1.18": Writer118, "2.0": Writer20}
