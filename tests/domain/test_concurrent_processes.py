"""Real separate processes writing the same SQLite store file at once."""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from eventstate.api import open_store
from eventstate.errors import ConcurrencyConflictError, EventStateError, ValidationError
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


def _adder(url: str, barrier: Barrier, commands: int, results: mp.Queue[list[str]]) -> None:
    repo = Repository(open_store(url)).retrying(attempts=60)
    barrier.wait()
    added: list[str] = []
    try:
        for _ in range(commands):
            added.append(repo.add_machine(MODEL, base="ubuntu@22.04"))
    except EventStateError as exc:
        added.append(f"{type(exc).__name__}: {exc}")  # reported, not waited for
    results.put(added)


def test_retrying_servers_picking_machine_ids_each_get_their_own(tmp_path: Path) -> None:
    """Servers that pick the same next id conflict (even when the loser only finds out
    on loading it) and pick again: every add succeeds, no id twice, none skipped."""
    url = f"sqlite:///{tmp_path / 'ids.db'}"
    Repository(open_store(url)).create_model("m", provider_type="lxd", model_uuid=MODEL)
    ctx = mp.get_context("spawn")
    workers, commands = 4, 25
    barrier = ctx.Barrier(workers)
    results: mp.Queue[list[str]] = ctx.Queue()
    procs = [
        ctx.Process(target=_adder, args=(url, barrier, commands, results)) for _ in range(workers)
    ]
    for p in procs:
        p.start()
    picked = [i for _ in procs for i in results.get(timeout=120)]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert [i for i in picked if not i.isdigit()] == []
    assert sorted(picked, key=int) == [str(n) for n in range(workers * commands)]
    store = open_store(url)
    prefix = f"machine:{MODEL}:"
    assert len(store.backend.list_streams(prefix)) == workers * commands


def _decide_then_save(url: str, kind: str, decided: Any, destroyed: Any, results: Any) -> None:
    """Run the real command on machine 1 (alive when it decides), holding its write
    back until another process has destroyed machine 1."""
    repo = Repository(open_store(url))
    save = repo.save

    def save_after_the_destroy(*aggregates: Any, **kwargs: Any) -> list[int]:
        decided.set()
        destroyed.wait(60)
        return save(*aggregates, **kwargs)

    repo.save = save_after_the_destroy  # type: ignore[method-assign]
    try:
        if kind == "unit":
            repo.assign_unit(MODEL, "wordpress/0", "1")
        else:
            repo.add_machine(MODEL, base="ubuntu@22.04", parent="1", container_type="lxd")
        results.put("saved")
    except ConcurrencyConflictError as exc:
        results.put(f"conflict: {exc}")


def _destroy_machine_1(url: str, decided: Any, destroyed: Any) -> None:
    decided.wait(60)
    Repository(open_store(url)).destroy_machine(MODEL, "1")
    destroyed.set()


@pytest.mark.parametrize("kind", ["unit", "container"])
def test_a_decision_on_a_machine_destroyed_meanwhile_does_not_commit(
    tmp_path: Path, kind: str
) -> None:
    """Write skew: one process assigns a unit to (or adds a container on) machine 1,
    having seen it alive; another destroys machine 1 before the first one's write.
    The write checks machine 1 is still at the version it read, so it conflicts, and
    the retrying API, deciding again, refuses it; neither stream is left inconsistent."""
    url = f"sqlite:///{tmp_path / 'skew.db'}"
    _setup(url)
    Repository(open_store(url)).add_machine(MODEL, base="ubuntu@22.04")  # machine 1
    ctx = mp.get_context("spawn")
    decided, destroyed, results = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_decide_then_save, args=(url, kind, decided, destroyed, results)),
        ctx.Process(target=_destroy_machine_1, args=(url, decided, destroyed)),
    ]
    for p in procs:
        p.start()
    outcome = results.get(timeout=60)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert outcome == (
        f"conflict: concurrency conflict: machine:{MODEL}:1 version 2 was written by another "
        "writer (read at version 1 for this decision, now 2); reload and retry"
    )
    store = open_store(url)
    repo = Repository(store).retrying()
    head = store.head()
    with pytest.raises(ValidationError, match="dying"):
        if kind == "unit":
            repo.assign_unit(MODEL, "wordpress/0", "1")
        else:
            repo.add_machine(MODEL, base="ubuntu@22.04", parent="1", container_type="lxd")
    assert store.head() == head  # nothing of either command was written
    assert store.read_stream(f"unit:{MODEL}:wordpress/0") == []
    assert store.read_stream(f"machine:{MODEL}:1/lxd/0") == []
