"""Load: concurrent state servers on one SQLite store lose and duplicate nothing.

    python -m benchmarks.load --seconds 60 --workers 4

W worker processes (multiprocessing, spawn: real processes with their own SQLite
connections) issue random commands through the retrying repository against one store
file for a bounded time. Most machine commands hit the same four machines of model 0
(hot spots), and new machine and container ids are picked by "next free id", so the
workers race for the same stream versions all the time.

Every worker logs each command it finished, with what `Repository.save` returned for it
(positions and the stream versions appended). Afterwards the checker reads the log back:

- every acknowledged event is at its position exactly once (lost, duplicated: must be 0),
  and the store holds no event nobody acknowledged (orphans: must be 0);
- positions run 1..head and every stream's versions run 1..n;
- `verify` passes (hash chain, decoding, the stored projection copy);
- the projections (`projections.service.machines/models`) equal a fresh fold of
  `store.iter_events()`;
- every read a worker made right after its own write saw that write (read-your-writes).

It prints commands/s, conflicts (appends that lost a race), retries (commands re-decided
after one), and the counts above. `tests/reliability/test_load.py` runs the same check
for a few seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import orjson

from eventstate.api import open_store
from eventstate.domain.aggregates import Aggregate
from eventstate.errors import ConcurrencyConflictError, EventStateError
from eventstate.repository import Repository, RetryingRepository
from eventstate.store import EventStore
from projections import Fold, MemoryDocumentSet, service
from projections.documents import MACHINE_KEYS, MODEL_KEYS

MODEL_UUIDS = (
    "10ad0000-0000-4000-8000-000000000000",
    "10ad0000-0000-4000-8000-000000000001",
)
HOT_MACHINES = ("0", "1", "2", "3")  # every worker writes these of model 0 most of the time
UNIT_POOL = 40  # unit numbers shared by all workers: two may try to assign the same unit
READ_BACK_EVERY = 8  # about one command in 8 is followed by a projection read


# --- the recording repository -------------------------------------------------------------


class RecordingRepository(Repository):
    """The repository with `save` recorded: what every successful append returned, and
    how many appends lost a race (ConcurrencyConflictError)."""

    def __init__(self, store: EventStore) -> None:
        super().__init__(store)
        self.saved: list[tuple[int, str, int]] = []  # (position, stream, version)
        self.lost_races = 0

    def save(self, *aggregates: Aggregate, read: Sequence[Aggregate] = ()) -> list[int]:
        pending = [(e.stream, e.version) for a in aggregates for e in a.pending]
        try:
            positions = super().save(*aggregates, read=read)
        except ConcurrencyConflictError:
            self.lost_races += 1
            raise
        # The store returns one position per event, in the order given.
        self.saved.extend((p, s, v) for p, (s, v) in zip(positions, pending, strict=True))
        return positions


# --- workers ----------------------------------------------------------------------------------


@dataclass
class _WorkerState:
    """What one worker knows: the machines it added, and which it has provisioned."""

    index: int
    rng: random.Random
    own_machines: list[tuple[str, str]] = field(default_factory=list)  # (model, id)
    provisioned: set[str] = field(default_factory=set)
    units: list[tuple[str, str]] = field(default_factory=list)  # (model, unit name)


@dataclass(frozen=True)
class Command:
    name: str
    model: str
    call: Callable[[RetryingRepository], Any]
    machine: str = ""  # the machine whose own stream it writes, if any
    unit: str = ""  # the unit it writes, if any


def _pick(state: _WorkerState) -> Command:
    """One random command, weighted towards the hot machines of model 0."""
    rng = state.rng
    hot_model = MODEL_UUIDS[0]
    model = hot_model if rng.random() < 0.8 else rng.choice(MODEL_UUIDS)
    hot = rng.choice(HOT_MACHINES)
    roll = rng.random()
    if roll < 0.22:
        last = rng.randrange(1, 250)
        addresses = [f"10.{state.index}.0.{last}", f"54.12.{state.index}.{last}"]
        return Command(
            "set-addresses",
            hot_model,
            lambda r: r.set_machine_addresses(hot_model, hot, addresses),
            machine=hot,
        )
    if roll < 0.32:
        version = f"3.0.{rng.randrange(0, 20)}-ubuntu-amd64"
        return Command(
            "set-agent-binary",
            hot_model,
            lambda r: r.set_machine_agent_binary(hot_model, hot, version=version),
            machine=hot,
        )
    if roll < 0.42:
        key, value = f"w{state.index}-k{rng.randrange(10)}", rng.randrange(1000)
        return Command("model-config", model, lambda r: r.change_model_config(model, {key: value}))
    if roll < 0.45:
        version = f"3.0.{rng.randrange(0, 20)}"
        return Command("agent-version", model, lambda r: r.set_model_agent_version(model, version))
    if roll < 0.55:
        # "Next free id": workers adding at once pick the same id and race for it.
        return Command("add-machine", model, lambda r: r.add_machine(model, base="ubuntu@22.04"))
    if roll < 0.62:
        return Command(
            "add-container",
            hot_model,
            lambda r: r.add_machine(
                hot_model, base="ubuntu@22.04", parent=hot, container_type="lxd"
            ),
        )
    if roll < 0.67:
        types = sorted(rng.sample(["lxd", "kvm"], rng.randrange(0, 3)))
        return Command(
            "supported-containers",
            hot_model,
            lambda r: r.set_supported_containers(hot_model, hot, types),
            machine=hot,
        )
    if roll < 0.79:
        # Unit names come from a pool all workers share: the loser of a race for one
        # is refused ("assigned already") after its retry re-decides.
        unit = f"app{rng.randrange(3)}/{rng.randrange(UNIT_POOL)}"
        target_model, target = hot_model, hot
        if state.own_machines and rng.random() < 0.4:
            target_model, target = _own(state)
        return Command(
            "assign-unit",
            target_model,
            lambda r: r.assign_unit(target_model, unit, target),
            unit=unit,
        )
    if roll < 0.83 and state.units:
        unit_model, unit = state.units.pop(rng.randrange(len(state.units)))
        return Command("destroy-unit", unit_model, lambda r: r.destroy_unit(unit_model, unit))
    if state.own_machines:
        own_model, own = _own(state)
        if own not in state.provisioned and rng.random() < 0.5:
            instance = f"i-{state.index:02d}{rng.getrandbits(32):08x}"
            return Command(
                "provision",
                own_model,
                lambda r: r.provision_machine(
                    own_model,
                    own,
                    instance_id=instance,
                    nonce=f"machine-{own}:{instance}",
                    hardware={"arch": "amd64", "mem_mib": 4096},
                ),
                machine=own,
            )
        if rng.random() < 0.15:
            life = rng.choice(["dying", "dead"])
            return Command(
                "set-life",
                own_model,
                lambda r: r.set_machine_life(own_model, own, life),
                machine=own,
            )
        addresses = [f"192.168.{state.index}.{rng.randrange(1, 250)}"]
        return Command(
            "set-addresses",
            own_model,
            lambda r: r.set_machine_addresses(own_model, own, addresses),
            machine=own,
        )
    return Command("add-machine", model, lambda r: r.add_machine(model, base="ubuntu@22.04"))


def _own(state: _WorkerState) -> tuple[str, str]:
    return state.rng.choice(state.own_machines)


def worker(url: str, index: int, seed: int, seconds: float, log: str, barrier: Barrier) -> None:
    """One state server: random commands until the time is up, each logged as a JSON line
    once it returns (acknowledged) with the events its save appended."""
    store = open_store(url)
    recording = RecordingRepository(store)
    repo = recording.retrying(attempts=20, max_wait_s=0.2)
    state = _WorkerState(index, random.Random(seed * 7919 + index))
    with open(log, "wb") as out:
        barrier.wait(timeout=120)  # every worker imported and opened: start together
        deadline = time.monotonic() + seconds
        number = 0
        while time.monotonic() < deadline:
            command = _pick(state)
            recording.saved.clear()
            started = time.perf_counter()
            try:
                result = command.call(repo)
                outcome = "ok"
            except ConcurrencyConflictError:
                outcome = "gave-up"  # every attempt lost a race
                result = None
            except EventStateError as exc:
                # A domain rule said no (provisioned already, unit assigned elsewhere...).
                outcome = "rejected:" + type(exc).__name__
                result = None
            record: dict[str, Any] = {
                "worker": index,
                "n": number,
                "command": command.name,
                "outcome": outcome,
                "events": recording.saved,
                "ms": round((time.perf_counter() - started) * 1000, 3),
            }
            machine = command.machine
            if outcome == "ok":
                if command.name in ("add-machine", "add-container"):
                    machine = str(result)
                    state.own_machines.append((command.model, machine))
                elif command.name == "provision":
                    state.provisioned.add(machine)
                elif command.unit:
                    state.units.append((command.model, command.unit))
                if machine and number % READ_BACK_EVERY == 0:
                    record["read_back"] = _read_back(store, command.model, machine, recording.saved)
            out.write(orjson.dumps(record))
            out.write(b"\n")
            out.flush()  # logged as soon as acknowledged: the log is the client's memory
            number += 1
        out.write(
            orjson.dumps(
                {
                    "worker": index,
                    "summary": True,
                    "retries": repo.conflicts,
                    "lost_races": recording.lost_races,
                }
            )
        )
        out.write(b"\n")
    store.close()


def _read_back(
    store: EventStore, model: str, machine: str, saved: list[tuple[int, str, int]]
) -> bool:
    """Read-your-writes: the machine's projected document has folded at least the
    version this worker just appended to its stream (when the command wrote there)."""
    try:
        doc = service.machine(store, model, machine)
    except EventStateError:
        return False
    stream = store.machine_stream_of(model, machine)
    own = [v for _, s, v in saved if s == stream]
    return not own or doc["stream_version"] >= max(own)


# --- setup and check ---------------------------------------------------------------------------


def setup_store(url: str) -> list[tuple[int, str, int]]:
    """Two models, four hot machines in model 0; returns the events appended (acknowledged
    by the setup, so the checker accounts for them too)."""
    store = open_store(url)
    recording = RecordingRepository(store)
    for n, uuid in enumerate(MODEL_UUIDS):
        recording.create_model(f"load{n}", provider_type="lxd", model_uuid=uuid)
    for machine in HOT_MACHINES:
        recording.add_machine(MODEL_UUIDS[0], base="ubuntu@22.04", machine_id=machine)
    store.close()
    return list(recording.saved)


@dataclass
class LoadReport:
    workers: int
    seconds: float
    commands: int = 0  # acknowledged (returned without error)
    rejected: int = 0  # refused by a domain rule: nothing written
    gave_up: int = 0  # lost every retry attempt: nothing written
    conflicts: int = 0  # appends that lost a race
    retries: int = 0  # commands re-decided after a lost race
    events_acknowledged: int = 0
    events_stored: int = 0
    lost: int = 0
    duplicated: int = 0
    orphans: int = 0  # stored events no command acknowledged
    position_gaps: int = 0
    version_gaps: int = 0  # streams whose versions are not 1..n
    streams: int = 0
    read_backs: int = 0
    stale_reads: int = 0  # read-your-writes violations
    verify_ok: bool = False
    verify_errors: list[str] = field(default_factory=list)
    projections_equal: bool = False
    per_command: dict[str, int] = field(default_factory=dict)
    latency_ms_p50: float = 0.0
    latency_ms_p99: float = 0.0

    @property
    def commands_per_s(self) -> float:
        return self.commands / self.seconds if self.seconds else 0.0

    @property
    def held(self) -> bool:
        """Nothing lost, duplicated or invented; versions contiguous; projections right."""
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.orphans == 0
            and self.position_gaps == 0
            and self.version_gaps == 0
            and self.stale_reads == 0
            and self.gave_up == 0
            and self.verify_ok
            and self.projections_equal
        )

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("workers (processes)", str(self.workers)),
            ("seconds", f"{self.seconds:.1f}"),
            ("commands acknowledged", str(self.commands)),
            ("commands/s", f"{self.commands_per_s:.0f}"),
            ("latency p50 / p99 (ms)", f"{self.latency_ms_p50:.1f} / {self.latency_ms_p99:.1f}"),
            ("rejected by a domain rule", str(self.rejected)),
            ("conflicts (appends that lost a race)", str(self.conflicts)),
            ("retries (commands re-decided)", str(self.retries)),
            ("gave up after every retry", str(self.gave_up)),
            ("events acknowledged / stored", f"{self.events_acknowledged} / {self.events_stored}"),
            ("streams", str(self.streams)),
            ("lost events", str(self.lost)),
            ("duplicated events", str(self.duplicated)),
            ("events nobody acknowledged", str(self.orphans)),
            (
                "position gaps / streams with version gaps",
                f"{self.position_gaps} / {self.version_gaps}",
            ),
            ("read-your-writes reads / stale", f"{self.read_backs} / {self.stale_reads}"),
            ("verify (hash chain, decode, projection copy)", "ok" if self.verify_ok else "FAILED"),
            ("projections == fresh fold", "yes" if self.projections_equal else "NO"),
            ("held", "yes" if self.held else "NO"),
        ]


def read_logs(log_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(command records, worker summaries) from every worker's log."""
    records: list[dict[str, Any]] = []
    summaries: list[dict[str, Any]] = []
    for path in sorted(log_dir.glob("worker-*.jsonl")):
        for line in path.read_bytes().splitlines():
            entry = orjson.loads(line)
            (summaries if entry.get("summary") else records).append(entry)
    return records, summaries


