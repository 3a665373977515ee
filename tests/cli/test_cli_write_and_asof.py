"""The CLI end to end: write commands, as-of reads, errors as one line with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from eventstate.cli.main import cli
from tests.golden import FIXTURES


def _run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--store", url, *args])
    return result.exit_code, result.stdout, result.stderr


def test_operator_builds_a_model_by_hand(store_url: str) -> None:
    code, out, err = _run(
        store_url,
        "model",
        "create",
        "lab",
        "--provider",
        "lxd",
        "--config",
        "default-base=ubuntu@22.04",
    )
    assert code == 0, err
    model = out.strip()
    assert _run(store_url, "machine", "add", model, "--job", "JobManageModel")[1].strip() == "0"
    assert _run(store_url, "machine", "add", model)[1].strip() == "1"
    assert _run(store_url, "machine", "containers", model, "1", "lxd")[0] == 0
    assert _run(store_url, "machine", "add", model, "--parent", "1")[1].strip() == "1/lxd/0"
    assert _run(store_url, "machine", "addresses", model, "1", "10.0.0.9", "54.1.1.1")[0] == 0
    assert _run(store_url, "unit", "assign", model, "wordpress/0", "1")[0] == 0
    code, out, _ = _run(store_url, "machine", model, "1", "--json")
    doc = json.loads(out)
    assert doc["containers"] == ["1/lxd/0"]
    assert doc["principals"] == ["wordpress/0"]
    assert doc["preferred_public_address"] == "54.1.1.1"
    # invariants are one-line errors with exit 1
    code, out, err = _run(store_url, "machine", "life", model, "0", "dying")
    assert code == 1
    assert err.startswith("error: machine 0 manages the model") and err.count("\n") == 1
    code, _, err = _run(store_url, "machine", "add", model, "--job", "JobManageEnviron")
    assert code == 2 and "JobManageEnviron" in err


def test_machine_as_of_time_and_version(store_url: str) -> None:
    assert _run(store_url, "import", str(FIXTURES / "legacy-1.14.jsonl"))[0] == 0
    model = "73f778aa-f6fa-4db8-a56a-bd72fb710734"
    code, out, err = _run(store_url, "machine", model, "1", "--version", "1", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["stream_version"] == 1 and first["instance"] is None and first["addresses"] == []
    code, out, _ = _run(store_url, "machine", model, "1", "--at", "2099-01-01", "--json")
    assert json.loads(out)["stream_version"] == 6  # every event of machine 1
    code, _, err = _run(store_url, "machine", model, "1", "--at", "not-a-time")
    assert code == 2 and "unparseable time" in err
    code, _, err = _run(store_url, "machine", model, "1", "--at", "1999-01-01")
    assert code == 1 and "did not exist yet" in err


def test_usage_errors_and_gated_store(store_url: str, tmp_path: Path) -> None:
    assert _run(store_url, "import", str(FIXTURES / "legacy-1.14.jsonl"))[0] == 0
    code, _, err = _run(store_url, "model", "create", "x", "--provider", "lxd")
    assert code == 3
    assert err == "error: store is at 1.14, this code is 3.0: run `eventstate upgrade`\n"
    code, _, err = _run(store_url, "upgrade", "--to", "9.9")
    assert code == 2 and "9.9" in err
    code, _, err = _run(store_url, "import", str(tmp_path / "missing.jsonl"))
    assert code == 1 and "no such file" in err
    code, _, err = _run("postgres://x", "status")
    assert code == 2 and "unsupported store URL" in err
    assert "Traceback" not in err
