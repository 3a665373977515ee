"""Aggregate snapshots: derived data that never changes what a load returns."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstate.api import open_store
from eventstate.domain.aggregates import FoldedAggregate, Machine, Model
from eventstate.errors import ConcurrencyConflictError, EventStateError
from eventstate.repository import Repository
from eventstate.snapshots import Snapshots, StoredSnapshot, fingerprint
from eventstate.store import EventStore
from eventstate.streams import machine_stream, model_stream

MODEL = "5a95a5a5-0000-4000-8000-000000000001"
MACHINES = ("0", "1", "2", "0/lxd/0", "1/kvm/0")
UNITS = ("app/0", "app/1", "db/0")
RELEASES = ("2.9", "3.0")


# --- helpers -------------------------------------------------------------------------------


def _model(repo: Repository) -> None:
    repo.create_model("snap", provider_type="ec2", model_uuid=MODEL, config={"a": 1})


def _machine_with_events(repo: Repository, machine_id: str = "0", events: int = 10) -> None:
    """A machine whose stream holds `events` events."""
    repo.add_machine(MODEL, base="ubuntu@22.04", machine_id=machine_id)
    for i in range(events - 1):
        repo.set_machine_addresses(MODEL, machine_id, [f"10.0.{i // 250}.{i % 250 + 1}"])


def _whole_state(aggregate: FoldedAggregate) -> tuple[Any, ...]:
    """Everything a folded aggregate knows: every document of its set, and where it is."""
    docs = aggregate.folded_state().docs
    return (
        aggregate.version,
        aggregate.position,
        docs.machines(),
        docs.models(),
        docs.units(),
    )


def _load(repo: Repository, stream_of: str) -> Model | Machine:
    if stream_of == "model":
        return repo.load_model(MODEL)
    return repo.load_machine(MODEL, stream_of)


def _tail_reads(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the `gt` of every stream read: > 0 when a load resumed from a snapshot."""
    calls: list[int] = []
    read = store.backend.read_stream

    def spy(stream: str, gt: int = 0, lte: int | None = None) -> Any:
        calls.append(gt)
        return read(stream, gt, lte)

    monkeypatch.setattr(store.backend, "read_stream", spy)
    return calls


@pytest.fixture
def memory_store() -> Iterator[EventStore]:
    opened = open_store("memory://")
    yield opened
    opened.close()


# --- random command sequences ---------------------------------------------------------------

machine = st.sampled_from(MACHINES)
step = st.one_of(
    st.tuples(st.just("add"), machine, st.booleans()),
    st.tuples(st.just("addresses"), machine, st.lists(st.integers(1, 250), max_size=3)),
    st.tuples(st.just("agent"), machine, st.integers(0, 9)),
    st.tuples(st.just("provision"), machine, st.integers(0, 9)),
    st.tuples(st.just("life"), machine, st.sampled_from(("alive", "dying", "dead"))),
    st.tuples(st.just("containers"), machine, st.lists(st.sampled_from(("lxd", "kvm")))),
    st.tuples(st.just("config"), st.sampled_from("abc"), st.integers(0, 3)),
    st.tuples(st.just("model_agent"), st.just(""), st.integers(0, 9)),
    st.tuples(st.just("assign"), st.sampled_from(UNITS), machine),
    st.tuples(st.just("destroy_unit"), st.sampled_from(UNITS), st.just(0)),
    st.tuples(st.just("upgrade"), machine, st.sampled_from(RELEASES)),
    st.tuples(st.just("upgraded"), machine, st.sampled_from(RELEASES)),
    st.tuples(st.just("read"), st.sampled_from(("model", *MACHINES)), st.just(0)),
)


