"""Hostile JSONL (issue 8, item 3): hypothesis mutates the fixtures' lines (wrong types
in every field, absurd versions, huge numbers, deep nesting, invalid UTF-8, truncated
and shuffled lines, broken headers). Every file is imported or refused with one
EventStateError line, and a refused one leaves the store exactly as it was.
`python -m benchmarks.fuzz` runs the same properties with thousands of inputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from benchmarks.fuzz import (
    Tally,
    Template,
    check_import,
    check_imported_store_reads,
    fuzz_settings,
    import_property,
)
from tests.reliability.fuzz_support import (
    EXAMPLES,
    RSS_GROWTH_LIMIT_MB,
    peak_rss_mb,
    templates,  # noqa: F401 - the fixture
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "legacy-1.14.jsonl"


@pytest.mark.timeout(280)
def test_hostile_jsonl_is_refused_cleanly_and_writes_nothing(
    templates: dict[str, Template],  # noqa: F811
    tmp_path: Path,
) -> None:
    before = peak_rss_mb()
    tally = Tally("import")
    fuzz_settings(EXAMPLES)(import_property(templates, tmp_path, tally))()
    assert tally.tried >= EXAMPLES
    assert tally.bugs == 0
    outcomes = set(tally.outcomes)
    assert "imported" in outcomes and any(o.startswith("refused") for o in outcomes)
    assert tally.slowest_s < 10, "an input took too long: a hang in the making"
    assert peak_rss_mb() - before < RSS_GROWTH_LIMIT_MB


@pytest.mark.timeout(280)
def test_an_accepted_hostile_file_exports_and_verifies(
    templates: dict[str, Template],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Files mutated in their payloads: what the importer accepts, the store can read
    back (export) and verify (old-schema events that do not upcast aside: by design
    those import, and the upgrade's preflight names them)."""
    tally = Tally("import-readable")
    fuzz_settings(EXAMPLES)(import_property(templates, tmp_path, tally, readable=True))()
    assert tally.tried >= EXAMPLES
    assert tally.bugs == 0
    assert any(o.startswith("imported") for o in tally.outcomes)


def _file(tmp_path: Path, edit: dict[str, object], line: int = 2) -> bytes:
    """The fixture's header and first events, with keys of one event line replaced."""
    header, *events = FIXTURE.read_bytes().splitlines()[:12]
    event = json.loads(events[line - 2])
    event.update(edit)
    events[line - 2] = json.dumps(event).encode()
    return b"\n".join([header, *events]) + b"\n"


def test_a_refused_import_names_the_line(
    templates: dict[str, Template],  # noqa: F811
    tmp_path: Path,
) -> None:
    content = _file(tmp_path, {"version": 2**63}, line=5)
    assert check_import(templates["legacy"], tmp_path, content) == "refused: InterchangeError"
    assert check_import(templates["empty"], tmp_path, content) == "refused: InterchangeError"


# --- found by fuzzing (fixed since): imports that must be refused ---------------------------


def _current_export(template: Template) -> list[bytes]:
    """The lines of an export of the 3.0 template (every event in today's schema)."""
    from eventstate.api import open_store
    from eventstate.interchange import export_jsonl

    out = io.BytesIO()
    store = open_store(f"sqlite:///{template.path}")
    try:
        export_jsonl(store, out)
    finally:
        store.close()
    return out.getvalue().splitlines()


def test_an_old_schema_event_that_does_not_upcast_imports_by_design(
    templates: dict[str, Template],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Legacy logs import as they are: the upgrade's preflight names such an event."""
    content = _file(tmp_path, {"data": {"machine_id": 5}}, line=12)  # a 1.14 MachineAdded
    assert check_imported_store_reads(templates["empty"], tmp_path, content).startswith(
        "imported; an old-schema event does not upcast"
    )


@pytest.mark.parametrize(
    "data",
    [{"machine_id": 5}, {}, {"machine_id": "0", "base": "ubuntu", "jobs": "JobHostUnits"}],
)
def test_a_todays_schema_event_with_an_invalid_payload_is_refused(
    templates: dict[str, Template],  # noqa: F811
    tmp_path: Path,
    data: dict[str, object],
) -> None:
    header, *lines = _current_export(templates["current"])
    added = next(i for i, line in enumerate(lines) if b'"MachineAdded"' in line)
    event = json.loads(lines[added])
    event["data"] = data
    lines[added] = json.dumps(event).encode()
    content = b"\n".join([header, *lines]) + b"\n"
    assert check_import(templates["empty"], tmp_path, content).startswith("refused")


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_outside_what_can_be_exported_is_refused(
    templates: dict[str, Template],  # noqa: F811
    tmp_path: Path,
    moment: str,
) -> None:
    content = _file(tmp_path, {"recorded_at": moment}, line=3)
    # Was imported, and export then raised OverflowError.
    assert check_imported_store_reads(templates["empty"], tmp_path, content).startswith("refused")


def test_a_payload_nested_deeper_than_export_writes_is_refused(
    templates: dict[str, Template],  # noqa: F811
    tmp_path: Path,
) -> None:
    deep: object = "1.14.1"
    for _ in range(300):
        deep = [deep]
    content = _file(tmp_path, {"data": {"version": "1.14.1", "x": deep}}, line=3)
    # Was imported, and export then raised TypeError ("Recursion limit reached").
    assert check_import(templates["empty"], tmp_path, content).startswith("refused")


@pytest.mark.parametrize("version", [b"true", b"1.0"])
def test_a_header_format_version_of_another_type_is_refused(
    templates: dict[str, Template],  # noqa: F811
    tmp_path: Path,
    version: bytes,
) -> None:
    header = b'{"format": "eventstate-jsonl", "format_version": %s, "release": "1.14"}' % version
    content = header + b"\n"
    assert check_import(templates["empty"], tmp_path, content).startswith("refused")
