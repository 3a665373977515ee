"""Issue 5: upgrade of a 1M-event 1.14-era SQLite store to 3.0, end to end.

    python -m benchmarks.upgrade [--events 1000000] [--data DIR]

Builds a 1.14 log with the project's fixture builder, imports it into a fresh
SQLite file, then times `run_upgrade` (preflight, steps, projection build,
switch) and prints each phase. Target: the whole upgrade in at most 30 s.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from eventstate.api import open_store
from eventstate.interchange import import_jsonl
from eventstate.samples import build_legacy_log, write_jsonl
from eventstate.upgrade.runner import run_upgrade

TARGET_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=None, help="folder to keep the log in")
    args = parser.parse_args()
    folder = args.data or Path(tempfile.mkdtemp(prefix="eventstate-upgrade-"))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"legacy-1.14-{args.events}.jsonl"
    if not log.exists():
        write_jsonl(log, build_legacy_log(seed=5, events=args.events))
    imported = folder / f"imported-{args.events}.db"
    if not imported.exists():
        store = open_store(f"sqlite:///{imported}")
        start = time.perf_counter()
        import_jsonl(store, log)
        print(f"imported {args.events:,} events in {time.perf_counter() - start:.1f}s")
        store.close()
    work = folder / "upgrading.db"
    shutil.copy(imported, work)
    store = open_store(f"sqlite:///{work}")
    start = time.perf_counter()
    report = run_upgrade(store)
    total = time.perf_counter() - start
    store.close()

    table = Table(title=f"upgrade 1.14 -> 3.0 of {args.events:,} events", header_style="bold")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    for phase, seconds in report.phases.items():
        table.add_row(phase, f"{seconds:.2f}")
    table.add_row("total (end to end)", f"{total:.2f}")
    table.add_row("target", f"<= {TARGET_S:.0f}")
    table.add_row("met", "yes" if total <= TARGET_S else "NO")
    Console(width=100).print(table)
    steps = ", ".join(f"{s.release} {s.step}: {s.events_written}" for s in report.steps)
    print(f"steps wrote {report.events_written:,} events ({steps})")
    if args.data is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
