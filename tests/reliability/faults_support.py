"""Shared assertions for the crash-injection tests (no tests in here)."""

from __future__ import annotations

from benchmarks.faults import Campaign


def assert_survived(campaign: Campaign, points: int, *, may_finish_first: int = 0) -> None:
    """Every sampled point was killed there (up to `may_finish_first` runs that finished
    before a late point, where timing varies), and every kill left a consistent store
    that resumed to the end state of an uninterrupted run."""
    report = "\n".join(
        f"{r.point}: {r.outcome}: {'; '.join(r.problems)}" for r in campaign.failures
    )
    assert not campaign.failures, f"{campaign.operation}: {len(campaign.failures)} failed\n{report}"
    assert len(campaign.results) == points, (campaign.checkpoints, campaign.statements)
    assert campaign.killed >= points - may_finish_first
    assert campaign.survived == campaign.killed
    kinds = {r.point.kind for r in campaign.results}
    assert kinds == {"checkpoint", "statement"}, "both kinds of crash point are sampled"
