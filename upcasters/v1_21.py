"""Release 1.21: environments get an owner and a server, machines a networking job,
hardware an availability zone."""

from __future__ import annotations

from typing import Any, Final

from upcasters.registry import ReleaseSteps
from upcasters.steps import StepFailure, UpcastContext, shown

STEPS: Final = ReleaseSteps("1.21", __name__)

DEFAULT_OWNER: Final = "admin@local"
MANAGE_NETWORKING: Final = "JobManageNetworking"
# Providers that manage no networking of their own in 1.21.
NO_NETWORKING_PROVIDERS: Final = frozenset({"maas", "joyent", "manual", "null"})
MANUAL_NONCE_PREFIX: Final = "manual:"


@STEPS.upcaster("EnvironmentCreated", 2)
def add_owner_and_server(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Add owner "admin@local" and server_uuid, the environment's own uuid."""
    uuid = data["uuid"]
    if not isinstance(uuid, str):
        raise StepFailure(f"uuid must be a string, got {shown(uuid)}")
    data["owner"] = DEFAULT_OWNER
    data["server_uuid"] = uuid
    return data


@STEPS.upcaster("MachineAdded", 3, needs_context=True)
def add_networking_job(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Add JobManageNetworking, unless the provider, machine 0 on local or a manual nonce
    rule it out."""
    jobs = data["jobs"]
    if type(jobs) is not list:
        raise StepFailure(f"jobs must be a list, got {shown(jobs)}")
    provider = ctx.require_provider()
    if (
        provider in NO_NETWORKING_PROVIDERS
        or (provider == "local" and ctx.require_machine_id() == "0")
        or ctx.require_nonce().startswith(MANUAL_NONCE_PREFIX)
        or MANAGE_NETWORKING in jobs
    ):
        return data
    jobs.append(MANAGE_NETWORKING)
    return data


@STEPS.upcaster("MachineProvisioned", 2)
def add_availability_zone(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """instance.hardware gains availability_zone, null."""
    data["instance"]["hardware"]["availability_zone"] = None
    return data
