"""Micro benchmark of the pure fold: `Fold(MemoryDocumentSet()).apply_many(events)`.

Generates a realistic upcast (3.0-schema) log in memory: a few hundred models, tens of
thousands of machines and containers, units coming and going, provisioning, address,
agent and life changes, interleaved in time as a live controller would write them. Then
times the fold alone and reports events/s and peak memory.

    .venv/bin/python benchmarks/fold_speed.py [--events 500000] [--batch 0] [--repeat 3]

The log is made here, not from the fixtures (fixtures/README.md asks for that).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, NamedTuple

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projections import Fold, MemoryDocumentSet
from projections.fold import EventTuple

START_US = 1_500_000_000_000_000  # 2017-07-14
SPAN_US = 180 * 86_400 * 1_000_000  # half a year of history
PROVIDERS = ("ec2", "openstack", "azure", "maas", "lxd", "manual", "gce", "local")
SERIES_BASES = (
    {"os": "ubuntu", "channel": "20.04/stable"},
    {"os": "ubuntu", "channel": "22.04/stable"},
    {"os": "ubuntu", "channel": "12.04/stable"},
)
APPLICATIONS = ("mysql", "wordpress", "haproxy", "postgresql", "nginx", "redis", "ceph-osd")
# (type name, 3.0 schema): the fold ignores the schema, the tuple still carries it.
SCHEMA = {
    "ModelCreated": 5,
    "ModelConfigChanged": 4,
    "AgentVersionSet": 1,
    "MachineAdded": 6,
    "MachineProvisioned": 4,
    "MachineAddressesSet": 3,
    "MachineAgentBinarySet": 2,
    "MachineLifeChanged": 2,
    "MachineSupportedContainersSet": 2,
    "MachineUpgradeActionsRequested": 1,
    "UnitAssignedToMachine": 2,
    "UnitDestroyed": 1,
    "EventRetired": 1,
}

# A stream's events as (offset from the stream's start in us, type name, payload).
Timeline = list[tuple[int, str, dict[str, Any]]]


class LogGenerator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        # (recorded_at_us, stream, version, type name, encoded payload)
        self.encoded: list[tuple[int, str, int, str, bytes]] = []

    def build(self, target_events: int) -> list[EventTuple]:
        # ~12 events per top-level machine once containers and units are counted.
        machines_wanted = max(10, target_events // 12)
        models = max(1, machines_wanted // 100)
        for index in range(models):
            self.add_model(index, machines_wanted // models)
        return self.interleave()

    def add_model(self, index: int, machine_count: int) -> None:
        rng = self.rng
        uuid = f"{index:08x}-{rng.getrandbits(16):04x}-4000-8000-{rng.getrandbits(48):012x}"
        provider = rng.choice(PROVIDERS)
        start = START_US + rng.randrange(SPAN_US // 4)
        timeline: Timeline = [
            (0, "ModelCreated", self.model_created(uuid, provider)),
            (1_000_000, "AgentVersionSet", {"version": "2.9.42"}),
        ]
        for n in range(rng.randrange(2, 8)):
            offset = rng.randrange(SPAN_US // 2)
            data = {"set": {"logging-config": f"<root>=DEBUG;n={n}"}, "unset": []}
            timeline.append((offset, "ModelConfigChanged", data))
        timeline.append((rng.randrange(SPAN_US // 2), "EventRetired", self.retired()))
        self.record(f"model:{uuid}", start, sorted(timeline, key=_offset))
        units = 0
        for number in range(machine_count):
            machine_start = start + 5_000_000 + rng.randrange(SPAN_US // 2)
            containers = rng.choice((0, 0, 0, 1, 2))
            self.add_machine(uuid, str(number), machine_start, number == 0)
            for c in range(containers):
                self.add_machine(uuid, f"{number}/lxd/{c}", machine_start + 60_000_000, False)
            for _ in range(rng.choice((0, 1, 1, 2))):
                target = f"{number}/lxd/{rng.randrange(containers)}" if containers else str(number)
                self.add_unit(uuid, f"{rng.choice(APPLICATIONS)}/{units}", target, machine_start)
                units += 1

    def add_machine(self, uuid: str, machine_id: str, start: int, controller: bool) -> None:
        rng = self.rng
        container = "/" in machine_id
        jobs = ["JobHostUnits", "JobManageModel"] if controller else ["JobHostUnits"]
        added = {
            "machine_id": machine_id,
            "base": rng.choice(SERIES_BASES),
            "container_type": "lxd" if container else "",
            "nonce": "",
            "jobs": jobs,
            "constraints": "" if container else rng.choice(("", "mem=4G", "cores=2 mem=8G")),
            "placement": "",
        }
        hardware: dict[str, Any] = {
            "arch": "amd64",
            "cpu_cores": rng.choice((1, 2, 4, 8)),
            "cpu_power": None,
            "mem_mib": rng.choice((2048, 4096, 8192)),
            "root_disk_mib": 8192,
            "tags": [],
            "availability_zone": rng.choice(("az1", "az2", None)),
        }
        timeline: Timeline = [(0, "MachineAdded", added)]
        at = rng.randrange(30_000_000, 600_000_000)
        timeline.append((at, "MachineProvisioned", self.provisioned(machine_id, hardware)))
        for _ in range(1 if container else rng.randrange(2, 5)):
            at += rng.randrange(1_000_000, 86_400_000_000)
            timeline.append((at, "MachineAddressesSet", self.addresses(container)))
        for version in ("2.9.42", "3.0.0")[: 1 if container else 2]:
            at += rng.randrange(1_000_000, 86_400_000_000)
            binary = {"version": f"{version}-ubuntu-amd64", "url": "u", "size": 1, "sha256": "0"}
            timeline.append((at, "MachineAgentBinarySet", binary))
        if not container:
            at += rng.randrange(1_000_000, 600_000_000)
            timeline.append((at, "MachineSupportedContainersSet", {"types": ["kvm", "lxd"]}))
        if rng.random() < 0.1:
            at += rng.randrange(1_000_000, 86_400_000_000)
            request = {"release": "3.0", "packages": ["cpu-checker"], "apt_sources": []}
            timeline.append((at, "MachineUpgradeActionsRequested", request))
        if not controller and rng.random() < 0.15:
            for life in ("dying", "dead"):
                at += rng.randrange(1_000_000, 86_400_000_000)
                timeline.append((at, "MachineLifeChanged", {"life": life, "force": False}))
        self.record(f"machine:{uuid}:{machine_id}", start, timeline)

    def add_unit(self, uuid: str, unit: str, machine_id: str, start: int) -> None:
        assigned = {"unit": unit, "application": unit.split("/")[0], "machine_id": machine_id}
        timeline: Timeline = [(120_000_000, "UnitAssignedToMachine", assigned)]
        if self.rng.random() < 0.2:
            timeline.append((self.rng.randrange(SPAN_US // 4), "UnitDestroyed", {"unit": unit}))
        self.record(f"unit:{uuid}:{unit}", start, sorted(timeline, key=_offset))

    def model_created(self, uuid: str, provider: str) -> dict[str, Any]:
        return {
            "model_uuid": uuid,
            "name": f"model-{uuid[:8]}",
            "provider_type": provider,
            "controller_uuid": "c0ffee00-0000-4000-8000-000000000000",
            "owner": "admin",
            "type": "iaas",
            "cloud": provider,
            "cloud_region": "region-1",
            "cloud_credential": f"{provider}/admin/default",
            "config": {"name": uuid[:8], "default-base": "ubuntu@22.04", "firewall-mode": "x"},
        }

    def provisioned(self, machine_id: str, hardware: dict[str, Any]) -> dict[str, Any]:
        instance_id = f"i-{self.rng.getrandbits(32):08x}"
        return {
            "nonce": f"machine-{machine_id.replace('/', '-')}:{instance_id}",
            "instance": {
                "instance_id": instance_id,
                "display_name": "",
                "keep_instance": False,
                "hardware": hardware,
            },
        }

    def addresses(self, container: bool) -> dict[str, Any]:
        rng = self.rng
        private = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        addresses = [_address(private, "ipv4", "local-cloud")]
        if not container:
            public = f"54.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            addresses.insert(0, _address(public, "ipv4", "public"))
            addresses.append(_address("fe80::1", "ipv6", "link-local"))
        return {"origin": "provider", "addresses": addresses}

    def retired(self) -> dict[str, Any]:
        return {"original_type": "EnvironConfigChanged", "reason": "only deprecated keys"}

    def record(self, stream: str, start_us: int, timeline: Timeline) -> None:
        """Keep a stream's events encoded with msgpack, as the store keeps them."""
        for version, (offset, type_name, data) in enumerate(timeline, start=1):
            self.encoded.append(
                (start_us + offset, stream, version, type_name, msgpack.packb(data))
            )

    def interleave(self) -> list[EventTuple]:
        """All streams merged by time, as the store recorded them, decoded in log order as
        a rebuild reads them (so the fresh payloads also lie in memory in log order)."""
        self.encoded.sort(key=lambda event: (event[0], event[1], event[2]))
        events = [
            (position, stream, version, type_name, SCHEMA[type_name], at_us, msgpack.unpackb(raw))
            for position, (at_us, stream, version, type_name, raw) in enumerate(self.encoded)
        ]
        self.encoded.clear()
        return events


