"""A realistic 3.0 event log for the projection benchmarks (not from the fixtures).

A controller's history: a few hundred models (sizes skewed: a few big ones, many small),
tens of thousands of machines of which a third are lxd/kvm containers, provisioning,
address churn, agent upgrades, upgrade actions, units assigned and destroyed, machines
dying. Every machine's events are spread over its lifetime and all streams are
interleaved by time, as a live controller writes them; stream versions are contiguous.

    events = generate(1_000_000)          # NewEvent objects, in log order
    rows = encoded_rows(store, events)    # batches for backend.append_stream_of_batches

About 20 events per machine: 1M events are ~300 models and ~50,000 machines.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from eventstate.backends.base import NewRow
from eventstate.store import EventStore, NewEvent

START_US = 1_600_000_000_000_000  # 2020-09-13
SPAN_US = 2 * 365 * 86_400 * 1_000_000  # two years of history
EVENTS_PER_MACHINE = 20
EVENTS_PER_MODEL = 3_300
PROVIDERS = ("ec2", "openstack", "azure", "maas", "lxd", "gce", "manual")
CLOUDS = {"ec2": "aws"}
BASES = (("ubuntu", "20.04"), ("ubuntu", "22.04"), ("ubuntu", "18.04"), ("centos", "7"))
APPLICATIONS = ("mysql", "wordpress", "haproxy", "postgresql", "nginx", "redis", "ceph-osd")
RELEASES = ("2.7", "3.0")

# Record kinds: (time, sequence, kind, model index, subject, argument) before payloads.
(MODEL, CONFIG, AGENT, ADDED, PROVISIONED, CONTAINERS, ADDRESSES, BINARY, REQUESTED, COMPLETED,
 LIFE, ASSIGNED, DESTROYED) = range(13)  # fmt: skip
Record = tuple[int, int, int, int, str, Any]


def generate(n_events: int, seed: int = 7) -> list[NewEvent]:
    """Exactly `n_events` valid 3.0 events in log order."""
    plan = _Plan(random.Random(seed), n_events)
    records = plan.records()
    records.sort()
    return list(_events(plan, records[:n_events]))


def encoded_rows(
    store: EventStore, events: list[NewEvent], batch: int = 10_000
) -> Iterator[list[NewRow]]:
    """Rows for `store.backend.append_stream_of_batches`, validated and encoded."""
    for start in range(0, len(events), batch):
        yield store.encode(events[start : start + batch])


class _Plan:
    def __init__(self, rng: random.Random, n_events: int) -> None:
        self.rng = rng
        # A little over budget: generate() keeps the first n_events by time.
        self.n_models = max(3, n_events // EVENTS_PER_MODEL)
        self.n_machines = max(10, int(n_events * 1.08) // EVENTS_PER_MACHINE)
        self.uuids = [_uuid(rng) for _ in range(self.n_models)]
        self.providers = [PROVIDERS[i % len(PROVIDERS)] for i in range(self.n_models)]
        self.bases = [BASES[rng.randrange(len(BASES))] for _ in range(self.n_models)]
        self.out: list[Record] = []
        self.seq = 0

    def add(self, at: int, kind: int, model: int, subject: str = "", arg: Any = None) -> None:
        self.seq += 1
        self.out.append((at, self.seq, kind, model, subject, arg))

    def records(self) -> list[Record]:
        rng = self.rng
        weights = [rng.paretovariate(1.3) for _ in range(self.n_models)]
        total = sum(weights)
        for model in range(self.n_models):
            born = START_US + int(rng.random() * SPAN_US * 0.3)
            self._model(model, born)
            machines = max(1, round(self.n_machines * weights[model] / total))
            self._machines(model, born, machines)
        return self.out

    def _model(self, model: int, born: int) -> None:
        rng = self.rng
        self.add(born, MODEL, model)
        for n in range(rng.randint(2, 8)):
            self.add(born + _later(rng, born), CONFIG, model, arg=n)
        for n in range(rng.randint(1, 4)):
            self.add(born + _later(rng, born), AGENT, model, arg=n)

    def _machines(self, model: int, born: int, count: int) -> None:
        rng = self.rng
        hosts: list[tuple[str, int]] = []
        containers: dict[str, int] = {}
        units = 0
        for n in range(count):
            if hosts and rng.random() < 0.33:
                host, host_born = hosts[rng.randrange(len(hosts))]
                k = containers.get(host, 0)
                containers[host] = k + 1
                kind = "lxd" if rng.random() < 0.8 else "kvm"
                machine_id = f"{host}/{kind}/{k}"
                start = host_born + 60_000_000 + _later(rng, host_born) // 4
            else:
                machine_id = str(len(hosts))
                start = born + 1_000_000 + _later(rng, born) // 2
                hosts.append((machine_id, start))
            units = self._machine(model, machine_id, start, units, n)

    def _machine(self, model: int, machine_id: str, start: int, units: int, n: int) -> int:
        rng = self.rng
        add = self.add
        end = start + _later(rng, start)
        times = sorted(start + rng.randrange(1, max(2, end - start)) for _ in range(40))
        clock = iter(times)
        add(start, ADDED, model, machine_id)
        if rng.random() < 0.95:
            add(next(clock), PROVISIONED, model, machine_id, n)
        if "/" not in machine_id and rng.random() < 0.8:
            add(next(clock), CONTAINERS, model, machine_id)
        for k in range(rng.randint(2, 20)):
            add(next(clock), ADDRESSES, model, machine_id, n + k)
        for k in range(rng.randint(1, 7)):
            add(next(clock), BINARY, model, machine_id, k)
        if rng.random() < 0.25:
            release = RELEASES[rng.randrange(len(RELEASES))]
            add(next(clock), REQUESTED, model, machine_id, release)
            if rng.random() < 0.8:
                add(next(clock), COMPLETED, model, machine_id, release)
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            units += 1
            unit = f"{APPLICATIONS[units % len(APPLICATIONS)]}/{units}"
            add(next(clock), ASSIGNED, model, unit, machine_id)
            if rng.random() < 0.25:
                add(next(clock), DESTROYED, model, unit)
        if machine_id != "0" and rng.random() < 0.15:
            add(end, LIFE, model, machine_id, "dying")
            add(end + 1_000_000, LIFE, model, machine_id, "dead")
        return units


def _later(rng: random.Random, after: int) -> int:
    """A random stretch of the time left before the end of the history."""
    left = max(START_US + SPAN_US - after, 2_000_000)
    return int(rng.random() * left)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"


# --- payloads ---------------------------------------------------------------------------


def _events(plan: _Plan, records: Iterable[Record]) -> Iterator[NewEvent]:
    versions: dict[str, int] = {}
    for at, _seq, kind, model, subject, arg in records:
        uuid = plan.uuids[model]
        if kind <= AGENT:
            stream = f"model:{uuid}"
        elif kind >= ASSIGNED:
            stream = f"unit:{uuid}:{subject}"
        else:
            stream = f"machine:{uuid}:{subject}"
        version = versions[stream] = versions.get(stream, 0) + 1
        yield NewEvent(stream, version, *_payload(plan, kind, model, subject, arg), recorded_at=at)


def _payload(
    plan: _Plan, kind: int, model: int, subject: str, arg: Any
) -> tuple[str, dict[str, Any]]:
    uuid = plan.uuids[model]
    if kind == MODEL:
        provider = plan.providers[model]
        cloud = CLOUDS.get(provider, provider)
        os_name, version = plan.bases[model]
        return "ModelCreated", {
            "model_uuid": uuid, "name": f"model-{model}", "provider_type": provider,
            "controller_uuid": plan.uuids[0], "owner": "admin", "type": "iaas",
            "cloud": cloud, "cloud_region": "region-1",
            "cloud_credential": f"{cloud}/admin/default",
            "config": {"default-base": f"{os_name}@{version}", "firewall-mode": "instance",
                       "logging-config": "<root>=INFO", "automatically-retry-hooks": True},
        }  # fmt: skip
    if kind == CONFIG:
        level = ("DEBUG", "INFO", "WARNING")[arg % 3]
        unset = ["http-proxy"] if arg % 4 == 3 else []
        return "ModelConfigChanged", {
            "set": {"logging-config": f"<root>={level}", "update-status-hook-interval": f"{arg}m"},
            "unset": unset,
        }
    if kind == AGENT:
        return "AgentVersionSet", {"version": f"3.0.{arg}"}
    if kind == ADDED:
        os_name, version = plan.bases[model]
        jobs = ["JobHostUnits", "JobManageModel"] if subject == "0" else ["JobHostUnits"]
        container = subject.split("/")[-2] if "/" in subject else ""
        return "MachineAdded", {
            "machine_id": subject, "base": {"os": os_name, "channel": f"{version}/stable"},
            "container_type": container, "nonce": f"machine-{subject}:{uuid[:8]}",
            "jobs": jobs, "constraints": "mem=4G cores=2", "placement": "",
        }  # fmt: skip
    if kind == PROVISIONED:
        return "MachineProvisioned", {
            "nonce": f"machine-{subject}:{uuid[:8]}",
            "instance": {
                "instance_id": f"i-{arg:08x}", "display_name": "", "keep_instance": False,
                "hardware": {"arch": "amd64", "cpu_cores": 2 + arg % 4, "cpu_power": None,
                             "mem_mib": 4096, "root_disk_mib": 16384, "tags": [],
                             "availability_zone": f"zone-{arg % 3}"},
            },
        }  # fmt: skip
    if kind == CONTAINERS:
        return "MachineSupportedContainersSet", {"types": ["kvm", "lxd"] if arg else ["lxd"]}
    if kind == ADDRESSES:
        a, b = arg % 250 + 1, arg // 250 % 250
        addresses = [
            {"value": f"10.{b}.{a}.{arg % 7 + 2}", "type": "ipv4", "scope": "local-cloud",
             "space_id": "0"},
            {"value": f"54.{b}.{a}.{arg % 11 + 2}", "type": "ipv4", "scope": "public",
             "space_id": "0"},
        ]  # fmt: skip
        if arg % 3 == 0:
            addresses.append(
                {"value": "fe80::1", "type": "ipv6", "scope": "link-local", "space_id": "0"}
            )
        return "MachineAddressesSet", {"origin": "provider", "addresses": addresses}
    if kind == BINARY:
        os_name = "centos" if plan.bases[model][0] == "centos" else "ubuntu"
        return "MachineAgentBinarySet", {
            "version": f"3.0.{arg}-{os_name}-amd64",
            "url": f"https://streams.example/agent/3.0.{arg}.tgz",
            "size": 30_000_000 + arg,
            "sha256": f"{arg:064x}",
        }
    if kind == REQUESTED:
        return "MachineUpgradeActionsRequested", {
            "release": arg, "packages": ["cpu-checker"], "apt_sources": [],
        }  # fmt: skip
    if kind == COMPLETED:
        return "MachineUpgradeActionsCompleted", {"release": arg}
    if kind == LIFE:
        return "MachineLifeChanged", {"life": arg, "force": False}
    if kind == ASSIGNED:
        return "UnitAssignedToMachine", {
            "unit": subject, "application": subject.split("/")[0], "machine_id": arg,
        }  # fmt: skip
    return "UnitDestroyed", {"unit": subject}


# --- the same events for the eventsourcing baseline -----------------------------------------


class Recorded(DomainEvent):
    """A 3.0 event as a plain eventsourcing DomainEvent: its payload in `data`."""

    data: dict[str, Any]


def _recorded_class(name: str) -> type[Recorded]:
    cls = type(name, (Recorded,), {"__module__": __name__, "__qualname__": name})
    globals()[name] = cls  # eventsourcing resolves "benchmarks.datagen:<name>" topics
    return cls


RECORDED_CLASSES: dict[str, type[Recorded]] = {
    name: _recorded_class(name)
    for name in (
        "ModelCreated", "ModelConfigChanged", "AgentVersionSet", "MachineAdded",
        "MachineProvisioned", "MachineSupportedContainersSet", "MachineAddressesSet",
        "MachineAgentBinarySet", "MachineUpgradeActionsRequested",
        "MachineUpgradeActionsCompleted", "MachineLifeChanged", "UnitAssignedToMachine",
        "UnitDestroyed",
    )
}  # fmt: skip


def json_mapper() -> Mapper[UUID]:
    """eventsourcing's Mapper with its JSONTranscoder (UUIDs and datetimes registered)."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


def recorded_events(events: Iterable[NewEvent]) -> Iterator[Recorded]:
    """The NewEvents as eventsourcing DomainEvents (originator id: uuid5 of the stream)."""
    ids: dict[str, UUID] = {}
    for event in events:
        originator = ids.get(event.stream)
        if originator is None:
            originator = ids[event.stream] = uuid5(NAMESPACE_URL, event.stream)
        at = datetime.fromtimestamp((event.recorded_at or 0) / 1_000_000, tz=UTC)
        cls: Any = RECORDED_CLASSES[event.type]  # eventsourcing makes the dataclass fields
        yield cls(
            originator_id=originator, originator_version=event.version, timestamp=at,
            data=event.data,
        )  # fmt: skip
