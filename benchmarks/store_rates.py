"""Rates of one store, any backend: `python -m benchmarks.store_rates --store URL`.

For an operator measuring their own deployment (a MongoDB replica set, a SQLite
file on their disk): single-event appends, batched appends, read-and-upcast of
the whole log, and a rebuild of both projections. It writes into the store it
is given, which must be empty (a fresh database name on MongoDB).

    python -m benchmarks.store_rates --store mongodb://h1,h2,h3/bench?replicaSet=rs0
    python -m benchmarks.store_rates                      # a temporary SQLite file
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from eventstate.api import open_store
from eventstate.store import EventStore, NewEvent
from eventstate.streams import machine_stream, model_stream
from eventstate.url import redact_url


def _model_event(model: str) -> NewEvent:
    data = {
        "model_uuid": model,
        "name": f"bench-{model[:8]}",
        "provider_type": "lxd",
        "owner": "admin",
        "type": "iaas",
        "cloud": "lxd",
        "cloud_region": "",
        "cloud_credential": "",
        "controller_uuid": model,
        "config": {},
    }
    return NewEvent(model_stream(model), 1, "ModelCreated", data)


def _machine_added(model: str, machine: int) -> NewEvent:
    data = {
        "machine_id": str(machine),
        "base": {"os": "ubuntu", "channel": "22.04/stable"},
        "container_type": "",
        "nonce": f"machine-{machine}:bench",
        "jobs": ["JobHostUnits"],
        "constraints": "",
        "placement": "",
    }
    return NewEvent(machine_stream(model, str(machine)), 1, "MachineAdded", data)


def _addresses(model: str, machine: int, version: int) -> NewEvent:
    address = {
        "value": f"10.{machine % 250}.{version % 250}.7",
        "type": "ipv4",
        "scope": "local-cloud",
        "space_id": "0",
    }
    return NewEvent(
        machine_stream(model, str(machine)),
        version,
        "MachineAddressesSet",
        {"origin": "provider", "addresses": [address]},
    )


def run(store: EventStore, singles: int, batched: int, batch: int) -> list[tuple[str, int, float]]:
    model = str(uuid.uuid4())
    store.append([_model_event(model)])
    results: list[tuple[str, int, float]] = []

    start = time.perf_counter()
    for i in range(singles):
        store.append([_machine_added(model, i)])
    results.append(("append, one event per call", singles, time.perf_counter() - start))

    machines = max(singles, 1)
    versions = dict.fromkeys(range(machines), 1)
    start = time.perf_counter()
    written = 0
    while written < batched:
        events = []
        for _ in range(min(batch, batched - written)):
            machine = written % machines
            versions[machine] += 1
            events.append(_addresses(model, machine, versions[machine]))
            written += 1
        store.append(events)
    results.append((f"append, {batch} events per call", batched, time.perf_counter() - start))

    start = time.perf_counter()
    read = sum(1 for _ in store.iter_events())
    results.append(("read and upcast the whole log", read, time.perf_counter() - start))

    from projections.runner import rebuild

    start = time.perf_counter()
    rebuild(store)
    results.append(("rebuild both projections", read, time.perf_counter() - start))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", default=None, help="store URL (default: a temporary SQLite file)"
    )
    parser.add_argument("--singles", type=int, default=2_000)
    parser.add_argument("--batched", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.store or f"sqlite:///{Path(folder) / 'rates.db'}"
        store = open_store(url)
        if store.head() != 0:
            raise SystemExit(f"{redact_url(url)} is not empty: give a fresh store")
        try:
            results = run(store, args.singles, args.batched, args.batch)
        finally:
            store.close()
    table = Table(title=f"store rates: {redact_url(url)}", header_style="bold")
    for column in ("operation", "events", "seconds", "events/s"):
        table.add_column(column)
    for name, count, seconds in results:
        table.add_row(name, f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
