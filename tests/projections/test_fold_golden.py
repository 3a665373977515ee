"""The fixture logs, upcast and folded, give exactly the golden documents.

`*.expected.json`: the store as 3.0 code reads it before any upgrade. `*.upgraded.json`:
after `eventstate upgrade`; here the upgrade steps' events (operations.md) are appended by
hand, so the fold is checked for them before the real steps exist.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventstate.releases import RELEASES, releases_between
from projections import Fold, MemoryDocumentSet
from projections.fold import EventTuple
from tests.projections.fold_support import SerializingDocumentSet

try:
    from upcasters import CHAIN
except ImportError as error:  # the upcasters package is written in parallel
    pytest.skip(
        f"golden tests need the upcasters package (`from upcasters import CHAIN`): {error}",
        allow_module_level=True,
    )

_LOCAL_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURES = _LOCAL_FIXTURES if _LOCAL_FIXTURES.is_dir() else Path("/work/shared/fixtures")
LOGS = ("legacy-1.14", "mixed-2.0")
UPGRADE_TIME_PLACEHOLDER = "<time of the upgrade>"
UPGRADE_ID = "golden-upgrade"
# operations.md: the built-in environ upgraders, target environ version 1.
ENVIRON_UPGRADES = {
    "lxd": "create-profiles",
    "openstack": "tag-security-groups",
    "azure": "common-deployment",
}
STEP_NAMES = {
    "1.16": "request-cpu-checker",
    "1.18": "request-cloud-tools",
    "2.0": "provider-environ-version",
}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(text: str) -> int:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, f"{text} has no UTC offset"
    return (moment - EPOCH) // timedelta(microseconds=1)


class StoredLog:
    """A fixture log: its release, stream heads, original machine stream ids, events."""

    def __init__(self, name: str) -> None:
        lines = (FIXTURES / f"{name}.jsonl").read_text().splitlines()
        self.release: str = json.loads(lines[0])["release"]
        self.raw: list[dict[str, Any]] = [json.loads(line) for line in lines[1:]]
        self.heads: dict[str, int] = {}
        for event in self.raw:
            self.heads[event["stream"]] = event["version"]

    def upcast(self) -> list[EventTuple]:
        # Context for the chain: the provider type of the model's first event.
        providers = {
            e["stream"].partition(":")[2]: e["data"]["provider_type"]
            for e in self.raw
            if e["stream"].startswith("model:") and e["version"] == 1
        }
        events: list[EventTuple] = []
        for position, event in enumerate(self.raw):
            stream = event["stream"]
            model_uuid = stream.split(":")[1] if not stream.startswith("upgrade:") else ""
            type_name, schema, data = CHAIN.upcast(
                stream,
                event["version"],
                event["type"],
                event["schema"],
                copy.deepcopy(event["data"]),  # the chain's steps work in place
                providers.get(model_uuid),
            )
            at_us = to_us(event["recorded_at"])
            events.append((position, stream, event["version"], type_name, schema, at_us, data))
        return events

    def machine_streams(self) -> dict[tuple[str, str], str]:
        """(model uuid, 3.0 machine id) -> the stream id as stored (1.x: `0/lxc/1`)."""
        streams = {}
        for event in self.upcast():
            if event[3] == "MachineAdded":
                streams[event[1].split(":")[1], event[6]["machine_id"]] = event[1]
        return streams


def golden(name: str, kind: str) -> dict[str, list[dict[str, Any]]]:
    loaded: dict[str, list[dict[str, Any]]] = json.loads(
        (FIXTURES / f"{name}.{kind}.json").read_text()
    )
    return loaded


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """Times as instants, not strings."""
    updated_at = doc.get("updated_at")
    if isinstance(updated_at, str) and updated_at != UPGRADE_TIME_PLACEHOLDER:
        return {**doc, "updated_at": to_us(updated_at)}
    return doc


def assert_documents_equal(
    got: list[dict[str, Any]], want: list[dict[str, Any]], what: str
) -> None:
    assert [(d["model_uuid"], d.get("id")) for d in got] == [
        (d["model_uuid"], d.get("id")) for d in want
    ], f"{what}: different documents"
    for got_doc, want_doc in zip(got, want, strict=True):
        got_c, want_c = comparable(got_doc), comparable(want_doc)
        diff = {k: (got_c.get(k), want_c.get(k)) for k in set(got_c) | set(want_c)}
        diff = {k: pair for k, pair in diff.items() if pair[0] != pair[1]}
        assert not diff, f"{what} {want_doc['model_uuid']} {want_doc.get('id', '')}: {diff}"


@pytest.mark.parametrize("name", LOGS)
def test_fold_gives_the_expected_documents(name: str) -> None:
    docs = MemoryDocumentSet()
    events = StoredLog(name).upcast()
    assert Fold(docs).apply_many(events) == len(events)
    want = golden(name, "expected")
    assert_documents_equal(docs.machines(), want["machines"], "machine")
    assert_documents_equal(docs.models(), want["models"], "model")


@pytest.mark.parametrize("name", LOGS)
@pytest.mark.parametrize("batch_size", [1, 7, 50])
def test_folding_live_in_batches_gives_the_same_documents(name: str, batch_size: int) -> None:
    events = StoredLog(name).upcast()
    rebuilt = MemoryDocumentSet()
    Fold(rebuilt).apply_many(events)
    live = SerializingDocumentSet()
    for start in range(0, len(events), batch_size):
        Fold(live).apply_many(events[start : start + batch_size])
    assert live.machines() == rebuilt.machines()
    assert live.models() == rebuilt.models()


# --- the upgrade steps, by hand ------------------------------------------------------


def upgrade_events(
    log: StoredLog, docs: MemoryDocumentSet, start_position: int, at_us: int
) -> list[EventTuple]:
    """What `eventstate upgrade` to 3.0 appends (operations.md, "Upgrade" step 4)."""
    heads = dict(log.heads)
    streams = log.machine_streams()
    events: list[EventTuple] = []

    def append(stream: str, type_name: str, data: dict[str, Any]) -> None:
        heads[stream] = heads.get(stream, 0) + 1
        position = start_position + len(events)
        events.append((position, stream, heads[stream], type_name, 1, at_us, data))

    upgrade = f"upgrade:{UPGRADE_ID}"
    started = {"from_release": log.release, "to_release": RELEASES[-1], "holder": "test"}
    append(upgrade, "UpgradeStarted", {**started, "fencing_token": 1})
    total = 0
    for release in releases_between(log.release, RELEASES[-1]):
        if release not in STEP_NAMES:
            continue
        step_events = step_events_of(release, docs, streams)
        for stream, type_name, data in step_events:
            append(stream, type_name, data)
        total += len(step_events)
        applied = {"release": release, "step": STEP_NAMES[release]}
        append(upgrade, "UpgradeStepApplied", {**applied, "events_written": len(step_events)})
    completed = {"release": RELEASES[-1], "events_written": total, "duration_s": 0.5}
    append(upgrade, "UpgradeCompleted", completed)
    return events


def step_events_of(
    release: str, docs: MemoryDocumentSet, streams: dict[tuple[str, str], str]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(stream, type, data) that one release's step writes, from the documents before it."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    requested = "MachineUpgradeActionsRequested"
    data: dict[str, Any]
    for machine in docs.machines():
        if machine["life"] != "alive":
            continue
        stream = streams[machine["model_uuid"], machine["id"]]
        if release == "1.16" and not machine["container_type"]:
            data = {"release": "1.16", "packages": ["cpu-checker"], "apt_sources": []}
            out.append((stream, requested, data))
        if release == "1.18" and machine["base"] == {"os": "ubuntu", "channel": "12.04/stable"}:
            data = {"release": "1.18", "packages": [], "apt_sources": ["cloud-tools"]}
            out.append((stream, requested, data))
    if release == "2.0":
        for model in docs.models():
            operation = ENVIRON_UPGRADES.get(model["provider_type"])
            if operation is not None and model["environ_version"] < 1:
                data = {"from_version": 0, "to_version": 1, "operations": [operation]}
                out.append((f"model:{model['model_uuid']}", "ModelEnvironVersionSet", data))
    return out


@pytest.mark.parametrize("name", LOGS)
def test_fold_after_the_upgrade_steps_gives_the_upgraded_documents(name: str) -> None:
    log = StoredLog(name)
    events = log.upcast()
    docs = MemoryDocumentSet()
    Fold(docs).apply_many(events)
    upgrade_started_us = max(e[5] for e in events) + 3_600_000_000
    appended = upgrade_events(log, docs, len(events), upgrade_started_us)
    Fold(docs).apply_many(appended)  # a later catch-up, by a fresh Fold

    want = golden(name, "upgraded")
    got_machines = [dict(doc) for doc in docs.machines()]
    for got_doc, want_doc in zip(got_machines, want["machines"], strict=False):
        if want_doc["updated_at"] == UPGRADE_TIME_PLACEHOLDER:
            assert to_us(got_doc["updated_at"]) >= upgrade_started_us
            got_doc["updated_at"] = UPGRADE_TIME_PLACEHOLDER
    assert_documents_equal(got_machines, want["machines"], "machine")
    assert_documents_equal(docs.models(), want["models"], "model")
