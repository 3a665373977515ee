"""The compiled (mypyc) express module: used only while it matches its source.

Python imports a compiled module in preference to its `.py`, so after an edit a stale
build would run; upcasters.native imports the build only while the source has the
digest the build recorded, else the source. Checked in a copy of the package, in a
separate interpreter (the import happens once per process).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from upcasters import express
from upcasters.native import PURE_PYTHON_VARIABLE, is_compiled

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import upcasters, upcasters.native as n; "
    "print(n.is_compiled(upcasters.express), upcasters.express.__file__); "
    "print(upcasters.CHAIN.fingerprint())"
)


def _compiler() -> bool:
    return shutil.which("cc") is not None or shutil.which("gcc") is not None


def _probe(package_root: Path, **env: str) -> tuple[bool, str, str]:
    """(compiled?, the module's file, the chain fingerprint) in a fresh interpreter."""
    environment = {k: v for k, v in os.environ.items() if k != PURE_PYTHON_VARIABLE}
    environment.update(env, PYTHONPATH=f"{package_root}{os.pathsep}{REPO}")
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=package_root,
    ).stdout.split()
    return out[0] == "True", out[1], out[2]


@pytest.mark.skipif(
    os.environ.get(PURE_PYTHON_VARIABLE) == "1" or not _compiler(),
    reason="a pure-Python install, asked for or without a C compiler",
)
def test_the_install_compiled_the_express_module() -> None:
    """The build compiles express.py (setup.py); a mypyc failure must not pass unseen
    as a silently slower pure-Python install."""
    assert is_compiled(express), f"express runs from {express.__file__}"


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the built upcasters package, compiled modules and digests included."""
    if not is_compiled(express):
        pytest.skip("express is not compiled in this install")
    shutil.copytree(REPO / "upcasters", tmp_path / "upcasters")
    return tmp_path


def test_a_current_build_is_imported(package_copy: Path) -> None:
    compiled, path, fingerprint = _probe(package_copy)
    assert compiled and path.startswith(str(package_copy))
    _, _, source_fingerprint = _probe(package_copy, **{PURE_PYTHON_VARIABLE: "1"})
    assert fingerprint == source_fingerprint  # the same code, whichever runs


def test_an_edited_source_is_imported_instead_of_the_stale_build(package_copy: Path) -> None:
    source = package_copy / "upcasters" / "express.py"
    source.write_text(source.read_text() + "\n# edited after the build\n")
    compiled, path, _ = _probe(package_copy)
    assert not compiled and path == str(source)


def test_a_build_without_its_digest_is_not_trusted(package_copy: Path) -> None:
    (package_copy / "upcasters" / "express.source-sha256").unlink()
    compiled, path, _ = _probe(package_copy)
    assert not compiled and path.endswith("express.py")


def test_a_build_shipped_without_its_source_is_imported(package_copy: Path) -> None:
    (package_copy / "upcasters" / "express.py").unlink()
    compiled, path, _ = _probe(package_copy)
    assert compiled and path.startswith(str(package_copy))


def test_pure_python_on_request_and_the_cli_says_which(package_copy: Path) -> None:
    compiled, _, _ = _probe(package_copy, **{PURE_PYTHON_VARIABLE: "1"})
    assert not compiled
    environment = {**os.environ, PURE_PYTHON_VARIABLE: "1"}
    out = subprocess.run(
        [sys.executable, "-m", "eventstate.cli", "upcasters"],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    ).stdout
    assert "express module running from source" in out
    compiled_out = subprocess.run(
        [sys.executable, "-m", "eventstate.cli", "upcasters"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != PURE_PYTHON_VARIABLE},
    ).stdout
    assert "express module compiled (mypyc)" in compiled_out


def test_the_express_contract_holds_for_the_source_too() -> None:
    """Whichever a machine runs, the express functions equal the steps: the contract
    tests again, in an interpreter that imports the source."""
    environment = {**os.environ, PURE_PYTHON_VARIABLE: "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            str(REPO / "tests" / "upcasters" / "test_express.py"),
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert " passed" in result.stdout
