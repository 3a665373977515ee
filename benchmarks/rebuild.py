"""Benchmark: rebuild of the machines and models projections from a realistic log.

    .venv/bin/python benchmarks/rebuild.py [--events 1000000] [--rounds 3] [--appends 200]

On one generated 3.0 log (benchmarks/datagen.py: a few hundred models, tens of thousands
of machines), kept in bench-data/ between runs:

(a) the whole rebuild (`projections.runner.rebuild`): fold every event in memory, write
    every document, switch readers to the new copy, drop the old one;
(b) the baseline: plain eventsourcing 9.5 merely reading and decoding the same events,
    held JSON-encoded in a `SQLiteApplicationRecorder` table (Mapper + JSONTranscoder),
    read with `select_notifications` in pages of 1000, `Mapper.to_domain_event` for each.

(a) and (b) run in alternating rounds (the machine's speed drifts) and the ratio of
their median rates is the figure (target >= 1.5x). (a) runs as `eventstate projections
rebuild` does (one process per idle CPU, up to 4, for a log of 250,000 events and more,
or `--workers`; the notes list each round's) and, for the record, in one process.
Then: peak memory of a rebuild in a fresh process (target < 300 MB), and catch-up after
a single append, median over `--appends` appends on a copy of the store (< 1 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks import datagen  # noqa: E402
from benchmarks.baseline_eventsourcing import read_notifications  # noqa: E402
from benchmarks.harness import Comparison, Measure, alternate, report  # noqa: E402
from eventstate.api import open_store  # noqa: E402
from eventstate.gating import APPEND_GUARD  # noqa: E402
from eventstate.store import EventStore, NewEvent  # noqa: E402
from projections import runner, service  # noqa: E402

TARGET_RATIO = 1.5
TARGET_MEMORY_MB = 300
TARGET_CATCH_UP_MS = 1.0

MEMORY_PROBE = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from eventstate.api import open_store
from projections import runner
store = open_store("sqlite:///" + sys.argv[2])
plan = runner.plan_partitions(store, store.head(), int(sys.argv[3]) or None)
started = time.perf_counter()
result = runner.rebuild(store, workers=plan.workers)
# VmHWM: this process's own peak (ru_maxrss would include the benchmark's, inherited
# through fork). Workers start right away, so their ru_maxrss holds at most the little
# this process had then.
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "documents": result.documents,
    "workers": plan.workers,
    "parts": plan.parts,
    "max_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
    "worker_max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--appends", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=REPO / "bench-data")
    parser.add_argument(
        "--workers", type=int, default=None, help="rebuild processes (default: one per CPU)"
    )
    args = parser.parse_args()

    store_path, es_path = prepare(args.data, args.events, args.seed)
    store = open_store(f"sqlite:///{store_path}")
    # Copies left by other versions of the code (earlier runs) would make the store,
    # and each round's writes and drops, bigger than a live one: keep only this code's.
    runner.prune_copies(store, keep=0)
    recorder = SQLiteApplicationRecorder(SQLiteDatastore(str(es_path)))
    mapper = datagen.json_mapper()

    subject = Measure("rebuild, documents written", args.events, "events")
    alone = Measure("rebuild, one process", args.events, "events")
    baseline = Measure("eventsourcing read + decode", args.events, "events")
    documents: list[int] = []
    processes: list[int] = []

    def rebuild() -> None:
        result = runner.rebuild(store, workers=args.workers)
        documents.append(result.documents)
        processes.append(result.workers)

    def rebuild_alone() -> None:
        documents.append(runner.rebuild(store, workers=1).documents)

    def read_baseline() -> None:
        count = sum(1 for _ in read_notifications(recorder, mapper))
        assert count == args.events, count

    runs = [(subject, rebuild), (baseline, read_baseline)]
    if args.workers != 1:
        runs.append((alone, rebuild_alone))
    alternate(runs, args.rounds)
    assert len(set(documents)) == 1, documents  # every way gives the same documents
    machines, models = len(service.machines(store)), len(service.models(store))
    store.close()
    memory = probe_memory(store_path, args.workers)
    catch_up_ms = time_catch_ups(store_path, args.appends, args.seed)

    # By default the processes follow the idle CPUs, so rounds may differ.
    how = "/".join(map(str, processes)) + f" process{'es' if max(processes) > 1 else ''}"
    comparisons = [Comparison("rebuild of both projections", subject, baseline, TARGET_RATIO)]
    notes = [
        f"rebuild seconds per round: {_seconds(subject)} ({how}); baseline: {_seconds(baseline)}"
    ]
    if alone.seconds:
        comparisons.append(Comparison("rebuild, one process", alone, baseline, TARGET_RATIO))
        notes.append(f"one-process rebuild seconds per round: {_seconds(alone)}")
    report(
        f"projection rebuild: {args.events:,} events, {models:,} models, "
        f"{machines:,} machines, {documents[-1]:,} documents",
        comparisons,
        notes=notes,
    )
    median = statistics.median(catch_up_ms)
    p90 = statistics.quantiles(catch_up_ms, n=10)[-1]
    grid = Table(title="rebuild memory and catch-up", header_style="bold")
    for column in ("what", "measured", "target", "met"):
        grid.add_column(column)
    workers = int(memory["workers"])
    # Every process's peak as if they all peaked at once: an upper bound.
    total = memory["max_rss_mb"] + (workers - 1) * memory["worker_max_rss_mb"]
    grid.add_row(
        f"peak memory of a rebuild ({workers} process(es), {int(memory['parts'])} partitions)",
        f"{memory['max_rss_mb']:.0f} MB main, {memory['worker_max_rss_mb']:.0f} MB per worker,"
        f" {total:.0f} MB in all ({memory['seconds']:.1f}s)",
        f"< {TARGET_MEMORY_MB} MB in all",
        _met(total < TARGET_MEMORY_MB),
    )
    grid.add_row(
        f"catch-up after a single append (median of {len(catch_up_ms)})",
        f"{median:.3f} ms (p90 {p90:.3f} ms)",
        f"< {TARGET_CATCH_UP_MS} ms",
        _met(median < TARGET_CATCH_UP_MS),
    )
    Console(width=200).print(grid)


# --- data ------------------------------------------------------------------------------------


def prepare(folder: Path, n_events: int, seed: int) -> tuple[Path, Path]:
    """The store and the eventsourcing database of the log, generated once and kept."""
    folder.mkdir(exist_ok=True)
    store_path = folder / f"rebuild-{n_events}-{seed}.db"
    es_path = folder / f"rebuild-{n_events}-{seed}.es.db"
    if store_path.exists() and es_path.exists():
        return store_path, es_path
    print(f"generating {n_events:,} events (kept in {folder} for later runs)...", flush=True)
    started = time.perf_counter()
    events = datagen.generate(n_events, seed)
    partial = [folder / f"{path.name}.partial" for path in (store_path, es_path)]
    for path in partial:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{partial[0]}")
    store.backend.append_stream_of_batches(
        datagen.encoded_rows(store, events), APPEND_GUARD, trusted_versions=True
    )
    store.close()
    recorder = SQLiteApplicationRecorder(SQLiteDatastore(str(partial[1])))
    recorder.create_table()
    mapper = datagen.json_mapper()
    batch = []
    for event in datagen.recorded_events(events):
        batch.append(mapper.to_stored_event(event))
        if len(batch) == 1000:
            recorder.insert_events(batch)
            batch = []
    if batch:
        recorder.insert_events(batch)
    del recorder
    partial[0].rename(store_path)
    partial[1].rename(es_path)
    print(f"generated in {time.perf_counter() - started:.0f}s", flush=True)
    return store_path, es_path


# --- memory and catch-up -------------------------------------------------------------------


def probe_memory(store_path: Path, workers: int | None) -> dict[str, float]:
    """A rebuild in a fresh process: its peak resident memory, interpreter included, and
    that of its largest worker process."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(REPO), str(store_path), str(workers or 0)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    measured: dict[str, float] = json.loads(out)
    return measured


