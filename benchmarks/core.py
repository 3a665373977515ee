"""Issue 2 benchmarks: import, single-event commands and aggregate load, each as a
ratio against plain eventsourcing 9.5 (and raw sqlite3) measured in the same run.

    .venv/bin/python benchmarks/core.py [--events 1000000] [--rounds 3] [--data DIR]
                                        [--only import,commands,load]

(a) import of N legacy 1.14 events (the fixture builder's realistic log) into a new
    SQLite file, as
    - `import_jsonl(store, path)`: the `eventstate import FILE` path, JSON parsing,
      validation, msgpack and the hash chain included (a file over 4 MiB is parsed
      by a forked child while the importer hashes and inserts: two cores);
    - the bulk append API: the events already in memory, encoded with the store's
      codec and appended with `SQLiteBackend.append_stream_of_batches` (batches of
      5,000; the caller checks each stream's versions are contiguous and passes
      `trusted_versions=True`, as import does);
    against
    - plain eventsourcing: the same events as DomainEvent objects (built before the
      clock starts), `Application.save` with 100 per call, default JSON transcoder;
      target: eventstate >= 6x;
    - raw sqlite3: `executemany` of the same rows, pre-encoded (msgpack state and
      hash computed before the clock starts), into a table with the same columns and
      unique (stream, version) index, one transaction, same pragmas (WAL,
      synchronous=FULL); target: eventstate >= 60%.
(b) single-event commands through `Repository` on one process: `set_machine_addresses`
    and `change_model_config` alternating over many machines and models, each command
    a load, a decision and a one-event append; against an eventsourcing Application
    doing `repository.get`, an `@event` command and `save` (one event per save).
    Target >= 1.5x.
(c) loading one machine whose stream holds 1,000 events: `Repository.load_machine`
    against `app.repository.get` of an eventsourcing Aggregate with 1,000 events
    (same payloads, no snapshots). Target >= 10x. Two eventstate figures: with
    snapshots (the default) in their worst case, the latest snapshot 99 events
    behind the head, so each load reads it and folds 99 events; and with snapshots
    off, each load folding all 1,000 events.

Every pair runs in alternating rounds (benchmarks/harness.py) and the table shows
the ratio of median rates. Data lives in a temporary folder unless --data DIR is
given (then the generated log is kept there and reused).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgpack
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import baseline_eventsourcing as es
from benchmarks.harness import Comparison, Measure, alternate, report
from eventstate.api import open_store
from eventstate.backends.base import NewRow
from eventstate.gating import ImportGuard
from eventstate.hashing import GENESIS, event_hash
from eventstate.interchange import import_jsonl
from eventstate.repository import Repository
from eventstate.store import EventStore, NewEvent
from eventstate.timeutil import parse_iso_us

SEED = 0
RELEASE = "1.14"
BATCH = 5_000  # rows per append_stream_of_batches batch (what import uses)
ES_CHUNK = 100  # events per Application.save call in the baseline
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# (stream, version, type, schema, recorded_at_us, data)
Record = tuple[str, int, str, int, int, dict[str, Any]]


# --- data shared with read_upcast.py -------------------------------------------------------


def workdir(data: str | None, disk: bool = False) -> tuple[Path, Callable[[], None]]:
    """The folder for logs and databases, and how to clean it up at the end.

    By default a temporary folder on tmpfs (/dev/shm) when there is one: fsync is
    free there, so the figures compare the code, not the disk (an fsync costs ~5 ms
    on this machine's disk, which would make every one-commit-per-command figure a
    measure of the disk). `disk=True` uses the ordinary temporary folder instead.
    """
    if data:
        path = Path(data)
        path.mkdir(parents=True, exist_ok=True)
        return path, lambda: None
    shm = Path("/dev/shm")
    parent = None if disk or not (shm.is_dir() and os.access(shm, os.W_OK)) else str(shm)
    path = Path(tempfile.mkdtemp(prefix="eventstate-bench-", dir=parent))
    return path, lambda: shutil.rmtree(path, ignore_errors=True)


def fsync_ms(folder: Path) -> float:
    """Median milliseconds of one synchronous=FULL WAL commit in `folder` (for the notes)."""
    path = folder / "fsync-probe.db"
    remove_db(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (a)")
    times = []
    for i in range(30):
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - start)
    conn.close()
    remove_db(path)
    return sorted(times)[len(times) // 2] * 1000


def ensure_log(folder: Path, events: int) -> Path:
    """The builder's realistic 1.14 log of `events` events, generated once per folder."""
    from eventstate.samples.builder import build_legacy_log, write_jsonl

    path = folder / f"legacy-{RELEASE}-{events}-seed{SEED}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        write_jsonl(path, build_legacy_log(seed=SEED, events=events, release=RELEASE))
        say(f"generated {events:,} events into {path} in {time.perf_counter() - started:.0f}s")
    return path


