"""Write-side aggregates: a model, a machine, a unit.

An aggregate is its stream's current state plus the events a command decided
on. Its state is the document the projection fold makes of its own stream (one
fold for both sides, so the write side's idea of a machine can never drift
from what clients read). Commands check the 3.0 invariants against that state
and record 3.0 events; the repository appends them with the stream version
the aggregate was loaded at, so a concurrent writer surfaces as a conflict.
A model or machine may start from a snapshot of that fold (`FoldedState`, see
eventstate.snapshots) and fold only the events after it: the same state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eventstate.domain.catalogue import JOB_MANAGE_MODEL, validate_payload
from eventstate.errors import NotFoundError, ValidationError
from eventstate.store import Event, NewEvent
from eventstate.streams import machine_stream, model_stream, unit_stream
from eventstate.timeutil import now_us
from projections import Fold, MemoryDocumentSet
from projections.documents import LIFE_ORDER

MANAGE_MODEL = JOB_MANAGE_MODEL


@dataclass(frozen=True, slots=True)
class FoldedState:
    """A stream's documents as folded up to `version`, whose event sits at log
    `position`: where a load can resume folding instead of starting at version 1."""

    version: int
    position: int
    docs: MemoryDocumentSet


class Aggregate:
    """Stream id, loaded version, state, and the events decided since loading."""

    def __init__(self, stream: str, version: int) -> None:
        self.stream = stream
        self.version = version
        # Log position of the event at `version` (0 before the first one is stored).
        self.position = 0
        self.pending: list[NewEvent] = []
        self.cache_key: tuple[str, ...] = ()  # set by the repository that loaded it

    @property
    def exists(self) -> bool:
        return self.version > 0 or bool(self.pending)

    def fast_forward(self, events: Sequence[Event]) -> None:
        """Bring a cached aggregate up to date with events other writers appended."""
        raise NotImplementedError

    def _record(self, type_name: str, data: dict[str, Any]) -> None:
        # Stamped now, not at append: the state folded from the pending event then
        # carries the same recorded-at time as the stored event will.
        self.pending.append(
            NewEvent(self.stream, self.version + len(self.pending) + 1, type_name, data, now_us())
        )


class FoldedAggregate(Aggregate):
    """An aggregate whose state is the fold of its own stream: from version 1, or
    from `start` (a snapshot) with `events` being the stream after it."""

    def __init__(
        self, stream: str, events: Sequence[Event], start: FoldedState | None = None
    ) -> None:
        super().__init__(stream, 0)
        if start is None:
            self._docs = MemoryDocumentSet()
        else:
            self._docs = start.docs
            self.version, self.position = start.version, start.position
        # The version the state was last saved as a snapshot at (or loaded from one).
        self.snapshot_version = self.version
        self._fold = Fold(self._docs)
        self.fast_forward(events)

    def fast_forward(self, events: Sequence[Event]) -> None:
        if events:
            self._fold.apply_many(events)
            last = events[-1]
            self.version, self.position = last.version, last.position

    def folded_state(self) -> FoldedState:
        """The state as stored (at `version`); only meaningful with nothing pending."""
        return FoldedState(self.version, self.position, self._docs)

    def _apply_pending(self, event: NewEvent) -> None:
        assert event.recorded_at is not None  # _record stamps every event
        self._fold.apply(event.stream, event.version, event.type, event.data, event.recorded_at)

    def _record(self, type_name: str, data: dict[str, Any]) -> None:
        # Checked before the fold sees it: a caller's bad input is a ValidationError
        # here, never a CorruptEventError from the fold (the store checks it again).
        try:
            validate_payload(type_name, data)
        except ValidationError as exc:
            version = self.version + len(self.pending) + 1
            raise ValidationError(f"{self.stream} version {version}: {exc}") from None
        super()._record(type_name, data)
        self._apply_pending(self.pending[-1])


class Model(FoldedAggregate):
    def __init__(
        self, model_uuid: str, events: Sequence[Event], start: FoldedState | None = None
    ) -> None:
        super().__init__(model_stream(model_uuid), events, start)
        self.model_uuid = model_uuid

    @property
    def state(self) -> dict[str, Any] | None:
        doc = self._docs.get_model(self.model_uuid)
        return doc if doc is not None and doc.get("name") is not None else None

    def require(self) -> dict[str, Any]:
        state = self.state
        if state is None:
            raise NotFoundError(f"model {self.model_uuid} does not exist")
        return state

    def create(
        self,
        *,
        name: str,
        provider_type: str,
        cloud: str,
        cloud_region: str,
        cloud_credential: str,
        owner: str,
        controller_uuid: str,
        config: dict[str, Any],
        model_type: str = "iaas",
    ) -> None:
        if self.exists:
            raise ValidationError(f"model {self.model_uuid} exists already")
        self._record(
            "ModelCreated",
            {
                "model_uuid": self.model_uuid,
                "name": name,
                "provider_type": provider_type,
                "owner": owner,
                "type": model_type,
                "cloud": cloud,
                "cloud_region": cloud_region,
                "cloud_credential": cloud_credential,
                "controller_uuid": controller_uuid,
                "config": config,
            },
        )

    def change_config(self, set_: dict[str, Any], unset: Iterable[str]) -> None:
        self.require()
        unset_list = sorted(set(unset))
        if not set_ and not unset_list:
            raise ValidationError("a config change needs at least one key to set or unset")
        self._record("ModelConfigChanged", {"set": dict(set_), "unset": unset_list})

    def set_agent_version(self, version: str) -> None:
        self.require()
        self._record("AgentVersionSet", {"version": version})

    def set_environ_version(
        self, from_version: int, to_version: int, operations: list[str]
    ) -> None:
        self.require()
        self._record(
            "ModelEnvironVersionSet",
            {"from_version": from_version, "to_version": to_version, "operations": operations},
        )


class Machine(FoldedAggregate):
    def __init__(
        self,
        model_uuid: str,
        machine_id: str,
        events: Sequence[Event],
        stream: str | None = None,
        start: FoldedState | None = None,
    ) -> None:
        super().__init__(stream or machine_stream(model_uuid, machine_id), events, start)
        self.model_uuid = model_uuid
        self.machine_id = machine_id

    @property
    def state(self) -> dict[str, Any] | None:
        doc = self._docs.get_machine(self.model_uuid, self.machine_id)
        return doc if doc is not None and doc.get("stream_version") else None

    def require(self) -> dict[str, Any]:
        state = self.state
        if state is None:
            raise NotFoundError(
                f"machine {self.machine_id} of model {self.model_uuid} does not exist"
            )
        return state

    def add(
        self,
        *,
        base: dict[str, str],
        jobs: Sequence[str],
        container_type: str,
        nonce: str,
        constraints: str,
        placement: str,
    ) -> None:
        if self.exists:
            raise ValidationError(
                f"machine {self.machine_id} of model {self.model_uuid} exists already"
            )
        self._record(
            "MachineAdded",
            {
                "machine_id": self.machine_id,
                "base": dict(base),
                "container_type": container_type,
                "nonce": nonce,
                "jobs": sorted(set(jobs)),
                "constraints": constraints,
                "placement": placement,
            },
        )

    def provision(
        self,
        *,
        instance_id: str,
        nonce: str,
        hardware: dict[str, Any],
        display_name: str = "",
        keep_instance: bool = False,
    ) -> None:
        state = self._require_alive("provision")
        if state.get("instance") is not None:
            raise ValidationError(f"machine {self.machine_id} is provisioned already")
        self._record(
            "MachineProvisioned",
            {
                "nonce": nonce,
                "instance": {
                    "instance_id": instance_id,
                    "display_name": display_name,
                    "keep_instance": keep_instance,
                    "hardware": dict(hardware),
                },
            },
        )

    def set_addresses(self, addresses: list[dict[str, Any]], origin: str = "provider") -> None:
        self.require()
        self._record("MachineAddressesSet", {"origin": origin, "addresses": addresses})

    def set_agent_binary(self, *, version: str, url: str, size: int, sha256: str) -> None:
        self.require()
        self._record(
            "MachineAgentBinarySet",
            {"version": version, "url": url, "size": size, "sha256": sha256},
        )

    def set_life(self, life: str, *, force: bool = False) -> bool:
        """Move life forward; False (and no event) when it is there already."""
        state = self.require()
        if life not in LIFE_ORDER:
            raise ValidationError(f"life must be alive, dying or dead, not {life!r}")
        current = state["life"]
        if LIFE_ORDER[life] < LIFE_ORDER[current]:
            raise ValidationError(
                f"machine {self.machine_id} is {current}: life never goes backwards (to {life})"
            )
        if life == current:
            return False
        if MANAGE_MODEL in state["jobs"]:
            raise ValidationError(
                f"machine {self.machine_id} manages the model ({MANAGE_MODEL}): "
                "it cannot be destroyed"
            )
        self._record("MachineLifeChanged", {"life": life, "force": force})
        return True

    def set_supported_containers(self, types: Sequence[str]) -> None:
        self.require()
        self._record("MachineSupportedContainersSet", {"types": sorted(set(types))})

    def request_upgrade_actions(
        self, release: str, packages: list[str], apt_sources: list[str]
    ) -> None:
        self.require()
        self._record(
            "MachineUpgradeActionsRequested",
            {"release": release, "packages": packages, "apt_sources": apt_sources},
        )

    def complete_upgrade_actions(self, release: str) -> None:
        state = self.require()
        if not any(a["release"] == release for a in state["pending_upgrade_actions"]):
            raise ValidationError(
                f"machine {self.machine_id} has no pending {release} upgrade actions"
            )
        self._record("MachineUpgradeActionsCompleted", {"release": release})

    def _require_alive(self, action: str) -> dict[str, Any]:
        state = self.require()
        if state["life"] != "alive":
            raise ValidationError(
                f"cannot {action} machine {self.machine_id}: it is {state['life']}"
            )
        return state


class Unit(Aggregate):
    """A unit's state is tiny: the machine it sits on and whether it is destroyed."""

    def __init__(self, model_uuid: str, unit_name: str, events: Sequence[Event]) -> None:
        super().__init__(unit_stream(model_uuid, unit_name), events[-1].version if events else 0)
        self.model_uuid = model_uuid
        self.unit_name = unit_name
        self.machine_id: str | None = None
        self.destroyed = False
        self.fast_forward(events)

    def fast_forward(self, events: Sequence[Event]) -> None:
        for event in events:
            if event.type == "UnitAssignedToMachine":
                self.machine_id = event.data["machine_id"]
            elif event.type == "UnitDestroyed":
                self.destroyed = True
        if events:
            self.version, self.position = events[-1].version, events[-1].position

    def assign(self, machine: Machine) -> None:
        state = machine._require_alive(f"assign {self.unit_name} to")
        if self.destroyed:
            raise ValidationError(f"unit {self.unit_name} is destroyed")
        if self.machine_id is not None:
            raise ValidationError(
                f"unit {self.unit_name} is assigned to machine {self.machine_id} already"
            )
        application, _, number = self.unit_name.partition("/")
        if not application or not number.isdigit():
            raise ValidationError(f"unit name {self.unit_name!r} must look like application/N")
        self.machine_id = state["id"]
        self._record(
            "UnitAssignedToMachine",
            {"unit": self.unit_name, "application": application, "machine_id": state["id"]},
        )

    def destroy(self) -> None:
        if not self.exists:
            raise NotFoundError(f"unit {self.unit_name} of model {self.model_uuid} does not exist")
        if self.destroyed:
            raise ValidationError(f"unit {self.unit_name} is destroyed already")
        self.destroyed = True
        self._record("UnitDestroyed", {"unit": self.unit_name})
