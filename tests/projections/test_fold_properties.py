"""Properties of the fold over random plausible logs.

The main one: folding a log in one go equals folding it in batches, each by a fresh Fold
over the same DocumentSet (catch-up across processes). Then the cross-stream facts are
checked against a naive recount of the log.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstate.domain.catalogue import validate_payload
from projections import MACHINE_KEYS, MODEL_KEYS, Fold, MemoryDocumentSet
from projections.documents import (
    format_timestamp_us,
    machine_sort_key,
    parse_machine_stream,
)
from projections.fold import EventTuple
from tests.projections.fold_support import LogBuilder, SerializingDocumentSet

MODEL_UUIDS = ("aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002")
PROVIDERS = ("ec2", "manual", "null", "lxd", "maas", "vsphere")
UNIT_NAMES = ("mysql/0", "mysql/1", "wordpress/0", "wordpress/10", "haproxy/2")
LIVES = ("alive", "dying", "dead")
ADDRESSES = (
    ("10.0.0.1", "ipv4", "local-cloud"),
    ("54.1.2.3", "ipv4", "public"),
    ("fe80::1", "ipv6", "link-local"),
    ("127.0.0.1", "ipv4", "local-machine"),
    ("node.maas.local", "hostname", "local-cloud"),
)


class World:
    """What the generated log has said so far, to keep the next command plausible."""

    def __init__(self, draw: Callable[..., Any], orphans: bool) -> None:
        self.draw = draw
        self.orphans = orphans  # allow references to documents that do not exist yet
        self.log = LogBuilder(step_us=draw(st.integers(1, 90_000_000_000)))
        self.models: set[str] = set()
        self.machines: dict[tuple[str, str], str] = {}  # (uuid, 3.0 id) -> stream id
        self.lives: dict[str, int] = {}  # stream id -> index in LIVES: life only goes on

    def pick_model(self) -> str:
        choices = sorted(self.models) if self.models and not self.orphans else MODEL_UUIDS
        uuid: str = self.draw(st.sampled_from(choices))
        return uuid

    def pick_machine(self) -> tuple[str, str, str] | None:
        if not self.machines:
            return None
        key = self.draw(st.sampled_from(sorted(self.machines)))
        return key[0], key[1], self.machines[key]

    def new_machine_id(self, uuid: str) -> tuple[str, str]:
        """A fresh (3.0 id, stream id): top-level, or a container, maybe on a 1.x stream."""
        host = self.pick_machine()
        if host is not None and host[0] == uuid and self.draw(st.booleans()):
            kind = self.draw(st.sampled_from(("lxd", "kvm", "lxc")))
            parent_id = host[1]
        elif self.orphans and self.draw(st.integers(0, 5)) == 0:
            kind, parent_id = "lxd", str(self.draw(st.integers(0, 12)))  # parent unknown
        else:
            return self.next_top_level(uuid), self.next_top_level(uuid)
        number = sum(1 for key in self.machines if key[1].startswith(f"{parent_id}/"))
        stream_id = f"{parent_id}/{kind}/{number}"
        machine_id = stream_id.replace("/lxc/", "/lxd/") if kind == "lxc" else stream_id
        return machine_id, stream_id

    def next_top_level(self, uuid: str) -> str:
        return str(sum(1 for key in self.machines if key[0] == uuid and "/" not in key[1]))

    def step(self) -> None:
        command = self.draw(st.sampled_from(COMMANDS))
        command(self)


def create_model(world: World) -> None:
    uuid = world.draw(st.sampled_from(MODEL_UUIDS))
    if uuid in world.models and not world.orphans:
        return
    world.models.add(uuid)
    config = {"name": "m", "default-base": "ubuntu@22.04"}
    world.log.model_created(uuid, world.draw(st.sampled_from(PROVIDERS)), config=config)


def change_model(world: World) -> None:
    uuid = world.pick_model()
    choice = world.draw(st.integers(0, 2))
    if choice == 0:
        world.log.model_config_changed(uuid, {"k": world.draw(st.integers(0, 3))}, ["name"])
    elif choice == 1:
        world.log.agent_version_set(uuid, world.draw(st.sampled_from(("2.9.1", "3.0.0"))))
    else:
        world.log.environ_version_set(uuid, world.draw(st.integers(1, 2)))


def add_machine(world: World) -> None:
    uuid = world.pick_model()
    machine_id, stream_id = world.new_machine_id(uuid)
    if (uuid, machine_id) in world.machines:
        return
    world.machines[uuid, machine_id] = stream_id
    jobs = sorted(world.draw(st.sets(st.sampled_from(("JobHostUnits", "JobManageModel")))))
    nonce = world.draw(st.sampled_from(("", "manual:10.1.0.1", "machine-x:1")))
    world.log.machine_added(uuid, machine_id, jobs=jobs, nonce=nonce, stream_machine_id=stream_id)


def change_machine(world: World) -> None:
    picked = world.pick_machine()
    if picked is None:
        return
    uuid, _machine_id, stream_id = picked
    log = world.log
    choice = world.draw(st.integers(0, 6))
    if choice == 0:
        nonce = world.draw(st.sampled_from(("machine-1:abc", "manual:10.0.0.9")))
        log.machine_provisioned(uuid, stream_id, nonce=nonce)
    elif choice == 1:
        log.addresses_set(uuid, stream_id, world.draw(st.lists(st.sampled_from(ADDRESSES))))
    elif choice == 2:
        log.agent_binary_set(uuid, stream_id, world.draw(st.sampled_from(("3.0.0-ubuntu-amd64",))))
    elif choice == 3:
        life = world.draw(st.integers(world.lives.get(stream_id, 0), len(LIVES) - 1))
        world.lives[stream_id] = life
        log.life_changed(uuid, stream_id, LIVES[life])
    elif choice == 4:
        types = sorted(world.draw(st.sets(st.sampled_from(("lxd", "kvm")))))
        log.supported_containers_set(uuid, stream_id, types)
    elif choice == 5:
        release = world.draw(st.sampled_from(("1.16", "1.18", "2.0")))
        log.upgrade_actions_requested(uuid, stream_id, release, packages=["p"])
    else:
        release = world.draw(st.sampled_from(("1.16", "1.18", "2.0")))
        log.upgrade_actions_completed(uuid, stream_id, release)


def assign_unit(world: World) -> None:
    picked = world.pick_machine()
    if picked is None or (world.orphans and world.draw(st.integers(0, 4)) == 0):
        uuid, machine_id = world.pick_model(), str(world.draw(st.integers(0, 9)))
    else:
        uuid, machine_id = picked[0], picked[1]
    world.log.unit_assigned(uuid, world.draw(st.sampled_from(UNIT_NAMES)), machine_id)


def destroy_unit(world: World) -> None:
    world.log.unit_destroyed(world.pick_model(), world.draw(st.sampled_from(UNIT_NAMES)))


def retire_or_upgrade(world: World) -> None:
    picked = world.pick_machine()
    if picked is not None and world.draw(st.booleans()):
        world.log.retired(f"machine:{picked[0]}:{picked[2]}", "MachineAddressesSet")
    elif world.draw(st.booleans()):
        world.log.retired(f"model:{world.pick_model()}")
    else:
        step = {"release": "1.16", "step": "request-cpu-checker", "events_written": 0}
        world.log.add("upgrade:u1", "UpgradeStepApplied", step)


COMMANDS: tuple[Callable[[World], None], ...] = (
    create_model,
    change_model,
    add_machine,
    add_machine,
    add_machine,
    change_machine,
    change_machine,
    change_machine,
    change_machine,
    assign_unit,
    assign_unit,
    destroy_unit,
    retire_or_upgrade,
)


@st.composite
def logs(draw: Callable[..., Any], orphans: bool | None = None) -> list[EventTuple]:
    world = World(draw, draw(st.booleans()) if orphans is None else orphans)
    if not world.orphans:
        create_model(world)
    for _ in range(draw(st.integers(1, 80))):
        world.step()
    return world.log.events


def batches(draw: Callable[..., Any], events: list[EventTuple]) -> list[list[EventTuple]]:
    cuts = sorted(draw(st.sets(st.integers(0, len(events)), max_size=8)))
    bounds = [0, *cuts, len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


def fold_whole(events: list[EventTuple]) -> MemoryDocumentSet:
    docs = MemoryDocumentSet()
    Fold(docs).apply_many(events)
    return docs


PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(events=logs(), data=st.data())
def test_batches_by_fresh_folds_equal_one_go(events: list[EventTuple], data: st.DataObject) -> None:
    whole = fold_whole(events)

    same_set = MemoryDocumentSet()
    for batch in batches(data.draw, events):
        Fold(same_set).apply_many(batch)
    assert same_set.machines() == whole.machines()
    assert same_set.models() == whole.models()

    stored = SerializingDocumentSet()  # every process sees only what was put
    for batch in batches(data.draw, events):
        Fold(stored).apply_many(batch)
    assert stored.machines() == whole.machines()
    assert stored.models() == whole.models()


@PROPERTY_SETTINGS
@given(events=logs())
def test_one_event_at_a_time_equals_one_go(events: list[EventTuple]) -> None:
    docs = MemoryDocumentSet()
    for _pos, stream, version, type_name, _schema, at_us, data in events:
        Fold(docs).apply(stream, version, type_name, data, at_us)
    whole = fold_whole(events)
    assert docs.machines() == whole.machines()
    assert docs.models() == whole.models()


@PROPERTY_SETTINGS
@given(events=logs())
def test_cross_stream_facts_match_a_recount_of_the_log(events: list[EventTuple]) -> None:
    docs = fold_whole(events)
    machines = docs.machines()
    by_key = {(m["model_uuid"], m["id"]): m for m in machines}
    heads: dict[str, EventTuple] = {}
    unit_machine: dict[tuple[str, str], str | None] = {}
    ever_assigned: set[tuple[str, str]] = set()
    for event in events:
        stream, type_name, data = event[1], event[3], event[6]
        heads[stream] = event
        if type_name == "UnitAssignedToMachine":
            uuid = stream.split(":")[1]
            unit_machine[uuid, data["unit"]] = data["machine_id"]
            ever_assigned.add((uuid, data["machine_id"]))
        elif type_name == "UnitDestroyed":
            unit_machine[stream.split(":")[1], data["unit"]] = None

    for machine in machines:
        key = (machine["model_uuid"], machine["id"])
        assert sorted(machine) == sorted(MACHINE_KEYS)
        expected_principals = sorted(
            unit for (uuid, unit), on in unit_machine.items() if (uuid, on) == key
        )
        assert machine["principals"] == expected_principals
        assert machine["clean"] is (key not in ever_assigned)
        children = [m["id"] for m in machines if m["model_uuid"] == key[0]]
        children = [c for c in children if by_key[key[0], c]["parent"] == key[1]]
        assert machine["containers"] == sorted(children, key=machine_sort_key)

    streams_of_machines = {
        parse_machine_stream(stream): head
        for stream, head in heads.items()
        if stream[:8] == "machine:"
    }
    for key, head in streams_of_machines.items():
        if key in by_key and by_key[key]["stream_version"]:
            assert by_key[key]["stream_version"] == head[2]
            assert by_key[key]["updated_at"] == format_timestamp_us(head[5])

    for model in docs.models():
        assert sorted(model) == sorted(MODEL_KEYS)
        alive = [
            m
            for m in machines
            if m["model_uuid"] == model["model_uuid"]
            and m["stream_version"]
            and m["life"] != "dead"
        ]
        assert model["machine_count"] == len(alive)
        assert "password" not in model["config"]


@PROPERTY_SETTINGS
@given(events=logs())
def test_generated_logs_are_valid_3_0(events: list[EventTuple]) -> None:
    """The generator makes what the store would accept (orphans aside)."""
    for _position, _stream, _version, type_name, _schema, _at_us, data in events:
        validate_payload(type_name, data)


@given(us=st.integers(-(10**15), 4 * 10**15))
def test_timestamps_format_like_datetime(us: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    assert format_timestamp_us(us) == moment.isoformat(timespec="microseconds")
