"""SIGKILL at random points of batched appends through `EventStore.append` (issue 8,
item 2): only whole batches are stored, the store is consistent, and the next run
appends the rest, giving the log of an uninterrupted run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from benchmarks.faults import (
    append_batches,
    append_campaign,
    append_workload,
    structural_problems,
)
from tests.reliability.faults_support import assert_survived

POINTS = 15


@pytest.mark.timeout(280)
def test_killed_batched_appends_keep_whole_batches_and_resume(tmp_path: Path) -> None:
    campaign = append_campaign(tmp_path, POINTS, seed=8)
    assert_survived(campaign, POINTS)
    stopped_at = {r.outcome.split(";")[0] for r in campaign.results}
    assert len(stopped_at) > 3, "kills landed at several places in the run"


def test_the_workload_is_the_same_every_time() -> None:
    first, second = append_workload(4, 10), append_workload(4, 10)
    assert first == second
    assert [len(b) for b in first] == [10] * 4


def test_structural_check_sees_a_gap_a_changed_payload_and_a_cut_tail(tmp_path: Path) -> None:
    """The consistency check the campaigns rely on is not blind."""
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    append_batches(url, 3, 10)
    assert structural_problems(url) == []
    connection = sqlite3.connect(path)
    connection.execute("UPDATE events SET state = x'80' WHERE position = 5")
    connection.execute("DELETE FROM events WHERE position = 12")
    connection.execute("DELETE FROM events WHERE position = 30")
    connection.commit()
    connection.close()
    found = " | ".join(structural_problems(url))
    assert "hash chain broken at position 5" in found
    assert "position 13 where 12 was expected" in found
    assert "head hash" in found
