"""Release 1.14: the base catalogue, every type that existed when events were first stored.

1.14 introduced no upcaster; it defines the types at schema 1 and the job table that
its MachineAdded jobs integers mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from upcasters.registry import ReleaseSteps

STEPS: Final = ReleaseSteps("1.14", __name__)

# MachineAdded job integers as 1.14 wrote them (frozen).
JOBS: Final[Mapping[int, str]] = MappingProxyType(
    {1: "HostUnits", 2: "ManageEnviron", 3: "ManageState"}
)

STEPS.introduce("EnvironmentCreated", "{uuid, name, provider_type, config}, config with secrets")
STEPS.introduce("EnvironConfigChanged", "{set, unset}")
STEPS.introduce("AgentVersionSet", "{version}, unchanged since")
STEPS.introduce(
    "MachineAdded",
    "{machine_id, series, container_type, nonce, jobs: [int], constraints, placement}",
)
STEPS.introduce("MachineProvisioned", "{instance_id, nonce, characteristics: str}")
STEPS.introduce("MachineAddressesSet", "{addresses: [str]}")
STEPS.introduce("MachineAgentToolsSet", "{tools: {version, url, size, sha256}}")
STEPS.introduce("MachineLifeChanged", "{life: 0 | 1 | 2}")
STEPS.introduce("MachineSupportedContainersSet", "{types: [lxc | kvm]}")
STEPS.introduce("UnitAssignedToMachine", "{unit, service, machine_id}")
STEPS.introduce("UnitDestroyed", "{unit}, unchanged since")
