"""MongoBackend mirrors SQLiteBackend (the reference): random sequences of
appends (also ones that read another stream), imports, metadata changes, lease
operations and eventsourcing inserts give the same results, errors, logs,
hashes, metadata and lease on both."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstate.backends.base import UPGRADING, NewRow
from eventstate.backends.sqlite import SQLiteBackend
from eventstate.errors import ConcurrencyConflictError
from eventstate.gating import APPEND_GUARD, FencedGuard, ImportGuard, MetaChange
from tests.backends.mongomock_adapter import REAL_URI, TARGET_NAMES, make_target, open_backend

STREAMS = ["model:m", "machine:m:0", "machine:m:1", "unit:m:a/0"]
T0 = 1_700_000_000_000_000

rows_spec = st.lists(
    st.tuples(st.integers(0, len(STREAMS) - 1), st.integers(-1, 2), st.integers(1, 3)),
    min_size=0,
    max_size=3,
)
op = st.one_of(
    st.tuples(st.just("append"), rows_spec),
    st.tuples(st.just("import"), st.lists(rows_spec, max_size=3), st.sampled_from(["", "1.14"])),
    st.tuples(st.just("upgrading"), st.booleans()),
    st.tuples(st.just("acquire"), st.sampled_from(["a", "b"]), st.integers(0, 120)),
    st.tuples(st.just("renew"), st.integers(0, 4), st.integers(0, 120)),
    st.tuples(st.just("release"), st.integers(0, 4)),
    st.tuples(st.just("fenced"), st.integers(0, 4), rows_spec),
    st.tuples(st.just("es_insert"), rows_spec),
    # an append that read a stream at its head + delta (0: still current, so it passes)
    st.tuples(
        st.just("append_reading"), rows_spec, st.integers(0, len(STREAMS) - 1), st.integers(-1, 1)
    ),
)


def make_rows(spec: list[tuple[int, int, int]], heads: dict[str, int]) -> list[NewRow]:
    """Rows at head + delta (delta 1: the next version; else a clash or a gap)."""
    rows: list[NewRow] = []
    local = dict(heads)
    for index, delta, count in spec:
        stream = STREAMS[index]
        start = local.get(stream, 0) + (delta if delta != 0 else 1)
        for i in range(count):
            version = max(start + i, 0)
            rows.append((stream, version, "T", 1, T0 + version, f"{stream}/{version}".encode()))
        local[stream] = start + count - 1
    return rows


def run(backend: Any, step: tuple[Any, ...], heads: dict[str, int], clock: int) -> Any:
    kind = step[0]
    try:
        if kind == "append":
            return backend.append(make_rows(step[1], heads), APPEND_GUARD)
        if kind == "import":
            guard = ImportGuard(step[2]) if step[2] else APPEND_GUARD
            batches, local = [], dict(heads)
            for spec in step[1]:
                batch = make_rows(spec, local)
                for stream, version, *_ in batch:
                    local[stream] = max(local.get(stream, 0), version)
                batches.append(batch)
            return backend.append_stream_of_batches(batches, guard)
        if kind == "upgrading":
            meta = backend.read_meta()
            new = replace(meta, status=UPGRADING if step[1] else "available", upgrade_id="u")
            saved = backend.write_meta(MetaChange(new))
            return (saved.status, saved.release)
        if kind == "acquire":
            lease = backend.acquire_lease(step[1], 30, clock + step[2] * 1_000_000)
            return (lease.holder, lease.token, lease.expires_at_us - lease.acquired_at_us)
        if kind == "renew":
            lease = backend.renew_lease(step[1], 30, clock + step[2] * 1_000_000)
            return (lease.holder, lease.token)
        if kind == "release":
            return backend.release_lease(step[1])
        if kind == "append_reading":
            read = STREAMS[step[2]]
            unchanged = {read: max(heads.get(read, 0) + step[3], 0)}
            return backend.append(make_rows(step[1], heads), APPEND_GUARD, unchanged)
        if kind == "fenced":
            return backend.append(make_rows(step[2], heads), FencedGuard(step[1], "u"))
        if kind == "es_insert":
            from eventsourcing.persistence import StoredEvent

            events = [
                StoredEvent(stream, version, type_name, state)
                for stream, version, type_name, _, _, state in make_rows(step[1], heads)
            ]
            # insert_events stamps "now": the same now on both.
            module = sys.modules[type(backend).__module__]
            with mock.patch.object(module, "now_us", lambda: T0):
                return list(backend.insert_events(events))
    except ConcurrencyConflictError as exc:
        # The same refusal; its detail quotes the backend's own index error.
        return type(exc).__name__
    except Exception as exc:  # the same refusal, with the same message
        return (type(exc).__name__, str(exc))
    raise AssertionError(kind)


def state(backend: Any) -> Any:
    meta = backend.read_meta()
    extra = {k: v for k, v in meta.extra.items() if k != "created_at"}
    lease = backend.read_lease()
    return (
        backend.head(),
        backend.count(),
        list(backend.iter_log()),
        list(backend.iter_hashes()),
        replace(meta, extra=extra),
        lease,
        backend.stream_heads(STREAMS),
        backend.list_streams(""),
        backend.list_streams("machine:"),
    )


@pytest.mark.parametrize("target_name", TARGET_NAMES)
def test_mongodb_behaves_as_sqlite(target_name: str) -> None:
    if target_name.startswith("real") and not REAL_URI:
        pytest.skip("EVENTSTATE_TEST_MONGODB_URI is not set")
    examples = 15 if target_name.startswith("real") else 120

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(op, max_size=14))
    def check(steps: list[tuple[Any, ...]]) -> None:
        target = make_target(target_name)
        reference = SQLiteBackend(":memory:", initial_release="3.0")
        mongo = open_backend(target)
        # Lease times: both on the caller's clock (the adapter's offset is 0).
        clock = T0
        try:
            for step in steps:
                heads = reference.stream_heads(STREAMS)
                expected = run(reference, step, heads, clock)
                got = run(mongo, step, heads, clock)
                assert got == expected, step
                assert state(mongo) == state(reference), step
        finally:
            reference.close()
            mongo.close()
            target.cleanup()

    check()
