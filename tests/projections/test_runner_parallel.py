"""Rebuilds folding model partitions in spawned worker processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventstate.store import EventStore
from projections import events as events_module
from projections import runner, service
from projections.partitions import Claims, PartitionPlan
from projections.storage import BUILDING, READY, partition_of, storage_for
from tests.projections.test_runner_support import (
    Events,
    append_all,
    open_file_store,
    reference,
    small_environment,
)

# Model uuids in different partitions for 2 and 4 parts ('1' = 49, 'a' = 97, ...).
UUIDS = [f"{first}1111111-0000-4000-8000-00000000000{n}" for n, first in enumerate("12ab")]


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    opened = open_file_store(tmp_path / "store.db")
    events = Events()
    for uuid in UUIDS:
        append_all(opened, small_environment(events, uuid, 15))
    assert {partition_of(f"model:{uuid}", 2) for uuid in UUIDS} == {0, 1}
    return opened


def test_partitions_go_out_largest_first(store: EventStore) -> None:
    assert partition_of("machine:a-b:0/lxd/1", 4) == ord("a") % 4
    assert partition_of("model:", 3) == 0
    storage = storage_for(store)
    sizes = storage.partition_sizes(4)
    assert sizes is not None
    every = [row[1] for row in store.backend.iter_log()]
    assert sizes == [sum(partition_of(s, 4) == part for s in every) for part in range(4)]
    claims = Claims.largest_first(storage, 4)
    taken = []
    while (part := claims.take()) is not None:
        taken.append(part)
    assert sorted(taken) == [0, 1, 2, 3]
    assert [sizes[part] for part in taken] == sorted(sizes, reverse=True)


def test_decoding_ticks_every_tick_rows_and_at_the_end(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "TICK", 5)
    rows = list(store.backend.iter_log(0, 12))
    ticks: list[int] = []
    decoded = list(events_module.decode_rows(store, rows, ticks.append))
    assert decoded == list(store.decode(rows))
    assert ticks == [5, 10, 12]


def test_the_plan_follows_the_log_size(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.plan_partitions(store, 1000) == PartitionPlan(1, 1)
    monkeypatch.setattr(runner, "_cpus", lambda: 2)
    assert runner.plan_partitions(store, 1_000_000) == PartitionPlan(4, 2)
    assert runner.plan_partitions(store, 3_000_000) == PartitionPlan(12, 2)
    # One process holds one partition at a time, not one per process: fewer, larger ones.
    assert runner.plan_partitions(store, 1_000_000, workers=1) == PartitionPlan(2, 1)
    assert runner.plan_partitions(store, 400_000, workers=1) == PartitionPlan(1, 1)


@pytest.mark.parametrize("workers", [2, 3])
def test_a_parallel_rebuild_gives_the_documents_of_one_fold(
    store: EventStore, workers: int
) -> None:
    expected = reference(store)
    phases: list[tuple[str, int]] = []
    result = runner.build_copy(
        store, workers=workers, progress=lambda phase, done, total: phases.append((phase, done))
    )
    assert result.events == store.head() and result.copy.state == READY
    assert (service.machines(store), service.models(store)) == expected
    assert phases[-1] == ("fold", store.head())
    single = runner.build_copy(store, workers=1)
    assert single.documents == result.documents
    assert (service.machines(store), service.models(store)) == expected


KILLED_PARENT = """
import glob, sys, time
from pathlib import Path
from eventstate.api import open_store
from projections import events, runner

path, marker = sys.argv[1:3]
events.TICK = 5

def progress(phase, done, total):
    if phase == "fold" and done:
        children = " ".join(Path(f).read_text() for f in glob.glob("/proc/self/task/*/children"))
        Path(marker).write_text(children.strip())
        time.sleep(600)

runner.build_copy(open_store("sqlite:///" + path), workers=2, progress=progress)
"""


def test_a_parallel_rebuild_killed_part_way(store: EventStore, tmp_path: Path) -> None:
    live = runner.catch_up(store)
    before = service.machines(store)
    script, marker = tmp_path / "parent.py", tmp_path / "workers"
    script.write_text(KILLED_PARENT)
    path = store.backend.path  # type: ignore[attr-defined]
    parent = subprocess.Popen([sys.executable, str(script), path, str(marker)])
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text()):
        assert parent.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    workers = [int(pid) for pid in marker.read_text().split()]
    assert workers
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)
    for pid in workers:  # a worker notices its parent is gone, or finishes its share
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)

    storage = storage_for(store)
    (leftover,) = [c for c in storage.copies() if c.state == BUILDING]
    assert runner.catch_up(store).copy_id == live.copy_id
    assert service.machines(store) == before
    result = runner.rebuild(store)
    assert [c.copy_id for c in result.dropped] == [leftover.copy_id]
    raw = sqlite3.connect(path)
    orphans = raw.execute(
        "SELECT COUNT(*) FROM projection_documents WHERE copy_id = ?", (leftover.copy_id,)
    ).fetchone()[0]
    assert orphans == 0
    assert service.machines(store) == before


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_workers_are_not_used_for_a_store_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventstate.api import open_store

    memory = open_store("memory://")
    monkeypatch.setattr(runner, "_cpus", lambda: 4)
    assert runner.plan_partitions(memory, 2_000_000) == PartitionPlan(4, 1)
    assert os.getpid()  # nothing spawned: the plan keeps the work here