def _run(repo: Repository, reader: Repository, command: tuple[Any, ...]) -> None:
    """One command; the invalid ones (refused by an invariant) are part of the game."""
    kind, target, value = command
    try:
        if kind == "add":
            parent, _, container_type = target.rpartition("/")[0].partition("/")
            jobs = ["JobManageModel"] if value else ["JobHostUnits"]
            repo.add_machine(
                MODEL,
                base="ubuntu@22.04",
                jobs=jobs,
                machine_id=target,
                parent=parent or None,
                container_type=container_type,
            )
        elif kind == "addresses":
            repo.set_machine_addresses(MODEL, target, [f"10.1.0.{n}" for n in value])
        elif kind == "agent":
            repo.set_machine_agent_binary(MODEL, target, version=f"3.0.{value}-ubuntu-amd64")
        elif kind == "provision":
            repo.provision_machine(
                MODEL, target, instance_id=f"i-{value}", nonce=f"n{value}", hardware={"arch": "arm"}
            )
        elif kind == "life":
            repo.set_machine_life(MODEL, target, value)
        elif kind == "containers":
            repo.set_supported_containers(MODEL, target, value)
        elif kind == "config":
            repo.change_model_config(MODEL, {target: value}, ["b"] if value == 3 else [])
        elif kind == "model_agent":
            repo.set_model_agent_version(MODEL, f"3.0.{value}")
        elif kind == "assign":
            repo.assign_unit(MODEL, target, value)
        elif kind == "destroy_unit":
            repo.destroy_unit(MODEL, target)
        elif kind in ("upgrade", "upgraded"):
            loaded = repo.load_machine(MODEL, target)
            if kind == "upgrade":
                loaded.request_upgrade_actions(value, ["pkg"], [])
            else:
                loaded.complete_upgrade_actions(value)
            repo.save(loaded)
        else:  # a read through snapshots, which may write one
            _load(reader, target)
    except EventStateError:
        pass  # ValidationError, NotFoundError: nothing was written


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(every=st.integers(1, 6), commands=st.lists(st.tuples(st.booleans(), step), max_size=50))
def test_loads_with_and_without_snapshots_are_identical(
    every: int, commands: list[tuple[bool, tuple[Any, ...]]]
) -> None:
    store = open_store("memory://")
    try:
        cached = Repository(store, snapshot_every=every)  # keeps its saved aggregates
        uncached = Repository(store, cache_size=0, snapshot_every=every)
        _model(cached)
        for top_level in ("0", "1"):  # most commands then act on a machine that exists
            cached.add_machine(MODEL, base="ubuntu@22.04", machine_id=top_level)
        for by_cached, command in commands:
            _run(cached if by_cached else uncached, uncached, command)
        assert cached.snapshots is not None
        storage, key = cached.snapshots.storage, cached.snapshots.fingerprint
        for target in ("model", *MACHINES):
            full = _load(Repository(store, snapshot_every=0), target)
            from_snapshot = _load(Repository(store, snapshot_every=every), target)
            assert _whole_state(from_snapshot) == _whole_state(full), target
            assert from_snapshot.state == full.state
            # The writer's own (cached, fast-forwarded) aggregate agrees as well.
            assert _whole_state(_load(cached, target)) == _whole_state(full), target
            if full.version >= every:  # the snapshots were really there to be used
                stored = storage.read(full.stream, key)
                assert stored is not None and stored.version > full.version - every
    finally:
        store.close()


# --- what a load reads ----------------------------------------------------------------------


