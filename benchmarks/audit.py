"""Benchmark: the audit tools on a large legacy store.

    .venv/bin/python benchmarks/audit.py [--events 1000000] [--rounds 3] [--machines 50]

On one legacy 1.14 log of `--events` events (eventstate.samples.builder, imported with
import_jsonl; kept in bench-data/ between runs), with its projection copy built:

(a) history of one machine (`iter_history(store, "machine:<uuid>:<id>")`, upcast): the
    median and worst of `--machines` machines picked at random, and the same through the
    CLI (`eventstate history STREAM --json`, store opening included). Target <= 50 ms.
(b) `verify` of the whole store (hash chain, versions, decode, upcast, fresh fold,
    projection comparison) against the baseline: plain eventsourcing 9.5 reading and
    decoding the same events, held JSON-encoded in a SQLiteApplicationRecorder table
    (Mapper + JSONTranscoder), read with select_notifications in pages of 1000 and
    Mapper.to_domain_event for each. Alternating rounds; the ratio of median rates is the
    figure (target >= 1x). verify runs as it does by default (one process per idle CPU,
    up to 4, on a log this size: each round's count is listed) and, for the record, in
    one process.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eventsourcing.domain import DomainEvent  # noqa: E402
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks import datagen  # noqa: E402
from benchmarks.baseline_eventsourcing import read_notifications  # noqa: E402
from benchmarks.harness import Comparison, Measure, alternate, report  # noqa: E402
from eventstate.api import open_store  # noqa: E402
from eventstate.audit import iter_history, verify  # noqa: E402
from eventstate.interchange import import_jsonl  # noqa: E402
from eventstate.samples.builder import build_legacy_log, write_jsonl  # noqa: E402
from eventstate.store import EventStore  # noqa: E402
from projections import runner  # noqa: E402

TARGET_HISTORY_MS = 50.0
TARGET_RATIO = 1.0


class Recorded(DomainEvent):
    """A stored event as a plain eventsourcing DomainEvent: type, schema and payload."""

    type_name: str
    schema: int
    data: dict[str, Any]


# The stored topics name this module as importable, also when it runs as a script.
TOPIC_MODULE = "benchmarks.audit"


def _recorded_class(name: str) -> type[Recorded]:
    cls = type(name, (Recorded,), {"__module__": TOPIC_MODULE, "__qualname__": name})
    globals()[name] = cls  # eventsourcing resolves "benchmarks.audit:<name>" topics
    return cls


# One class per stored (1.14) type name: eventsourcing resolves a topic per event.
RECORDED: dict[str, Any] = {
    name: _recorded_class(name)
    for name in (
        "EnvironmentCreated", "EnvironConfigChanged", "AgentVersionSet", "MachineAdded",
        "MachineProvisioned", "MachineAddressesSet", "MachineAgentToolsSet",
        "MachineLifeChanged", "MachineSupportedContainersSet", "UnitAssignedToMachine",
        "UnitDestroyed",
    )
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data", type=Path, default=REPO / "bench-data")
    args = parser.parse_args()

    store_path, es_path = prepare(args.data, args.events, args.seed)
    url = f"sqlite:///{store_path}"
    store = open_store(url)
    runner.catch_up(store)  # the copy verify compares (rebuilt if the fold code changed)
    history = time_history(store, url, args.machines, args.seed)

    recorder = SQLiteApplicationRecorder(SQLiteDatastore(str(es_path)))
    mapper = datagen.json_mapper()
    parallel = Measure("verify", args.events, "events")
    alone = Measure("verify, one process", args.events, "events")
    baseline = Measure("eventsourcing read + decode", args.events, "events")
    reports: list[Any] = []
    processes: list[int] = []  # of each default run: one per idle CPU, so rounds differ

    def verify_default() -> None:
        reports.append(verify(store))
        processes.append(reports[-1].workers)

    def verify_alone() -> None:
        reports.append(verify(store, workers=1))

    def read_baseline() -> None:
        count = sum(1 for _ in read_notifications(recorder, mapper))
        assert count == args.events, count

    cpu: dict[str, list[float]] = {}
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    runs = [
        (measure, _cpu_timed(fn, cpu.setdefault(measure.name, [])))
        for measure, fn in (
            (parallel, verify_default),
            (baseline, read_baseline),
            (alone, verify_alone),
        )
    ]
    alternate(runs, args.rounds)
    for result in reports:
        assert result.ok and result.events == args.events, result.problems[:5]
    store.close()

    show_history(history, args.machines)
    how = "/".join(map(str, processes)) + f" process{'es' if max(processes) > 1 else ''}"
    report(
        f"verify: {args.events:,} legacy 1.14 events, {reports[0].streams:,} streams, "
        f"{reports[0].documents:,} projected documents compared",
        [
            Comparison(
                f"verify (default: {how})",
                parallel,
                baseline,
                TARGET_RATIO,
            ),
            Comparison("verify (one process)", alone, baseline, TARGET_RATIO),
        ],
        notes=[
            f"seconds per round: verify {_seconds(parallel)}; one process {_seconds(alone)}; "
            f"baseline {_seconds(baseline)}",
            "CPU seconds per round (this process and its workers): "
            + "; ".join(f"{name} {_list(values)}" for name, values in cpu.items()),
            f"CPUs available: {_cpus()}; load average before the rounds: {load}",
        ],
    )


# --- history ---------------------------------------------------------------------------------


def time_history(store: EventStore, url: str, machines: int, seed: int) -> dict[str, list[float]]:
    """Milliseconds per machine history: through the API, and through the CLI in-process."""
    from eventstate.cli.main import cli

    streams = random.Random(seed).sample(store.backend.list_streams("machine:"), machines)
    api: list[float] = []
    command: list[float] = []
    events: list[float] = []
    for stream in streams:
        started = time.perf_counter()
        found = list(iter_history(store, stream))
        api.append((time.perf_counter() - started) * 1000)
        events.append(len(found))
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):
            cli.main(["--store", url, "history", stream, "--json"], standalone_mode=False)
        command.append((time.perf_counter() - started) * 1000)
    return {"api": api, "cli": command, "events": events}


def show_history(timings: dict[str, list[float]], machines: int) -> None:
    grid = Table(title=f"history of one machine ({machines} machines)", header_style="bold")
    for column in ("what", "median", "worst", "target", "met"):
        grid.add_column(column)
    for name, key in (("iter_history (API)", "api"), ("eventstate history --json", "cli")):
        values = timings[key]
        worst = max(values)
        grid.add_row(
            name,
            f"{statistics.median(values):.2f} ms",
            f"{worst:.2f} ms",
            f"<= {TARGET_HISTORY_MS:.0f} ms",
            "yes" if worst <= TARGET_HISTORY_MS else "NO",
        )
    Console(width=200).print(grid)
    events = timings["events"]
    print(
        f"events per machine history: median {statistics.median(events):.0f}, max {max(events):.0f}"
    )


# --- data ------------------------------------------------------------------------------------


def prepare(folder: Path, events: int, seed: int) -> tuple[Path, Path]:
    """The store and the eventsourcing table of one legacy log, generated once and kept."""
    folder.mkdir(exist_ok=True)
    store_path = folder / f"audit-{events}-{seed}.db"
    es_path = folder / f"audit-{events}-{seed}.es.db"
    if store_path.exists() and es_path.exists():
        return store_path, es_path
    started = time.perf_counter()
    print(f"generating {events:,} legacy events (kept in {folder})...", flush=True)
    jsonl = folder / f"audit-{events}-{seed}.jsonl"
    if not jsonl.exists():
        write_jsonl(jsonl, build_legacy_log(seed=seed, events=events))
    partial = [path.with_name(path.name + ".partial") for path in (store_path, es_path)]
    for path in partial:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{partial[0]}")
    import_jsonl(store, jsonl)
    write_baseline(store, partial[1])
    store.close()
    partial[0].rename(store_path)
    partial[1].rename(es_path)
    print(f"generated in {time.perf_counter() - started:.0f}s", flush=True)
    return store_path, es_path


def write_baseline(store: EventStore, path: Path) -> None:
    """The store's events as stored (1.14 types and payloads), JSON-encoded by eventsourcing."""
    recorder = SQLiteApplicationRecorder(SQLiteDatastore(str(path)))
    recorder.create_table()
    mapper = datagen.json_mapper()
    ids: dict[str, UUID] = {}
    batch = []
    for event in store.iter_events(target=None):
        originator = ids.get(event.stream)
        if originator is None:
            originator = ids[event.stream] = uuid5(NAMESPACE_URL, event.stream)
        recorded = RECORDED[event.type](
            originator_id=originator,
            originator_version=event.version,
            timestamp=datetime.fromtimestamp(event.recorded_at / 1_000_000, tz=UTC),
            type_name=event.type,
            schema=event.schema,
            data=event.data,
        )
        batch.append(mapper.to_stored_event(recorded))
        if len(batch) == 1000:
            recorder.insert_events(batch)
            batch = []
    if batch:
        recorder.insert_events(batch)


def _seconds(measure: Measure) -> str:
    return _list(measure.seconds)


def _list(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def _cpu_timed(fn: Any, into: list[float]) -> Any:
    """`fn`, also recording the CPU time it takes in this process and its children: on
    a busy machine wall time swings, CPU time much less."""

    def timed() -> None:
        before = _cpu_seconds()
        fn()
        into.append(_cpu_seconds() - before)

    return timed


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


if __name__ == "__main__":
    main()
