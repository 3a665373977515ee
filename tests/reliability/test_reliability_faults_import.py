"""SIGKILL at random points of `eventstate import` (issue 8, item 2): the store holds
all of the file or none of it, is consistent, and importing again finishes the job."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.faults import import_campaign
from eventstate import interchange_fork
from tests.reliability.faults_support import assert_survived

POINTS = 15


@pytest.mark.timeout(280)
def test_killed_imports_are_all_or_nothing_and_resume(tmp_path: Path) -> None:
    campaign = import_campaign(tmp_path, POINTS, seed=8)
    assert_survived(campaign, POINTS)
    outcomes = {r.outcome.split(";")[0] for r in campaign.results}
    assert "nothing imported" in outcomes  # killed inside the transaction or before it


@pytest.mark.timeout(280)
def test_killed_forked_imports_are_all_or_nothing_and_resume(tmp_path: Path) -> None:
    # 20,000 events (~5 MB): over interchange_fork.MIN_FORK_BYTES, so a child process
    # parses while the killed importer writes.
    campaign = import_campaign(tmp_path, 6, seed=9, events=20_000)
    assert_survived(campaign, 6)
    assert (tmp_path / "import.jsonl").stat().st_size > interchange_fork.MIN_FORK_BYTES
