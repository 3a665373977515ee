"""The store: appends in today's schema, reads upcast, gating, corrupt bytes."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from eventstate.api import open_store
from eventstate.errors import (
    ConcurrencyConflictError,
    CorruptEventError,
    StoreNeedsUpgradeError,
    StoreTooNewError,
    StreamVersionGapError,
    UnknownEventTypeError,
    UpcastError,
    UpgradeInProgressError,
    ValidationError,
)
from eventstate.gating import MetaChange
from eventstate.interchange import import_jsonl
from eventstate.store import EventStore, NewEvent

FIXTURES = Path(__file__).parents[1] / "fixtures"
M = "model:8a3c1f66-0000-4000-8000-000000000001"


def _agent(version: int, value: str = "3.0.1") -> NewEvent:
    return NewEvent(M, version, "AgentVersionSet", {"version": value})


def test_append_and_read_back(store: EventStore) -> None:
    positions = store.append([_agent(1), _agent(2, "3.0.2")])
    assert positions == [1, 2]
    events = store.read_stream(M)
    assert [(e.position, e.version, e.type, e.schema, e.data) for e in events] == [
        (1, 1, "AgentVersionSet", 1, {"version": "3.0.1"}),
        (2, 2, "AgentVersionSet", 1, {"version": "3.0.2"}),
    ]
    assert [e.position for e in store.iter_events()] == [1, 2]


def test_type_and_schema_are_columns(store: EventStore, store_url: str) -> None:
    store.append([_agent(1)])
    path = store_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as raw:
        row = raw.execute(
            "SELECT stream, version, type, schema, recorded_at FROM events"
        ).fetchone()
    assert row[:4] == (M, 1, "AgentVersionSet", 1)
    assert row[4] > 1_600_000_000_000_000  # microseconds since the epoch


def test_conflict_and_gap(store: EventStore) -> None:
    store.append([_agent(1)])
    with pytest.raises(ConcurrencyConflictError, match=f"{M} version 1"):
        store.append([_agent(1)])
    with pytest.raises(StreamVersionGapError, match="gap"):
        store.append([_agent(3)])
    assert store.head() == 1


def test_batch_is_all_or_nothing(store: EventStore) -> None:
    store.append([_agent(1)])
    other = "model:8a3c1f66-0000-4000-8000-000000000002"
    with pytest.raises(ConcurrencyConflictError):
        store.append([NewEvent(other, 1, "AgentVersionSet", {"version": "1"}), _agent(1)])
    assert store.read_stream(other) == []


def test_old_or_unknown_types_are_refused_on_write(store: EventStore) -> None:
    with pytest.raises(UnknownEventTypeError, match="EnvironmentCreated"):
        store.append([NewEvent(M, 1, "EnvironmentCreated", {})])
    with pytest.raises(UnknownEventTypeError):
        store.append([NewEvent(M, 1, "Bogus", {})])
    with pytest.raises(ValidationError, match="AgentVersionSet"):
        store.append([NewEvent(M, 1, "AgentVersionSet", {"version": 3})])
    assert store.head() == 0


def test_gating_table(store: EventStore) -> None:
    backend = store.backend
    backend.write_meta(MetaChange(replace(store.meta(), release="2.0")))
    with pytest.raises(
        StoreNeedsUpgradeError,
        match=r"store is at 2\.0, this code is 3\.0: run `eventstate upgrade`",
    ):
        store.append([_agent(1)])
    backend.write_meta(
        MetaChange(
            replace(
                store.meta(),
                release="3.0",
                status="upgrading",
                upgrade_id="u1",
                upgrade_holder="h:1",
                upgrade_since="t",
            )
        )
    )
    with pytest.raises(UpgradeInProgressError, match=r"upgrade in progress \(u1, h:1, t\)"):
        store.append([_agent(1)])
    assert list(store.iter_events()) == []  # reads still work
    backend.write_meta(MetaChange(replace(store.meta(), release="3.1", status="available")))
    with pytest.raises(StoreTooNewError, match=r"store is at 3.1, newer than this code \(3.0\)"):
        store.append([_agent(1)])
    with pytest.raises(StoreTooNewError):
        list(store.iter_events())
    assert backend.count() == 0


def test_reopening_a_too_new_store_is_refused(store: EventStore, store_url: str) -> None:
    store.backend.write_meta(MetaChange(replace(store.meta(), release="3.1")))
    store.close()
    with pytest.raises(StoreTooNewError):
        open_store(store_url)


def test_corrupt_bytes_name_stream_version_and_position(store: EventStore, store_url: str) -> None:
    store.append([_agent(1)])
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as raw:
        raw.execute("UPDATE events SET state = x'c1ffee' WHERE position = 1")
    with pytest.raises(CorruptEventError, match=f"{M} version 1 \\(position 1\\)"):
        store.read_stream(M)


def test_unknown_stored_type_is_an_upcast_error(store: EventStore, store_url: str) -> None:
    store.append([_agent(1)])
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as raw:
        raw.execute("UPDATE events SET type = 'Mystery' WHERE position = 1")
    with pytest.raises(UpcastError, match=f"Mystery schema 1 at {M} version 1"):
        list(store.iter_events())


def test_legacy_store_reads_in_todays_schema(store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    events = list(store.iter_events())
    assert len(events) == 140
    types = {e.type for e in events}
    assert "ModelCreated" in types and "EnvironmentCreated" not in types
    raw = list(store.iter_events(target=None))
    assert {e.type for e in raw} >= {"EnvironmentCreated", "MachineAgentToolsSet"}
    assert all(e.schema == 1 for e in raw)


def test_encrypted_store_needs_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventstate.api import new_cipher_key
    from eventstate.errors import EventStateError

    url = f"sqlite:///{tmp_path / 'secret.db'}"
    key = new_cipher_key()
    monkeypatch.setenv("EVENTSTATE_CIPHER_KEY", key)
    store = open_store(url)
    store.append([_agent(1, "secret-version")])
    store.close()
    assert b"secret-version" not in (tmp_path / "secret.db").read_bytes()
    reopened = open_store(url)
    assert reopened.read_stream(M)[0].data == {"version": "secret-version"}
    reopened.close()
    monkeypatch.setenv("EVENTSTATE_CIPHER_KEY", new_cipher_key())
    with pytest.raises(EventStateError, match="not the key this store was encrypted with"):
        open_store(url)
    monkeypatch.delenv("EVENTSTATE_CIPHER_KEY")
    with pytest.raises(EventStateError, match="is encrypted: set EVENTSTATE_CIPHER_KEY"):
        open_store(url)
