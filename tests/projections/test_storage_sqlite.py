"""The SQLite projection storage: its tables, its sessions' atomicity, its cache."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from eventstate.store import EventStore
from projections import runner, service
from projections.documents import new_machine_document
from projections.storage import (
    BUILDING,
    MACHINE,
    MODEL,
    READY,
    RETIRED,
    CopyGoneError,
    CopyInfo,
    CopyKey,
    ProjectionStorage,
    partition_of,
    storage_for,
)
from projections.storage.base import machine_key, model_prefix
from projections.storage.sqlite import SQLiteProjectionStorage
from tests.projections.test_runner_support import (
    Events,
    append_all,
    open_file_store,
    small_environment,
)

UUID = "5f1e8f6a-0000-4000-8000-000000000001"
OTHER = "5f1e8f6a-0000-4000-8000-000000000002"
KEY = CopyKey("f" * 64, "3.0")


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    opened = open_file_store(tmp_path / "store.db")
    append_all(opened, small_environment(Events(), UUID, 10))
    return opened


def _raw(store: EventStore) -> sqlite3.Connection:
    return sqlite3.connect(store.backend.path)  # type: ignore[attr-defined]


def test_tables_and_document_encoding(store: EventStore) -> None:
    copy = runner.catch_up(store)
    conn = _raw(store)
    sql = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    # A rowid table: a ~1 KB document fits on a table page (no overflow page each).
    assert "WITHOUT ROWID" not in sql["projection_documents"]
    assert "PRIMARY KEY (copy_id, kind, key)" in sql["projection_documents"]
    for column in ("fingerprint", "store_release", "generation", "state", "position"):
        assert column in sql["projection_copies"]
    blob = conn.execute(
        "SELECT doc FROM projection_documents WHERE copy_id = ? AND kind = 'machine' AND key = ?",
        (copy.copy_id, machine_key(UUID, "0")),
    ).fetchone()[0]
    assert orjson.loads(blob) == service.machine(store, UUID, "0")


def test_a_new_build_is_invisible_until_published(store: EventStore) -> None:
    storage = storage_for(store)
    first = storage.begin_build(KEY, "me")
    assert first.state == BUILDING and first.generation == 1
    assert storage.live_copy(KEY) is None
    storage.write_documents(first, [(MACHINE, new_machine_document(UUID, "0"))])
    assert storage.live_copy(KEY) is None
    with storage.publish(first) as publish:
        live = publish.make_live(7)
    assert live.state == READY and live.position == 7 and storage.live_copy(KEY) == live
    second = storage.begin_build(KEY, "me")
    assert second.generation == 2
    assert storage.live_copy(KEY) == live  # still the first generation


def test_a_failed_publish_writes_nothing_and_switches_nothing(store: EventStore) -> None:
    storage = storage_for(store)
    live = _published(storage, 1)
    building = storage.begin_build(KEY, "me")
    storage.write_documents(building, [(MACHINE, new_machine_document(UUID, "9"))])
    with pytest.raises(RuntimeError), storage.publish(building) as publish:
        doc = publish.documents.get_machine(UUID, "9")
        assert doc is not None
        doc["life"] = "dead"
        publish.documents.put_machine(doc)
        publish.make_live(3)
        raise RuntimeError("killed")
    assert storage.live_copy(KEY) == live
    assert storage.copy(building.copy_id).state == BUILDING  # type: ignore[union-attr]
    with storage.publish(building) as publish:  # the change above was not saved
        assert publish.documents.get_machine(UUID, "9") == new_machine_document(UUID, "9")


def test_a_bulk_write_is_one_transaction_into_a_building_copy(store: EventStore) -> None:
    storage = storage_for(store)
    building = storage.begin_build(KEY, "me")

    def docs() -> Iterator[tuple[str, dict[str, object]]]:
        yield MACHINE, new_machine_document(UUID, "1")
        yield MACHINE, new_machine_document(UUID, "2")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError):
        storage.write_documents(building, docs())
    assert storage.count_documents(building)[MACHINE] == 0
    ticks: list[int] = []
    pairs = [(MACHINE, new_machine_document(UUID, str(n))) for n in range(3000)]
    assert storage.write_documents(building, pairs, ticks.append) == 3000
    assert ticks[-1] == 3000 and len(ticks) > 1
    storage.drop_copy(building.copy_id)
    with pytest.raises(CopyGoneError):
        storage.write_documents(building, pairs)
    live = _published(storage, 1)
    with pytest.raises(CopyGoneError):
        storage.write_documents(live, pairs)  # never into a copy readers use


def test_partitions_split_the_log_by_model(tmp_path: Path) -> None:
    opened = open_file_store(tmp_path / "parts.db")
    events = Events()
    for first in "0123456789abcdef":
        append_all(opened, small_environment(events, f"{first}{UUID[1:]}", 2))
    storage = storage_for(opened)
    head = opened.head()
    every = list(opened.backend.iter_log(0, head))
    for parts in (1, 2, 3, 5):
        pieces = [list(storage.iter_partition(0, head, part, parts)) for part in range(parts)]
        for part, rows in enumerate(pieces):
            assert [r[0] for r in rows] == sorted(r[0] for r in rows)
            assert {partition_of(r[1], parts) for r in rows} <= {part}
        assert sorted(r for rows in pieces for r in rows) == every
        assert storage.partition_sizes(parts) == [len(rows) for rows in pieces]
    assert list(storage.iter_partition(10, 20, 0, 1)) == every[10:20]


def test_a_store_made_with_the_first_layout_moves_at_its_next_build(store: EventStore) -> None:
    live = runner.catch_up(store)
    conn = _raw(store)
    with conn:  # the first layout: WITHOUT ROWID, the same columns and key
        conn.execute(
            "CREATE TABLE first (copy_id INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT "
            "NULL, doc BLOB NOT NULL, PRIMARY KEY (copy_id, kind, key)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO first SELECT copy_id, kind, key, doc FROM projection_documents")
        conn.execute("DROP TABLE projection_documents")
        conn.execute("ALTER TABLE first RENAME TO projection_documents")
    reopened = open_file_store(store.backend.path)  # type: ignore[attr-defined]
    before = service.machines(reopened), service.models(reopened)  # read as it is
    append_all(reopened, small_environment(Events(), OTHER, 2))
    caught_up = service.machines(reopened)  # a catch-up writes into the first layout
    assert "WITHOUT ROWID" in _table_sql(conn)

    result = runner.rebuild(reopened)
    assert "WITHOUT ROWID" not in _table_sql(conn)
    assert service.machines(reopened) == caught_up != before[0]
    # The retired copy's documents moved with the rest, until a cleanup drops them.
    assert sum(storage_for(reopened).count_documents(live).values()) > 0
    assert [c.copy_id for c in runner.cleanup_copies(reopened)] == [live.copy_id]
    assert conn.execute(
        "SELECT COUNT(*) FROM projection_documents WHERE copy_id = ?", (live.copy_id,)
    ).fetchone() == (0,)
    assert result.copy.copy_id != live.copy_id


def _table_sql(conn: sqlite3.Connection) -> str:
    (sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'projection_documents'"
    ).fetchone()
    return str(sql)


def test_publishing_retires_the_previous_generation_in_the_same_step(store: EventStore) -> None:
    storage = storage_for(store)
    old = _published(storage, 1)
    new = _published(storage, 2)
    assert storage.live_copy(KEY) == new
    assert storage.copy(old.copy_id).state == RETIRED  # type: ignore[union-attr]
    with pytest.raises(CopyGoneError):
        storage.read_documents(old, MACHINE)
    with pytest.raises(CopyGoneError), storage.catch_up(old):
        pass
    storage.drop_copy(old.copy_id)
    assert storage.copy(old.copy_id) is None
    assert storage.count_documents(old) == {"machine": 0, "model": 0, "unit": 0}


def test_only_one_ready_copy_per_key(store: EventStore) -> None:
    storage = storage_for(store)
    _published(storage, 1)
    conn = _raw(store)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO projection_copies (fingerprint, store_release, generation, state, "
            "created_at, updated_at) VALUES (?, ?, 99, 'ready', 0, 0)",
            (KEY.fingerprint, KEY.store_release),
        )


def test_a_failed_catch_up_saves_nothing_and_forgets_its_cache(store: EventStore) -> None:
    copy = runner.catch_up(store)
    storage = storage_for(store)
    before = service.machine(store, UUID, "1")
    with pytest.raises(RuntimeError), storage.catch_up(copy) as session:
        doc = session.documents.get_machine(UUID, "1")
        assert doc is not None
        doc["life"] = "dead"  # changed in place, as the fold does
        session.documents.put_machine(doc)
        session.advance(copy.position + 1)
        raise RuntimeError("fold failed")
    assert storage.copy(copy.copy_id).position == copy.position  # type: ignore[union-attr]
    with storage.catch_up(copy) as session:
        assert session.documents.get_machine(UUID, "1") == before  # not the changed object
    assert service.machine(store, UUID, "1") == before


def test_the_cache_notices_another_process_moving_the_copy(tmp_path: Path) -> None:
    first = open_file_store(tmp_path / "store.db")
    events = Events()
    append_all(first, small_environment(events, UUID, 3))
    second = open_file_store(tmp_path / "store.db")
    assert service.machines(first) == service.machines(second)
    # The two stores take turns: each appends a change to machine 2 and reads it (its
    # catch-up folds the change into its cached copy of the document). A cache that
    # missed the other store's turn would fold onto a stale document and lose a change.
    turns = [
        (first, events.life(UUID, "2", "dying")),
        (second, events.agent_binary(UUID, "2", "3.0.1")),
        (first, events.supported_containers(UUID, "2", ["lxd"])),
        (second, events.life(UUID, "2", "dead")),
        (first, events.actions_requested(UUID, "2", "3.0")),
    ]
    for turn, (writer, event) in enumerate(turns):
        writer.append([event])
        doc = service.machine(writer, UUID, "2")
        assert doc["stream_version"] == event.version, turn
    assert doc["life"] == "dead"
    assert doc["agent_version"] == "3.0.1"
    assert doc["supported_containers"] == ["lxd"]
    assert [a["release"] for a in doc["pending_upgrade_actions"]] == ["3.0"]
    assert service.machines(first) == service.machines(second)


def test_projection_commits_leave_the_logs_durability_setting(store: EventStore) -> None:
    storage = storage_for(store)
    assert isinstance(storage, SQLiteProjectionStorage)
    events = Events(dict(store.backend.stream_heads([f"machine:{UUID}:1"])))
    runner.catch_up(store)
    store.append([events.life(UUID, "1", "dying")])
    runner.catch_up(store)
    with store.backend.read_cursor() as c:  # type: ignore[attr-defined]
        assert c.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, the default


def test_documents_of_one_model_are_one_key_range(store: EventStore) -> None:
    other = "5f1e8f6a-0000-4000-8000-000000000002"
    append_all(store, small_environment(Events(), other, 2))
    copy = runner.catch_up(store)
    storage = storage_for(store)
    ours = storage.read_documents(copy, MACHINE, model_prefix(UUID))
    assert {doc["model_uuid"] for doc in ours} == {UUID}
    assert len(storage.read_documents(copy, MACHINE)) == len(ours) + 3  # 0, 0/lxd/0, 1
    assert len(storage.read_documents(copy, MODEL)) == 2


def _published(storage: ProjectionStorage, position: int) -> CopyInfo:
    build = storage.begin_build(KEY, "me")
    storage.write_documents(build, [(MACHINE, new_machine_document(UUID, "0"))])
    with storage.publish(build) as publish:
        return publish.make_live(position)


def test_documents_of_an_encrypted_store_are_encrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventstate.api import new_cipher_key

    monkeypatch.setenv("EVENTSTATE_CIPHER_KEY", new_cipher_key())
    secret = open_file_store(tmp_path / "secret.db")
    append_all(secret, small_environment(Events(), UUID, 3))
    assert service.machine(secret, UUID, "1")["instance"]["instance_id"] == "i-00001"
    copy = runner.rebuild(secret).copy
    assert service.machine(secret, UUID, "2")["preferred_private_address"] == "10.0.0.3"
    storage = storage_for(secret)
    plain = storage.read_document_blobs(copy, MACHINE)  # decrypted, as verify compares them
    assert [orjson.loads(blob) for _key, blob in plain] == storage.read_documents(copy, MACHINE)
    assert [key for key, _blob in plain] == sorted(key for key, _blob in plain)
    secret.close()
    raw = sqlite3.connect(tmp_path / "secret.db")
    blobs = [row[0] for row in raw.execute("SELECT doc FROM projection_documents")]
    assert blobs and not any(b"i-00001" in blob or UUID.encode() in blob for blob in blobs)
