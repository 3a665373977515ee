"""Shared fixtures: real SQLite store files in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eventstate.api import open_store
from eventstate.store import EventStore

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up an operator's store, key or crash settings."""
    for name in (
        "EVENTSTATE_STORE",
        "EVENTSTATE_CIPHER_KEY",
        "EVENTSTATE_COMPRESSOR",
        "EVENTSTATE_CRASH_AT",
    ):
        monkeypatch.delenv(name, raising=False)
