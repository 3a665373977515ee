"""MongoBackend against the Backend contract: positions, versions, the hash chain,
metadata, gating guards, reads, indexes, and the password never shown."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pymongo.errors import AutoReconnect

from eventstate.backends.base import UPGRADING, NewRow
from eventstate.backends.mongo.retry import MongoRetryExhaustedError, RetryPolicy
from eventstate.backends.mongodb import MongoBackend
from eventstate.errors import (
    ConcurrencyConflictError,
    EventStateError,
    FencingError,
    InterchangeError,
    StoreURLError,
    StreamVersionGapError,
    UpgradeInProgressError,
)
from eventstate.gating import APPEND_GUARD, FencedGuard, ImportGuard, MetaChange
from eventstate.hashing import GENESIS, event_hash
from tests.backends.mongomock_adapter import (
    FaultyClient,
    Target,
    open_backend,
    target_fixture,  # noqa: F401 - the `target` fixture
)


def row(stream: str, version: int, data: bytes = b"x", type_name: str = "T") -> NewRow:
    return (stream, version, type_name, 1, 1_000_000 + version, data)


def test_positions_versions_and_hash_chain(target: Target) -> None:
    backend = open_backend(target)
    assert backend.head() == 0 and backend.count() == 0
    assert backend.append([row("a", 1), row("a", 2), row("b", 1)], APPEND_GUARD) == [1, 2, 3]
    assert backend.append([row("a", 3)], APPEND_GUARD) == [4]
    with pytest.raises(ConcurrencyConflictError, match="a version 3"):
        backend.append([row("a", 3)], APPEND_GUARD)
    with pytest.raises(StreamVersionGapError, match="gap after version 3"):
        backend.append([row("a", 5)], APPEND_GUARD)
    with pytest.raises(StreamVersionGapError, match="in the batch"):
        backend.append([row("c", 1), row("c", 3)], APPEND_GUARD)
    # A refused batch writes nothing, not even its valid part.
    with pytest.raises(ConcurrencyConflictError):
        backend.append([row("d", 1), row("a", 1)], APPEND_GUARD)
    assert backend.stream_heads(["a", "b", "d", "zz"]) == {"a": 3, "b": 1}
    assert backend.head() == 4 and backend.count() == 4
    previous = GENESIS
    rows = list(backend.iter_log())
    hashes = dict(backend.iter_hashes())
    for position, stream, version, type_name, schema, recorded_at, state in rows:
        previous = event_hash(previous, stream, version, type_name, schema, recorded_at, state)
        assert hashes[position] == previous
    assert backend.read_meta().head_hash == previous
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    full = list(backend.iter_full_rows())
    assert [f[:7] for f in full] == rows and full[-1][7] == previous


def test_reads(target: Target) -> None:
    backend = open_backend(target)
    backend.append([row("machine:m1:0", v) for v in (1, 2, 3)], APPEND_GUARD)
    backend.append([row("model:m1", 1, type_name="ModelCreated")], APPEND_GUARD)
    backend.append([row("machine:m2:0", 1), row("machine:m1:1", 1)], APPEND_GUARD)
    assert [r[2] for r in backend.read_stream("machine:m1:0", 1)] == [2, 3]
    assert [r[2] for r in backend.read_stream("machine:m1:0", 0, 2)] == [1, 2]
    assert [r[0] for r in backend.iter_log(2, 5)] == [3, 4, 5]
    assert [r[0] for r in backend.iter_log(types=["ModelCreated"])] == [4]
    assert [r[0] for r in backend.iter_log(page=2)] == [1, 2, 3, 4, 5, 6]
    assert [r[0] for r in backend.iter_streams_prefix("machine:m1:")] == [1, 2, 3, 6]
    assert [r[0] for r in backend.iter_streams_prefix("machine:m1:", after=3)] == [6]
    assert [p for p, _ in backend.iter_hashes(4)] == [5, 6]


def test_a_new_store_starts_at_the_given_release_and_keeps_it(target: Target) -> None:
    first = open_backend(target, initial_release="1.14")
    assert first.read_meta().release == "1.14"
    assert "created_at" in first.read_meta().extra
    second = open_backend(target, initial_release="3.0")  # opening never resets a store
    assert second.read_meta().release == "1.14"


def test_guards_run_inside_the_write(target: Target) -> None:
    backend = open_backend(target)
    meta = backend.read_meta()
    upgrading = replace(
        meta, status=UPGRADING, upgrade_id="u1", upgrade_holder="h", upgrade_since="t"
    )
    lease = backend.acquire_lease("upgrader", 60, 1_000)
    saved = backend.write_meta(MetaChange(upgrading, token=lease.token))
    assert saved.status == UPGRADING and backend.read_meta().upgrade_id == "u1"
    with pytest.raises(UpgradeInProgressError, match="u1"):
        backend.append([row("a", 1)], APPEND_GUARD)
    assert backend.append([row("upgrade:u1", 1)], FencedGuard(lease.token, "u1")) == [1]
    # A new grant supersedes the lease: the old holder's next write is refused.
    backend.release_lease(lease.token)
    newer = backend.acquire_lease("second", 60, 2_000)
    assert newer.token == lease.token + 1
    with pytest.raises(FencingError, match="stale fencing token"):
        backend.append([row("upgrade:u1", 2)], FencedGuard(lease.token, "u1"))
    with pytest.raises(FencingError):
        backend.append_stream_of_batches([[row("upgrade:u1", 2)]], FencedGuard(lease.token, "u1"))
    with pytest.raises(FencingError):
        backend.write_meta(MetaChange(meta, token=lease.token))
    assert backend.head() == 1
    done = backend.write_meta(MetaChange(replace(meta, release="3.0"), token=newer.token))
    assert done.status == "available" and backend.read_meta().head_hash == done.head_hash


def test_metadata_extra_keys_merge_and_may_contain_dots(target: Target) -> None:
    backend = open_backend(target)
    meta = backend.read_meta()
    backend.write_meta(MetaChange(replace(meta, extra={"key.check": "a$b", "encrypted": "no"})))
    extra = backend.read_meta().extra
    assert extra["key.check"] == "a$b" and extra["encrypted"] == "no" and "created_at" in extra


def test_import_guard_takes_the_files_release_into_an_empty_store(target: Target) -> None:
    backend = open_backend(target)
    total = backend.append_stream_of_batches(
        [[row("a", 1), row("a", 2)], [row("a", 3)], []], ImportGuard("1.14")
    )
    assert total == 3 and backend.read_meta().release == "1.14"
    with pytest.raises(InterchangeError, match="not empty"):
        backend.append_stream_of_batches([[row("b", 1)]], ImportGuard("2.0"))
    assert backend.head() == 3


def test_imports_continue_stream_versions_across_batches(target: Target) -> None:
    backend = open_backend(target)
    backend.append([row("a", 1)], APPEND_GUARD)
    batches = [[row("a", 2), row("b", 1)], [row("a", 3)], [row("b", 2), row("c", 1)]]
    assert backend.append_stream_of_batches(batches, APPEND_GUARD) == 5
    assert [(r[0], r[1], r[2]) for r in backend.iter_log()] == [
        (1, "a", 1), (2, "a", 2), (3, "b", 1), (4, "a", 3), (5, "b", 2), (6, "c", 1)
    ]  # fmt: skip


def test_indexes_are_created_when_a_store_opens(target: Target) -> None:
    backend = open_backend(target)
    client = target.client()
    info = client.get_database(backend.database).get_collection("events").index_information()
    assert info["stream_version"]["unique"] is True
    assert [tuple(k) for k in info["stream_version"]["key"]] == [("stream", 1), ("version", 1)]
    assert "type_position" in info


def test_describe_and_errors_never_show_the_password(target: Target) -> None:
    secret = "s3cr3t-Pa55"
    url = target.url.replace("mongodb://", f"mongodb://admin:{secret}@", 1)
    faulty = FaultyClient(target.client())
    backend = MongoBackend(
        url,
        initial_release="3.0",
        client=faulty,  # type: ignore[arg-type]
        mode=target.mode,  # type: ignore[arg-type]
        retry=RetryPolicy(attempts=3, base_s=0.001, max_wait_s=0.002),
    )
    described = str(backend.describe())
    assert secret not in described and "admin:***@" in described
    assert secret not in repr(backend) and secret not in repr(backend._url)
    assert backend.url == url  # as given: worker processes reopen the store from it
    # A driver error that echoes the URL (some do) is scrubbed before anyone sees it.
    faulty.faults.add("*", lambda: AutoReconnect(f"cannot reach {url}: timed out"), times=100)
    with pytest.raises(MongoRetryExhaustedError) as caught:
        backend.head()
    message = str(caught.value)
    assert secret not in message and "read the log head" in message and "\n" not in message
    assert "after 3 attempts" in message


def test_bad_urls_are_clear_errors() -> None:
    from eventstate.backends.mongo.settings import parse_mongo_url

    assert parse_mongo_url("mongodb://h1:1,h2:2/?replicaSet=rs").database == "eventstate"
    assert parse_mongo_url("mongodb+srv://u:p@cluster.example/prod?w=1").database == "prod"
    with pytest.raises(StoreURLError, match="not a database name"):
        parse_mongo_url("mongodb://u:topsecret@h/bad.name")
    try:
        parse_mongo_url("mongodb://u:topsecret@h/bad.name")
    except StoreURLError as exc:
        assert "topsecret" not in str(exc)


def test_eventsourcing_writes_are_gated(target: Target) -> None:
    from eventsourcing.persistence import StoredEvent

    backend = open_backend(target, initial_release="2.0")
    with pytest.raises(EventStateError, match="run `eventstate upgrade`"):
        backend.insert_events([StoredEvent("x", 1, "t", b"")])
    assert backend.head() == 0
