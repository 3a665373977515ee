"""Following the log live equals rebuilding from zero (a property over random commands).

Random command sequences are appended as 3.0 events (single events and batches) with
catch-ups and reads interleaved at random points and in random chunk sizes; at the end
the live copy, a fresh rebuild and one plain fold of the log all hold the same documents.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstate.store import EventStore, NewEvent
from projections import partitions, runner, service
from projections.events import EventTuple
from projections.storage import UNIT, storage_for
from tests.projections.test_runner_support import Events, open_file_store, reference

OPS = (
    "model", "config", "agent", "environ", "add", "add", "add", "provision", "addresses",
    "binary", "containers", "request", "complete", "life", "assign", "assign", "destroy",
    "catch_up", "read", "flush",
)  # fmt: skip
PROVIDERS = ("ec2", "lxd", "manual", "maas", "openstack")
LIVES = ("alive", "dying", "dead")
RELEASES = ("1.16", "1.18", "2.0", "3.0")

command = st.tuples(st.sampled_from(OPS), st.integers(0, 1000), st.integers(0, 1000))


@dataclass
class World:
    """Just enough of the model to make each command a valid, meaningful event."""

    events: Events = field(default_factory=Events)
    models: list[str] = field(default_factory=list)
    machines: dict[str, list[str]] = field(default_factory=dict)
    controllers: set[tuple[str, str]] = field(default_factory=set)
    life: dict[tuple[str, str], int] = field(default_factory=dict)
    containers: dict[tuple[str, str], int] = field(default_factory=dict)
    units: dict[str, list[str]] = field(default_factory=dict)
    next_unit: int = 0

    def event(self, op: str, a: int, b: int) -> NewEvent | None:
        if op == "model" or not self.models:
            if len(self.models) >= 3:
                return None
            # Different first characters: different rebuild partitions.
            uuid = f"{'3ae'[len(self.models)]}0000000-0000-4000-8000-{len(self.models):012d}"
            self.models.append(uuid)
            self.machines[uuid], self.units[uuid] = [], []
            return self.events.model_created(uuid, PROVIDERS[a % len(PROVIDERS)], f"m{a}")
        uuid = self.models[a % len(self.models)]
        e = self.events
        if op == "config":
            return e.config_changed(uuid, {f"k{b % 3}": b}, [f"k{a % 3}"] if b % 2 else [])
        if op == "agent":
            return e.agent_version(uuid, f"3.0.{b % 5}")
        if op == "environ":
            return e.environ_version(uuid, b % 3)
        if op == "add":
            return self._add(uuid, a, b)
        machines = self.machines[uuid]
        if not machines:
            return None
        machine_id = machines[b % len(machines)]
        key = (uuid, machine_id)
        if op == "provision":
            return e.provisioned(uuid, machine_id, f"i-{a}")
        if op == "addresses":
            return e.addresses(uuid, machine_id, a % 250 + 1)
        if op == "binary":
            return e.agent_binary(uuid, machine_id, f"3.0.{a % 4}")
        if op == "containers":
            return e.supported_containers(uuid, machine_id, ["lxd", "kvm"][: a % 3])
        if op == "request":
            return e.actions_requested(uuid, machine_id, RELEASES[a % len(RELEASES)])
        if op == "complete":
            return e.actions_completed(uuid, machine_id, RELEASES[a % len(RELEASES)])
        if op == "life":
            if key in self.controllers or self.life[key] == 2:
                return None
            self.life[key] += 1
            return e.life(uuid, machine_id, LIVES[self.life[key]])
        units = self.units[uuid]
        if op == "assign":
            if a % 3 == 0 or not units:
                self.next_unit += 1
                units.append(f"app{a % 3}/{self.next_unit}")
            return e.unit_assigned(uuid, units[a % len(units)], machine_id)
        if op == "destroy" and units:
            return e.unit_destroyed(uuid, units.pop(a % len(units)))
        return None

    def _add(self, uuid: str, a: int, b: int) -> NewEvent:
        machines = self.machines[uuid]
        if machines and b % 3 == 0:  # a container on an existing machine
            host = machines[a % len(machines)]
            n = self.containers.get((uuid, host), 0)
            self.containers[uuid, host] = n + 1
            machine_id = f"{host}/{'lxd' if a % 2 else 'kvm'}/{n}"
        else:
            machine_id = str(sum(1 for m in machines if "/" not in m))
        machines.append(machine_id)
        controller = machine_id == "0" and b % 2 == 1
        if controller:
            self.controllers.add((uuid, machine_id))
        self.life[uuid, machine_id] = 0
        return self.events.machine_added(uuid, machine_id, controller=controller)


def _units(store: EventStore) -> list[dict[str, object]]:
    copy = runner.catch_up(store)
    return storage_for(store).read_documents(copy, UNIT)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    commands=st.lists(command, min_size=20, max_size=300),
    chunk=st.sampled_from((1, 2, 5, 10_000)),
    per_part=st.sampled_from((None, 7, 40)),
)
def test_following_live_equals_rebuilding_from_zero(
    commands: list[tuple[str, int, int]], chunk: int, per_part: int | None
) -> None:
    folded: list[tuple[int, int]] = []
    fold_range, run_partitions = runner._events, partitions.run_partitions

    def recording(store: EventStore, after: int, upto: int) -> Iterator[EventTuple]:
        folded.append((after, upto))
        return fold_range(store, after, upto)

    def recording_build(store: EventStore, *args: Any, **kwargs: Any) -> tuple[int, int]:
        folded.append((0, args[3]))  # (storage, copy, plan, head, ...)
        return run_partitions(store, *args, **kwargs)

    knobs = {
        "CATCH_UP_CHUNK": chunk,  # catch-ups of many events go in several transactions
        "_events": recording,
        "run_partitions": recording_build,
        # per_part: builds fold the log in model partitions of that many events (in
        # this process, one after the other), as big logs are.
        "PARALLEL_MIN_EVENTS": 0 if per_part else runner.PARALLEL_MIN_EVENTS,
        "EVENTS_PER_PART": per_part or runner.EVENTS_PER_PART,
        "MAX_WORKERS": 1,
    }
    saved = {name: getattr(runner, name) for name in knobs}
    for name, value in knobs.items():
        setattr(runner, name, value)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = open_file_store(Path(tmp) / "store.db")
            try:
                _check(store, commands, folded)
            finally:
                store.close()
    finally:
        for name, value in saved.items():
            setattr(runner, name, value)


def _check(
    store: EventStore, commands: list[tuple[str, int, int]], folded: list[tuple[int, int]]
) -> None:
    world = World()
    pending: list[NewEvent] = []
    for op, a, b in commands:
        if op in ("catch_up", "read", "flush"):
            store.append(pending)
            pending = []
            if op == "catch_up":
                assert runner.catch_up(store).position == store.head()
            elif op == "read":
                service.machines(store)
            continue
        event = world.event(op, a, b)
        if event is not None:
            pending.append(event)
    store.append(pending)
    live = service.machines(store), service.models(store)
    live_units = _units(store)
    assert live == reference(store)
    # Every event was folded into the live copy exactly once: the ranges folded (the
    # first build, its tail, then each catch-up) tile (0, head] with no gap or overlap.
    assert folded[0][0] == 0 and folded[-1][1] == store.head()
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(folded))
    rebuilt = runner.rebuild(store)
    assert rebuilt.copy.position == store.head()
    assert (service.machines(store), service.models(store)) == live
    assert _units(store) == live_units
