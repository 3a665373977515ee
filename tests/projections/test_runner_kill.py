"""A rebuild killed with SIGKILL part way leaves readers on the complete copy, and the
next rebuild drops the leftover and gives identical documents."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from projections import runner, service
from projections.storage import BUILDING, READY, storage_for
from tests.projections.test_runner_support import (
    Events,
    append_all,
    open_file_store,
    reference,
    small_environment,
)

UUID = "3c3c3c3c-0000-4000-8000-000000000001"

# Rebuilds the store's copy and stops for good (until killed) part way through `phase`,
# after it has folded events ("fold") or written documents in its open transaction
# ("write"); the marker file tells the test it got there.
REBUILDER = """
import sys, time
from pathlib import Path
from eventstate.api import open_store
from projections import events, runner
import projections.storage.sqlite as sqlite_storage

path, phase, marker = sys.argv[1:4]
events.TICK = 10
sqlite_storage._TICK = 5

def progress(current, done, total):
    if current == phase and 0 < done < total:
        Path(marker).touch()
        time.sleep(600)

runner.rebuild(open_store("sqlite:///" + path), progress=progress)
"""


@pytest.mark.parametrize("phase", ["fold", "write"])
def test_a_rebuild_killed_part_way(tmp_path: Path, phase: str) -> None:
    path = tmp_path / "store.db"
    store = open_file_store(path)
    events = Events()
    append_all(store, small_environment(events, UUID, 60))
    live = runner.catch_up(store)
    before = service.machines(store), service.models(store)
    script = tmp_path / "rebuild.py"
    script.write_text(REBUILDER)
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, str(script), str(path), phase, str(marker)])
    try:
        _wait_for(marker, child)
        if phase == "fold":
            # The builder holds no lock while it folds: writes and catch-ups go on.
            store.append([events.life(UUID, "7", "dying")])
            assert service.machine(store, UUID, "7")["life"] == "dying"
        else:
            # It holds the write lock with documents written: readers are not blocked
            # and do not see them.
            assert (service.machines(store), service.models(store)) == before
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    storage = storage_for(store)
    (leftover,) = [c for c in storage.copies() if c.state == BUILDING]
    assert storage.count_documents(leftover) == {"machine": 0, "model": 0, "unit": 0}
    assert runner.catch_up(store).copy_id == live.copy_id  # readers stay on the live copy
    documents = service.machines(store), service.models(store)
    assert documents == reference(store)
    if phase == "write":
        assert documents == before

    result = runner.rebuild(store)
    assert [c.copy_id for c in result.dropped] == [leftover.copy_id]
    runner.cleanup_copies(store)  # the generation the rebuild replaced
    assert [(c.copy_id, c.state) for c in storage.copies()] == [(result.copy.copy_id, READY)]
    assert (service.machines(store), service.models(store)) == documents


def _wait_for(marker: Path, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert child.poll() is None, "the rebuild ended before it got part way"
        assert time.monotonic() < deadline, "the rebuild never got part way"
        time.sleep(0.01)
