"""`eventstate upgrade`: golden end states, gating, preflight aborts, dry runs."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventstate.backends.base import UPGRADING
from eventstate.errors import (
    LeaseHeldError,
    StoreNeedsUpgradeError,
    UpgradeAbortedError,
    UpgradeInProgressError,
)
from eventstate.gating import ImportGuard
from eventstate.interchange import import_jsonl
from eventstate.repository import Repository
from eventstate.store import EventStore
from eventstate.upgrade.history import upgrade_history
from eventstate.upgrade.runner import run_upgrade
from projections import service
from tests.golden import FIXTURES, assert_documents_match, load_golden


@pytest.mark.parametrize("name", ["legacy-1.14", "mixed-2.0"])
def test_fixture_upgrades_to_golden_documents(store: EventStore, name: str) -> None:
    import_jsonl(store, FIXTURES / f"{name}.jsonl")
    before = load_golden(f"{name}.expected.json")
    assert_documents_match(service.machines(store), before["machines"])
    started = datetime.now(UTC) - timedelta(seconds=1)
    report = run_upgrade(store)
    assert report.outcome == "completed"
    assert store.meta().release == "3.0" and store.meta().status == "available"
    after = load_golden(f"{name}.upgraded.json")
    assert_documents_match(service.machines(store), after["machines"], started)
    assert_documents_match(service.models(store), after["models"], started)


def test_steps_run_in_release_order_and_are_recorded(store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    report = run_upgrade(store)
    assert [(s.release, s.step) for s in report.steps] == [
        ("1.16", "request-cpu-checker"),
        ("1.18", "request-cloud-tools"),
        ("2.0", "provider-environ-version"),
    ]
    (run,) = upgrade_history(store)
    assert run.outcome == "completed"
    assert (run.from_release, run.to_release) == ("1.14", "3.0")
    assert (
        run.events_written == report.events_written == sum(s.events_written for s in report.steps)
    )
    types = [e.type for e in store.read_stream(f"upgrade:{report.upgrade_id}")]
    assert types == ["UpgradeStarted"] + ["UpgradeStepApplied"] * 3 + ["UpgradeCompleted"]
    again = run_upgrade(store)
    assert again.outcome == "nothing to do"


def test_mixed_store_runs_no_step_before_2_0(store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "mixed-2.0.jsonl")
    report = run_upgrade(store)
    assert report.steps == []
    assert store.meta().release == "3.0"


def test_writes_refused_until_upgraded(store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    repo = Repository(store)
    with pytest.raises(StoreNeedsUpgradeError, match=r"store is at 1\.14, this code is 3\.0"):
        repo.create_model("x", provider_type="lxd")
    run_upgrade(store)
    repo.create_model("x", provider_type="lxd")


def test_preflight_failure_aborts_with_nothing_written(tmp_path: Path, store: EventStore) -> None:
    lines = (FIXTURES / "legacy-1.14.jsonl").read_text().splitlines()
    broken = []
    for number, line in enumerate(lines):
        if '"type": "MachineAdded"' in line and '"series": "precise"' in line:
            lines[number] = line.replace('"series": "precise"', '"series": "warty"')
            broken.append(json.loads(lines[number]))
            break
    path = tmp_path / "warty.jsonl"
    path.write_text("\n".join(lines) + "\n")
    import_jsonl(store, path)
    reason = _aborted(store, "warty")
    assert broken[0]["stream"] in reason and "unknown series" in reason


def _aborted(store: EventStore, match: str) -> str:
    """Run the upgrade, which must abort (`match` in its error): the store is available
    at 1.14 again, and only the upgrade stream's start and abort records were written.
    Returns the recorded reason."""
    head = store.head()
    with pytest.raises(UpgradeAbortedError, match=match):
        run_upgrade(store)
    meta = store.meta()
    assert (meta.release, meta.status) == ("1.14", "available")
    (run,) = upgrade_history(store)
    assert run.outcome == "aborted"
    assert store.head() == head + 2
    assert {e.type for e in store.iter_events(after=head)} == {"UpgradeStarted", "UpgradeAborted"}
    return run.reason


def test_an_event_on_the_wrong_kind_of_stream_aborts_the_upgrade(store: EventStore) -> None:
    """A store written before imports checked stream kinds can hold a model event in a
    machine stream: the preflight's fold refuses it, and the upgrade aborts (store
    available at its old release) instead of failing in every later phase, stuck."""
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    model = next(e.stream for e in store.iter_events(target=None) if e.type == "EnvironmentCreated")
    misplaced = f"machine:{model.removeprefix('model:')}:99"
    state = store.codec.encode({"version": "1.14.1"})
    store.backend.append([(misplaced, 1, "AgentVersionSet", 1, 1, state)], ImportGuard("1.14"))
    assert misplaced in _aborted(store, "does not fold")


def test_dry_run_writes_nothing_and_shows_changes(store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    head = store.head()
    report = run_upgrade(store, dry_run=True)
    assert store.head() == head and store.meta().release == "1.14"
    assert report.events_written == len(report.planned) > 0
    fields = {c["field"] for c in report.changes}
    assert fields == {"pending_upgrade_actions"}
    real = run_upgrade(store)
    assert [(s.step, s.events_written) for s in real.steps] == [
        (s.step, s.events_written) for s in report.steps
    ]


def test_second_upgrader_is_told_who_holds_the_lease(store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    from eventstate.upgrade.lease import UpgradeLease

    with (
        UpgradeLease(store.backend, "server-a:1"),
        pytest.raises(LeaseHeldError, match="held by server-a:1 since"),
    ):
        run_upgrade(store, holder="server-b:2")


def test_upgrade_in_progress_refuses_writes_and_dry_runs(store: EventStore, store_url: str) -> None:
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    run_upgrade(store)
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'status'", (UPGRADING,))
        raw.execute("INSERT OR REPLACE INTO meta VALUES ('upgrade_id', 'u-1')")
    with pytest.raises(UpgradeInProgressError, match="u-1"):
        Repository(store).create_model("x", provider_type="lxd")
    with pytest.raises(UpgradeInProgressError):
        run_upgrade(store, dry_run=True)


def test_staged_upgrade_to_an_older_target(store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    report = run_upgrade(store, to="1.18")
    assert [s.release for s in report.steps] == ["1.16", "1.18"]
    assert store.meta().release == "1.18"
    rest = run_upgrade(store)
    assert [s.release for s in rest.steps] == ["2.0"]
    assert store.meta().release == "3.0"
