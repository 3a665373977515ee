"""The project's own fixture builder: legacy event logs in the interchange format.

`build_legacy_log` simulates Juju-like controllers and yields the interchange header, then
the events their servers wrote, in position order, each in the schema of the release that
wrote it (events.md). `release="1.14"` gives a store written entirely by 1.14 servers;
`release="2.0"` a store first written by 1.14, then 1.18, then 2.0 servers, so one log
holds several schemas of the same event type. `events=N` scales the log to N events
(benchmarks) and streams it: events are yielded one at a time and the builder keeps only
the live machines and units.

The bundled sample that `eventstate quickstart` imports was written with:

    python -m eventstate.samples.builder --out eventstate/samples/legacy-1.14.jsonl \
        --seed 14 --models 6 --machines-per-model 7

A benchmark log: `python -m eventstate.samples.builder --out bench-data/1m.jsonl --events 1000000`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from eventstate.samples.generate import RELEASES, build_legacy_log, scale_for, write_jsonl

__all__ = ["build_legacy_log", "main", "scale_for", "write_jsonl"]


# --- command line -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventstate.samples.builder",
        description="Write a legacy event log in the interchange format (JSON Lines).",
    )
    parser.add_argument("--out", required=True, help="file to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--events", type=int, help="about this many events (picks the sizes)")
    parser.add_argument("--release", choices=RELEASES, default="1.14")
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--machines-per-model", type=int, default=8)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        records = build_legacy_log(
            seed=args.seed,
            models=args.models,
            machines_per_model=args.machines_per_model,
            release=args.release,
            events=args.events,
        )
        written = write_jsonl(args.out, records)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(f"wrote {written} events to {args.out} in {elapsed:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
