"""Load (issue 8, item 1): four state-server processes on one SQLite store, hot spots,
a bounded time. Every acknowledged event is stored exactly once, versions are contiguous
and the projections equal a fresh fold. `python -m benchmarks.load` is the long run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from benchmarks.load import LoadReport, check, read_logs, run_load, setup_store

SECONDS = 8.0
WORKERS = 4


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, LoadReport]:
    folder = tmp_path_factory.mktemp("load")
    url = f"sqlite:///{folder / 'load.db'}"
    report = run_load(url, folder, seconds=SECONDS, workers=WORKERS, seed=8)
    return url, folder, report


@pytest.mark.timeout(240)
def test_concurrent_state_servers_lose_and_duplicate_nothing(
    loaded: tuple[str, Path, LoadReport],
) -> None:
    _, _, report = loaded
    problems = "; ".join(report.verify_errors)
    assert report.lost == 0
    assert report.duplicated == 0
    assert report.orphans == 0, "events in the store that no command acknowledged"
    assert report.position_gaps == 0 and report.version_gaps == 0
    assert report.verify_ok, problems
    assert report.projections_equal, "projections differ from a fresh fold of the log"
    assert report.stale_reads == 0, "a worker did not read its own write"
    assert report.gave_up == 0
    assert report.held
    # The run was a real load: every worker wrote, and workers raced for the same streams.
    assert report.commands >= 100, report.rows()
    assert report.events_acknowledged == report.events_stored
    assert report.conflicts > 0 and report.retries > 0, "no contention: hot spots missing"
    assert report.read_backs > 0
    assert set(report.per_command) >= {"set-addresses", "add-machine", "assign-unit"}


def _recheck(
    url: str, records: list[dict[str, Any]], summaries: list[dict[str, Any]]
) -> LoadReport:
    """The checker on an edited log (the store is unchanged)."""
    return check(url, _setup_events(url), records, summaries, LoadReport(WORKERS, SECONDS))


def _setup_events(url: str) -> list[tuple[int, str, int]]:
    """The setup's events: the first six positions (two models, four hot machines)."""
    from eventstate.api import open_store

    store = open_store(url)
    try:
        return [(r[0], r[1], r[2]) for r in store.backend.iter_log(0, 6)]
    finally:
        store.close()


@pytest.mark.timeout(240)
def test_the_checker_sees_a_lost_a_duplicated_and_an_orphan_event(
    loaded: tuple[str, Path, LoadReport],
) -> None:
    """The zeros above mean something: the same checker counts what a broken store or
    a lying log would show."""
    url, folder, _ = loaded
    records, summaries = read_logs(folder)
    writes = [r for r in records if r["events"]]

    lying = copy.deepcopy(records)
    victim = next(r for r in lying if r["events"])
    position, stream, version = victim["events"][0]
    victim["events"][0] = [position, stream, version + 1000]  # acknowledged, not stored
    assert _recheck(url, lying, summaries).lost == 1

    doubled = [*records, copy.deepcopy(writes[0])]  # one acknowledgement twice
    assert _recheck(url, doubled, summaries).duplicated >= 1

    forgotten = [r for r in records if r is not writes[-1]]  # stored, never acknowledged
    assert _recheck(url, forgotten, summaries).orphans == len(writes[-1]["events"])


def test_setup_is_repeatable(tmp_path: Path) -> None:
    events = setup_store(f"sqlite:///{tmp_path / 's.db'}")
    assert [v for _, _, v in events] == [1] * 6
    assert [p for p, _, _ in events] == [1, 2, 3, 4, 5, 6]
