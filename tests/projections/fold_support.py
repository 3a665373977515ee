"""Test support for the fold: a builder of upcast (3.0-schema) logs, one method per event
type, and a DocumentSet that behaves like storage."""

from __future__ import annotations

from typing import Any

import orjson

from projections.documents import format_timestamp_us, machine_sort_key
from projections.fold import EventTuple

# The 3.0 schema number of each type (events.md); the fold does not read it.
SCHEMAS: dict[str, int] = {
    "ModelCreated": 5,
    "ModelConfigChanged": 4,
    "AgentVersionSet": 1,
    "ModelEnvironVersionSet": 1,
    "MachineAdded": 6,
    "MachineProvisioned": 4,
    "MachineAddressesSet": 3,
    "MachineAgentBinarySet": 2,
    "MachineLifeChanged": 2,
    "MachineSupportedContainersSet": 2,
    "MachineUpgradeActionsRequested": 1,
    "MachineUpgradeActionsCompleted": 1,
    "UnitAssignedToMachine": 2,
    "UnitDestroyed": 1,
    "EventRetired": 1,
    "UpgradeStarted": 1,
    "UpgradeStepApplied": 1,
    "UpgradeCompleted": 1,
    "UpgradeAborted": 1,
}

START_US = 1_375_347_693_564_861  # 2013-08-01T09:01:33.564861+00:00
STEP_US = 1_000_003


def iso(us: int) -> str:
    return format_timestamp_us(us)


class LogBuilder:
    """Appends events with contiguous stream versions and strictly increasing times."""

    def __init__(self, start_us: int = START_US, step_us: int = STEP_US) -> None:
        self.events: list[EventTuple] = []
        self._versions: dict[str, int] = {}
        self._next_us = start_us
        self._step_us = step_us

    @property
    def last_us(self) -> int:
        return self.events[-1][5]

    def version_of(self, stream: str) -> int:
        return self._versions.get(stream, 0)

    def add(self, stream: str, type_name: str, data: dict[str, Any]) -> EventTuple:
        version = self._versions.get(stream, 0) + 1
        self._versions[stream] = version
        at_us = self._next_us
        self._next_us += self._step_us
        event = (
            len(self.events),
            stream,
            version,
            type_name,
            SCHEMAS.get(type_name, 1),
            at_us,
            data,
        )
        self.events.append(event)
        return event

    # --- model stream ----------------------------------------------------------------

    def model_created(
        self,
        uuid: str,
        provider_type: str = "ec2",
        *,
        name: str = "default",
        config: dict[str, Any] | None = None,
        cloud_region: str = "us-east-1",
    ) -> EventTuple:
        cloud = "aws" if provider_type == "ec2" else provider_type
        return self.add(
            f"model:{uuid}",
            "ModelCreated",
            {
                "model_uuid": uuid,
                "name": name,
                "provider_type": provider_type,
                "controller_uuid": uuid,
                "owner": "admin",
                "type": "iaas",
                "cloud": cloud,
                "cloud_region": cloud_region,
                "cloud_credential": f"{cloud}/admin/default",
                "config": {"name": name, "type": provider_type, "default-base": "ubuntu@22.04"}
                if config is None
                else config,
            },
        )

    def model_config_changed(
        self, uuid: str, set_: dict[str, Any], unset: list[str] | None = None
    ) -> EventTuple:
        return self.add(f"model:{uuid}", "ModelConfigChanged", {"set": set_, "unset": unset or []})

    def agent_version_set(self, uuid: str, version: str) -> EventTuple:
        return self.add(f"model:{uuid}", "AgentVersionSet", {"version": version})

    def environ_version_set(self, uuid: str, to_version: int = 1) -> EventTuple:
        return self.add(
            f"model:{uuid}",
            "ModelEnvironVersionSet",
            {"from_version": to_version - 1, "to_version": to_version, "operations": ["op"]},
        )

    # --- machine stream --------------------------------------------------------------

    def machine_added(
        self,
        uuid: str,
        machine_id: str,
        *,
        jobs: list[str] | None = None,
        nonce: str = "",
        base: dict[str, str] | None = None,
        constraints: str = "",
        placement: str = "",
        stream_machine_id: str | None = None,
    ) -> EventTuple:
        container_type = machine_id.split("/")[-2] if "/" in machine_id else ""
        return self.add(
            f"machine:{uuid}:{stream_machine_id or machine_id}",
            "MachineAdded",
            {
                "machine_id": machine_id,
                "base": base or {"os": "ubuntu", "channel": "22.04/stable"},
                "container_type": container_type,
                "nonce": nonce,
                "jobs": ["JobHostUnits"] if jobs is None else jobs,
                "constraints": constraints,
                "placement": placement,
            },
        )

    def machine_provisioned(
        self, uuid: str, machine_id: str, *, instance_id: str = "i-1", nonce: str = "n:1"
    ) -> EventTuple:
        return self.add(
            f"machine:{uuid}:{machine_id}",
            "MachineProvisioned",
            {
                "nonce": nonce,
                "instance": {
                    "instance_id": instance_id,
                    "display_name": "",
                    "keep_instance": False,
                    "hardware": {
                        "arch": "amd64",
                        "cpu_cores": 2,
                        "cpu_power": None,
                        "mem_mib": 4096,
                        "root_disk_mib": None,
                        "tags": [],
                        "availability_zone": None,
                    },
                },
            },
        )

    def addresses_set(
        self, uuid: str, machine_id: str, addresses: list[tuple[str, str, str]]
    ) -> EventTuple:
        """addresses: (value, type, scope) triples."""
        return self.add(
            f"machine:{uuid}:{machine_id}",
            "MachineAddressesSet",
            {
                "origin": "provider",
                "addresses": [
                    {"value": value, "type": type_, "scope": scope, "space_id": "0"}
                    for value, type_, scope in addresses
                ],
            },
        )

    def agent_binary_set(self, uuid: str, machine_id: str, version: str) -> EventTuple:
        return self.add(
            f"machine:{uuid}:{machine_id}",
            "MachineAgentBinarySet",
            {"version": version, "url": "https://x/agent.tgz", "size": 1, "sha256": "00"},
        )

    def life_changed(self, uuid: str, machine_id: str, life: str) -> EventTuple:
        return self.add(
            f"machine:{uuid}:{machine_id}", "MachineLifeChanged", {"life": life, "force": False}
        )

    def supported_containers_set(self, uuid: str, machine_id: str, types: list[str]) -> EventTuple:
        return self.add(
            f"machine:{uuid}:{machine_id}", "MachineSupportedContainersSet", {"types": types}
        )

    def upgrade_actions_requested(
        self,
        uuid: str,
        machine_id: str,
        release: str,
        packages: list[str] | None = None,
        apt_sources: list[str] | None = None,
    ) -> EventTuple:
        return self.add(
            f"machine:{uuid}:{machine_id}",
            "MachineUpgradeActionsRequested",
            {"release": release, "packages": packages or [], "apt_sources": apt_sources or []},
        )

    def upgrade_actions_completed(self, uuid: str, machine_id: str, release: str) -> EventTuple:
        return self.add(
            f"machine:{uuid}:{machine_id}", "MachineUpgradeActionsCompleted", {"release": release}
        )

    def retired(self, stream: str, original_type: str = "EnvironConfigChanged") -> EventTuple:
        return self.add(
            stream, "EventRetired", {"original_type": original_type, "reason": "nothing left"}
        )

    # --- unit stream -----------------------------------------------------------------

    def unit_assigned(self, uuid: str, unit: str, machine_id: str) -> EventTuple:
        return self.add(
            f"unit:{uuid}:{unit}",
            "UnitAssignedToMachine",
            {"unit": unit, "application": unit.split("/")[0], "machine_id": machine_id},
        )

    def unit_destroyed(self, uuid: str, unit: str) -> EventTuple:
        return self.add(f"unit:{uuid}:{unit}", "UnitDestroyed", {"unit": unit})


