"""The code standards, checked in CI: `mypy --strict` and `ruff` over the whole project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy")  # packages and strictness come from pyproject.toml
    assert result.returncode == 0, result.stdout[-3000:]


def test_ruff_check_and_format_are_clean() -> None:
    checked = _run("ruff", "check", ".")
    assert checked.returncode == 0, checked.stdout[-3000:]
    formatted = _run("ruff", "format", "--check", ".")
    assert formatted.returncode == 0, formatted.stdout[-3000:]
