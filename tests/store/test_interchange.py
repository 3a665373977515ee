"""JSONL import and export (operations.md, "Interchange format")."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from eventstate.api import open_store
from eventstate.errors import InterchangeError, StoreTooNewError
from eventstate.interchange import export_jsonl, import_jsonl
from eventstate.store import EventStore
from eventstate.timeutil import parse_iso_us

FIXTURES = Path(__file__).parents[1] / "fixtures"
HEADER = {"format": "eventstate-jsonl", "format_version": 1, "release": "1.14"}


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _event(
    stream: str,
    version: int,
    type_name: str = "AgentVersionSet",
    schema: int = 1,
    data: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "stream": stream,
        "version": version,
        "type": type_name,
        "schema": schema,
        "recorded_at": "2013-08-01T09:01:33.564861+00:00",
        "data": data or {"version": "1.14.1"},
    }


MODEL = "model:db5b5fab-8f4d-4e27-9da1-494c73cf256d"


def _export(store: EventStore, upcast: bool = False) -> bytes:
    out = io.BytesIO()
    export_jsonl(store, out, upcast=upcast)
    return out.getvalue()


def test_fixture_import_takes_the_header_release(store: EventStore) -> None:
    result = import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    assert result.events == 140
    assert store.meta().release == "1.14"
    assert store.head() == 140


def test_round_trip_is_lossless(tmp_path: Path, store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "mixed-2.0.jsonl")
    first = _export(store)
    exported = tmp_path / "export.jsonl"
    exported.write_bytes(first)
    other = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    import_jsonl(other, exported)
    assert _export(other) == first
    # and the export says what the source said, event for event
    source = [json.loads(line) for line in (FIXTURES / "mixed-2.0.jsonl").read_text().splitlines()]
    again = [json.loads(line) for line in first.decode().splitlines()]
    assert again[0] == source[0]
    for original, exported_line in zip(source[1:], again[1:], strict=True):
        exported_line.pop("position")
        assert exported_line["data"] == original["data"]
        assert {k: v for k, v in exported_line.items() if k != "recorded_at"} == {
            k: v for k, v in original.items() if k != "recorded_at"
        }
    other.close()


def test_export_upcast_is_in_todays_schema(store: EventStore) -> None:
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    lines = [json.loads(line) for line in _export(store, upcast=True).decode().splitlines()]
    assert lines[0]["release"] == "3.0"
    types = {line["type"] for line in lines[1:]}
    assert "EnvironmentCreated" not in types and "ModelCreated" in types
    assert "MachineAgentToolsSet" not in types


def test_an_upcast_export_with_retired_events_is_refused_saying_why(
    tmp_path: Path, store: EventStore
) -> None:
    """EventRetired is never stored, so an upcast export holding one is a view, not a
    backup: the import names its first retired line, says to restore from a plain
    export, and writes nothing."""
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    upcast = tmp_path / "upcast.jsonl"
    upcast.write_bytes(_export(store, upcast=True))
    lines = upcast.read_text().splitlines()
    first_retired = next(n for n, line in enumerate(lines, 1) if '"EventRetired"' in line)
    target = open_store(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        with pytest.raises(InterchangeError, match=r"never stored.*plain `export`") as caught:
            import_jsonl(target, upcast)
        assert caught.value.line == first_retired
        assert target.head() == 0
    finally:
        target.close()


@pytest.mark.parametrize(
    ("lines", "line_no", "message"),
    [
        ([HEADER, _event(MODEL, 1), "not json"], 3, "not valid JSON"),
        ([HEADER, _event(MODEL, 1), _event(MODEL, 3)], 3, "leaves a gap after version 1"),
        ([HEADER, _event(MODEL, 1), _event(MODEL, 1)], 3, "repeats version 1"),
        ([HEADER, _event(MODEL, 2)], 2, "leaves a gap after version 0"),
        ([HEADER, _event(MODEL, 1, "NoSuchEvent")], 2, "NoSuchEvent schema 1 .*unknown event"),
        ([HEADER, _event(MODEL, 1, "ModelCreated", 4)], 2, "ModelCreated schema 4 .*at 2.0"),
        ([HEADER, {**_event(MODEL, 1), "recorded_at": "yesterday"}], 2, "recorded_at"),
        ([HEADER, {**_event(MODEL, 1), "recorded_at": "2013-08-01T09:01:33"}], 2, "no UTC offset"),
        ([HEADER, {**_event(MODEL, 1), "extra": 1}], 2, "unexpected"),
        ([HEADER, {k: v for k, v in _event(MODEL, 1).items() if k != "data"}], 2, "missing"),
        ([HEADER, {**_event(MODEL, 1), "version": "1"}], 2, "version must be an integer"),
        ([HEADER, {**_event(MODEL, 1), "data": [1]}], 2, "data must be a JSON object"),
        ([HEADER, {**_event("bogus", 1)}], 2, "malformed stream id"),
        ([HEADER, _event(MODEL, 1), ""], 3, "empty line"),
        ([HEADER, _event(MODEL, 1), "   "], 3, "empty line"),
        ([HEADER, _event(MODEL, 1), "[1, 2]"], 3, "must be a JSON object"),
        ([HEADER, _event(MODEL, 1, data={"version": 5})], 2, "'version' must be a non-empty"),
        ([HEADER, {**_event(MODEL, 1), "recorded_at": 5}], 2, "time must be a string"),
        (
            [HEADER, {**_event(MODEL, 1), "recorded_at": "0001-01-01T00:00:00+00:01"}],
            2,
            "outside the years",
        ),
        ([{"format": "other"}], 1, "header"),
        ([{**HEADER, "format_version": 2}], 1, "format_version"),
        ([{**HEADER, "release": "1.15"}], 1, "unknown release"),
    ],
)
def test_bad_input_names_the_line_and_writes_nothing(
    tmp_path: Path, store: EventStore, lines: list[object], line_no: int, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    with pytest.raises(InterchangeError, match=message) as caught:
        import_jsonl(store, path)
    assert caught.value.line == line_no
    assert f"bad.jsonl:{line_no}:" in str(caught.value)
    assert store.head() == 0
    assert store.meta().release == "3.0"


def _deep(levels: int) -> dict[str, object]:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return {"version": "1.14.1", "deep": value}


def test_a_line_nesting_too_deep_is_refused_naming_it(tmp_path: Path, store: EventStore) -> None:
    path = _write(tmp_path / "deep.jsonl", [HEADER, _event(MODEL, 1), _event(MODEL, 2)])
    deep = _event(MODEL, 3, "EnvironConfigChanged", data=_deep(250))  # 1.14: not checked
    path.write_text(path.read_text() + json.dumps(deep) + "\n")
    with pytest.raises(InterchangeError, match="nests deeper than 200") as caught:
        import_jsonl(store, path)
    assert caught.value.line == 4
    assert store.head() == 0


def test_times_with_any_utc_offset_are_stored_as_that_instant(
    tmp_path: Path, store: EventStore
) -> None:
    times = [
        "2013-08-01T10:01:33.564861+01:00",
        "2013-08-01T09:01:33+00:00",
        "2013-08-01T04:31:33.5-04:30",
        "9999-12-31T23:59:59.999999+00:00",
    ]
    lines: list[object] = [HEADER]
    lines += [{**_event(MODEL, i + 1), "recorded_at": t} for i, t in enumerate(times)]
    import_jsonl(store, _write(tmp_path / "times.jsonl", lines))
    stored = [row[5] for row in store.backend.iter_log()]
    assert stored == [parse_iso_us(t) for t in times]


def test_newer_release_is_refused(tmp_path: Path, store: EventStore) -> None:
    path = _write(tmp_path / "new.jsonl", [{**HEADER, "release": "9.9"}, _event(MODEL, 1)])
    with pytest.raises(InterchangeError, match="newer than this code"):
        import_jsonl(store, path)


def test_import_into_non_empty_store_continues_its_streams(
    tmp_path: Path, store: EventStore
) -> None:
    import_jsonl(store, _write(tmp_path / "a.jsonl", [HEADER, _event(MODEL, 1)]))
    with pytest.raises(InterchangeError, match="repeats version 1"):
        import_jsonl(store, _write(tmp_path / "b.jsonl", [HEADER, _event(MODEL, 1)]))
    import_jsonl(store, _write(tmp_path / "c.jsonl", [HEADER, _event(MODEL, 2)]))
    assert [e.version for e in store.read_stream(MODEL, target=None)] == [1, 2]
    with pytest.raises(InterchangeError, match=r"release 2\.0 but the store"):
        import_jsonl(
            store, _write(tmp_path / "d.jsonl", [{**HEADER, "release": "2.0"}, _event(MODEL, 3)])
        )


def test_failure_after_many_batches_leaves_store_unchanged(
    tmp_path: Path, store: EventStore
) -> None:
    lines: list[object] = [HEADER]
    models = [f"model:00000000-0000-4000-8000-{i:012d}" for i in range(12_000)]
    lines += [_event(model, 1) for model in models]
    lines.append(_event(models[5], 5))  # a gap, after two full batches went to the database
    path = _write(tmp_path / "late.jsonl", lines)
    with pytest.raises(InterchangeError) as caught:
        import_jsonl(store, path)
    assert caught.value.line == 12_002
    assert store.head() == 0
    assert store.backend.count() == 0


def test_generated_log_of_several_thousand_round_trips(tmp_path: Path, store: EventStore) -> None:
    from eventstate.samples.builder import build_legacy_log, write_jsonl

    source = tmp_path / "gen.jsonl"
    written = write_jsonl(source, build_legacy_log(seed=3, events=5_000))
    assert written >= 4_500
    import_jsonl(store, source)
    first = _export(store)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(first)
    other = open_store(f"sqlite:///{tmp_path / 'o.db'}")
    import_jsonl(other, copy)
    assert _export(other) == first
    assert other.backend.count() == written
    other.close()


def test_store_newer_than_code_refuses_export(store: EventStore) -> None:
    from dataclasses import replace

    from eventstate.gating import MetaChange

    store.backend.write_meta(MetaChange(replace(store.meta(), release="4.0")))
    with pytest.raises(StoreTooNewError, match="newer than this code"):
        _export(store)


# --- what a write may name, and what a 3.0 store must read at once ---------------------------

UUID = MODEL.removeprefix("model:")
MACHINE_ADDED_1_14 = {
    "machine_id": "7",
    "series": "precise",
    "container_type": "",
    "nonce": "",
    "jobs": [1],
    "constraints": "",
    "placement": "",
}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_event(f"machine:{UUID}:99", 1), "AgentVersionSet schema 1 belongs in model streams"),
        (
            _event(MODEL, 1, "MachineAdded", 1, MACHINE_ADDED_1_14),
            "MachineAdded schema 1 belongs in machine streams",
        ),
        (_event("model:not-a-uuid", 1), "'not-a-uuid' is not a lowercase model uuid"),
        (_event(MODEL.upper().replace("MODEL", "model"), 1), "is not a lowercase model uuid"),
        (_event(MODEL + " ", 1), "is not a lowercase model uuid"),
        (
            _event(f"machine:{UUID}:-1", 1, "MachineAdded", 1, MACHINE_ADDED_1_14),
            "'-1' is not a machine id",
        ),
        (
            _event(f"machine:{UUID}:0/lxc/", 1, "MachineAdded", 1, MACHINE_ADDED_1_14),
            "'0/lxc/' is not a machine id",
        ),
        (
            _event(f"unit:{UUID}:wordpress", 1, "UnitDestroyed", 1, {"unit": "wordpress/0"}),
            "'wordpress' is not a unit name",
        ),
        (_event("upgrade:x\ty", 1), "unprintable"),
    ],
)
def test_a_stream_id_a_write_may_not_create_is_refused(
    tmp_path: Path, store: EventStore, line: dict[str, object], message: str
) -> None:
    """Each event in a stream of its kind, named as appends name them: an event on the
    wrong kind of stream or an odd id would break the fold of every read (and leave an
    upgrade failing in every run), so the import refuses it, naming its line."""
    path = _write(tmp_path / "odd.jsonl", [HEADER, _event(MODEL, 1), line])
    with pytest.raises(InterchangeError, match=message) as caught:
        import_jsonl(store, path)
    assert caught.value.line == 3
    assert store.head() == 0


def test_an_opening_event_after_version_1_is_refused(tmp_path: Path, store: EventStore) -> None:
    stream = f"machine:{UUID}:7"
    lines = [
        HEADER,
        _event(MODEL, 1),
        _event(stream, 1, "MachineAdded", 1, MACHINE_ADDED_1_14),
        _event(stream, 2, "MachineAdded", 1, MACHINE_ADDED_1_14),
    ]
    with pytest.raises(InterchangeError, match="opens its stream: it can only be its version 1"):
        import_jsonl(store, _write(tmp_path / "twice.jsonl", lines))
    assert store.head() == 0


def _upgraded_copy(tmp_path: Path) -> tuple[EventStore, Path]:
    """A 3.0 store made from the 1.14 fixture, and its plain export (old schemas kept)."""
    from eventstate.upgrade.runner import run_upgrade

    store = open_store(f"sqlite:///{tmp_path / 'upgraded.db'}")
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    run_upgrade(store)
    backup = tmp_path / "backup.jsonl"
    backup.write_bytes(_export(store))
    return store, backup


def test_an_event_a_3_0_store_cannot_read_is_refused(tmp_path: Path) -> None:
    """Into a store at the code's release no upgrade preflight comes first: an old-schema
    event that does not upcast would fail every read for good, so the import refuses it."""
    store, _ = _upgraded_copy(tmp_path)
    head, before = store.head(), _export(store)
    bad = {**MACHINE_ADDED_1_14, "series": "wily"}  # no series table knows it
    lines = [{**HEADER, "release": "3.0"}, _event(f"machine:{UUID}:77", 1, "MachineAdded", 1, bad)]
    with pytest.raises(InterchangeError, match="unknown series 'wily'") as caught:
        import_jsonl(store, _write(tmp_path / "poison.jsonl", lines))
    assert caught.value.line == 2 and "cannot be imported" in str(caught.value)
    assert store.head() == head and _export(store) == before


def test_a_backup_of_an_upgraded_store_restores(tmp_path: Path) -> None:
    """Its old-schema events (never rewritten) upcast, context-aware ones with their
    model's provider from the same file: the restored store reads as the original."""
    store, backup = _upgraded_copy(tmp_path)
    restored = open_store(f"sqlite:///{tmp_path / 'restored.db'}")
    import_jsonl(restored, backup)
    assert _export(restored) == backup.read_bytes()
    assert [e[1:] for e in restored.iter_events()] == [e[1:] for e in store.iter_events()]
