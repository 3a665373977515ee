"""Wrong input to the CLI: one line on stderr naming what and where, the documented exit
code, and nothing created or changed. Usage errors, integer options, store URLs, read
commands on a missing store, EVENTSTATE_LEASE_TTL, Ctrl-C while the CLI loads."""

from __future__ import annotations

import inspect
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.cli_support import console, one_line, run
from tests.golden import FIXTURES

LEGACY = FIXTURES / "legacy-1.14.jsonl"
MODEL = "73f778aa-f6fa-4db8-a56a-bd72fb710734"  # a model of the legacy fixture
ROOT = Path(__file__).parents[2]


# --- usage errors ----------------------------------------------------------------------------

USAGE_CASES: list[tuple[list[str], str, str]] = [
    (["history", "--bogus"], "No such option '--bogus'", "eventstate history"),
    (["no-such-command"], "No such command 'no-such-command'", "eventstate"),
    (["--no-such-option", "status"], "No such option '--no-such-option'", "eventstate"),
    (["import"], "Missing argument 'FILE'", "eventstate import"),
    (["machine", "add", "M", "--container", "docker"], "'docker' is not one of", "machine add"),
    (["model", "config", "M", "--set", "novalue"], "'novalue' is not KEY=VALUE", "model config"),
    (["projections", "frobnicate"], "No such command 'frobnicate'", "eventstate projections"),
    (["history", "--since", "yesterday"], "unparseable time 'yesterday'", "eventstate history"),
    (["machine", MODEL, "0", "--at", "x", "--version", "1"], "not both", "machine show"),
]


@pytest.mark.parametrize(("args", "problem", "command"), USAGE_CASES)
def test_a_usage_error_is_one_line_naming_the_help_to_read(
    store_url: str, args: list[str], problem: str, command: str
) -> None:
    code, out, err = run("--store", store_url, *args)
    line = one_line(err)
    assert code == 2 and out == ""
    assert problem in line and "Usage:" not in err and "Try '" not in err
    assert line.endswith(" --help')") and command in line.rpartition("(see '")[2]
    assert not Path(store_url.removeprefix("sqlite:///")).exists()


def test_a_usage_error_from_the_console_is_one_line(tmp_path: Path) -> None:
    done = console("history", "--bogus", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: No such option '--bogus' (see 'eventstate history --help')\n"
    assert list(tmp_path.iterdir()) == []


def test_bare_eventstate_still_prints_its_help() -> None:
    code, _, err = run()
    assert code == 2 and "Commands:" in err  # click's no_args_is_help, kept as it was


# --- integer options -------------------------------------------------------------------------

INTEGER_CASES: list[tuple[list[str], str]] = [
    (["machine", MODEL, "0", "--version", str(10**20)], "--version"),
    (["machine", MODEL, "0", "--version", "0"], "--version"),
    (["verify", "--workers", str(10**6)], "--workers"),
    (["verify", "--workers", "0"], "--workers"),
    (["verify", "--upto", str(2**63)], "--upto"),
    (["verify", "--upto", "-1"], "--upto"),
    (["machine", "agent", MODEL, "0", "3.0.0-ubuntu-amd64", "--size", str(2**64)], "--size"),
    (["machine", "agent", MODEL, "0", "3.0.0-ubuntu-amd64", "--size", "-5"], "--size"),
]


@pytest.mark.parametrize(("args", "option"), INTEGER_CASES)
def test_an_integer_option_out_of_range_is_a_usage_error(
    legacy_url: str, args: list[str], option: str
) -> None:
    before = Path(legacy_url.removeprefix("sqlite:///")).read_bytes()
    code, out, err = run("--store", legacy_url, *args)
    line = one_line(err)
    assert code == 2 and out == "", line
    assert f"Invalid value for '{option}'" in line and "is not in the range" in line
    assert Path(legacy_url.removeprefix("sqlite:///")).read_bytes() == before


def test_the_largest_version_is_an_ordinary_not_found(legacy_url: str) -> None:
    code, _, err = run("--store", legacy_url, "machine", MODEL, "1", "--version", str(2**63 - 1))
    assert code == 1 and "has no version" in one_line(err)


# --- store URLs ------------------------------------------------------------------------------


def test_an_empty_store_url_is_refused_not_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run("--store", "", "model", "create", "x", "--provider", "lxd")
    line = one_line(err)
    assert code == 2 and "'--store'" in line and "the store URL is empty" in line
    assert list(tmp_path.iterdir()) == []  # no ./eventstate.db


def test_unknown_sqlite_url_options_are_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}?foo=1&synchronous=normal&bar"
    code, _, err = run("--store", url, "model", "create", "x", "--provider", "lxd")
    line = one_line(err)
    assert code == 2
    assert "unknown options bar, foo" in line and "take synchronous, timeout" in line
    assert list(tmp_path.iterdir()) == []
    ok = f"sqlite:///{tmp_path / 'x.db'}?synchronous=normal&timeout=5"
    assert run("--store", ok, "model", "create", "x", "--provider", "lxd")[0] == 0


@pytest.mark.parametrize("args", [["model", "create", "x", "--provider", "lxd"], ["status"]])
def test_memory_store_is_refused_by_the_cli(args: list[str]) -> None:
    code, out, err = run("--store", "memory://", *args)
    line = one_line(err)
    assert code == 2 and out == ""
    assert "memory:// only lives inside one process" in line


