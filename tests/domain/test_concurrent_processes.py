"""Real separate processes writing the same SQLite store file at once."""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from pathlib import Path

from eventstate.api import open_store
from eventstate.errors import ConcurrencyConflictError
from eventstate.repository import Repository

MODEL = "8a3c1f66-0000-4000-8000-00000000c0de"


def _race_once(url: str, barrier: Barrier, label: str, results: mp.Queue[str]) -> None:
    repo = Repository(open_store(url))
    machine = repo.load_machine(MODEL, "0")
    machine.set_addresses(
        [{"value": f"10.0.0.{label}", "type": "ipv4", "scope": "local-cloud", "space_id": "0"}]
    )
    barrier.wait()  # both decided on the same version; now both try to append
    try:
        repo.save(machine)
        results.put("won")
    except ConcurrencyConflictError as exc:
        results.put(f"conflict: {exc}")


def _setup(url: str) -> None:
    repo = Repository(open_store(url))
    repo.create_model("m", provider_type="lxd", model_uuid=MODEL)
    repo.add_machine(MODEL, base="ubuntu@22.04")


def test_two_processes_same_stream_exactly_one_wins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    _setup(url)
    ctx = mp.get_context("spawn")
    for _ in range(3):
        barrier = ctx.Barrier(2)
        results: mp.Queue[str] = ctx.Queue()
        procs = [
            ctx.Process(target=_race_once, args=(url, barrier, str(i), results)) for i in (1, 2)
        ]
        for p in procs:
            p.start()
        outcomes = sorted(results.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        assert outcomes[1] == "won", outcomes
        assert outcomes[0].startswith("conflict: concurrency conflict: machine:"), outcomes
    store = open_store(url)
    versions = [e.version for e in store.read_stream(f"machine:{MODEL}:0")]
    assert versions == [1, 2, 3, 4]  # one write per round, no gap, no duplicate


def _worker(url: str, barrier: Barrier, worker: int, commands: int) -> None:
    repo = Repository(open_store(url)).retrying(attempts=50)
    barrier.wait()
    for i in range(commands):
        repo.change_model_config(MODEL, {f"w{worker}-{i}": i})


def test_retrying_servers_lose_no_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    _setup(url)
    ctx = mp.get_context("spawn")
    workers, commands = 4, 25
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_worker, args=(url, barrier, w, commands)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    repo = Repository(open_store(url))
    config = repo.get_model(MODEL)["config"]
    assert {k for k in config if k[0] == "w"} == {
        f"w{w}-{i}" for w in range(workers) for i in range(commands)
    }
    versions = [e.version for e in repo.store.read_stream(f"model:{MODEL}")]
    assert versions == list(range(1, 2 + workers * commands))
