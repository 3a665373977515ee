"""SIGKILL of the upgrading process at many points; the next upgrade finishes it and
the end state equals an uninterrupted run (issue 5)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from eventstate.api import open_store
from eventstate.interchange import import_jsonl
from projections import service
from tests.golden import FIXTURES

POINTS = 24


def _eventstate(
    url: str, *args: str, crash_at: str = "", ttl: str = "0.5"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EVENTSTATE_LEASE_TTL": ttl, "EVENTSTATE_CRASH_AT": crash_at}
    env.pop("EVENTSTATE_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "eventstate.cli", "--store", url, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _upgrade_until_done(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        done = _eventstate(url, "upgrade")
        if done.returncode == 0:
            return
        # a dead holder's lease blocks until it expires (exit 4); anything else is a failure
        assert done.returncode == 4 and "lease is held" in done.stderr, done.stderr
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _end_state(url: str) -> dict[str, Any]:
    store = open_store(url)
    try:
        log = []
        for e in store.iter_events(target=None):
            data = dict(e.data)
            stream = e.stream
            if stream.startswith("upgrade:"):
                stream = "upgrade:U"
                for volatile in ("holder", "fencing_token", "duration_s"):
                    data.pop(volatile, None)
            log.append((stream, e.version, e.type, e.schema, data))
        machines = [
            {k: v for k, v in d.items() if k != "updated_at"} for d in service.machines(store)
        ]
        return {
            "meta": (store.meta().release, store.meta().status),
            "log": log,
            "machines": machines,
            "models": service.models(store),
        }
    finally:
        store.close()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("base") / "legacy.db"
    store = open_store(f"sqlite:///{path}")
    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    store.close()
    return path


def _copy(source: Path, target: Path) -> str:
    shutil.copy(source, target)
    return f"sqlite:///{target}"


def test_killed_upgrades_resume_to_the_same_end_state(imported: Path, tmp_path: Path) -> None:
    reference_url = _copy(imported, tmp_path / "reference.db")
    counted = _eventstate(reference_url, "upgrade", crash_at="count")
    assert counted.returncode == 0, counted.stderr
    total = int(counted.stderr.strip().splitlines()[-1].split(": ")[1])
    assert total >= POINTS, f"only {total} crash points in an upgrade"
    reference = _end_state(reference_url)
    assert reference["meta"] == ("3.0", "available")

    rng = random.Random(20261125)
    points = sorted(rng.sample(range(1, total + 1), POINTS))
    for point in points:
        url = _copy(imported, tmp_path / f"crash-{point}.db")
        killed = _eventstate(url, "upgrade", crash_at=str(point))
        assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr)
        _upgrade_until_done(url)
        assert _end_state(url) == reference, f"crash point {point} of {total}"