def test_memory_store_from_the_environment_is_refused_too(tmp_path: Path) -> None:
    done = console(
        "model", "create", "x", "--provider", "lxd", env={"EVENTSTATE_STORE": "memory://"}
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "memory:// only lives inside one process" in one_line(done.stderr)


# --- read commands on a missing store --------------------------------------------------------

# Read commands, and the commands that need what a store holds (an upgrade, a model).
NEEDS_A_STORE = [
    ["status"],
    ["history"],
    ["machines"],
    ["models"],
    ["machine", MODEL, "0"],
    ["verify"],
    ["export"],
    ["upgrades"],
    ["projections", "status"],
    ["projections", "rebuild"],
    ["upgrade", "--dry-run"],
    ["upgrade"],
    ["machine", "add", MODEL],
]


@pytest.mark.parametrize("args", NEEDS_A_STORE, ids=" ".join)
def test_a_read_command_does_not_create_a_missing_store(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "typo.db"
    code, out, err = run("--store", f"sqlite:///{path}", *args)
    assert code == 1 and out == ""
    assert err == f"error: no store at {path} (import a log or create a model to start one)\n"
    assert list(tmp_path.iterdir()) == []


def test_the_default_store_is_not_created_by_a_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run("status")
    assert code == 1 and "no store at eventstate.db" in one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_write_commands_still_start_a_store(tmp_path: Path) -> None:
    created = f"sqlite:///{tmp_path / 'new.db'}"
    code, out, _ = run("--store", created, "model", "create", "lab", "--provider", "lxd")
    assert code == 0 and out.strip()
    imported = f"sqlite:///{tmp_path / 'imported.db'}"
    assert run("--store", imported, "import", str(LEGACY))[0] == 0
    assert run("--store", imported, "status")[0] == 0


# --- EVENTSTATE_LEASE_TTL --------------------------------------------------------------------


def test_a_bad_lease_ttl_does_not_break_other_commands(tmp_path: Path) -> None:
    env = {"EVENTSTATE_LEASE_TTL": "abc"}
    help_done = console("--help", env=env)
    assert help_done.returncode == 0 and "Commands:" in help_done.stdout, help_done.stderr
    url = f"sqlite:///{tmp_path / 'store.db'}"
    imported = console("--store", url, "import", str(LEGACY), env=env)
    assert imported.returncode == 0, imported.stderr


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-inf", "0", "-1", "1e300"])
def test_a_bad_lease_ttl_is_refused_by_upgrade(
    legacy_url: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = Path(legacy_url.removeprefix("sqlite:///")).read_bytes()
    monkeypatch.setenv("EVENTSTATE_LEASE_TTL", value)
    code, out, err = run("--store", legacy_url, "upgrade")
    assert code == 2 and out == ""
    assert one_line(err) == (
        f"error: EVENTSTATE_LEASE_TTL={value!r} is not a number of seconds greater than 0 "
        "and at most 86400"
    )
    assert Path(legacy_url.removeprefix("sqlite:///")).read_bytes() == before
    # A dry run takes no lease: the setting does not matter to it.
    assert run("--store", legacy_url, "upgrade", "--dry-run")[0] == 0


def test_a_good_lease_ttl_is_used(legacy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventstate.upgrade.lease import DEFAULT_TTL_S, UpgradeLease, configured_ttl_s

    monkeypatch.setenv("EVENTSTATE_LEASE_TTL", "0.5")
    assert configured_ttl_s() == 0.5
    assert UpgradeLease(None, "me").ttl_s == 0.5  # type: ignore[arg-type]  # no backend used
    assert UpgradeLease(None, "me", 30.0).ttl_s == 30.0  # type: ignore[arg-type]  # as given
    monkeypatch.delenv("EVENTSTATE_LEASE_TTL")
    assert UpgradeLease(None, "me").ttl_s == DEFAULT_TTL_S == 30.0  # type: ignore[arg-type]
    monkeypatch.setenv("EVENTSTATE_LEASE_TTL", "0.5")
    # The upgrade leaves the TTL to the lease, which reads the setting.
    from eventstate.upgrade.runner import run_upgrade

    assert inspect.signature(run_upgrade).parameters["ttl_s"].default is None
    assert run("--store", legacy_url, "upgrade")[0] == 0


# --- Ctrl-C while the CLI is still importing -------------------------------------------------

# Interrupts the import of the CLI proper, as a Ctrl-C in its first fraction of a second.
_INTERRUPTED_IMPORT = """
import builtins, runpy, sys
real = builtins.__import__
def interrupting(name, *args, **kwargs):
    if name == "eventstate.cli.main":
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)
builtins.__import__ = interrupting
if sys.argv[1] == "script":
    from eventstate.cli.entry import main
    main()
else:
    runpy.run_module("eventstate.cli", run_name="__main__")
"""


@pytest.mark.parametrize("how", ["script", "module"])
def test_ctrl_c_while_importing_is_quiet_and_exit_130(tmp_path: Path, how: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT, how, "status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "error: interrupted\n", "")


def test_the_console_script_enters_through_the_guarded_module() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"eventstate": "eventstate.cli.entry:main"}
