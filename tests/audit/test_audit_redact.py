"""Credentials never leave through an audit output path.

Unit tests of `redact` / `redact_text`, then every output the audit commands have
(history as lines and JSON, raw and upcast, whole log, model and stream; verify as
a table and JSON; their error lines), checked against every secret in the fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from eventstate.audit import REDACTED, redact, redact_text
from eventstate.cli.main import cli
from tests.audit.audit_support import (
    MAAS,
    MODERN,
    Tamper,
    credential_values,
    legacy_store,
    machine_added,
    model_created,
    opened,
)

SECRETS = credential_values()


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", url, *args])


def assert_clean(text: str, secrets: list[str] = SECRETS) -> None:
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, f"credentials in the output: {leaked}"


# --- redact ------------------------------------------------------------------------------


def test_credential_keys_at_any_depth_show_as_stars() -> None:
    data = {
        "config": {"access-key": "AK", "secret-key": "SK", "password": "PW", "region": "r"},
        "nested": [{"admin-secret": {"deep": "x"}}, {"API_TOKEN": 7}, "plain"],
        "Password": "P2",
        "access_key": "AK2",
        "tokens": ["a", "b"],
        "name": "kept",
    }
    assert redact(data) == {
        "config": {
            "access-key": REDACTED,
            "secret-key": REDACTED,
            "password": REDACTED,
            "region": "r",
        },
        "nested": [{"admin-secret": REDACTED}, {"API_TOKEN": REDACTED}, "plain"],
        "Password": REDACTED,
        "access_key": REDACTED,
        "tokens": REDACTED,
        "name": "kept",
    }
    assert data["config"]["access-key"] == "AK"  # the input is never changed


def test_a_payload_without_credentials_is_returned_as_is() -> None:
    data = {"instance": {"hardware": {"arch": "amd64", "tags": ["a"]}}, "nonce": "n", "jobs": [1]}
    assert redact(data) is data
    assert redact("password") == "password"  # a bare value is no key


def test_key_value_text_is_scrubbed() -> None:
    assert redact({"set": "password=hunter2"}) == {"set": "password=***"}
    constraints = {"constraints": "mem=4G cpu-cores=2"}
    assert redact(constraints) is constraints


def test_a_free_text_reason_is_scrubbed() -> None:
    data = {"reason": "cannot upcast: set must be a map, got 'password=hunter2'", "stream": "s"}
    assert redact(data)["reason"] == "cannot upcast: set must be a map, got 'password=***"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("got {'password': 'hunter2', 'x': 1}", "got {'password': ***, 'x': 1}"),
        ('got {"admin-secret": "abc"}', 'got {"admin-secret": ***}'),
        ("config secret-key=abc,region=r", "config secret-key=***,region=r"),
        ("got {'access-key': 'AKIAA0CBBGH3A8...", "got {'access-key': ***"),
        ("unset ['password', 'region']", "unset ['password', 'region']"),  # names, no values
        ("nothing to hide here", "nothing to hide here"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# --- history -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return legacy_store(tmp_path_factory.mktemp("redact"))


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize("selection", [[], [f"model:{MAAS}"], [MAAS], ["--type", "ModelCreated"]])
def test_history_never_prints_a_credential(
    url: str, raw: bool, as_json: bool, selection: list[str]
) -> None:
    args = ["history", *selection] + (["--raw"] if raw else []) + (["--json"] if as_json else [])
    result = run(url, *args)
    assert result.exit_code == 0, result.output
    assert_clean(result.output)
    if raw:  # the stored 1.14 config still holds them, shown as ***
        assert '"password":"***"' in result.output.replace(" ", "")


def test_history_json_lines_are_the_interchange_shape(url: str) -> None:
    result = run(url, "history", f"model:{MAAS}", "--raw", "--json")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["position"] for line in lines] == [1, 2, 116, 117]
    assert set(lines[0]) == {
        "position",
        "stream",
        "version",
        "type",
        "schema",
        "recorded_at",
        "data",
    }
    assert lines[0]["data"]["config"]["password"] == REDACTED
    assert lines[0]["recorded_at"] == "2013-08-01T09:01:33.564861+00:00"


def test_history_options_are_checked(url: str) -> None:
    assert run(url, "history", "--since", "yesterday").exit_code == 2
    result = run(url, "history", "--type", "Nope")
    assert result.exit_code == 1 and "unknown event type 'Nope'" in result.output


# --- errors and verify -------------------------------------------------------------------

LEAKY = "hunter2-very-secret"


LEAKY_MODEL = "9b1e0c4e-0000-4000-8000-00000000beef"


@pytest.fixture
def leaky_url(tmp_path: Path) -> str:
    """A 1.14 store whose config change has a malformed `set`: its upcast error quotes it."""
    path = tmp_path / "leaky.jsonl"
    header = {"format": "eventstate-jsonl", "format_version": 1, "release": "1.14"}
    events = [
        {
            "stream": f"model:{LEAKY_MODEL}",
            "version": 1,
            "type": "EnvironmentCreated",
            "schema": 1,
            "recorded_at": "2013-08-01T09:00:00+00:00",
            "data": {
                "uuid": LEAKY_MODEL,
                "name": "leaky",
                "provider_type": "ec2",
                "config": {"password": LEAKY, "admin-secret": LEAKY},
            },
        },
        {
            "stream": f"model:{LEAKY_MODEL}",
            "version": 2,
            "type": "EnvironConfigChanged",
            "schema": 1,
            "recorded_at": "2013-08-01T09:01:00+00:00",
            "data": {"set": f"password={LEAKY}", "unset": []},
        },
    ]
    path.write_text("\n".join(json.dumps(line) for line in [header, *events]) + "\n")
    url = f"sqlite:///{tmp_path / 'leaky.db'}"
    assert run(url, "import", str(path)).exit_code == 0
    return url


def test_an_upcast_error_in_history_is_redacted(leaky_url: str) -> None:
    result = run(leaky_url, "history")
    assert result.exit_code == 1
    assert "cannot upcast EnvironConfigChanged" in result.output
    assert_clean(result.output, [LEAKY])


@pytest.mark.parametrize("as_json", [False, True])
def test_a_credential_spelled_out_in_a_malformed_payload_is_redacted(
    leaky_url: str, as_json: bool
) -> None:
    result = run(leaky_url, "history", "--raw", *(["--json"] if as_json else []))
    assert result.exit_code == 0
    assert "password=***" in result.output
    assert_clean(result.output, [LEAKY])


def test_verify_messages_are_redacted(leaky_url: str) -> None:
    for args in (["verify"], ["verify", "--json"]):
        result = run(leaky_url, *args)
        assert result.exit_code == 1
        assert "upcast" in result.output
        assert_clean(result.output, [LEAKY])


def test_verify_projection_differences_are_redacted(tmp_path: Path) -> None:
    import sqlite3

    url = f"sqlite:///{tmp_path / 'modern.db'}"
    with opened(url) as store:
        store.append([model_created(MODERN, "ec2"), machine_added(MODERN, "0")])
    assert run(url, "models").exit_code == 0  # builds the projection copy
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute(
            "UPDATE projection_documents SET doc = "
            "replace(doc, 'modern-secret-42', 'other-secret-7') WHERE kind = 'model'"
        )
    conn.close()
    result = run(url, "verify", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [p["check"] for p in report["problems"]] == ["projection"]
    assert_clean(result.output, ["modern-secret-42", "other-secret-7"])


@pytest.mark.parametrize("as_json", [False, True])
def test_verify_of_a_tampered_fixture_store_prints_no_credential(
    tmp_path: Path, as_json: bool
) -> None:
    url = legacy_store(tmp_path)
    tamper = Tamper(url)
    tamper.replace_in_payload(1, b"maas-oauth", b"maas-oautx")  # inside the password
    tamper.delete(41)
    result = run(url, "verify", *(["--json"] if as_json else []))
    assert result.exit_code == 1
    assert "hash" in result.output
    assert_clean(result.output, [*SECRETS, "maas-oautx:122bb2132ba1"])


def test_status_prints_no_credential(url: str) -> None:
    for args in (["status"], ["status", "--json"]):
        result = run(url, *args)
        assert result.exit_code == 0, result.output
        assert_clean(result.output)
