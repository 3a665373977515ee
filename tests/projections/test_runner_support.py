"""Helpers shared by the runner, storage and CLI read tests (no tests in here).

3.0 events are built by hand from events.md's last schemas, so the store's catalogue
checks every payload on append.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from eventstate.api import open_store
from eventstate.store import EventStore, NewEvent
from projections import Fold, MemoryDocumentSet
from projections.documents import MACHINE_KEYS, MODEL_KEYS

FIXTURES = Path(__file__).parent.parent / "fixtures"
FIXTURE_NAMES = ("legacy-1.14", "mixed-2.0")


def open_file_store(path: Path) -> EventStore:
    return open_store(f"sqlite:///{path}")


def expected_documents(name: str) -> dict[str, list[dict[str, Any]]]:
    loaded: dict[str, list[dict[str, Any]]] = json.loads(
        (FIXTURES / f"{name}.expected.json").read_text()
    )
    return loaded


def comparable(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents with `updated_at` as an instant, so that equal times compare equal
    however they are spelled."""
    out = []
    for doc in docs:
        doc = dict(doc)
        if isinstance(doc.get("updated_at"), str):
            doc["updated_at"] = datetime.fromisoformat(doc["updated_at"])
        out.append(doc)
    return out


def fold_from_log(store: EventStore) -> MemoryDocumentSet:
    """The documents one plain fold of the whole (upcast) log gives: the reference."""
    docs = MemoryDocumentSet()
    Fold(docs).apply_many(store.iter_events())
    return docs


