"""`eventstate models|machines|machine` and `eventstate projections status|rebuild`,
run through click's CliRunner on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from eventstate.api import open_store
from eventstate.cli.main import cli
from eventstate.interchange import import_jsonl
from tests.projections.test_runner_support import (
    FIXTURE_NAMES,
    FIXTURES,
    Events,
    comparable,
    expected_documents,
)


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)


def run_json(url: str, *args: str) -> Any:
    result = run(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(params=FIXTURE_NAMES)
def fixture_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    import_jsonl(store, FIXTURES / f"{request.param}.jsonl")
    store.close()
    return request.param, url


def test_machines_and_models_json_are_the_expected_documents(
    fixture_store: tuple[str, str],
) -> None:
    name, url = fixture_store
    expected = expected_documents(name)
    assert comparable(run_json(url, "machines")) == comparable(expected["machines"])
    assert run_json(url, "models") == expected["models"]


def test_machines_of_one_model_and_one_machine(fixture_store: tuple[str, str]) -> None:
    name, url = fixture_store
    expected = expected_documents(name)["machines"]
    uuid = expected[0]["model_uuid"]
    of_model = [doc for doc in expected if doc["model_uuid"] == uuid]
    assert comparable(run_json(url, "machines", "--model", uuid)) == comparable(of_model)
    last = of_model[-1]
    assert comparable([run_json(url, "machine", uuid, last["id"])]) == comparable([last])


def test_an_unknown_machine_is_one_line_and_exit_1(fixture_store: tuple[str, str]) -> None:
    _, url = fixture_store
    uuid = expected_documents(fixture_store[0])["models"][0]["model_uuid"]
    result = run(url, "machine", uuid, "4242")
    assert result.exit_code == 1
    assert result.stderr == f"error: machine 4242 not found in model {uuid}\n"
    assert result.stdout == ""
    result = run(url, "machines", "--model", "no-such-model")
    assert (result.exit_code, result.stderr) == (1, "error: model no-such-model not found\n")


def test_tables_for_people(fixture_store: tuple[str, str]) -> None:
    name, url = fixture_store
    expected = expected_documents(name)
    machines = run(url, "machines")
    assert machines.exit_code == 0
    header = machines.stdout.splitlines()[:4]
    for column in ("model", "id", "life", "jobs", "base", "instance", "addresses", "agent"):
        assert any(column in line for line in header), column
    first = expected["machines"][0]
    if first["instance"]:
        assert first["instance"]["instance_id"] in machines.stdout
    models = run(url, "models")
    assert models.exit_code == 0
    for model in expected["models"]:
        assert model["model_uuid"] in models.stdout
    one = run(url, "machine", first["model_uuid"], first["id"])
    assert one.exit_code == 0 and "pending_upgrade_actions" in one.stdout


def test_projections_status_shows_lag_after_an_append_and_0_after_a_read(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    events = Events()
    uuid = "9d9d9d9d-0000-4000-8000-000000000001"
    store.append([events.model_created(uuid), events.machine_added(uuid, "0")])
    (missing,) = run_json(url, "projections", "status")
    assert (missing["state"], missing["lag"]) == ("missing", 2)
    assert run_json(url, "machines")[0]["id"] == "0"
    (copy,) = run_json(url, "projections", "status")
    assert (copy["state"], copy["lag"], copy["position"]) == ("ready", 0, 2)
    store.append([events.machine_added(uuid, "1")])
    (copy,) = run_json(url, "projections", "status")
    assert copy["lag"] == 1
    for key in ("name", "fingerprint", "position", "lag", "state", "store_release"):
        assert key in copy
    assert [doc["id"] for doc in run_json(url, "machines")] == ["0", "1"]
    (copy,) = run_json(url, "projections", "status")
    assert copy["lag"] == 0
    people = run(url, "projections", "status")
    assert people.exit_code == 0 and copy["name"] in people.stdout
    store.close()


def test_projections_rebuild(fixture_store: tuple[str, str]) -> None:
    _name, url = fixture_store
    before = run_json(url, "machines")
    first = run_json(url, "projections", "rebuild")
    second = run_json(url, "projections", "rebuild", "machines")
    assert second["generation"] == first["generation"] + 1
    assert second["dropped"] == [first["name"]]
    assert second["events"] == second["position"] > 0
    assert run_json(url, "machines") == before
    (copy,) = run_json(url, "projections", "status")
    assert (copy["name"], copy["state"], copy["lag"]) == (second["name"], "ready", 0)
    people = run(url, "projections", "rebuild", "models")
    assert people.exit_code == 0
    assert "rebuilt models (with machines" in people.stderr
    bad = run(url, "projections", "rebuild", "units")
    assert bad.exit_code == 2
