"""Shared fixtures for the fuzz tests (no tests in here)."""

from __future__ import annotations

import resource

import pytest

from benchmarks.fuzz import Template, build_templates

# Fewer than the script's thousands: CI runs each property in well under a minute.
EXAMPLES = 150
RSS_GROWTH_LIMIT_MB = 256  # a 4 GiB declared length must not be allocated


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    return build_templates(tmp_path_factory.mktemp("templates"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