def reference(store: EventStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(machines, models) of one plain fold, with exactly documents.md's keys."""
    docs = fold_from_log(store)
    machines = [{k: d[k] for k in MACHINE_KEYS} for d in docs.machines()]
    models = [{k: d[k] for k in MODEL_KEYS} for d in docs.models()]
    return machines, models


# --- 3.0 events ---------------------------------------------------------------------------


class Events:
    """Builds valid 3.0 events with contiguous stream versions (one store's worth)."""

    def __init__(self, versions: dict[str, int] | None = None) -> None:
        self.versions: dict[str, int] = {} if versions is None else versions

    def event(self, stream: str, type_name: str, data: dict[str, Any]) -> NewEvent:
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        return NewEvent(stream, version, type_name, data)

    def model_created(self, uuid: str, provider: str = "ec2", name: str = "m") -> NewEvent:
        cloud = "aws" if provider == "ec2" else provider
        return self.event(
            f"model:{uuid}",
            "ModelCreated",
            {
                "model_uuid": uuid,
                "name": name,
                "provider_type": provider,
                "controller_uuid": uuid,
                "owner": "admin",
                "type": "iaas",
                "cloud": cloud,
                "cloud_region": "us-east-1",
                "cloud_credential": f"{cloud}/admin/default",
                "config": {"default-base": "ubuntu@22.04", "firewall-mode": "instance"},
            },
        )

    def config_changed(self, uuid: str, set_: dict[str, Any], unset: list[str]) -> NewEvent:
        return self.event(f"model:{uuid}", "ModelConfigChanged", {"set": set_, "unset": unset})

    def agent_version(self, uuid: str, version: str) -> NewEvent:
        return self.event(f"model:{uuid}", "AgentVersionSet", {"version": version})

    def environ_version(self, uuid: str, to_version: int) -> NewEvent:
        return self.event(
            f"model:{uuid}",
            "ModelEnvironVersionSet",
            {"from_version": 0, "to_version": to_version, "operations": ["create-profiles"]},
        )

    def machine_added(
        self, uuid: str, machine_id: str, *, controller: bool = False, nonce: str = ""
    ) -> NewEvent:
        container_type = machine_id.split("/")[-2] if "/" in machine_id else ""
        jobs = ["JobHostUnits", "JobManageModel"] if controller else ["JobHostUnits"]
        return self.event(
            f"machine:{uuid}:{machine_id}",
            "MachineAdded",
            {
                "machine_id": machine_id,
                "base": {"os": "ubuntu", "channel": "22.04/stable"},
                "container_type": container_type,
                "nonce": nonce or f"machine-{machine_id}:nonce",
                "jobs": jobs,
                "constraints": "mem=2G",
                "placement": "",
            },
        )

    def provisioned(self, uuid: str, machine_id: str, instance_id: str) -> NewEvent:
        return self.event(
            f"machine:{uuid}:{machine_id}",
            "MachineProvisioned",
            {
                "nonce": f"machine-{machine_id}:nonce",
                "instance": {
                    "instance_id": instance_id,
                    "display_name": "",
                    "keep_instance": False,
                    "hardware": {
                        "arch": "amd64",
                        "cpu_cores": 2,
                        "cpu_power": None,
                        "mem_mib": 4096,
                        "root_disk_mib": 8192,
                        "tags": [],
                        "availability_zone": "us-east-1a",
                    },
                },
            },
        )

    def addresses(self, uuid: str, machine_id: str, last_octet: int) -> NewEvent:
        return self.event(
            f"machine:{uuid}:{machine_id}",
            "MachineAddressesSet",
            {
                "origin": "provider",
                "addresses": [
                    {
                        "value": f"10.0.0.{last_octet}",
                        "type": "ipv4",
                        "scope": "local-cloud",
                        "space_id": "0",
                    },
                    {
                        "value": f"54.1.2.{last_octet}",
                        "type": "ipv4",
                        "scope": "public",
                        "space_id": "0",
                    },
                ],
            },
        )

    def agent_binary(self, uuid: str, machine_id: str, version: str) -> NewEvent:
        return self.event(
            f"machine:{uuid}:{machine_id}",
            "MachineAgentBinarySet",
            {"version": f"{version}-ubuntu-amd64", "url": "", "size": 1, "sha256": "00"},
        )

    def life(self, uuid: str, machine_id: str, life: str) -> NewEvent:
        return self.event(
            f"machine:{uuid}:{machine_id}", "MachineLifeChanged", {"life": life, "force": False}
        )

    def supported_containers(self, uuid: str, machine_id: str, types: list[str]) -> NewEvent:
        return self.event(
            f"machine:{uuid}:{machine_id}",
            "MachineSupportedContainersSet",
            {"types": sorted(set(types))},
        )

    def actions_requested(self, uuid: str, machine_id: str, release: str) -> NewEvent:
        return self.event(
            f"machine:{uuid}:{machine_id}",
            "MachineUpgradeActionsRequested",
            {"release": release, "packages": ["cpu-checker"], "apt_sources": []},
        )

    def actions_completed(self, uuid: str, machine_id: str, release: str) -> NewEvent:
        return self.event(
            f"machine:{uuid}:{machine_id}", "MachineUpgradeActionsCompleted", {"release": release}
        )

    def unit_assigned(self, uuid: str, unit: str, machine_id: str) -> NewEvent:
        return self.event(
            f"unit:{uuid}:{unit}",
            "UnitAssignedToMachine",
            {"unit": unit, "application": unit.split("/")[0], "machine_id": machine_id},
        )

    def unit_destroyed(self, uuid: str, unit: str) -> NewEvent:
        return self.event(f"unit:{uuid}:{unit}", "UnitDestroyed", {"unit": unit})


def small_environment(events: Events, uuid: str, machines: int) -> list[NewEvent]:
    """A model with `machines` machines (every third with an lxd container), some
    provisioned and addressed, units on a few: a few events per machine."""
    out = [events.model_created(uuid), events.agent_version(uuid, "3.0.0")]
    for n in range(machines):
        machine_id = str(n)
        out.append(events.machine_added(uuid, machine_id, controller=n == 0))
        out.append(events.provisioned(uuid, machine_id, f"i-{n:05d}"))
        out.append(events.addresses(uuid, machine_id, n % 250 + 1))
        if n % 3 == 0:
            out.append(events.machine_added(uuid, f"{n}/lxd/0"))
            out.append(events.unit_assigned(uuid, f"app{n}/0", f"{n}/lxd/0"))
    return out


def append_all(store: EventStore, events: list[NewEvent], batch: int = 500) -> None:
    for start in range(0, len(events), batch):
        store.append(events[start : start + batch])
