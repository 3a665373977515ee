"""Idle CPUs, as rebuilds and verify count them before they take a second process."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventstate.api import open_store
from projections import cpus, runner


def test_idle_cpus_leave_out_this_process_and_passing_bursts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 2)
    looks = iter([1, 3, 1, 1, 2])  # this thread alone, mostly: one passing burst
    monkeypatch.setattr(cpus, "running_now", lambda: next(looks))
    assert cpus.idle_cpus() == 2  # its own earlier work does not count
    monkeypatch.setattr(cpus, "running_now", lambda: 3)  # two others busy
    assert cpus.idle_cpus() == 0
    monkeypatch.setattr(cpus, "running_now", lambda: None)  # no /proc: the load average
    monkeypatch.setattr(cpus.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert cpus.idle_cpus() == 1.5


def test_a_rebuild_on_a_busy_machine_stays_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 2)
    monkeypatch.setattr(cpus, "running_now", lambda: 1)
    assert runner.plan_partitions(store, 1_000_000).workers == 2
    monkeypatch.setattr(cpus, "running_now", lambda: 3)
    assert runner.plan_partitions(store, 1_000_000).workers == 1
    assert runner.plan_partitions(store, 1_000_000, workers=2).workers == 2  # as asked
    store.close()
