"""`eventstate upcasters`: every type's chain, release by release, as a table or JSON."""

from __future__ import annotations

import json

from click.testing import CliRunner

from eventstate.cli.main import cli
from upcasters import CHAIN


def test_json_lists_every_step_of_the_chain_in_release_order() -> None:
    result = CliRunner().invoke(cli, ["upcasters", "--json"])
    assert result.exit_code == 0, result.stderr
    steps = json.loads(result.stdout)
    assert len(steps) == len(CHAIN.describe())
    machine_added = [s for s in steps if s["current_type"] == "MachineAdded"]
    assert [s["release"] for s in machine_added] == ["1.14", "1.16", "1.18", "1.21", "2.0", "3.0"]
    assert [s["to_schema"] for s in machine_added] == [1, 2, 3, 4, 5, 6]
    model = [s for s in steps if s["current_type"] == "ModelCreated"]
    renamed = [s for s in model if s["from_type"] == "EnvironmentCreated" and s["release"] == "2.0"]
    assert renamed and renamed[0]["to_type"] == "ModelCreated"


def test_table_names_renames_express_shortcuts_and_the_fingerprint() -> None:
    result = CliRunner().invoke(cli, ["upcasters"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "MachineAgentToolsSet 1" in out and "MachineAgentBinarySet" in out
    shortcuts = next(line for line in out.splitlines() if line.startswith("express shortcuts"))
    assert "MachineAddressesSet 1" in shortcuts
    assert f"chain fingerprint {CHAIN.fingerprint()}" in out


def test_a_wrong_argument_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(cli, ["upcasters", "--bogus"])
    assert result.exit_code == 2
    assert "--bogus" in result.stderr
