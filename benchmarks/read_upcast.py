"""Issue 3 benchmark: reading N stored 1.14-era events, decoded and upcast to 3.0.

    .venv/bin/python benchmarks/read_upcast.py [--events 1000000] [--rounds 3] [--data DIR]

Both stores hold the same log, the fixture builder's realistic 1.14 log of N events:
eventstate's SQLite store (imported with `import_jsonl`) and an eventsourcing
Application's SQLite database (the same events saved as DomainEvent objects at class
version 1). Timed, in alternating rounds, each reading the whole log in order:

- eventstate, full chain: `store.iter_events()`, every event decoded and upcast
  through the chain to 3.0 (context-aware steps included);
- eventsourcing: `select_notifications` pages of 1,000, each through
  `Mapper.to_domain_event`, whose `class_version` 4 runs three static
  `upcast_vX_vY` steps (benchmarks/baseline_eventsourcing.py); target: eventstate
  >= 2.5x;
- eventstate, no upcasting: `store.iter_events(target=None)` (events as stored);
  target: the full chain costs at most 1.3x this read.

Each run opens its store anew and starts with empty express caches
(`upcasters.express.forget()`): every round is a cold read, as in a new process.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import baseline_eventsourcing as es
from benchmarks.core import (
    _EPOCH,
    ensure_log,
    fsync_ms,
    load_records,
    remove_db,
    say,
    workdir,
)
from benchmarks.harness import Comparison, Measure, alternate, report
from eventstate.api import open_store
from eventstate.interchange import import_jsonl
from upcasters import express


def ensure_stores(folder: Path, log: Path, events: int) -> tuple[str, Path]:
    """Both stores, built once per folder (a `.done` marker says a build finished)."""
    state_db = folder / f"read-eventstate-{events}.db"
    es_db = folder / f"read-es-{events}.db"
    done = folder / f"read-{events}.done"
    if not done.exists():
        for path in (state_db, es_db):
            remove_db(path)
        started = time.perf_counter()
        store = open_store(f"sqlite:///{state_db}")
        import_jsonl(store, log)
        store.close()
        say(f"eventstate store built in {time.perf_counter() - started:.0f}s")
        started = time.perf_counter()
        es.set_class_version(1)
        app = es.make_app(es_db)
        records = load_records(log)
        for i in range(0, len(records), 100_000):
            chunk = records[i : i + 100_000]
            es.save_in_chunks(
                app,
                es.legacy_events(
                    (s, v, t, sc, _EPOCH + timedelta(microseconds=us), d)
                    for s, v, t, sc, us, d in chunk
                ),
            )
        del records
        es.close_app(app)
        say(f"eventsourcing store built in {time.perf_counter() - started:.0f}s")
        done.touch()
    return f"sqlite:///{state_db}", es_db


def read_chain(url: str) -> None:
    express.forget()
    store = open_store(url)
    try:
        deque(store.iter_events(), maxlen=0)
    finally:
        store.close()


def read_raw(url: str) -> None:
    store = open_store(url)
    try:
        deque(store.iter_events(target=None), maxlen=0)
    finally:
        store.close()


def read_es(path: Path) -> None:
    es.set_class_version(es.UPCAST_VERSION)
    app = es.make_app(path)
    try:
        deque(es.read_all(app, 1000), maxlen=0)
    finally:
        es.close_app(app)


def sanity_check(url: str, es_db: Path, events: int) -> str:
    """Both reads see every event; what the chain made of them, for the notes."""
    store = open_store(url)
    types = Counter(e.type for e in store.iter_events())
    store.close()
    es.set_class_version(es.UPCAST_VERSION)
    app = es.make_app(es_db)
    count = sum(1 for _ in es.read_all(app, 1000))
    es.close_app(app)
    if sum(types.values()) != events or count != events:
        raise SystemExit(f"read {sum(types.values())} and {count} events, expected {events}")
    return ", ".join(f"{name} {n:,}" for name, n in types.most_common())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events in the log (default 1,000,000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--data", help="folder to keep the log and both stores in (reused)")
    parser.add_argument("--disk", action="store_true", help="temporary folder on disk, not tmpfs")
    args = parser.parse_args(argv)
    folder, cleanup = workdir(args.data, args.disk)
    commit_ms = fsync_ms(folder)
    say(f"data in {folder}")
    started = time.perf_counter()
    try:
        log = ensure_log(folder, args.events)
        url, es_db = ensure_stores(folder, log, args.events)
        mix = sanity_check(url, es_db, args.events)
        n = args.events
        chain = Measure("iter_events(), full chain", n, "events")
        raw = Measure("iter_events(target=None)", n, "events")
        baseline = Measure("to_domain_event, 3 upcasts", n, "events")
        say(f"read: {args.rounds} rounds of {n:,} events, 3 reads each")
        alternate(
            [
                (chain, lambda: read_chain(url)),
                (baseline, lambda: read_es(es_db)),
                (raw, lambda: read_raw(url)),
            ],
            args.rounds,
        )
    finally:
        cleanup()
    comparisons = [
        Comparison(f"read {n:,} 1.14 events upcast to 3.0 vs eventsourcing", chain, baseline, 2.5),
        Comparison(
            "cost of the full chain: time(chain) / time(no upcast)", raw, chain, 1.3, at_most=True
        ),
    ]
    report(
        f"eventstate read + upcast (issue 3): medians of {args.rounds} alternating rounds",
        comparisons,
        [
            f"3.0 types read: {mix}",
            f"data folder {folder}: one synchronous commit takes {commit_ms:.2f} ms there",
            f"total {time.perf_counter() - started:.0f}s (store builds included)",
        ],
    )
    return 0 if all(c.met for c in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
