"""Projection storage on MongoDB: copies, the atomic switch, exactly-once catch-up
with several processes, and the documents as MongoDB documents."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from eventstate.api import _codec_for
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
    storage_for,
)
from projections.storage.base import model_prefix
from projections.storage.mongodb import MongoProjectionStorage
from tests.backends.mongomock_adapter import (
    FaultyClient,
    Target,
    open_backend,
    target_fixture,  # noqa: F401 - the `target` fixture
)
from tests.projections.test_runner_support import (
    Events,
    append_all,
    open_file_store,
    reference,
    small_environment,
)

UUID = "5f1e8f6a-0000-4000-8000-000000000001"
KEY = CopyKey("f" * 64, "3.0")


def open_mongo_store(target: Target, **options: Any) -> EventStore:
    """A store on the target: each one is a separate 'process' (its own client)."""
    backend = open_backend(target, **options)
    return EventStore(backend, _codec_for(backend))


@pytest.fixture
def store(target: Target) -> EventStore:
    opened = open_mongo_store(target)
    append_all(opened, small_environment(Events(), UUID, 10))
    return opened


def _published(storage: ProjectionStorage, position: int) -> CopyInfo:
    build = storage.begin_build(KEY, "me")
    storage.write_documents(build, [(MACHINE, new_machine_document(UUID, "0"))])
    with storage.publish(build) as publish:
        return publish.make_live(position)


def test_reads_equal_a_plain_fold_and_the_sqlite_store(store: EventStore, tmp_path: Any) -> None:
    assert isinstance(storage_for(store), MongoProjectionStorage)
    machines, models = reference(store)
    assert service.machines(store) == machines
    assert service.models(store) == models
    sqlite = open_file_store(tmp_path / "same.db")
    append_all(sqlite, small_environment(Events(), UUID, 10))

    def timeless(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in d.items() if k != "updated_at"} for d in docs]  # append times

    assert timeless(service.machines(sqlite)) == timeless(service.machines(store))
    assert timeless(service.models(sqlite)) == timeless(service.models(store))
    sqlite.close()


def test_documents_are_mongodb_documents_in_collections_per_copy(
    store: EventStore, target: Target
) -> None:
    copy = runner.catch_up(store)
    database = target.client().get_database(store.backend.database)  # type: ignore[attr-defined]
    machines = database.get_collection(f"projection_{copy.copy_id}_machines")
    raw = machines.find_one({"_id": f"{UUID} 0"})
    assert raw is not None and raw["doc"] == service.machine(store, UUID, "0")
    models = database.get_collection(f"projection_{copy.copy_id}_models")
    assert models.find_one({"_id": UUID})["doc"]["model_uuid"] == UUID


def test_a_new_build_is_invisible_until_published(store: EventStore) -> None:
    storage = storage_for(store)
    first = storage.begin_build(KEY, "me")
    assert first.state == BUILDING and first.generation == 1
    assert storage.live_copy(KEY) is None
    written = storage.write_documents(
        first, [(MACHINE, new_machine_document(UUID, "0")), (MODEL, {"model_uuid": UUID})]
    )
    assert written == 2 and storage.live_copy(KEY) is None
    with storage.publish(first) as publish:
        machine = publish.documents.get_machine(UUID, "0")
        assert machine is not None and machine["id"] == "0"
        publish.documents.put_machine(new_machine_document(UUID, "1"))  # a tail event's
        live = publish.make_live(7)
    assert live.state == READY and live.position == 7 and storage.live_copy(KEY) == live
    assert len(storage.read_documents(live, MACHINE)) == 2
    second = storage.begin_build(KEY, "me")
    assert second.generation == 2 and second.copy_id > live.copy_id
    assert storage.live_copy(KEY) == live


def test_a_failed_publish_saves_nothing_and_switches_nothing(store: EventStore) -> None:
    storage = storage_for(store)
    live = _published(storage, 1)
    building = storage.begin_build(KEY, "me")
    storage.write_documents(building, [(MACHINE, new_machine_document(UUID, "9"))])
    with pytest.raises(RuntimeError), storage.publish(building) as publish:
        publish.documents.put_machine(new_machine_document(UUID, "10"))
        publish.make_live(3)
        raise RuntimeError("killed")
    assert storage.live_copy(KEY) == live
    assert storage.count_documents(building)[MACHINE] == 1  # the session's put: not saved
    assert storage.copy(building.copy_id).state == BUILDING  # type: ignore[union-attr]


def test_a_failed_bulk_write_writes_nothing(store: EventStore) -> None:
    storage = storage_for(store)
    building = storage.begin_build(KEY, "me")

    def docs() -> Any:
        for n in range(2500):  # more than one chunk
            yield MACHINE, new_machine_document(UUID, str(n))
        raise RuntimeError("a worker died")

    with pytest.raises(RuntimeError):
        storage.write_documents(building, docs())
    assert storage.count_documents(building)[MACHINE] == 0
    storage.drop_copy(building.copy_id)
    with pytest.raises(CopyGoneError):
        storage.write_documents(building, [(MACHINE, new_machine_document(UUID, "0"))])
    assert storage.count_documents(building)[MACHINE] == 0


def test_partitions_cover_the_log_once(store: EventStore) -> None:
    from projections.storage.base import partition_of

    other = "a5" + UUID[2:]
    append_all(store, small_environment(Events(), other, 3))
    storage = storage_for(store)
    head = store.head()
    everything = [r[0] for r in store.backend.iter_log(0, head)]
    for parts in (1, 2, 3, 7):
        seen: list[int] = []
        for part in range(parts):
            rows = list(storage.iter_partition(0, head, part, parts))
            assert all(partition_of(r[1], parts) == part for r in rows)
            seen += [r[0] for r in rows]
        assert sorted(seen) == everything
    assert [r[0] for r in storage.iter_partition(5, 9, 0, 1)] == [6, 7, 8, 9]


def test_the_partition_filter_matches_partition_of() -> None:
    """The server-side filter is a superset of each partition, for any stream id."""
    import mongomock
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from eventstate.backends.mongodb import partition_filter
    from projections.storage.base import partition_of

    events: Any = mongomock.MongoClient().db.events

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.text(max_size=6), min_size=1, max_size=20), st.integers(1, 9))
    def check(streams: list[str], parts: int) -> None:
        events.delete_many({})
        events.insert_many([{"_id": n, "stream": s} for n, s in enumerate(streams)])
        for part in range(parts):
            found = {d["_id"] for d in events.find(partition_filter(part, parts))}
            wanted = {n for n, s in enumerate(streams) if partition_of(s, parts) == part}
            assert wanted <= found, (part, parts)

    check()


def test_publishing_retires_the_previous_generation_in_the_same_step(store: EventStore) -> None:
    storage = storage_for(store)
    old = _published(storage, 1)
    new = _published(storage, 2)
    assert storage.live_copy(KEY) == new
    assert storage.copy(old.copy_id).state == RETIRED  # type: ignore[union-attr]
    assert [c.state for c in storage.copies() if c.key == KEY] == [RETIRED, READY]
    with pytest.raises(CopyGoneError):
        storage.read_documents(old, MACHINE)
    with pytest.raises(CopyGoneError), storage.catch_up(old):
        pass
    storage.drop_copy(old.copy_id)
    assert storage.copy(old.copy_id) is None
    assert storage.count_documents(old) == {"machine": 0, "model": 0, "unit": 0}
    storage.drop_copy(new.copy_id)  # dropping the live copy: readers build a new one
    assert storage.live_copy(KEY) is None


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
        assert session.documents.get_machine(UUID, "1") == before
    assert service.machine(store, UUID, "1") == before


def test_the_cache_notices_another_process_moving_the_copy(target: Target) -> None:
    first = open_mongo_store(target)
    events = Events()
    append_all(first, small_environment(events, UUID, 3))
    second = open_mongo_store(target)
    assert service.machines(first) == service.machines(second)
    turns = [
        (first, events.life(UUID, "2", "dying")),
        (second, events.agent_binary(UUID, "2", "3.0.1")),
        (first, events.supported_containers(UUID, "2", ["lxd"])),
        (second, events.life(UUID, "2", "dead")),
    ]
    for turn, (writer, event) in enumerate(turns):
        writer.append([event])
        assert service.machine(writer, UUID, "2")["stream_version"] == event.version, turn
    doc = service.machine(first, UUID, "2")
    assert doc["life"] == "dead" and doc["agent_version"] == "3.0.1"
    assert doc["supported_containers"] == ["lxd"]
    assert service.machines(first) == service.machines(second)


def test_several_processes_catch_up_exactly_once(target: Target) -> None:
    """Writers append while readers in other 'processes' catch the same copy up:
    every event is folded once, so the documents equal one plain fold of the log."""
    stores = [open_mongo_store(target) for _ in range(4)]
    events = Events()
    append_all(stores[0], small_environment(events, UUID, 6))
    changes = []
    for n in range(30):
        machine = str(n % 6)
        if n % 3 == 0:
            changes.append(events.supported_containers(UUID, machine, ["lxd"] * (n % 2)))
        elif n % 3 == 1:
            changes.append(events.agent_binary(UUID, machine, f"3.0.{n}"))
        else:
            changes.append(events.addresses(UUID, machine, n + 10))
    errors: list[BaseException] = []

    writing = threading.Event()
    writing.set()

    def write() -> None:
        try:
            for event in changes:
                stores[0].append([event])
                time.sleep(0.002)  # let the readers interleave
        except BaseException as exc:
            errors.append(exc)
        finally:
            writing.clear()

    def read(store: EventStore) -> None:
        try:
            while writing.is_set():
                service.machines(store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write)]
    threads += [threading.Thread(target=read, args=(s,)) for s in stores[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    machines, models = reference(stores[0])
    for store in stores:
        assert service.machines(store) == machines
        assert service.models(store) == models


def test_a_catch_up_that_dies_after_its_commit_is_finished_by_the_next_reader(
    target: Target,
) -> None:
    events = Events()
    writer = open_mongo_store(target)
    append_all(writer, small_environment(events, UUID, 3))
    service.machines(writer)
    client = FaultyClient(target.client())
    from eventstate.backends.mongo.retry import RetryPolicy

    dying_backend = open_backend(target, client=client, retry=RetryPolicy(attempts=1))
    dying = EventStore(dying_backend, _codec_for(dying_backend))
    writer.append([events.life(UUID, "1", "dying"), events.agent_binary(UUID, "2", "3.0.9")])

    def cut() -> None:
        client.faults.cut = True  # committed its position; died before writing documents

    client.faults.add("projection_copies.update_one", cut, after=True)
    with pytest.raises(Exception, match="connection cut"):
        service.machines(dying)
    reader = open_mongo_store(target)
    doc = service.machine(reader, UUID, "1")
    assert doc["life"] == "dying" and service.machine(reader, UUID, "2")["agent_version"] == "3.0.9"
    assert service.machines(reader) == reference(reader)[0]


def test_rebuild_and_cleanup(store: EventStore) -> None:
    first = runner.catch_up(store)
    result = runner.rebuild(store)
    assert result.copy.generation == first.generation + 1 and result.copy.state == READY
    assert service.machines(store) == reference(store)[0]
    storage = storage_for(store)
    assert [c.state for c in storage.copies()] == [RETIRED, READY]
    runner.cleanup_copies(store)
    assert [c.state for c in storage.copies()] == [READY]


def test_documents_of_one_model_are_one_key_range(store: EventStore) -> None:
    other = "5f1e8f6a-0000-4000-8000-000000000002"
    append_all(store, small_environment(Events(), other, 2))
    copy = runner.catch_up(store)
    storage = storage_for(store)
    ours = storage.read_documents(copy, MACHINE, model_prefix(UUID))
    assert {doc["model_uuid"] for doc in ours} == {UUID}
    assert len(storage.read_documents(copy, MACHINE)) == len(ours) + 3
    assert len(storage.read_documents(copy, MODEL)) == 2


def _fold_session(store: EventStore, session: Any) -> None:
    from projections.fold import Fold

    start, head = session.position, store.head()
    Fold(session.documents).apply_many(runner._events(store, start, head))
    session.advance(head)


def test_two_catch_ups_from_the_same_position_one_wins(target: Target) -> None:
    """No write lock holds the log still on MongoDB: two processes may fold the
    same events at once. The compare-and-set at commit lets one save; the other
    saves nothing and is told to retry."""
    from projections.storage import CatchUpConflictError

    events = Events()
    first, second = open_mongo_store(target), open_mongo_store(target)
    append_all(first, small_environment(events, UUID, 3))
    copy = runner.catch_up(first)
    first.append([events.life(UUID, "1", "dying"), events.agent_binary(UUID, "1", "3.0.2")])
    with pytest.raises(CatchUpConflictError), storage_for(first).catch_up(copy) as loser:
        with storage_for(second).catch_up(copy) as winner:
            _fold_session(second, winner)
        _fold_session(first, loser)
    assert storage_for(first).copy(copy.copy_id).position == first.head()  # type: ignore[union-attr]
    assert service.machines(first) == reference(first)[0]
    assert service.machine(second, UUID, "1")["life"] == "dying"


def test_a_slow_apply_never_overwrites_a_newer_document(target: Target) -> None:
    """A commits (position S -> U1) and stalls before writing its documents; B applies
    A's batch for it, folds U1 -> U2 and writes; A's late writes must not undo B's."""
    events = Events()
    writer = open_mongo_store(target)
    append_all(writer, small_environment(events, UUID, 3))
    service.machines(writer)
    client = FaultyClient(target.client())
    slow_backend = open_backend(target, client=client)
    slow = EventStore(slow_backend, _codec_for(slow_backend))
    stalled, resume = threading.Event(), threading.Event()

    def stall() -> None:
        stalled.set()
        resume.wait(10)

    writer.append([events.agent_binary(UUID, "1", "3.0.1")])
    client.faults.add("projection_redo.find", stall)
    thread = threading.Thread(target=lambda: service.machines(slow))
    thread.start()
    assert stalled.wait(10)
    writer.append([events.agent_binary(UUID, "1", "3.0.2")])
    fast = open_mongo_store(target)
    assert service.machine(fast, UUID, "1")["agent_version"] == "3.0.2"
    resume.set()
    thread.join(10)
    assert service.machine(fast, UUID, "1")["agent_version"] == "3.0.2"
    assert service.machines(writer) == reference(writer)[0]


def test_a_lost_acknowledgement_of_a_catch_up_commit(target: Target) -> None:
    from pymongo.errors import AutoReconnect

    events = Events()
    writer = open_mongo_store(target)
    append_all(writer, small_environment(events, UUID, 3))
    service.machines(writer)
    client = FaultyClient(target.client())
    backend = open_backend(target, client=client)
    reader = EventStore(backend, _codec_for(backend))
    service.machines(reader)
    writer.append([events.life(UUID, "2", "dying")])
    client.faults.add(
        "projection_copies.update_one", lambda: AutoReconnect("reply lost"), after=True
    )
    assert service.machine(reader, UUID, "2")["life"] == "dying"
    copy = runner.catch_up(reader)
    assert copy.position == writer.head()
    assert service.machines(writer) == reference(writer)[0]