def test_a_load_folds_only_the_events_after_the_snapshot(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Repository(store, snapshot_every=8)
    _model(repo)
    _machine_with_events(repo, events=20)  # snapshots written after saves 8 and 16
    reads = _tail_reads(store, monkeypatch)
    loaded = Repository(store, snapshot_every=8).load_machine(MODEL, "0")
    assert reads == [15]  # from the snapshot's own event (16), checked, then 17..20
    assert loaded.version == 20 and loaded.snapshot_version == 16
    full = Repository(store, snapshot_every=0).load_machine(MODEL, "0")
    assert _whole_state(loaded) == _whole_state(full)


def test_a_load_writes_a_snapshot_once_the_stream_grew_enough(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = Repository(store, snapshot_every=0)  # writes no snapshots
    _model(writer)
    _machine_with_events(writer, events=30)
    stream = machine_stream(MODEL, "0")
    reader = Repository(store, snapshot_every=25)
    assert reader.snapshots is not None
    assert reader.snapshots.storage.read(stream, reader.snapshots.fingerprint) is None
    reader.load_machine(MODEL, "0")
    stored = reader.snapshots.storage.read(stream, reader.snapshots.fingerprint)
    assert stored is not None and stored.version == 30
    writer.set_machine_addresses(MODEL, "0", ["10.9.9.9"])
    reader.load_machine(MODEL, "0")  # one event on top: not due
    stored = reader.snapshots.storage.read(stream, reader.snapshots.fingerprint)
    assert stored is not None and stored.version == 30


def test_snapshots_off_reads_and_writes_none(store: EventStore) -> None:
    repo = Repository(store, snapshot_every=0)
    assert repo.snapshots is None
    _model(repo)
    _machine_with_events(repo, events=5)
    tables = store.backend.read_cursor  # type: ignore[attr-defined]
    with tables() as c:
        names = {row[0] for row in c.execute("SELECT name FROM sqlite_master")}
    assert "aggregate_snapshots" not in names


def test_the_model_stream_has_snapshots_too(store: EventStore) -> None:
    repo = Repository(store, snapshot_every=3)
    _model(repo)
    for n in range(7):
        repo.change_model_config(MODEL, {"k": n})
    assert repo.snapshots is not None
    stored = repo.snapshots.storage.read(model_stream(MODEL), repo.snapshots.fingerprint)
    assert stored is not None and stored.version == 6  # written after saves 3 and 6
    loaded = Repository(store, snapshot_every=3).load_model(MODEL)
    assert loaded.require()["config"] == {"a": 1, "k": 6}
    assert _whole_state(loaded) == _whole_state(
        Repository(store, snapshot_every=0).load_model(MODEL)
    )


# --- snapshots that must be ignored ---------------------------------------------------------


def test_a_snapshot_with_another_fingerprint_is_ignored(store: EventStore) -> None:
    repo = Repository(store, snapshot_every=5)
    _model(repo)
    _machine_with_events(repo, events=10)
    stream = machine_stream(MODEL, "0")
    snapshots = repo.snapshots
    assert snapshots is not None
    # Other code's snapshot of this stream: same version, a different state.
    other = Snapshots(store, snapshots.storage, every=5)
    other.fingerprint = "0" * 32
    state = Repository(store, snapshot_every=0).load_machine(MODEL, "0").folded_state()
    doctored = state.docs.get_machine(MODEL, "0")
    assert doctored is not None
    doctored["life"] = "dead"
    assert other.write(stream, state)
    assert other.read(stream) is not None  # usable by the code it belongs to

    loaded = Repository(store, snapshot_every=5).load_machine(MODEL, "0")
    assert loaded.require()["life"] == "alive"
    assert _whole_state(loaded) == _whole_state(
        Repository(store, snapshot_every=0).load_machine(MODEL, "0")
    )


def test_the_fingerprint_follows_the_upcaster_chain(store: EventStore) -> None:
    from eventstate.snapshots.base import _fingerprint

    assert fingerprint(store) == _fingerprint(store.chain.fingerprint())
    assert _fingerprint("chain-a") != _fingerprint("chain-b")


def _corrupt_flip(state: bytes) -> bytes:
    middle = len(state) // 2
    return state[:middle] + bytes([state[middle] ^ 0x40]) + state[middle + 1 :]


def _corrupt_body(body: bytes) -> bytes:
    """A valid checksum over bytes that are not a snapshot."""
    import hashlib

    return hashlib.blake2b(body, digest_size=16).digest() + body


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(_corrupt_flip, id="flipped-bit"),
        pytest.param(lambda s: s[: len(s) // 3], id="truncated"),
        pytest.param(lambda s: b"", id="empty"),
        pytest.param(lambda s: _corrupt_body(b"\xc1\xc1"), id="not-msgpack"),
        pytest.param(lambda s: _corrupt_body(b"\x93\x01\x02\x03"), id="a-list"),
        pytest.param(lambda s: _corrupt_body(b"\x81\xa6format\x01"), id="wrong-header"),
    ],
)
def test_a_corrupted_snapshot_is_ignored_and_logged(
    store: EventStore, caplog: pytest.LogCaptureFixture, corrupt: Any
) -> None:
    repo = Repository(store, snapshot_every=5)
    _model(repo)
    _machine_with_events(repo, events=12)
    snapshots = repo.snapshots
    assert snapshots is not None
    stream = machine_stream(MODEL, "0")
    stored = snapshots.storage.read(stream, snapshots.fingerprint)
    assert stored is not None and stored.version == 10
    with store.backend.write_transaction() as c:  # type: ignore[attr-defined]
        c.execute(
            "UPDATE aggregate_snapshots SET state = ? WHERE stream = ?",
            (corrupt(stored.state), stream),
        )
    with caplog.at_level(logging.DEBUG, logger="eventstate.snapshots"):
        loaded = Repository(store, snapshot_every=50).load_machine(MODEL, "0")
    assert _whole_state(loaded) == _whole_state(
        Repository(store, snapshot_every=0).load_machine(MODEL, "0")
    )
    assert any(
        f"snapshot of {stream} at version 10 ignored" in r.getMessage() for r in caplog.records
    ), caplog.text


def test_a_snapshot_of_another_log_is_ignored(tmp_path: Path) -> None:
    """A snapshot whose event is no longer at the position it recorded (the log was
    rebuilt, restored, imported elsewhere) is not used."""
    first, second = (open_store(f"sqlite:///{tmp_path / name}") for name in ("a.db", "b.db"))
    try:
        writer = Repository(first, snapshot_every=5)
        _model(writer)
        _machine_with_events(writer, events=10)
        other_log = Repository(second, snapshot_every=0)
        _model(other_log)
        other_log.add_machine(MODEL, base="ubuntu@22.04", machine_id="7")  # shifts positions
        _machine_with_events(other_log, events=9)
        other_log.set_supported_containers(MODEL, "0", ["lxd"])  # version 10, unlike a.db's
        other_log.set_machine_life(MODEL, "0", "dying")
        assert writer.snapshots is not None
        stream = machine_stream(MODEL, "0")
        stored = writer.snapshots.storage.read(stream, writer.snapshots.fingerprint)
        assert stored is not None
        reader = Repository(second, snapshot_every=50)
        assert reader.snapshots is not None
        reader.snapshots.storage.write(stream, reader.snapshots.fingerprint, stored)

        loaded = reader.load_machine(MODEL, "0")
        assert loaded.require()["life"] == "dying"
        assert loaded.require()["supported_containers"] == ["lxd"]
        full = Repository(second, snapshot_every=0).load_machine(MODEL, "0")
        assert _whole_state(loaded) == _whole_state(full)
    finally:
        first.close()
        second.close()


def test_an_older_snapshot_never_replaces_a_newer_one(store: EventStore) -> None:
    repo = Repository(store, snapshot_every=5)
    assert repo.snapshots is not None
    storage, key = repo.snapshots.storage, repo.snapshots.fingerprint
    storage.write("machine:x:0", key, StoredSnapshot(10, 100, b"ten"))
    storage.write("machine:x:0", key, StoredSnapshot(5, 50, b"five"))
    assert storage.read("machine:x:0", key) == StoredSnapshot(10, 100, b"ten")
    storage.write("machine:x:0", key, StoredSnapshot(12, 120, b"twelve"))
    assert storage.read("machine:x:0", key) == StoredSnapshot(12, 120, b"twelve")


def test_a_failing_snapshot_write_fails_nothing(
    store: EventStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo = Repository(store, snapshot_every=2)
    assert repo.snapshots is not None

    def refuse(*_args: Any) -> None:
        raise EventStateError("attempt to write a readonly database")

    monkeypatch.setattr(repo.snapshots.storage, "write", refuse)
    with caplog.at_level(logging.DEBUG, logger="eventstate.snapshots"):
        _model(repo)
        _machine_with_events(repo, events=6)
    assert repo.get_machine(MODEL, "0")["stream_version"] == 6
    assert repo.snapshots.writable is False
    assert "no more snapshot writes" in caplog.text


# --- concurrency ----------------------------------------------------------------------------


def test_concurrent_writers_still_conflict(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    stores = [open_store(url) for _ in range(2)]
    try:
        first, second = (Repository(s, snapshot_every=1) for s in stores)
        _model(first)
        _machine_with_events(first, events=4)
        mine, theirs = first.load_machine(MODEL, "0"), second.load_machine(MODEL, "0")
        assert mine.snapshot_version == theirs.snapshot_version == 4  # both from the snapshot
        mine.set_supported_containers(["lxd"])
        theirs.set_supported_containers(["kvm"])
        first.save(mine)
        with pytest.raises(ConcurrencyConflictError, match="version 5"):
            second.save(theirs)
        assert second.get_machine(MODEL, "0")["supported_containers"] == ["lxd"]
    finally:
        for s in stores:
            s.close()


def test_the_retrying_wrapper_redecides_after_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    stores = [open_store(url) for _ in range(2)]
    try:
        first, second = (Repository(s, snapshot_every=1, cache_size=0) for s in stores)
        _model(first)
        _machine_with_events(first, events=3)
        # The other server appends right after our load: our first attempt conflicts.
        append = stores[1].append
        sneaked: list[int] = []

        def append_after_a_rival(events: Any, *args: Any, **kwargs: Any) -> list[int]:
            if not sneaked:
                sneaked.append(1)
                first.set_machine_agent_binary(MODEL, "0", version="3.1.0-ubuntu-amd64")
            return append(events, *args, **kwargs)

        monkeypatch.setattr(stores[1], "append", append_after_a_rival)
        retrying = second.retrying()
        retrying.set_supported_containers(MODEL, "0", ["lxd"])
        assert retrying.conflicts == 1
        state = Repository(stores[0], snapshot_every=0).get_machine(MODEL, "0")
        assert state["agent_version"] == "3.1.0" and state["supported_containers"] == ["lxd"]
        assert state["stream_version"] == 5
    finally:
        for s in stores:
            s.close()


# --- MongoDB --------------------------------------------------------------------------------


def test_mongodb_snapshots_give_the_same_loads() -> None:
    pytest.importorskip("mongomock")
    from eventstate.codec import PayloadCodec
    from eventstate.snapshots.mongodb import MongoSnapshotStorage
    from tests.backends.mongomock_adapter import make_target, open_backend

    target = make_target("mongomock-rs")
    store = EventStore(open_backend(target), PayloadCodec.plain())
    try:
        repo = Repository(store, snapshot_every=4)
        assert repo.snapshots is not None
        assert isinstance(repo.snapshots.storage, MongoSnapshotStorage)
        _model(repo)
        _machine_with_events(repo, events=10)
        stored = repo.snapshots.storage.read(machine_stream(MODEL, "0"), repo.snapshots.fingerprint)
        assert stored is not None and stored.version == 8
        loaded = Repository(store, snapshot_every=4).load_machine(MODEL, "0")
        assert loaded.snapshot_version == 8
        full = Repository(store, snapshot_every=0).load_machine(MODEL, "0")
        assert _whole_state(loaded) == _whole_state(full)
        storage, key = repo.snapshots.storage, repo.snapshots.fingerprint
        storage.write("machine:x:0", key, StoredSnapshot(10, 100, b"ten"))
        storage.write("machine:x:0", key, StoredSnapshot(5, 50, b"five"))
        assert storage.read("machine:x:0", key) == StoredSnapshot(10, 100, b"ten")
    finally:
        store.close()
        target.cleanup()
