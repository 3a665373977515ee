"""Release 1.16: machine 0 gains a provider-dependent job; upgrade actions appear."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from upcasters import v1_14
from upcasters.registry import ReleaseSteps
from upcasters.steps import StepFailure, UpcastContext, shown

STEPS: Final = ReleaseSteps("1.16", __name__)

HOST_ENVIRON_STORAGE: Final = 4
MANAGE_ENVIRON_FIREWALL: Final = 5
# The 1.16 job table (frozen): the 1.14 table plus the two new jobs.
JOBS: Final[Mapping[int, str]] = MappingProxyType(
    {
        **v1_14.JOBS,
        HOST_ENVIRON_STORAGE: "HostEnvironStorage",
        MANAGE_ENVIRON_FIREWALL: "ManageEnvironFirewall",
    }
)
# Providers whose machine 0 keeps the environment's storage itself.
LOCAL_STORAGE_PROVIDERS: Final = frozenset({"local", "null", "manual"})

STEPS.introduce("MachineUpgradeActionsRequested", "{release, packages, apt_sources}")
STEPS.introduce("MachineUpgradeActionsCompleted", "{release}")


@STEPS.upcaster("MachineAdded", 1, needs_context=True)
def add_machine0_provider_job(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Machine 0 gains job 4 on local/null/manual providers, job 5 on any other."""
    jobs = data["jobs"]
    if type(jobs) is not list:
        raise StepFailure(f"jobs must be a list, got {shown(jobs)}")
    if ctx.require_machine_id() == "0":
        provider = ctx.require_provider()
        job = (
            HOST_ENVIRON_STORAGE if provider in LOCAL_STORAGE_PROVIDERS else MANAGE_ENVIRON_FIREWALL
        )
        if job not in jobs:
            jobs.append(job)
    return data