def load_records(path: Path) -> list[Record]:
    loads = orjson.loads
    records: list[Record] = []
    with open(path, "rb") as handle:
        next(handle)  # the header
        for line in handle:
            e = loads(line)
            records.append(
                (
                    e["stream"],
                    e["version"],
                    e["type"],
                    e["schema"],
                    parse_iso_us(e["recorded_at"]),
                    e["data"],
                )
            )
    return records


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def freeze_heap() -> None:
    """Move the prepared data out of the collector's way (both sides alike)."""
    gc.collect()
    gc.freeze()


# --- (a) import -------------------------------------------------------------------------------

RAW_SCHEMA = (
    """CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        schema INTEGER NOT NULL,
        recorded_at INTEGER NOT NULL,
        state BLOB NOT NULL,
        hash BLOB NOT NULL)""",
    "CREATE UNIQUE INDEX events_stream_version ON events (stream, version)",
)
RAW_INSERT = (
    "INSERT INTO events (stream, version, type, schema, recorded_at, state, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def raw_rows(records: Sequence[Record]) -> list[tuple[Any, ...]]:
    """The rows eventstate would write: msgpack state and the hash chain, precomputed."""
    packb = msgpack.Packer(use_bin_type=True, autoreset=True).pack
    previous = GENESIS
    rows = []
    for stream, version, type_name, schema, recorded_at, data in records:
        state = packb(data)
        previous = event_hash(previous, stream, version, type_name, schema, recorded_at, state)
        rows.append((stream, version, type_name, schema, recorded_at, state, previous))
    return rows


def raw_import(path: Path, rows: list[tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        for statement in RAW_SCHEMA:
            conn.execute(statement)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(RAW_INSERT, rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


def bulk_batches(store: EventStore, records: Sequence[Record]) -> Iterator[list[NewRow]]:
    """Rows for the bulk API: payloads through the store's codec, and each stream's
    versions checked to run 1, 2, 3 ... as the caller of `trusted_versions` must."""
    encode = store.codec.encode
    last: dict[str, int] = {}
    for i in range(0, len(records), BATCH):
        batch = []
        for stream, version, type_name, schema, recorded_at, data in records[i : i + BATCH]:
            if last.get(stream, 0) + 1 != version:
                raise ValueError(
                    f"{stream}: version {version} does not follow {last.get(stream, 0)}"
                )
            last[stream] = version
            batch.append((stream, version, type_name, schema, recorded_at, encode(data)))
        yield batch


def bulk_append(url: str, records: Sequence[Record]) -> None:
    """Into a new store, as import does: versions checked by the caller (above), the
    store trusting them since it is empty (it checks that inside the transaction)."""
    store = open_store(url)
    try:
        store.backend.append_stream_of_batches(
            bulk_batches(store, records), ImportGuard(RELEASE, "bulk"), trusted_versions=True
        )
    finally:
        store.close()


def jsonl_import(url: str, log: Path) -> None:
    store = open_store(url)
    try:
        import_jsonl(store, log)
    finally:
        store.close()


def es_import(path: Path, events: Sequence[es.LegacyEvent]) -> None:
    app = es.make_app(path)
    try:
        es.save_in_chunks(app, events, ES_CHUNK)
    finally:
        es.close_app(app)


def bench_import(folder: Path, log: Path, rounds: int) -> list[Comparison]:
    say("import: loading the log into memory for the bulk, baseline and raw runs")
    records = load_records(log)
    n = len(records)
    rows = raw_rows(records)
    es.set_class_version(1)
    events = es.legacy_events(
        (s, v, t, sc, _EPOCH + timedelta(microseconds=us), d) for s, v, t, sc, us, d in records
    )
    freeze_heap()
    run = folder / "import"
    run.mkdir(exist_ok=True)
    dbs = {name: run / f"{name}.db" for name in ("jsonl", "bulk", "es", "raw")}

    # alternate() calls setup before each run, in run order: each run starts from
    # no database of its own, and the others' stay for the row counts at the end.
    order = itertools.cycle(["jsonl", "es", "bulk", "raw"])

    def setup() -> None:
        remove_db(dbs[next(order)])

    m_jsonl = Measure("import_jsonl", n, "events")
    m_bulk = Measure("bulk append", n, "events")
    m_es = Measure("Application.save x100", n, "events")
    m_raw = Measure("sqlite3 executemany", n, "rows")
    say(f"import: {rounds} rounds of {n:,} events, 4 runs each")
    alternate(
        [
            (m_jsonl, lambda: jsonl_import(f"sqlite:///{dbs['jsonl']}", log)),
            (m_es, lambda: es_import(dbs["es"], events)),
            (m_bulk, lambda: bulk_append(f"sqlite:///{dbs['bulk']}", records)),
            (m_raw, lambda: raw_import(dbs["raw"], rows)),
        ],
        rounds,
        setup,
    )
    check_counts(dbs, n)
    for path in dbs.values():
        remove_db(path)
    gc.unfreeze()
    gc.collect()  # the prepared data goes when this returns
    return [
        Comparison(f"import {n:,} events: JSONL vs eventsourcing", m_jsonl, m_es, 6.0),
        Comparison(f"import {n:,} events: bulk API vs eventsourcing", m_bulk, m_es, 6.0),
        Comparison(f"import {n:,} events: JSONL vs raw sqlite3", m_jsonl, m_raw, 0.6),
        Comparison(f"import {n:,} events: bulk API vs raw sqlite3", m_bulk, m_raw, 0.6),
    ]


def check_counts(dbs: dict[str, Path], n: int) -> None:
    for name, path in dbs.items():
        conn = sqlite3.connect(path)
        table = "stored_events" if name == "es" else "events"
        count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        conn.close()
        if count != n:
            raise SystemExit(f"{name}: {count} rows written, expected {n}")


# --- (b) single-event commands -----------------------------------------------------------------

MODELS = 100
MACHINES_PER_MODEL = 20
PROVIDERS = ("ec2", "openstack", "maas", "azure", "lxd")


def model_uuid(m: int) -> str:
    return f"00000000-0000-4000-8000-{m:012d}"


def addresses_for(i: int) -> list[dict[str, Any]]:
    return [
        {
            "value": f"10.{i % 250}.{(i // 250) % 250}.{1 + i % 200}",
            "type": "ipv4",
            "scope": "local-cloud",
        },
        {
            "value": f"54.{i % 200}.{(i // 200) % 250}.{1 + i % 250}",
            "type": "ipv4",
            "scope": "public",
        },
    ]


def config_for(i: int) -> dict[str, Any]:
    return {
        "logging-config": f"<root>=WARNING;unit.{i % 97}=DEBUG",
        "update-status-hook-interval": f"{1 + i % 9}m",
    }


def command_plan(commands: int) -> list[tuple[int, int]]:
    """(kind, target): kind 0 sets a machine's addresses, 1 changes a model's config."""
    machines = MODELS * MACHINES_PER_MODEL
    plan = []
    for i in range(commands):
        if i % 2 == 0:
            plan.append((0, (i // 2 * 7919) % machines))  # machines visited in a scattered order
        else:
            plan.append((1, (i // 2 * 31) % MODELS))
    return plan


def build_command_stores(folder: Path) -> tuple[Path, Path]:
    """Template databases: MODELS models of MACHINES_PER_MODEL provisioned machines each."""
    es_path, es_tmpl = folder / "commands-eventstate.tmpl", folder / "commands-es.tmpl"
    for path in (es_path, es_tmpl):
        remove_db(path)
    store = open_store(f"sqlite:///{es_path}")
    repo = Repository(store)
    app = es.make_app(es_tmpl)
    base = {"os": "ubuntu", "channel": "22.04/stable"}
    for m in range(MODELS):
        uuid, provider = model_uuid(m), PROVIDERS[m % len(PROVIDERS)]
        config = {"default-base": "ubuntu@22.04", "logging-config": "<root>=WARNING"}
        repo.create_model(f"model-{m}", provider_type=provider, config=config, model_uuid=uuid)
        model = es.Model(model_uuid=uuid, name=f"model-{m}", provider_type=provider, config=config)
        aggregates: list[Any] = [model]
        for k in range(MACHINES_PER_MODEL):
            machine_id = str(k)
            repo.add_machine(
                uuid, base="ubuntu@22.04", jobs=["JobHostUnits"], machine_id=machine_id
            )
            repo.set_machine_addresses(uuid, machine_id, addresses_for(k))
            machine = es.Machine(
                model_uuid=uuid, machine_id=machine_id, base=base, jobs=["JobHostUnits"]
            )
            machine.set_addresses(
                origin="provider", addresses=[{"space_id": "0", **a} for a in addresses_for(k)]
            )
            aggregates.append(machine)
        app.save(*aggregates)
    store.close()
    es.close_app(app)
    return es_path, es_tmpl


def es_commands(path: Path, plan: list[tuple[int, int]]) -> None:
    app = es.make_app(path)
    get, save = app.repository.get, app.save
    try:
        for i, (kind, target) in enumerate(plan):
            if kind == 0:
                uuid = model_uuid(target // MACHINES_PER_MODEL)
                machine: es.Machine = get(
                    es.stream_uuid(f"machine:{uuid}:{target % MACHINES_PER_MODEL}")
                )
                machine.set_addresses(
                    origin="provider", addresses=[{"space_id": "0", **a} for a in addresses_for(i)]
                )
                save(machine)
            else:
                model: es.Model = get(es.stream_uuid(f"model:{model_uuid(target)}"))
                model.change_config(set=config_for(i))
                save(model)
    finally:
        es.close_app(app)


def eventstate_commands(url: str, plan: list[tuple[int, int]]) -> None:
    store = open_store(url)
    repo = Repository(store)
    try:
        for i, (kind, target) in enumerate(plan):
            if kind == 0:
                uuid = model_uuid(target // MACHINES_PER_MODEL)
                repo.set_machine_addresses(uuid, str(target % MACHINES_PER_MODEL), addresses_for(i))
            else:
                repo.change_model_config(model_uuid(target), config_for(i))
    finally:
        store.close()


def bench_commands(folder: Path, commands: int, rounds: int) -> list[Comparison]:
    say(f"commands: building {MODELS} models x {MACHINES_PER_MODEL} machines on both sides")
    tmpl_state, tmpl_es = build_command_stores(folder)
    run_state, run_es = folder / "commands-eventstate.db", folder / "commands-es.db"
    plan = command_plan(commands)

    def setup() -> None:
        for tmpl, run in ((tmpl_state, run_state), (tmpl_es, run_es)):
            remove_db(run)
            shutil.copyfile(tmpl, run)

    m_state = Measure("Repository", commands, "commands")
    m_es = Measure("get + save, 1 event", commands, "commands")
    say(f"commands: {rounds} rounds of {commands:,} commands")
    alternate(
        [
            (m_state, lambda: eventstate_commands(f"sqlite:///{run_state}", plan)),
            (m_es, lambda: es_commands(run_es, plan)),
        ],
        rounds,
        setup,
    )
    for path in (tmpl_state, tmpl_es, run_state, run_es):
        remove_db(path)
    return [Comparison(f"{commands:,} single-event commands", m_state, m_es, 1.5)]


# --- (c) load of one machine with 1,000 events --------------------------------------------------

LOAD_EVENTS = 1_000
LOAD_MODEL = model_uuid(7)
LOAD_MACHINE = "3"


def machine_history(count: int) -> list[tuple[str, dict[str, Any]]]:
    """(command, payload) of a machine's life: added, provisioned, then agents reporting."""
    history: list[tuple[str, dict[str, Any]]] = [
        (
            "add",
            {
                "base": {"os": "ubuntu", "channel": "22.04/stable"},
                "jobs": ["JobHostUnits"],
                "container_type": "",
                "nonce": "",
                "constraints": "mem=4G",
                "placement": "",
            },
        ),
        (
            "provision",
            {
                "nonce": "machine-3:7c1f",
                "instance": {
                    "instance_id": "i-0abc1234",
                    "display_name": "",
                    "keep_instance": False,
                    "hardware": {
                        "arch": "amd64",
                        "cpu_cores": 4,
                        "cpu_power": None,
                        "mem_mib": 16384,
                        "root_disk_mib": 32768,
                        "tags": [],
                        "availability_zone": "us-east-1a",
                    },
                },
            },
        ),
    ]
    i = 0
    while len(history) < count:
        step = i % 3
        if step == 0:
            history.append(
                (
                    "addresses",
                    {
                        "origin": "provider",
                        "addresses": [{"space_id": "0", **a} for a in addresses_for(i)],
                    },
                )
            )
        elif step == 1:
            history.append(
                (
                    "agent",
                    {
                        "version": f"3.1.{i % 9}-ubuntu-amd64",
                        "url": f"https://streams/agent-{i}.tgz",
                        "size": 30_000_000 + i,
                        "sha256": f"{i:064x}",
                    },
                )
            )
        else:
            history.append(("containers", {"types": ["kvm", "lxd"] if i % 2 else ["lxd"]}))
        i += 1
    return history


_EVENT_TYPES = {
    "add": "MachineAdded",
    "provision": "MachineProvisioned",
    "addresses": "MachineAddressesSet",
    "agent": "MachineAgentBinarySet",
    "containers": "MachineSupportedContainersSet",
}


def build_load_stores(folder: Path) -> tuple[Path, Path]:
    state_path, es_path = folder / "load-eventstate.db", folder / "load-es.db"
    for path in (state_path, es_path):
        remove_db(path)
    history = machine_history(LOAD_EVENTS)
    store = open_store(f"sqlite:///{state_path}")
    Repository(store).create_model("load", provider_type="ec2", model_uuid=LOAD_MODEL)
    stream = f"machine:{LOAD_MODEL}:{LOAD_MACHINE}"
    payloads = [
        {"machine_id": LOAD_MACHINE, **data} if command == "add" else data
        for command, data in history
    ]
    store.append(
        [
            NewEvent(stream, v, _EVENT_TYPES[c], d)
            for v, ((c, _), d) in enumerate(zip(history, payloads, strict=True), start=1)
        ]
    )
    store.close()

    app = es.make_app(es_path)
    machine: es.Machine | None = None
    for command, data in history:
        if command == "add":
            machine = es.Machine(model_uuid=LOAD_MODEL, machine_id=LOAD_MACHINE, **data)
        elif command == "provision":
            machine.provision(**data)  # type: ignore[union-attr]
        elif command == "addresses":
            machine.set_addresses(**data)  # type: ignore[union-attr]
        elif command == "agent":
            machine.set_agent_binary(**data)  # type: ignore[union-attr]
        else:
            machine.set_supported_containers(**data)  # type: ignore[union-attr]
    app.save(machine)
    es.close_app(app)
    return state_path, es_path


def bench_load(folder: Path, loads: int, rounds: int) -> list[Comparison]:
    from eventstate.domain.aggregates import Machine
    from eventstate.snapshots import DEFAULT_SNAPSHOT_EVERY

    state_path, es_path = build_load_stores(folder)
    store = open_store(f"sqlite:///{state_path}")
    # Two repositories on the same store: the default (snapshots) and snapshots off.
    # cache_size=0 and loads only: every load reads the store, none comes from memory.
    snapshots_on = Repository(store, cache_size=0)
    snapshots_off = Repository(store, cache_size=0, snapshot_every=0)
    app = es.make_app(es_path)
    es_id = es.Machine.create_id(LOAD_MODEL, LOAD_MACHINE)
    stream = store.machine_stream_of(LOAD_MODEL, LOAD_MACHINE)

    # The worst case a user meets: the latest snapshot as far behind as it ever is,
    # snapshot_every - 1 events (a load folding that many writes no new one).
    behind = DEFAULT_SNAPSHOT_EVERY - 1
    at = LOAD_EVENTS - behind
    snapshots = snapshots_on.snapshots
    assert snapshots is not None
    if not snapshots.write(
        stream,
        Machine(LOAD_MODEL, LOAD_MACHINE, store.read_stream(stream, lte=at), stream).folded_state(),
    ):
        raise SystemExit("load: could not write the snapshot")

    full = snapshots_off.load_machine(LOAD_MODEL, LOAD_MACHINE)
    resumed = snapshots_on.load_machine(LOAD_MODEL, LOAD_MACHINE)
    aggregate: es.Machine = app.repository.get(es_id)
    if {full.version, resumed.version, aggregate.version} != {LOAD_EVENTS}:
        raise SystemExit(
            f"load: versions {full.version}, {resumed.version} and {aggregate.version}, "
            f"expected {LOAD_EVENTS}"
        )
    if resumed.snapshot_version != at or resumed.folded_state().docs.machines() != (
        full.folded_state().docs.machines()
    ):
        raise SystemExit("load: the load from the snapshot differs from the full fold")
    if [a["value"] for a in full.require()["addresses"]] != [
        a["value"] for a in aggregate.addresses
    ]:
        raise SystemExit("load: the two sides folded different addresses")

    # Loads from the snapshot are ~10x quicker: more of them per run, for runs of
    # comparable length.
    snapshot_loads = loads * 10

    def load_with_snapshot() -> None:
        for _ in range(snapshot_loads):
            snapshots_on.load_machine(LOAD_MODEL, LOAD_MACHINE)

    def load_full() -> None:
        for _ in range(loads):
            snapshots_off.load_machine(LOAD_MODEL, LOAD_MACHINE)

    def load_es() -> None:
        for _ in range(loads):
            app.repository.get(es_id)

    m_snapshot = Measure("load_machine, snapshot", snapshot_loads, "loads")
    m_full = Measure("load_machine, snapshots off", loads, "loads")
    m_es = Measure("repository.get", loads, "loads")
    # A run is short (a second or two), so the machine's drift moves single rounds a
    # lot: three times the rounds here, which costs little.
    rounds *= 3
    say(f"load: {rounds} rounds of {loads} loads of a {LOAD_EVENTS:,}-event machine")
    alternate([(m_snapshot, load_with_snapshot), (m_full, load_full), (m_es, load_es)], rounds)
    stored = snapshots.storage.read(stream, snapshots.fingerprint)
    if stored is None or stored.version != at:
        raise SystemExit("load: the timed loads wrote a snapshot: they did not all fold the tail")
    store.close()
    es.close_app(app)
    for path in (state_path, es_path):
        remove_db(path)
    ms = [1000 / m.rate for m in (m_snapshot, m_full, m_es)]
    say(
        f"load: {ms[0]:.3f} ms per eventstate load from a snapshot {behind} events behind, "
        f"{ms[1]:.2f} ms with snapshots off (full fold), {ms[2]:.2f} ms per eventsourcing load"
    )
    title = f"load one machine of {LOAD_EVENTS:,} events ({rounds} rounds)"
    return [
        Comparison(f"{title}: snapshot {behind} events behind", m_snapshot, m_es, 10.0),
        Comparison(f"{title}: snapshots off, full fold", m_full, m_es, 10.0),
    ]


# --- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events to import (default 1,000,000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per comparison")
    parser.add_argument("--data", help="folder to keep the generated log and databases in (reused)")
    parser.add_argument("--disk", action="store_true", help="temporary folder on disk, not tmpfs")
    parser.add_argument(
        "--commands",
        type=int,
        help="single-event commands per round (default events/200, >= 2,000)",
    )
    parser.add_argument(
        "--loads", type=int, default=100, help="machine loads per round (3x --rounds rounds)"
    )
    parser.add_argument(
        "--only", default="import,commands,load", help="comma list of import, commands, load"
    )
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - {"import", "commands", "load"}
    if unknown:
        parser.error(f"--only: unknown part(s) {sorted(unknown)}")
    commands = args.commands or max(2_000, args.events // 200)
    folder, cleanup = workdir(args.data, args.disk)
    commit_ms = fsync_ms(folder)
    say(f"data in {folder}; one synchronous commit there takes {commit_ms:.2f} ms")
    started = time.perf_counter()
    comparisons: list[Comparison] = []
    try:
        if "import" in parts:
            comparisons += bench_import(folder, ensure_log(folder, args.events), args.rounds)
        if "commands" in parts:
            comparisons += bench_commands(folder, commands, args.rounds)
        if "load" in parts:
            comparisons += bench_load(folder, args.loads, args.rounds)
    finally:
        cleanup()
    report(
        f"eventstate core (issue 2): medians of {args.rounds} alternating rounds",
        comparisons,
        [
            f"data folder {folder}: one synchronous (fsync) commit takes {commit_ms:.2f} ms there",
            f"total {time.perf_counter() - started:.0f}s; ratios are of median rates, "
            "both sides measured in the same run",
        ],
    )
    return 0 if all(c.met for c in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
