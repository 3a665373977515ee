"""Comparing documents with the golden fixtures (times as instants, placeholders)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
UPGRADE_TIME = "<time of the upgrade>"


def load_golden(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def assert_documents_match(
    actual: list[dict[str, Any]],
    expected: list[dict[str, Any]],
    upgrade_started: datetime | None = None,
) -> None:
    assert len(actual) == len(expected), (len(actual), len(expected))
    for got, want in zip(actual, expected, strict=True):
        got, want = dict(got), dict(want)
        got_at, want_at = got.pop("updated_at", None), want.pop("updated_at", None)
        assert got == want, (got.get("model_uuid"), got.get("id"))
        if want_at == UPGRADE_TIME:
            assert upgrade_started is not None and got_at is not None
            assert _instant(got_at) >= upgrade_started, (got.get("id"), got_at)
        elif want_at is None:
            assert got_at is None
        else:
            assert got_at is not None and _instant(got_at) == _instant(want_at), (
                got.get("id"),
                got_at,
            )