def time_catch_ups(store_path: Path, appends: int, seed: int) -> list[float]:
    """Milliseconds of `runner.catch_up` after each single-event append, on a copy of
    the store (the kept log stays as generated)."""
    copy = store_path.with_name(store_path.name + ".catch-up")
    shutil.copyfile(store_path, copy)
    try:
        store = open_store(f"sqlite:///{copy}")
        streams = store.backend.list_streams("machine:")
        rng = random.Random(seed)
        runner.catch_up(store)
        timings = []
        for n in range(appends + 10):
            event = _address_change(store, rng.choice(streams), n)
            store.append([event])
            started = time.perf_counter()
            runner.catch_up(store)
            elapsed = time.perf_counter() - started
            if n >= 10:  # the first few warm the caches of a fresh process up
                timings.append(elapsed * 1000)
        store.close()
        return timings
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)


def _address_change(store: EventStore, stream: str, n: int) -> NewEvent:
    version = store.backend.stream_heads([stream])[stream] + 1
    address = {"value": f"10.9.{n // 250}.{n % 250 + 1}", "type": "ipv4",
               "scope": "local-cloud", "space_id": "0"}  # fmt: skip
    data = {"origin": "machine", "addresses": [address]}
    return NewEvent(stream, version, "MachineAddressesSet", data)


def _seconds(measure: Measure) -> str:
    return ", ".join(f"{s:.2f}" for s in measure.seconds)


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