class SerializingDocumentSet:
    """A DocumentSet that stores JSON bytes, like a storage-backed cache: every get hands
    out a fresh copy, so a fold that forgets a put, or leans on aliasing, shows up."""

    def __init__(self) -> None:
        self._machines: dict[tuple[str, str], bytes] = {}
        self._models: dict[str, bytes] = {}
        self._units: dict[tuple[str, str], bytes] = {}

    def get_machine(self, model_uuid: str, machine_id: str) -> dict[str, Any] | None:
        raw = self._machines.get((model_uuid, machine_id))
        return None if raw is None else orjson.loads(raw)

    def put_machine(self, doc: dict[str, Any]) -> None:
        self._machines[doc["model_uuid"], doc["id"]] = orjson.dumps(doc)

    def get_model(self, model_uuid: str) -> dict[str, Any] | None:
        raw = self._models.get(model_uuid)
        return None if raw is None else orjson.loads(raw)

    def put_model(self, doc: dict[str, Any]) -> None:
        self._models[doc["model_uuid"]] = orjson.dumps(doc)

    def get_unit(self, model_uuid: str, unit_name: str) -> dict[str, Any] | None:
        raw = self._units.get((model_uuid, unit_name))
        return None if raw is None else orjson.loads(raw)

    def put_unit(self, doc: dict[str, Any]) -> None:
        self._units[doc["model_uuid"], doc["unit"]] = orjson.dumps(doc)

    def machines(self) -> list[dict[str, Any]]:
        keys = sorted(self._machines, key=lambda key: (key[0], machine_sort_key(key[1])))
        return [orjson.loads(self._machines[key]) for key in keys]

    def models(self) -> list[dict[str, Any]]:
        return [orjson.loads(self._models[uuid]) for uuid in sorted(self._models)]
