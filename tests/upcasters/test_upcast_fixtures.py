"""The golden fixture logs, upcast event by event, against the documents they fold into.

Projections are someone else's; here a minimal fold of the fields that the upcasters
decide (jobs, bases, hardware, addresses, agent binaries, model config...) checks
every machine and model of both logs against the expected documents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventstate.domain.catalogue import validate_payload
from eventstate.releases import CODE_RELEASE
from upcasters import CHAIN, RETIRED_TYPE

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = (
    ROOT / "tests" / "fixtures",
    ROOT.parent / "shared" / "fixtures",
    Path("/work/shared/fixtures"),
)
LOGS = ("legacy-1.14", "mixed-2.0")


def fixture(name: str) -> Path:
    for folder in CANDIDATES:
        if (folder / name).exists():
            return folder / name
    pytest.skip(f"fixture {name} not found")


def read_log(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = fixture(f"{name}.jsonl").read_text().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:] if line.strip()]


def upcast_log(name: str) -> list[dict[str, Any]]:
    """Every event upcast to today's schema, with the provider type read from the log."""
    header, events = read_log(name)
    providers: dict[str, str] = {}
    for event in events:
        if event["stream"].startswith("model:") and event["version"] == 1:
            providers[event["stream"].partition(":")[2]] = event["data"]["provider_type"]
    upcast_events = []
    for event in events:
        assert CHAIN.is_known(event["type"], event["schema"], header["release"])
        model_uuid = event["stream"].split(":")[1]
        type_name, schema, data = CHAIN.upcast(
            event["stream"],
            event["version"],
            event["type"],
            event["schema"],
            event["data"],
            providers.get(model_uuid),
        )
        assert schema == CHAIN.current_schema(type_name, CODE_RELEASE)
        validate_payload(type_name, data)
        upcast_events.append({**event, "type": type_name, "schema": schema, "data": data})
    return upcast_events


def fold(events: list[dict[str, Any]]) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    """Just the document fields the upcasters decide."""
    machines: dict[tuple[str, str], dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    for event in events:
        kind, _, rest = event["stream"].partition(":")
        data, type_name = event["data"], event["type"]
        if kind == "model":
            model = models.setdefault(rest, {})
            if type_name == "ModelCreated":
                model.update(data)
                model["config"] = dict(data["config"])
            elif type_name == "ModelConfigChanged":
                model["config"].update(data["set"])
                for key in data["unset"]:
                    model["config"].pop(key, None)
        elif kind == "machine":
            model_uuid, _, _ = rest.partition(":")
            if type_name == "MachineAdded":
                machines[model_uuid, data["machine_id"]] = machine = dict(data)
                machine.update(life="alive", instance=None, addresses=[], agent_binary=None)
                machine["supported_containers"] = None
                machine["stream"] = event["stream"]
                continue
            machine = next(m for m in machines.values() if m["stream"] == event["stream"])
            if type_name == "MachineProvisioned":
                machine["instance"] = data["instance"]
                machine["nonce"] = data["nonce"]
            elif type_name == "MachineAddressesSet":
                machine["addresses"] = [{**a, "origin": data["origin"]} for a in data["addresses"]]
            elif type_name == "MachineAgentBinarySet":
                machine["agent_binary"] = data["version"]
            elif type_name == "MachineLifeChanged":
                machine["life"] = data["life"]
            elif type_name == "MachineSupportedContainersSet":
                machine["supported_containers"] = data["types"]
    return machines, models


@pytest.mark.parametrize("name", LOGS)
def test_every_event_upcasts_to_a_valid_3_0_payload(name: str) -> None:
    events = upcast_log(name)  # validates each payload
    _, raw = read_log(name)
    assert len(events) == len(raw)
    for event in events:
        assert event["type"] == CHAIN.current_name(event["type"])


@pytest.mark.parametrize("name", LOGS)
def test_machines_match_the_expected_documents(name: str) -> None:
    expected = json.loads(fixture(f"{name}.expected.json").read_text())
    machines, _ = fold(upcast_log(name))
    assert len(machines) == len(expected["machines"])
    for doc in expected["machines"]:
        machine = machines[doc["model_uuid"], doc["id"]]
        where = f"{name} {doc['model_uuid']} {doc['id']}"
        assert machine["machine_id"] == doc["id"], where
        assert machine["jobs"] == doc["jobs"], where
        assert machine["base"] == doc["base"], where
        assert machine["container_type"] == doc["container_type"], where
        assert machine["instance"] == doc["instance"], where
        assert machine["addresses"] == doc["addresses"], where
        assert machine["agent_binary"] == doc["agent_binary"], where
        assert machine["supported_containers"] == doc["supported_containers"], where
        assert machine["life"] == doc["life"], where
        assert machine["nonce"] == doc["nonce"], where
        assert (machine["constraints"], machine["placement"]) == (
            doc["constraints"],
            doc["placement"],
        ), where


@pytest.mark.parametrize("name", LOGS)
def test_models_match_the_expected_documents(name: str) -> None:
    expected = json.loads(fixture(f"{name}.expected.json").read_text())
    _, models = fold(upcast_log(name))
    assert len(models) == len(expected["models"])
    for doc in expected["models"]:
        model = models[doc["model_uuid"]]
        for key in (
            "model_uuid",
            "name",
            "owner",
            "type",
            "provider_type",
            "cloud",
            "cloud_region",
            "cloud_credential",
            "config",
        ):
            assert model[key] == doc[key], f"{name} {doc['model_uuid']} {key}"


def test_legacy_log_retires_the_deprecated_only_changes() -> None:
    retired = [e for e in upcast_log("legacy-1.14") if e["type"] == RETIRED_TYPE]
    assert retired
    assert {e["data"]["original_type"] for e in retired} == {"EnvironConfigChanged"}


def test_secrets_never_survive_upcasting() -> None:
    for name in LOGS:
        _, raw = read_log(name)
        secrets = {
            value
            for event in raw
            if event["type"] == "EnvironmentCreated"
            for key, value in event["data"]["config"].items()
            if key in ("access-key", "secret-key", "password")
        }
        assert secrets
        text = json.dumps([e["data"] for e in upcast_log(name)])
        assert not any(secret in text for secret in secrets)
