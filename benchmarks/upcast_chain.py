"""Micro-benchmark: the cost of reading stored 1.14 events through the full upcaster chain.

Generates a realistic 1.14 fleet log (every 1.14 event type, seeded), msgpack-encodes
the payloads, then times, in alternating rounds:

- decode only               msgpack.unpackb per payload
- decode + upcast           the same, then CHAIN.upcast to 3.0 (express plans first)
- decode + upcast, steps    the same through the release steps only (no express plans)
- store read                rows fetched from an in-memory SQLite table, decoded, made
                            into an envelope tuple (what a store read does)
- store read + upcast       the same with CHAIN.upcast

Times are this process's CPU time. Ratios are of medians over the rounds. (The real
store's loop, EventStore.decode, calls the express plans directly: see read_upcast.py.)

Run: .venv/bin/python benchmarks/upcast_chain.py [--events 200000] [--rounds 5] [--per-type]
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eventstate.releases import CODE_RELEASE
from upcasters import CHAIN, UpcastFunction

STEPWISE: UpcastFunction = CHAIN.upcaster_for(CODE_RELEASE, express=False)

PROVIDERS = ["ec2", "openstack", "maas", "azure", "local", "manual", "joyent", "null"]
SERIES = ["precise", "precise", "trusty", "trusty", "xenial"]
INSTANCE_SHAPES = [
    "arch=amd64 cpu-cores=1 mem=1740M root-disk=8192M",
    "arch=amd64 cpu-cores=2 mem=3G root-disk=8G tags=virtual,fast",
    "arch=amd64 cpu-cores=4 mem=7680M root-disk=16G",
    "arch=i386 cpu-cores=1 mem=1740 root-disk=8192M",
    "arch=arm64 mem=2048 cpu-power=100",
    "arch=amd64 cpu-cores=8 cpu-power=800 mem=15G root-disk=32G tags=ssd",
]
CONFIG_CHANGES: list[tuple[dict[str, Any], list[str]]] = [
    ({"logging-config": "<root>=DEBUG"}, []),
    ({"default-series": "trusty", "image-stream": "released"}, []),
    ({"tools-url": "https://x"}, ["shared-storage-port"]),
    ({"firewall-mode": "global"}, ["logging-config"]),
    ({"default-series": "precise"}, ["image-stream"]),
]
# Relative weights of each 1.14 type in a busy log.
TYPE_WEIGHTS = {
    "MachineAdded": 10,
    "MachineProvisioned": 9,
    "MachineAddressesSet": 18,
    "MachineAgentToolsSet": 14,
    "MachineLifeChanged": 5,
    "MachineSupportedContainersSet": 6,
    "UnitAssignedToMachine": 12,
    "UnitDestroyed": 6,
    "EnvironConfigChanged": 10,
    "AgentVersionSet": 10,
}


class Row(NamedTuple):
    stream: str
    version: int
    type: str
    schema: int
    state: bytes
    provider: str


class Machine:
    def __init__(self, rng: random.Random, model: str, provider: str, number: int) -> None:
        self.model = model
        self.provider = provider
        host = rng.randrange(number + 1)
        self.id = str(number) if rng.random() < 0.7 else f"{host}/lxc/{number}"
        self.stream = f"machine:{model}:{self.id}"
        self.series = rng.choice(SERIES)
        self.manual = provider in ("manual", "null") and number > 0
        self.nonce = f"manual:10.1.{number // 250}.{number % 250}" if self.manual else ""
        self.private = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        self.public = rng.choice(
            [
                f"54.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                f"ec2-54-{rng.randrange(256)}-1-2.compute-1.amazonaws.com",
                f"2001:db8::{rng.randrange(4096):x}",
                "fe80::1",
                "127.0.0.1",
                f"node{number}.maas.local",
            ]
        )
        self.version = 0

    def next_version(self) -> int:
        self.version += 1
        return self.version


def _nonce(rng: random.Random, machine_id: str) -> str:
    return f"machine-{machine_id.replace('/', '-')}:{uuid.UUID(int=rng.getrandbits(128))}"


def payload(rng: random.Random, type_name: str, machine: Machine, unit: int) -> dict[str, Any]:
    if type_name == "MachineAdded":
        jobs = [2, 3, 1] if machine.id == "0" else [1]
        return {
            "machine_id": machine.id,
            "series": machine.series,
            "container_type": "lxc" if "/" in machine.id else "",
            "nonce": machine.nonce,
            "jobs": jobs,
            "constraints": rng.choice(["", "mem=4G", "cpu-cores=2 mem=8G"]),
            "placement": rng.choice(["", "zone=us-east-1a"]),
        }
    if type_name == "MachineProvisioned":
        return {
            "instance_id": f"i-{rng.getrandbits(32):08x}",
            "nonce": _nonce(rng, machine.id),
            "characteristics": rng.choice(INSTANCE_SHAPES),
        }
    if type_name == "MachineAddressesSet":
        addresses = [machine.private, machine.public] if rng.random() < 0.6 else [machine.private]
        return {"addresses": addresses}
    if type_name == "MachineAgentToolsSet":
        version = f"1.14.{rng.choice([0, 1])}-{machine.series}-amd64"
        return {
            "tools": {
                "version": version,
                "url": f"https://streams.example/tools/juju-{version}.tgz",
                "size": rng.randrange(5_000_000, 9_000_000),
                "sha256": f"{rng.getrandbits(256):064x}",
            }
        }
    if type_name == "MachineLifeChanged":
        return {"life": rng.choice([1, 1, 2])}
    if type_name == "MachineSupportedContainersSet":
        return {"types": rng.choice([["lxc", "kvm"], ["lxc"], [], ["kvm", "lxc", "lxc"]])}
    if type_name == "UnitAssignedToMachine":
        service = rng.choice(["wordpress", "mysql", "haproxy", "postgresql"])
        return {"unit": f"{service}/{unit}", "service": service, "machine_id": machine.id}
    if type_name == "UnitDestroyed":
        return {"unit": f"wordpress/{unit}"}
    if type_name == "EnvironConfigChanged":
        changes, unset = rng.choice(CONFIG_CHANGES)
        return {"set": dict(changes), "unset": list(unset)}
    if type_name == "AgentVersionSet":
        return {"version": rng.choice(["1.14.0", "1.14.1"])}
    raise AssertionError(type_name)


def generate(count: int, seed: int = 20131) -> list[Row]:
    """`count` realistic 1.14 events over a fleet of models and machines."""
    rng = random.Random(seed)
    models = []
    for _ in range(max(1, count // 4000)):
        model = str(uuid.UUID(int=rng.getrandbits(128)))
        provider = rng.choice(PROVIDERS)
        machines = [Machine(rng, model, provider, n) for n in range(rng.randrange(20, 80))]
        models.append((model, provider, machines))
    names = list(TYPE_WEIGHTS)
    weights = list(TYPE_WEIGHTS.values())
    rows = []
    model_versions: Counter[str] = Counter()
    for type_name in rng.choices(names, weights, k=count):
        model, provider, machines = rng.choice(models)
        machine = rng.choice(machines)
        unit = rng.randrange(200)
        data = payload(rng, type_name, machine, unit)
        if type_name in ("EnvironConfigChanged", "AgentVersionSet"):
            stream = f"model:{model}"
            model_versions[stream] += 1
            version = model_versions[stream] + 1
        elif type_name.startswith("Unit"):
            stream, version = f"unit:{model}:wordpress/{unit}", 1
        else:
            stream, version = machine.stream, machine.next_version()
        rows.append(Row(stream, version, type_name, 1, msgpack.packb(data), provider))
    return rows


# --- the timed readers ---------------------------------------------------------------------


def decode_only(rows: list[Row]) -> int:
    unpack = msgpack.unpackb
    n = 0
    for _stream, _version, _type_name, _schema, state, _provider in rows:
        unpack(state)
        n += 1
    return n


def decode_upcast(rows: list[Row], upcast: UpcastFunction = CHAIN.upcast) -> int:
    unpack = msgpack.unpackb
    n = 0
    for stream, version, type_name, schema, state, provider in rows:
        upcast(stream, version, type_name, schema, unpack(state), provider)
        n += 1
    return n


class Event(NamedTuple):
    position: int
    stream: str
    version: int
    type: str
    schema: int
    data: dict[str, Any]


def sqlite_table(rows: list[Row]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT, version INTEGER,"
        " type TEXT, schema INTEGER, provider TEXT, state BLOB)"
    )
    db.executemany(
        "INSERT INTO events (stream, version, type, schema, provider, state) VALUES (?,?,?,?,?,?)",
        [(r.stream, r.version, r.type, r.schema, r.provider, r.state) for r in rows],
    )
    return db


def _select(db: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    cursor = db.execute(
        "SELECT position, stream, version, type, schema, provider, state FROM events"
    )
    while page := cursor.fetchmany(1000):
        yield from page


def store_read(db: sqlite3.Connection) -> int:
    unpack = msgpack.unpackb
    make = Event._make
    n = 0
    for position, stream, version, type_name, schema, _provider, state in _select(db):
        make((position, stream, version, type_name, schema, unpack(state)))
        n += 1
    return n


def store_read_upcast(db: sqlite3.Connection) -> int:
    unpack = msgpack.unpackb
    upcast = CHAIN.upcast
    make = Event._make
    n = 0
    for position, stream, version, type_name, schema, provider, state in _select(db):
        type_name, schema, data = upcast(
            stream, version, type_name, schema, unpack(state), provider
        )
        make((position, stream, version, type_name, schema, data))
        n += 1
    return n


def timed(read: Callable[[], int]) -> float:
    # CPU time of this process: other work on a shared machine does not count.
    gc.collect()
    start = time.process_time()
    read()
    return time.process_time() - start


def per_type(rows: list[Row], rounds: int) -> list[tuple[str, int, float, float, float]]:
    by_type: dict[str, list[Row]] = {}
    for row in rows:
        by_type.setdefault(row.type, []).append(row)
    results = []
    for type_name, subset in sorted(by_type.items()):
        n = len(subset)
        plain = min(timed(partial(decode_only, subset)) for _ in range(rounds))
        upcast = min(timed(partial(decode_upcast, subset)) for _ in range(rounds))
        steps = min(timed(partial(decode_upcast, subset, STEPWISE)) for _ in range(rounds))
        results.append((type_name, n, plain / n, upcast / n, steps / n))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-type", action="store_true", help="also time each type alone")
    args = parser.parse_args()

    rows = generate(args.events)
    db = sqlite_table(rows)
    decode_upcast(rows)  # warm the caches a long-running reader has warm
    readers: dict[str, Callable[[], int]] = {
        "decode only": lambda: decode_only(rows),
        "decode + upcast": lambda: decode_upcast(rows),
        "decode + upcast, steps": lambda: decode_upcast(rows, STEPWISE),
        "store read": lambda: store_read(db),
        "store read + upcast": lambda: store_read_upcast(db),
    }
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(args.rounds):  # alternate, so drift hits every reader alike
        for name, read in readers.items():
            times[name].append(timed(read))

    n = len(rows)
    print(f"{n} stored 1.14 events, {args.rounds} alternating rounds, median (best)")
    print(f"{'reader':<22}{'seconds':>16}{'events/s':>12}{'us/event':>10}")
    for name, samples in times.items():
        median, best = statistics.median(samples), min(samples)
        print(f"{name:<22}{median:>8.3f} ({best:.3f}){n / median:>12,.0f}{median / n * 1e6:>10.2f}")
    plain, upcast = (
        statistics.median(times["decode only"]),
        statistics.median(times["decode + upcast"]),
    )
    store, store_up = (
        statistics.median(times["store read"]),
        statistics.median(times["store read + upcast"]),
    )
    steps = statistics.median(times["decode + upcast, steps"])
    print(f"ratio decode+upcast / decode only:         {upcast / plain:.2f}x")
    print(f"ratio decode+upcast, steps / decode only:  {steps / plain:.2f}x")
    print(f"ratio store read+upcast / store read:      {store_up / store:.2f}x")
    print(f"upcast cost per event:                     {(upcast - plain) / n * 1e6:.2f} us")

    if args.per_type:
        header = f"{'type (1.14)':<32}{'events':>8}{'decode us':>11}{'+upcast us':>12}"
        print(f"\n{header}{'ratio':>7}{'+steps us':>11}{'ratio':>7}")
        for type_name, count, plain_us, upcast_us, steps_us in per_type(rows, args.rounds):
            print(
                f"{type_name:<32}{count:>8}{plain_us * 1e6:>11.2f}{upcast_us * 1e6:>12.2f}"
                f"{upcast_us / plain_us:>7.2f}{steps_us * 1e6:>11.2f}{steps_us / plain_us:>7.2f}"
            )


if __name__ == "__main__":
    main()