def check(
    url: str,
    setup_events: list[tuple[int, str, int]],
    records: list[dict[str, Any]],
    summaries: list[dict[str, Any]],
    report: LoadReport,
) -> LoadReport:
    """Fill `report` with what the store holds against what the workers acknowledged."""
    from eventstate.audit.verify import verify

    latencies: list[float] = []
    acknowledged: list[tuple[int, str, int]] = list(setup_events)
    per_command: Counter[str] = Counter()
    for record in records:
        outcome = record["outcome"]
        acknowledged.extend((p, s, v) for p, s, v in record["events"])
        if outcome == "ok":
            report.commands += 1
            per_command[record["command"]] += 1
            latencies.append(record["ms"])
        elif outcome == "gave-up":
            report.gave_up += 1
        else:
            report.rejected += 1
        if "read_back" in record:
            report.read_backs += 1
            report.stale_reads += 0 if record["read_back"] else 1
    report.per_command = dict(per_command)
    report.retries = sum(s["retries"] for s in summaries)
    report.conflicts = sum(s["lost_races"] for s in summaries)
    if latencies:
        latencies.sort()
        report.latency_ms_p50 = latencies[len(latencies) // 2]
        report.latency_ms_p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

    store = open_store(url)
    try:
        stored: dict[int, tuple[str, int]] = {}
        versions: dict[str, list[int]] = {}
        for position, stream, version, *_ in store.backend.iter_log():
            stored[position] = (stream, version)
            versions.setdefault(stream, []).append(version)
        report.events_stored = len(stored)
        report.events_acknowledged = len(acknowledged)
        report.streams = len(versions)
        head = max(stored, default=0)
        report.position_gaps = head - len(stored)
        report.version_gaps = sum(
            1 for vs in versions.values() if sorted(vs) != list(range(1, len(vs) + 1))
        )
        by_position = Counter(p for p, _, _ in acknowledged)
        by_version = Counter((s, v) for _, s, v in acknowledged)
        # Two acknowledgements of one position or of one stream version: a duplicate.
        report.duplicated = sum(n - 1 for n in by_position.values() if n > 1) + sum(
            n - 1 for n in by_version.values() if n > 1
        )
        report.lost = sum(1 for p, s, v in set(acknowledged) if stored.get(p) != (s, v))
        report.orphans = len(set(stored) - set(by_position))

        result = verify(store)
        report.verify_ok = result.ok
        report.verify_errors = [f"{p.check}: {p.message}" for p in result.errors[:10]]
        report.projections_equal = projections_equal_fold(store)
    finally:
        store.close()
    return report


def projections_equal_fold(store: EventStore) -> bool:
    """The projected machines and models (caught up through the read API) equal one
    plain fold of the whole log, with exactly documents.md's keys."""
    docs = MemoryDocumentSet()
    Fold(docs).apply_many(store.iter_events())
    machines = [{k: d[k] for k in MACHINE_KEYS} for d in docs.machines()]
    models = [{k: d[k] for k in MODEL_KEYS} for d in docs.models()]
    return service.machines(store) == machines and service.models(store) == models


def run_load(
    url: str, log_dir: Path, *, seconds: float, workers: int = 4, seed: int = 1
) -> LoadReport:
    """Set up the store at `url`, run the workers, check; the store must not exist yet."""
    setup_events = setup_store(url)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    procs = [
        ctx.Process(
            target=worker,
            args=(url, i, seed, seconds, str(log_dir / f"worker-{i}.jsonl"), barrier),
            name=f"state-server-{i}",
        )
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=120)
        started = time.monotonic()
        for proc in procs:
            proc.join(timeout=seconds + 120)
        elapsed = time.monotonic() - started
    finally:
        for proc in procs:
            if proc.is_alive():  # only on a failure above: do not leave servers behind
                proc.kill()
                proc.join()
    failed = [p.name for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(
            f"state servers {failed} failed (exit codes {[p.exitcode for p in procs]})"
        )
    records, summaries = read_logs(log_dir)
    return check(url, setup_events, records, summaries, LoadReport(workers, elapsed))


def print_report(report: LoadReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="load: concurrent state servers on one SQLite store")
    table.add_column("")
    table.add_column("value", justify="right")
    for name, value in report.rows():
        table.add_row(name, value)
    console = Console()
    console.print(table)
    mix = ", ".join(f"{k} {v}" for k, v in sorted(report.per_command.items()))
    console.print(f"acknowledged by command: {mix}")
    for error in report.verify_errors:
        console.print(f"verify: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the workers run")
    parser.add_argument("--workers", type=int, default=4, help="state-server processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="keep the store and logs here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.seconds <= 0:
        parser.error("--workers must be >= 1 and --seconds > 0")
    with tempfile.TemporaryDirectory(prefix="eventstate-load-") as scratch:
        work = args.dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        store = work / "load.db"
        if store.exists():
            parser.error(f"{store} exists: give an empty --dir")
        report = run_load(
            f"sqlite:///{store}", work, seconds=args.seconds, workers=args.workers, seed=args.seed
        )
    if args.json:
        figures = {**report.__dict__, "commands_per_s": report.commands_per_s, "held": report.held}
        sys.stdout.write(orjson.dumps(figures).decode() + "\n")
    else:
        print_report(report)
    return 0 if report.held else 1


if __name__ == "__main__":
    sys.exit(main())
