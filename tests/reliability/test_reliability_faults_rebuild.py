"""SIGKILL at random points of `eventstate projections rebuild` (issue 8, item 2):
readers keep complete documents, the store verifies, and the next rebuild leaves no
half-built copy and the same documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.faults import rebuild_campaign
from tests.reliability.faults_support import assert_survived

POINTS = 10


@pytest.mark.timeout(280)
def test_killed_rebuilds_leave_readers_whole_and_resume(tmp_path: Path) -> None:
    campaign = rebuild_campaign(tmp_path, POINTS, seed=8, events=1500)
    assert_survived(campaign, POINTS)
