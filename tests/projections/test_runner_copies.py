"""Copies per code fingerprint and store release: build, read side by side, rebuild
blue/green, upgrade's build_copy, prune, status."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from eventstate.gating import MetaChange
from eventstate.interchange import import_jsonl
from eventstate.store import EventStore
from projections import fingerprint, runner, service
from projections.storage import BUILDING, READY, RETIRED, storage_for
from tests.projections.test_runner_support import (
    FIXTURES,
    Events,
    append_all,
    open_file_store,
    reference,
    small_environment,
)

UUID = "0b8c7d6e-0000-4000-8000-00000000000a"


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def store(tmp_path: Path, events: Events) -> EventStore:
    opened = open_file_store(tmp_path / "store.db")
    append_all(opened, small_environment(events, UUID, 12))
    return opened


def _set_release(store: EventStore, release: str) -> None:
    """What the upgrade's last step does to the store's metadata."""
    store.backend.write_meta(MetaChange(replace(store.meta(), release=release)))


def test_the_first_read_builds_this_codes_copy_from_position_0(store: EventStore) -> None:
    assert storage_for(store).copies() == []
    machines = service.machines(store)
    (copy,) = storage_for(store).copies()
    assert copy.state == READY and copy.position == store.head()
    assert copy.fingerprint == fingerprint.code_fingerprint()
    assert copy.store_release == store.meta().release
    assert (machines, service.models(store)) == reference(store)


def test_old_and_new_code_read_side_by_side_each_from_its_own_copy(
    store: EventStore, events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_docs = service.machines(store)
    old_copy = runner.catch_up(store)
    monkeypatch.setattr(runner, "code_fingerprint", lambda: "new-code-" + "0" * 55)
    new_copy = runner.catch_up(store)  # built from 0 for the new fingerprint
    assert new_copy.copy_id != old_copy.copy_id and new_copy.position == old_copy.position
    assert service.machines(store) == old_docs
    store.append([events.life(UUID, "3", "dying")])
    assert service.machine(store, UUID, "3")["life"] == "dying"  # new code caught up
    monkeypatch.undo()
    assert storage_for(store).copy(old_copy.copy_id).position == old_copy.position  # type: ignore[union-attr]
    assert service.machine(store, UUID, "3")["life"] == "dying"  # old code caught up its own
    assert {c.state for c in storage_for(store).copies()} == {READY}


def test_the_fingerprint_covers_release_chain_and_fold_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compute = fingerprint.code_fingerprint.__wrapped__
    base = compute()
    assert base == fingerprint.code_fingerprint() and len(base) == 64
    import upcasters

    monkeypatch.setattr(upcasters.CHAIN, "fingerprint", lambda: "another chain")
    assert compute() != base
    monkeypatch.undo()
    real_source = fingerprint.module_source
    monkeypatch.setattr(
        fingerprint,
        "module_source",
        lambda name: real_source(name) + (b"#" if name == "projections.fold" else b""),
    )
    assert compute() != base
    monkeypatch.undo()
    monkeypatch.setattr(fingerprint, "CODE_RELEASE", "3.1")
    assert compute() != base


def test_rebuild_is_blue_green_and_gives_the_same_documents(
    store: EventStore, events: Events, tmp_path: Path
) -> None:
    before = service.machines(store), service.models(store)
    live = runner.catch_up(store)
    reader = open_file_store(tmp_path / "store.db")
    seen: list[int] = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "fold" and not seen:  # called at the end of the fold, at the latest
            # Mid-build: readers still get the complete live copy, caught up, and
            # writes go on; the new copy must include them when it goes live.
            store.append([events.agent_binary(UUID, "5", "3.0.9")])
            assert service.machine(reader, UUID, "5")["agent_version"] == "3.0.9"
            (building,) = [c for c in storage_for(reader).copies() if c.state == BUILDING]
            assert runner.catch_up(reader).copy_id == live.copy_id != building.copy_id
            seen.append(done)

    result = runner.rebuild(store, progress=progress)
    assert seen
    assert result.copy.generation == live.generation + 1
    assert result.copy.position == store.head()
    states = {c.copy_id: c.state for c in storage_for(store).copies()}
    assert states == {live.copy_id: RETIRED, result.copy.copy_id: READY}
    assert [c.copy_id for c in runner.cleanup_copies(store)] == [live.copy_id]
    assert [c.copy_id for c in storage_for(store).copies()] == [result.copy.copy_id]
    after = service.machines(store), service.models(store)
    assert after == reference(store)
    assert after != before  # the mid-build append is in
    assert service.machines(reader) == after[0]


def test_build_copy_for_the_upgrade_target_then_switch(tmp_path: Path) -> None:
    store = open_file_store(tmp_path / "legacy.db")
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    live = runner.catch_up(store)
    assert live.store_release == "1.14"
    phases: set[str] = set()
    result = runner.build_copy(
        store, store_release="3.0", progress=lambda phase, done, total: phases.add(phase)
    )
    assert phases == {"fold", "write"}
    target = result.copy
    assert (target.store_release, target.state) == ("3.0", READY)
    assert runner.catch_up(store) == live  # readers stay on 1.14's copy until the switch
    _set_release(store, "3.0")
    assert runner.catch_up(store).copy_id == target.copy_id  # no build after the switch
    status = {entry["store_release"]: entry for entry in runner.copies_status(store)}
    assert status["3.0"]["current"] and not status["1.14"]["current"]
    assert status["1.14"]["live"]  # kept for one upgrade


def test_prune_keeps_the_current_and_the_previous_upgrades_copies(store: EventStore) -> None:
    copies = []
    for release in ("2.0", "2.7", "3.0"):
        copies.append(runner.build_copy(store, store_release=release).copy)
    _set_release(store, "3.0")
    dropped = runner.prune_copies(store, keep=2)
    assert [c.copy_id for c in dropped] == [copies[0].copy_id]
    left = {c.store_release for c in storage_for(store).copies()}
    assert left == {"2.7", "3.0"}
    runner.prune_copies(store, keep=0)
    assert {c.store_release for c in storage_for(store).copies()} == {"3.0"}


def test_status_shows_lag_after_an_append_and_none_after_a_read(
    store: EventStore, events: Events
) -> None:
    (missing,) = runner.copies_status(store)
    assert missing["state"] == "missing" and missing["lag"] == store.head()
    service.models(store)
    store.append([events.life(UUID, "4", "dying"), events.life(UUID, "4", "dead")])
    (entry,) = runner.copies_status(store)
    assert (entry["state"], entry["lag"], entry["current"]) == (READY, 2, True)
    service.models(store)
    (entry,) = runner.copies_status(store)
    assert entry["lag"] == 0 and entry["position"] == store.head()
    assert entry["documents"]["machine"] == len(service.machines(store))


def test_a_failed_build_leaves_no_copy_behind(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = runner.catch_up(store)

    def explode(phase: str, done: int, total: int) -> None:
        if phase == "write":
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        runner.rebuild(store, progress=explode)
    assert storage_for(store).copies() == [live]
