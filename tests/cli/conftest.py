"""Fixtures of the CLI tests."""

from __future__ import annotations

import pytest

from tests.cli_support import run
from tests.golden import FIXTURES


@pytest.fixture
def legacy_url(store_url: str) -> str:
    """A SQLite store holding the 1.14 fixture, imported through the CLI."""
    assert run("--store", store_url, "import", str(FIXTURES / "legacy-1.14.jsonl"))[0] == 0
    return store_url
