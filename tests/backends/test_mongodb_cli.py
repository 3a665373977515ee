"""The whole CLI against a `mongodb://` store URL: import, status, reads, upgrade,
export round trip, verify. Every command opens its own client (a new process on
mongomock, through the adapter; a real connection when EVENTSTATE_TEST_MONGODB_URI
is set). The password in the URL never appears in any output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from eventstate.cli.main import cli
from tests.backends.mongomock_adapter import (
    Target,
    target_fixture,  # noqa: F401 - the `target` fixture
)
from tests.golden import FIXTURES, assert_documents_match, load_golden

SECRET = "hunter2-Pa55"


@pytest.fixture
def url(target: Target, monkeypatch: pytest.MonkeyPatch) -> str:
    """The target's URL, with a password when the test server is mongomock."""
    if target.server is None:
        return target.url  # a real server: its own credentials, if any
    server = target.server
    monkeypatch.setattr(
        "eventstate.backends.mongodb.MongoClient", lambda *args, **kwargs: server.client()
    )
    return target.url.replace("mongodb://", f"mongodb://admin:{SECRET}@", 1)


def run(url: str, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)
    assert SECRET not in result.output and SECRET not in (result.stderr or "")
    return result


def run_json(url: str, *args: str) -> Any:
    result = run(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_import_read_upgrade_export_verify(url: str, target: Target, tmp_path: Path) -> None:
    name = "legacy-1.14"
    assert run(url, "import", str(FIXTURES / f"{name}.jsonl")).exit_code == 0
    status = run_json(url, "status")
    assert status["release"] == "1.14" and status["needs"] == "upgrade"
    assert status["events"] == status["head_position"] > 0
    before = load_golden(f"{name}.expected.json")
    assert_documents_match(run_json(url, "machines"), before["machines"])
    assert run(url, "verify").exit_code == 0

    started = datetime.now(UTC) - timedelta(seconds=1)
    assert run(url, "upgrade").exit_code == 0, "upgrade failed"
    after = load_golden(f"{name}.upgraded.json")
    assert_documents_match(run_json(url, "machines"), after["machines"], started)
    assert_documents_match(run_json(url, "models"), after["models"], started)
    runs = run_json(url, "upgrades")
    assert len(runs) == 1 and runs[0]["outcome"] == "completed"
    assert run_json(url, "status")["release"] == "3.0"
    assert run(url, "verify").exit_code == 0
    assert run(url, "history").exit_code == 0
    assert run(url, "projections", "status").exit_code == 0

    exported = tmp_path / "backup.jsonl"
    assert run(url, "export", "-o", str(exported)).exit_code == 0
    target.sibling("copy")  # another database on the same server, dropped afterwards
    database = target.url.partition("?")[0].rpartition("/")[2]
    second = url.replace(f"/{database}", f"/{database}_copy", 1)
    assert run(second, "import", str(exported)).exit_code == 0
    again = tmp_path / "again.jsonl"
    assert run(second, "export", "-o", str(again)).exit_code == 0
    assert again.read_text() == exported.read_text()  # lossless


def test_refusals_are_one_line(url: str) -> None:
    assert run(url, "import", str(FIXTURES / "legacy-1.14.jsonl")).exit_code == 0
    result = run(url, "model", "create", "--help")
    assert result.exit_code == 0
    refused = run(url, "import", str(FIXTURES / "mixed-2.0.jsonl"))
    assert refused.exit_code != 0
    assert len(refused.output.strip().splitlines()) == 1 and "Traceback" not in refused.output