def _address(value: str, type_: str, scope: str) -> dict[str, str]:
    return {"value": value, "type": type_, "scope": scope, "space_id": "0"}


def _offset(entry: tuple[int, str, dict[str, Any]]) -> int:
    return entry[0]


def fold(events: list[EventTuple], batch: int, pause_gc: bool = True) -> MemoryDocumentSet:
    docs = MemoryDocumentSet()
    if batch <= 0:
        Fold(docs, pause_gc=pause_gc).apply_many(events)
    else:  # catch-up in batches, a fresh Fold each time, as separate processes would
        for start in range(0, len(events), batch):
            Fold(docs, pause_gc=pause_gc).apply_many(events[start : start + batch])
    return docs


class Run(NamedTuple):
    wall_s: float
    cpu_s: float
    young_gc_s: float  # the collection of what the fold made, which a paused GC puts off


def timed(events: list[EventTuple], batch: int, pause_gc: bool) -> Run:
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    docs = fold(events, batch, pause_gc)
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    started = time.perf_counter()
    gc.collect(0)
    young_gc_s = time.perf_counter() - started
    del docs
    return Run(wall_s, cpu_s, young_gc_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000, help="about this many events")
    parser.add_argument("--batch", type=int, default=0, help="events per apply_many (0: all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--seed", type=int, default=20130801)
    args = parser.parse_args()

    started = time.perf_counter()
    events = LogGenerator(args.seed).build(args.events)
    generated_s = time.perf_counter() - started
    log_rss_mib = _peak_rss_mib()
    docs = fold(events, args.batch)
    machines, models = docs.machines(), docs.models()
    del docs
    print(f"log:      {len(events):,} events generated in {generated_s:.1f}s")
    print(f"          {len(models):,} models, {len(machines):,} machine documents")
    print(f"fold:     best of {args.repeat}, batch={args.batch or 'all'}")

    for pause_gc in (True, False):
        runs = [timed(events, args.batch, pause_gc) for _ in range(args.repeat)]
        wall = min(r.wall_s for r in runs)
        cpu = min(r.cpu_s for r in runs)
        young = min(r.young_gc_s for r in runs)
        label = "GC paused (default)" if pause_gc else "GC running"
        print(
            f"  {label:<20} {wall:6.3f}s wall = {len(events) / wall:>9,.0f} events/s;"
            f" CPU {cpu:6.3f}s = {len(events) / cpu:>9,.0f} events/s;"
            f" next young collection {young:.3f}s"
        )

    tracemalloc.start()
    fold(events, args.batch)
    _current, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"memory:   fold peak (tracemalloc) {traced_peak / 2**20:,.1f} MiB")
    print(f"          process peak RSS {_peak_rss_mib():,.0f} MiB ({log_rss_mib:,.0f} MiB log)")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


if __name__ == "__main__":
    main()
