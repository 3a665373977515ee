"""The upgrade steps each release adds (operations.md, "Upgrade", step 4).

A step plans its writes from the documents folded from the log (as 3.0 code
reads it) and never from anything outside the store. Steps are idempotent: a
step's events are written in one transaction together with its
UpgradeStepApplied record, so after a crash a step is either wholly there (and
skipped) or not there at all (and planned again from the same state); the
plans also skip machines and models that already carry the step's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from eventstate.store import NewEvent
from eventstate.streams import model_stream
from eventstate.upgrade.environ import environ_upgrader_for
from projections import MemoryDocumentSet


class StepContext(Protocol):
    """What a plan may ask besides the documents: read from the log, never outside it."""

    def head(self, stream: str) -> int:
        """The stream's last version (0 when it does not exist)."""
        ...

    def machine_stream(self, model_uuid: str, machine_id: str) -> str:
        """The stream a machine document was folded from (1.x containers keep lxc ids)."""
        ...


Plan = Callable[[MemoryDocumentSet, StepContext], list[NewEvent]]


# Carries a planned step out in the world before its events are written (never in a dry run).
Apply = Callable[[list[NewEvent], MemoryDocumentSet], None]


def _no_effect(events: list[NewEvent], docs: MemoryDocumentSet) -> None:
    return None


@dataclass(frozen=True)
class UpgradeStep:
    release: str
    name: str
    plan: Plan
    summary: str
    apply: Apply = _no_effect


def _requested(doc: dict[str, Any], release: str) -> bool:
    return any(action["release"] == release for action in doc["pending_upgrade_actions"])


def _request_actions(
    docs: MemoryDocumentSet,
    ctx: StepContext,
    release: str,
    wanted: Callable[[dict[str, Any]], bool],
    packages: list[str],
    apt_sources: list[str],
) -> list[NewEvent]:
    events = []
    for doc in docs.machines():
        if doc["life"] != "alive" or not wanted(doc) or _requested(doc, release):
            continue
        stream = ctx.machine_stream(doc["model_uuid"], doc["id"])
        events.append(
            NewEvent(
                stream,
                ctx.head(stream) + 1,
                "MachineUpgradeActionsRequested",
                {"release": release, "packages": list(packages), "apt_sources": list(apt_sources)},
            )
        )
    return events


def plan_cpu_checker(docs: MemoryDocumentSet, ctx: StepContext) -> list[NewEvent]:
    return _request_actions(
        docs, ctx, "1.16", lambda doc: not doc["container_type"], ["cpu-checker"], []
    )


PRECISE = {"os": "ubuntu", "channel": "12.04/stable"}


def plan_cloud_tools(docs: MemoryDocumentSet, ctx: StepContext) -> list[NewEvent]:
    return _request_actions(
        docs, ctx, "1.18", lambda doc: doc["base"] == PRECISE, [], ["cloud-tools"]
    )


def plan_environ_version(docs: MemoryDocumentSet, ctx: StepContext) -> list[NewEvent]:
    events = []
    for model in docs.models():
        upgrader = environ_upgrader_for(model.get("provider_type"))
        if upgrader is None or model["environ_version"] >= upgrader.target_version:
            continue
        operations = upgrader.operations(model)
        stream = model_stream(model["model_uuid"])
        events.append(
            NewEvent(
                stream,
                ctx.head(stream) + 1,
                "ModelEnvironVersionSet",
                {
                    "from_version": model["environ_version"],
                    "to_version": upgrader.target_version,
                    "operations": operations,
                },
            )
        )
    return events


def apply_environ_operations(events: list[NewEvent], docs: MemoryDocumentSet) -> None:
    for event in events:
        model = docs.get_model(event.stream.partition(":")[2])
        if model is None:
            continue
        upgrader = environ_upgrader_for(model.get("provider_type"))
        if upgrader is not None:
            for operation in event.data["operations"]:
                upgrader.apply(model, operation)


STEPS: tuple[UpgradeStep, ...] = (
    UpgradeStep(
        "1.16",
        "request-cpu-checker",
        plan_cpu_checker,
        "cpu-checker on every alive machine that is not a container",
    ),
    UpgradeStep(
        "1.18",
        "request-cloud-tools",
        plan_cloud_tools,
        "cloud-tools apt source on every alive ubuntu 12.04 machine",
    ),
    UpgradeStep(
        "2.0",
        "provider-environ-version",
        plan_environ_version,
        "environ upgraders for lxd, openstack and azure models",
        apply_environ_operations,
    ),
)


def steps_for(releases: tuple[str, ...]) -> list[UpgradeStep]:
    """The steps of the given releases, in release order."""
    return [step for release in releases for step in STEPS if step.release == release]
