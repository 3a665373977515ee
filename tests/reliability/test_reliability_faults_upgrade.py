"""SIGKILL at random points of `eventstate upgrade`, SQL statements included (issue 8,
item 2; tests/upgrade/test_crash_resume.py kills at the checkpoints only): after each
kill the store is consistent, and the next upgrade gives the end state of an
uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.faults import upgrade_campaign
from tests.reliability.faults_support import assert_survived

POINTS = 10


@pytest.mark.timeout(280)
def test_killed_upgrades_are_consistent_and_resume(tmp_path: Path) -> None:
    campaign = upgrade_campaign(tmp_path, POINTS, seed=8)
    # A background lease renewal can make a late statement number move: allow one miss.
    assert_survived(campaign, POINTS, may_finish_first=1)
