"""Two real processes catch up the same store file at once, while a third appends.

Each catching-up process records the log ranges it folded and the positions it read;
together the ranges must tile the log exactly (no event folded twice or skipped),
positions never go back, and the documents equal one plain fold of the log.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from eventstate.store import EventStore
from projections import runner, service
from tests.projections.test_runner_support import (
    Events,
    append_all,
    open_file_store,
    reference,
    small_environment,
)

REPO = Path(__file__).resolve().parents[2]
UUID = "7a7a7a7a-0000-4000-8000-000000000001"
NEW_MODEL = "7a7a7a7a-0000-4000-8000-000000000002"

READER = """
import json, os, random, sys, time
from eventstate.api import open_store
from projections import runner

path, out, go, stop = sys.argv[1:5]
runner.CATCH_UP_CHUNK = 40  # many small catch-ups, so the two processes interleave
ranges, positions = [], []
fold_range = runner._events

def recording(store, after, upto):
    ranges.append((after, upto))
    return fold_range(store, after, upto)

runner._events = recording
store = open_store("sqlite:///" + path)
open(out + ".ready", "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
while True:
    finished = os.path.exists(stop)  # the writer's last append is committed
    copy = runner.catch_up(store)
    positions.append(copy.position)
    if finished and copy.position == store.head():
        break
    time.sleep(random.random() * 0.002)  # requests arrive at random, as on a server
with open(out, "w") as handle:
    json.dump({"ranges": ranges, "positions": positions}, handle)
"""

WRITER = """
import os, sys, time
sys.path.insert(0, sys.argv[4])
from eventstate.api import open_store
from tests.projections.test_runner_support import Events, small_environment

path, go, stop, _, old_model, new_model = sys.argv[1:7]
store = open_store("sqlite:///" + path)
heads = store.backend.stream_heads([f"machine:{old_model}:{n}" for n in range(40)])
events = Events(dict(heads))
batch = small_environment(events, new_model, 40)
for n in range(40):
    batch.append(events.agent_binary(old_model, str(n), "3.0.7"))
    batch.append(events.life(old_model, str(n), "dying"))
while not os.path.exists(go):
    time.sleep(0.001)
size = 1
while batch:
    store.append(batch[:size])
    del batch[:size]
    size = size % 4 + 1
    # Appends spread over ~0.3 s: both readers get to catch up on a busy 2-core machine
    # (faster, one reader starved by the scheduler could find nothing left to fold).
    time.sleep(0.005)
open(stop, "w").close()
"""


def _spawn(script: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(script), *args], cwd=REPO)


def test_two_processes_catching_up_at_once_fold_every_event_exactly_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    store = open_file_store(path)
    environment = small_environment(Events(), UUID, 40)
    append_all(store, environment[:60])
    start = runner.catch_up(store).position  # the copy exists: the children only catch up
    append_all(store, environment[60:])  # a backlog for both
    (tmp_path / "reader.py").write_text(READER)
    (tmp_path / "writer.py").write_text(WRITER)
    go, stop = str(tmp_path / "go"), str(tmp_path / "stop")
    outs = [str(tmp_path / f"reader{n}.json") for n in range(2)]
    children = [_spawn(tmp_path / "reader.py", str(path), out, go, stop) for out in outs]
    children.append(_spawn(tmp_path / "writer.py", str(path), go, stop, str(REPO), UUID, NEW_MODEL))
    seen = _watch_positions(path, children, go)
    assert [child.wait(timeout=120) for child in children] == [0, 0, 0]

    results = [json.loads(Path(out).read_text()) for out in outs]
    ranges = sorted(tuple(r) for result in results for r in result["ranges"])
    head = store.head()
    assert ranges[0][0] == start and ranges[-1][1] == head
    for (_, end), (begin, _) in itertools.pairwise(ranges):
        assert begin == end, f"overlap or gap in the folded ranges: {ranges}"
    folded = [len(result["ranges"]) for result in results]
    assert all(folded), f"both processes should have folded something: {folded}"
    for result in results:
        assert result["positions"] == sorted(result["positions"])
    assert seen == sorted(seen) and seen[-1] == head
    assert (service.machines(store), service.models(store)) == reference(store)
    _check_against_fresh_process(path, store)


def _watch_positions(path: Path, children: list[subprocess.Popen[bytes]], go: str) -> list[int]:
    """The copy's stored position, polled from a plain connection while the children run."""
    conn = sqlite3.connect(path)
    # Both readers start together (imports take a while on a busy machine).
    readies = [Path(f"{path.parent}/reader{n}.json.ready") for n in range(2)]
    deadline = time.monotonic() + 60
    while not all(ready.exists() for ready in readies) and time.monotonic() < deadline:
        time.sleep(0.01)
    Path(go).touch()
    seen = []
    deadline = time.monotonic() + 120
    while any(child.poll() is None for child in children) and time.monotonic() < deadline:
        (position,) = conn.execute(
            "SELECT position FROM projection_copies WHERE state = 'ready'"
        ).fetchone()
        seen.append(position)
        time.sleep(0.002)
    seen.append(
        conn.execute("SELECT position FROM projection_copies WHERE state = 'ready'").fetchone()[0]
    )
    conn.close()
    return seen


def _check_against_fresh_process(path: Path, store: EventStore) -> None:
    other = open_file_store(path)
    try:
        assert service.machines(other) == service.machines(store)
    finally:
        other.close()
    assert os.path.exists(path)
