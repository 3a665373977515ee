"""Faults: SIGKILL at random points of import, batched append, projection rebuild and
upgrade; a full disk; a read-only store.

    python -m benchmarks.faults --import-points 30 --append-points 60 \\
        --rebuild-points 30 --upgrade-points 40

Each operation runs in a child process that kills itself (SIGKILL, nothing flushed,
no cleanup) at a chosen point. Two kinds of point, sampled at random:

- `checkpoint N`: EVENTSTATE_CRASH_AT=N, the store's own crash points (before and after
  every COMMIT, between upgrade phases; eventstate/faults.py);
- `statement N`: just before the N-th SQL statement the process sends to SQLite (this
  module wraps `sqlite3.connect`), so kills also land inside open transactions, between
  the inserts of a batch, and while a projection copy is being written.

A reference run counts both kinds of point for the operation. After every kill the store
must be consistent (positions 1..head, every stream's versions 1..n, the hash chain and
the head hash recomputed here, and `verify`), the operation must be all-or-nothing where
it promises to be (an import, each appended batch), and running the operation again
(resuming) must give the end state of an uninterrupted run.

`full_disk_cases` and `read_only_cases` run the write commands against a store that
cannot grow (RLIMIT_FSIZE in the child; SQLite's max_page_count in-process) or cannot be
written (`chattr +i`, which also stops root; chmod 0400 otherwise): one line on stderr,
a non-zero exit code, no traceback, and every committed event still there.

The operations are the CLI's (`eventstate import`, `projections rebuild`, `upgrade`) and,
for the batched append, `python -m benchmarks.faults child append URL`, which appends a
fixed list of batches through `EventStore.append` and resumes where the store stops.
`tests/reliability/test_faults_*.py` run the same campaigns with fewer points.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from eventstate.store import NewEvent

# eventstate is imported inside the functions: a child installs its statement counter
# before anything of the store is loaded, and the parent stays light.
CHECKPOINT = "checkpoint"
STATEMENT = "statement"
CHILD_TIMEOUT_S = 180.0
LEASE_TTL_S = "0.5"  # a killed upgrader's lease expires quickly, so resuming waits little
ROOT = Path(__file__).resolve().parent.parent


# --- the child: one operation, killed at one point --------------------------------------------


def _install_statement_counter(kill_at: int | None, count: bool) -> None:
    """Count SQL statements on every SQLite connection this process opens; SIGKILL just
    before statement `kill_at`; with `count`, print "statements: N" at exit."""
    real_connect = sqlite3.connect
    seen = 0

    def tick() -> None:
        nonlocal seen
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> Self:
            tick()
            return super().execute(sql, parameters)

        def executemany(self, sql: str, seq_of_parameters: Any, /) -> Self:
            tick()
            return super().executemany(sql, seq_of_parameters)

    class Connection(sqlite3.Connection):
        def cursor(self, factory: Any = Cursor) -> Any:
            return super().cursor(factory)

        def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
            tick()
            return super().execute(sql, parameters)

        def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
            tick()
            return super().executemany(sql, parameters)

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", Connection)
        connection: sqlite3.Connection = real_connect(*args, **kwargs)
        return connection

    sqlite3.connect = connect  # type: ignore[assignment]
    if count:
        import atexit

        atexit.register(lambda: print(f"statements: {seen}", file=sys.stderr))


def child_main(argv: Sequence[str]) -> int:
    """`child [--kill-at-statement N|count] (cli ARGS... | append URL BATCHES SIZE)`."""
    args = list(argv)
    kill_at: int | None = None
    count = False
    if args[:1] == ["--kill-at-statement"]:
        setting = args[1]
        count = setting == "count"
        kill_at = None if count else int(setting)
        args = args[2:]
    _install_statement_counter(kill_at, count)
    program, rest = args[0], args[1:]
    if program == "cli":
        from eventstate.cli.main import cli

        # standalone_mode: click turns usage errors and sys.exit into exit codes.
        cli.main(args=rest, prog_name="eventstate")
        return 0
    if program == "append":
        url, batches, size = rest[0], int(rest[1]), int(rest[2])
        appended = append_batches(url, batches, size)
        print(f"appended {appended} batches", file=sys.stderr)
        return 0
    raise SystemExit(f"unknown child program {program!r}")


# --- the batched-append workload ----------------------------------------------------------------

APPEND_MODELS = ("fa170000-0000-4000-8000-000000000000", "fa170000-0000-4000-8000-000000000001")
_T0_US = 1_700_000_000_000_000  # fixed recorded_at times: two runs write identical logs


def append_workload(batches: int, size: int) -> list[list[NewEvent]]:
    """`batches` lists of `size` valid 3.0 events (NewEvent), the same on every call:
    models, machines, provisioning, addresses, units, built by the domain aggregates."""
    from eventstate.domain.aggregates import Machine, Model, Unit
    from eventstate.store import NewEvent

    events: list[NewEvent] = []

    def take(aggregate: Any) -> None:
        for event in aggregate.pending:
            events.append(
                NewEvent(event.stream, event.version, event.type, event.data, _T0_US + len(events))
            )
        aggregate.version += len(aggregate.pending)
        aggregate.pending.clear()

    wanted = batches * size
    for n, uuid in enumerate(APPEND_MODELS):
        model = Model(uuid, [])
        model.create(
            name=f"append{n}",
            provider_type="lxd",
            cloud="lxd",
            cloud_region="",
            cloud_credential="",
            owner="admin",
            controller_uuid=uuid,
            config={},
        )
        take(model)
    number = 0
    while len(events) < wanted:
        uuid = APPEND_MODELS[number % 2]
        machine = Machine(uuid, str(number), [])
        machine.add(
            base={"os": "ubuntu", "channel": "22.04/stable"},
            jobs=["JobHostUnits"],
            container_type="",
            nonce="",
            constraints="",
            placement="",
        )
        machine.provision(
            instance_id=f"i-{number:06d}",
            nonce=f"machine-{number}:1",
            hardware={
                "arch": "amd64",
                "cpu_cores": 2,
                "cpu_power": None,
                "mem_mib": 4096,
                "root_disk_mib": None,
                "tags": [],
                "availability_zone": None,
            },
        )
        machine.set_addresses(
            [
                {
                    "value": f"10.1.{number // 250}.{number % 250 + 1}",
                    "type": "ipv4",
                    "scope": "local-cloud",
                    "space_id": "0",
                }
            ]
        )
        take(machine)
        unit = Unit(uuid, f"app/{number}", [])
        unit.assign(machine)
        take(unit)
        number += 1
    events = events[:wanted]
    return [events[i : i + size] for i in range(0, wanted, size)]


def append_batches(url: str, batches: int, size: int) -> int:
    """Append the workload's batches, one `EventStore.append` each, resuming after the
    last batch the store holds; returns how many this call appended."""
    from eventstate.api import open_store

    workload = append_workload(batches, size)
    store = open_store(url)
    try:
        head = store.head()
        if head % size:
            raise SystemExit(f"store head {head} is inside a batch: a batch was half-written")
        done = head // size
        for batch in workload[done:]:
            store.append(batch)
        return len(workload) - done
    finally:
        store.close()


# --- running children --------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Point:
    kind: str  # CHECKPOINT or STATEMENT
    number: int

    def __str__(self) -> str:
        return f"{self.kind} {self.number}"


def run_child(
    program: Sequence[str],
    point: Point | None = None,
    *,
    count: bool = False,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
    timeout: float = CHILD_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m benchmarks.faults child ...program` (program: ["cli", ...] or
    ["append", ...]), killed at `point`, or counting both kinds of point."""
    child_env = {**os.environ, "EVENTSTATE_LEASE_TTL": LEASE_TTL_S, **(env or {})}
    for name in ("EVENTSTATE_STORE", "EVENTSTATE_CRASH_AT", "EVENTSTATE_DEBUG"):
        child_env.pop(name, None)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), child_env.get("PYTHONPATH", "")) if p
    )
    args = [sys.executable, "-m", "benchmarks.faults", "child"]
    if count:
        child_env["EVENTSTATE_CRASH_AT"] = "count"
        args += ["--kill-at-statement", "count"]
    elif point is not None and point.kind == CHECKPOINT:
        child_env["EVENTSTATE_CRASH_AT"] = str(point.number)
    elif point is not None:
        args += ["--kill-at-statement", str(point.number)]
    return subprocess.run(
        [*args, *program],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        preexec_fn=preexec,  # only resource limits, set before exec
    )


def count_points(program: Sequence[str]) -> tuple[int, int, subprocess.CompletedProcess[str]]:
    """(checkpoints, statements) an uninterrupted run of `program` passes."""
    done = run_child(program, count=True)
    if done.returncode != 0:
        raise RuntimeError(f"reference run of {program} failed: {done.stderr.strip()}")
    checkpoints = statements = 0
    for line in done.stderr.splitlines():
        if line.startswith("checkpoints: "):
            checkpoints = int(line.split(": ")[1])
        elif line.startswith("statements: "):
            statements = int(line.split(": ")[1])
    return checkpoints, statements, done


def sample_points(checkpoints: int, statements: int, n: int, rng: random.Random) -> list[Point]:
    """n points, about a third checkpoints (there are few) and the rest statements."""
    every = [Point(CHECKPOINT, i) for i in range(1, checkpoints + 1)]
    every += [Point(STATEMENT, i) for i in range(1, statements + 1)]
    if n >= len(every):
        return every
    by_checkpoint = min(checkpoints, max(1, n // 3))
    chosen = rng.sample(every[:checkpoints], by_checkpoint)
    chosen += rng.sample(every[checkpoints:], n - by_checkpoint)
    return sorted(chosen)


# --- checks ---------------------------------------------------------------------------------


def structural_problems(url: str) -> list[str]:
    """Recomputed here, independent of `verify`: positions 1..head, each stream's
    versions 1..n, every event's hash from the stored bytes, the head hash."""
    from eventstate.api import open_store
    from eventstate.hashing import GENESIS, event_hash

    problems: list[str] = []
    store = open_store(url, check_release=False)
    try:
        backend: Any = store.backend
        previous = GENESIS
        expected_position = 1
        versions: dict[str, int] = {}
        for row in backend.iter_full_rows():
            position, stream, version, type_name, schema, recorded_at, state, stored = row
            if position != expected_position:
                problems.append(f"position {position} where {expected_position} was expected")
            expected_position = position + 1
            if version != versions.get(stream, 0) + 1:
                problems.append(f"{stream} version {version} after {versions.get(stream, 0)}")
            versions[stream] = version
            previous = event_hash(previous, stream, version, type_name, schema, recorded_at, state)
            if bytes(stored) != previous:
                problems.append(f"hash chain broken at position {position}")
                previous = bytes(stored)
        head_hash = store.meta().head_hash or GENESIS
        if expected_position > 1 and head_hash != previous:
            problems.append("the head hash is not the last event's hash")
    finally:
        store.close()
    return problems


def verify_problems(url: str) -> list[str]:
    from eventstate.api import open_store
    from eventstate.audit.verify import verify

    store = open_store(url, check_release=False)
    try:
        report = verify(store)
        return [f"verify {p.check}: {p.message}" for p in report.errors]
    finally:
        store.close()


def consistency_problems(url: str) -> list[str]:
    return structural_problems(url) + verify_problems(url)


def end_state(url: str, *, volatile_upgrade: bool = False) -> dict[str, Any]:
    """What two runs of an operation must agree on: the release, the status, the log
    and the projected documents. With volatile_upgrade, what differs between upgrade
    runs by design is left out: the upgrade id, holder, token, timings, the time the
    steps' events were recorded (and so `updated_at`)."""
    from eventstate.api import open_store
    from projections import service

    store = open_store(url, check_release=False)
    try:
        log = []
        for event in store.iter_events(target=None):
            data = dict(event.data)
            stream, recorded_at = event.stream, event.recorded_at
            if volatile_upgrade:
                recorded_at = 0
                if stream.startswith("upgrade:"):
                    stream = "upgrade:U"
                    for volatile in ("holder", "fencing_token", "duration_s"):
                        data.pop(volatile, None)
            log.append((stream, event.version, event.type, event.schema, recorded_at, data))
        machines = service.machines(store)
        if volatile_upgrade:
            machines = [{k: v for k, v in d.items() if k != "updated_at"} for d in machines]
        meta = store.meta()
        return {
            "meta": (meta.release, meta.status),
            "log": log,
            "machines": machines,
            "models": service.models(store),
        }
    finally:
        store.close()


# --- campaigns ------------------------------------------------------------------------------


@dataclass
class PointResult:
    point: Point
    killed: bool  # False: the run finished before reaching the point
    outcome: str  # what the kill left (e.g. "nothing imported", "12 of 40 batches")
    problems: list[str] = field(default_factory=list)


@dataclass
class Campaign:
    operation: str
    checkpoints: int  # points an uninterrupted run passes
    statements: int
    results: list[PointResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def killed(self) -> int:
        return sum(1 for r in self.results if r.killed)

    @property
    def survived(self) -> int:
        return sum(1 for r in self.results if r.killed and not r.problems)

    @property
    def failures(self) -> list[PointResult]:
        return [r for r in self.results if r.problems]


def _store_files(path: Path) -> list[Path]:
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def copy_store(source: Path, target: Path) -> str:
    for file in _store_files(source):
        shutil.copy(file, target.with_name(target.name + file.name[len(source.name) :]))
    return f"sqlite:///{target}"


def _killed(done: subprocess.CompletedProcess[str], point: Point, problems: list[str]) -> bool:
    if done.returncode == -signal.SIGKILL:
        return True
    if done.returncode != 0:
        problems.append(f"{point}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
    return False


def _run_campaign(
    operation: str,
    program: Callable[[str], list[str]],
    fresh: Callable[[Path], str],
    resume: Callable[[str, list[str]], str],
    workdir: Path,
    points: int,
    seed: int,
    *,
    volatile_upgrade: bool = False,
    after_kill: Callable[[str, list[str]], str] | None = None,
) -> Campaign:
    """The shared loop: a reference run counts the points and gives the end state; then
    for each sampled point a fresh store, a killed run, the checks, a resume, a compare.
    `after_kill(url, problems)` checks what the kill left and names it; `resume(url,
    problems)` finishes the operation and names what it did."""
    started = time.perf_counter()
    reference_url = fresh(workdir / f"{operation}-reference.db")
    checkpoints, statements, _ = count_points(program(reference_url))
    reference = end_state(reference_url, volatile_upgrade=volatile_upgrade)
    campaign = Campaign(operation, checkpoints, statements)
    rng = random.Random(f"{seed}-{operation}")
    for point in sample_points(checkpoints, statements, points, rng):
        url = fresh(workdir / f"{operation}-{point.kind}-{point.number}.db")
        problems: list[str] = []
        done = run_child(program(url), point)
        killed = _killed(done, point, problems)
        outcome = "finished before the point" if not killed else "killed"
        if killed:
            problems += consistency_problems(url)
            if after_kill is not None:
                outcome = after_kill(url, problems)
        outcome += "; " + resume(url, problems)
        if not problems:
            problems += consistency_problems(url)
        if not problems and end_state(url, volatile_upgrade=volatile_upgrade) != reference:
            problems.append(f"{point}: resumed end state differs from an uninterrupted run")
        campaign.results.append(PointResult(point, killed, outcome, problems))
        _remove_store(workdir / f"{operation}-{point.kind}-{point.number}.db")
    campaign.seconds = time.perf_counter() - started
    return campaign


def _remove_store(path: Path) -> None:
    for file in _store_files(path):
        file.unlink()


def _head(url: str) -> int:
    from eventstate.api import open_store

    store = open_store(url, check_release=False)
    try:
        return store.head()
    finally:
        store.close()


def import_campaign(workdir: Path, points: int, seed: int = 1, events: int = 2000) -> Campaign:
    """`eventstate import FILE` into a new store, killed: the store holds all of the file
    or none of it; importing again finishes it (or is refused, when it all got in)."""
    from eventstate.samples import build_legacy_log, write_jsonl

    source = workdir / "import.jsonl"
    total = write_jsonl(source, build_legacy_log(seed=seed, events=events))

    def program(url: str) -> list[str]:
        return ["cli", "--store", url, "import", str(source)]

    def after_kill(url: str, problems: list[str]) -> str:
        head = _head(url)
        if head not in (0, total):
            problems.append(f"a killed import left {head} of {total} events: not all or nothing")
        return "nothing imported" if head == 0 else "all imported"

    def resume(url: str, problems: list[str]) -> str:
        done = run_child(program(url))
        if done.returncode == 0:
            return "imported again"
        if _head(url) == total and "repeats" in done.stderr:
            return "re-import refused (all in)"
        problems.append(f"resumed import failed: {done.stderr.strip()[-300:]}")
        return "resume failed"

    return _run_campaign(
        "import",
        program,
        lambda path: f"sqlite:///{path}",
        resume,
        workdir,
        points,
        seed,
        after_kill=after_kill,
    )


def append_campaign(
    workdir: Path, points: int, seed: int = 1, batches: int = 30, size: int = 20
) -> Campaign:
    """Batches through `EventStore.append`, killed: whole batches only; the next run
    appends the rest."""

    def program(url: str) -> list[str]:
        return ["append", url, str(batches), str(size)]

    def after_kill(url: str, problems: list[str]) -> str:
        head = _head(url)
        if head % size:
            problems.append(
                f"a killed append left {head} events: batch {head // size + 1} half-written"
            )
        return f"{head // size} of {batches} batches"

    def resume(url: str, problems: list[str]) -> str:
        done = run_child(program(url))
        if done.returncode != 0:
            problems.append(f"resumed append failed: {done.stderr.strip()[-300:]}")
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "resumed"

    return _run_campaign(
        "append",
        program,
        lambda path: f"sqlite:///{path}",
        resume,
        workdir,
        points,
        seed,
        after_kill=after_kill,
    )


def rebuild_campaign(workdir: Path, points: int, seed: int = 1, events: int = 3000) -> Campaign:
    """`eventstate projections rebuild` of a store with a live copy, killed: readers see
    complete documents (the old copy or the new one), and rebuilding again leaves no
    half-built copy behind."""
    from eventstate.api import open_store
    from eventstate.interchange import import_jsonl
    from eventstate.samples import build_legacy_log, write_jsonl
    from projections import service
    from projections.storage import BUILDING, storage_for

    base = workdir / "rebuild-base.db"
    source = workdir / "rebuild.jsonl"
    write_jsonl(source, build_legacy_log(seed=seed, events=events))
    store = open_store(f"sqlite:///{base}")
    import_jsonl(store, source)
    before = service.machines(store), service.models(store)  # builds the live copy
    store.close()

    def program(url: str) -> list[str]:
        return ["cli", "--store", url, "projections", "rebuild"]

    def after_kill(url: str, problems: list[str]) -> str:
        opened = open_store(url, check_release=False)
        try:
            if (service.machines(opened), service.models(opened)) != before:
                problems.append("readers saw other documents after a killed rebuild")
            left = [c for c in storage_for(opened).copies() if c.state == BUILDING]
        finally:
            opened.close()
        return "a half-built copy left" if left else "no half-built copy"

    def resume(url: str, problems: list[str]) -> str:
        done = run_child(program(url))
        if done.returncode != 0:
            problems.append(f"resumed rebuild failed: {done.stderr.strip()[-300:]}")
        opened = open_store(url, check_release=False)
        try:
            if any(c.state == BUILDING for c in storage_for(opened).copies()):
                problems.append("a half-built copy is still there after the next rebuild")
        finally:
            opened.close()
        return "rebuilt again"

    return _run_campaign(
        "rebuild",
        program,
        lambda path: copy_store(base, path),
        resume,
        workdir,
        points,
        seed,
        after_kill=after_kill,
    )


def upgrade_campaign(workdir: Path, points: int, seed: int = 1) -> Campaign:
    """`eventstate upgrade` of the bundled 1.14 fixture, killed: the next upgrade (once
    the dead holder's lease expired) finishes it with the end state of an uninterrupted
    run."""
    from eventstate.api import open_store
    from eventstate.interchange import import_jsonl

    base = workdir / "upgrade-base.db"
    store = open_store(f"sqlite:///{base}")
    import_jsonl(store, ROOT / "tests" / "fixtures" / "legacy-1.14.jsonl")
    store.close()

    def program(url: str) -> list[str]:
        return ["cli", "--store", url, "upgrade"]

    def after_kill(url: str, problems: list[str]) -> str:
        opened = open_store(url, check_release=False)
        try:
            meta = opened.meta()
        finally:
            opened.close()
        return f"store at {meta.release}, {meta.status}"

    def resume(url: str, problems: list[str]) -> str:
        deadline = time.monotonic() + 60
        tries = 0
        while True:
            tries += 1
            done = run_child(program(url))
            if done.returncode == 0:
                return f"upgraded after {tries} tries"
            # A dead holder's lease blocks until it expires (exit 4); anything else fails.
            if done.returncode != 4 or time.monotonic() > deadline:
                problems.append(f"resumed upgrade failed: {done.stderr.strip()[-300:]}")
                return "resume failed"
            time.sleep(0.2)

    return _run_campaign(
        "upgrade",
        program,
        lambda path: copy_store(base, path),
        resume,
        workdir,
        points,
        seed,
        volatile_upgrade=True,
        after_kill=after_kill,
    )


CAMPAIGNS: dict[str, Callable[[Path, int, int], Campaign]] = {
    "import": import_campaign,
    "append": append_campaign,
    "rebuild": rebuild_campaign,
    "upgrade": upgrade_campaign,
}


# --- a full disk and a read-only store ----------------------------------------------------------


@dataclass
class EnvCase:
    """One write command against a store that cannot take it."""

    condition: str  # "full disk (RLIMIT_FSIZE)", "read-only (chattr +i)", ...
    command: str
    returncode: int
    stderr: str
    lost: bool  # an event committed before is gone or changed
    recovered: bool  # the same command works once the condition is lifted

    @property
    def clear(self) -> bool:
        """Non-zero exit; the last line on stderr, and the only one starting "error: ",
        names the cause (progress lines may come before it); no traceback."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        return (
            self.returncode not in (0, -signal.SIGKILL)
            and len(errors) == 1
            and lines[-1] == errors[0]
            and "Traceback" not in self.stderr
            and "internal error" not in self.stderr
        )


def _lost(before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]) -> bool:
    """Committed events gone or changed. New ones may follow: an upgrade commits each
    step on its own, so one stopped by a full disk keeps the steps it finished."""
    return after[: len(before)] != before


def _snapshot(url: str) -> list[tuple[Any, ...]]:
    from eventstate.api import open_store

    store = open_store(url, check_release=False)
    try:
        backend: Any = store.backend
        return [tuple(row) for row in backend.iter_full_rows()]
    finally:
        store.close()


def _prepared_store(workdir: Path, name: str) -> tuple[Path, str]:
    """The 1.14 fixture imported and its projection copy built."""
    from eventstate.api import open_store
    from eventstate.interchange import import_jsonl
    from projections import service

    path = workdir / name
    store = open_store(f"sqlite:///{path}")
    import_jsonl(store, ROOT / "tests" / "fixtures" / "legacy-1.14.jsonl")
    service.machines(store)
    store.close()
    return path, f"sqlite:///{path}"


def _write_commands(workdir: Path) -> dict[str, list[str]]:
    """The write commands tried; each one writes well beyond a few pages."""
    from eventstate.samples import build_legacy_log, write_jsonl

    extra = workdir / "more.jsonl"
    if not extra.exists():
        # Another 1.14 environment (other uuids), so it continues no stream of the fixture.
        write_jsonl(extra, build_legacy_log(seed=99, events=3000))
    return {
        "import": ["import", str(extra)],
        "upgrade": ["upgrade"],
        "projections rebuild": ["projections", "rebuild"],
    }


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG instead.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def full_disk_cases(workdir: Path) -> list[EnvCase]:
    """Each write command in a child that cannot grow any file past the store's current
    size (RLIMIT_FSIZE): a disk with no room left for the store."""
    cases = []
    for name, args in _write_commands(workdir).items():
        path, url = _prepared_store(workdir, f"full-{name.replace(' ', '-')}.db")
        before = _snapshot(url)
        limit = path.stat().st_size
        done = run_child(["cli", "--store", url, *args], preexec=_file_size_limit(limit))
        lost = _lost(before, _snapshot(url))
        if name == "upgrade":
            # A full disk also refuses the lease's release: the next upgrader waits out
            # the TTL, as it would after a crash.
            time.sleep(float(LEASE_TTL_S) * 2)
        again = run_child(["cli", "--store", url, *args])
        cases.append(
            EnvCase(
                "full disk (RLIMIT_FSIZE)",
                name,
                done.returncode,
                done.stderr,
                lost,
                again.returncode == 0,
            )
        )
    return cases


def full_disk_api_cases(workdir: Path) -> list[EnvCase]:
    """The same through the Python API on a connection whose database may not grow
    (SQLite's max_page_count): SQLITE_FULL, exactly what a full disk gives."""
    from eventstate.api import open_store
    from eventstate.errors import EventStateError
    from eventstate.interchange import import_jsonl
    from eventstate.upgrade.runner import run_upgrade
    from projections import runner

    commands = _write_commands(workdir)
    source = Path(commands["import"][1])
    operations: dict[str, Callable[[Any], object]] = {
        "import": lambda store: import_jsonl(store, source),
        "append": lambda store: store.append(
            [e for batch in append_workload(10, 20) for e in batch]
        ),
        "upgrade": lambda store: run_upgrade(store),
        "projections rebuild": lambda store: runner.rebuild(store),
    }
    cases = []
    for name, operation in operations.items():
        path, url = _prepared_store(workdir, f"full-api-{name.replace(' ', '-')}.db")
        if name == "append":  # appends need a store at the code's release: a new one
            _remove_store(path)
            url = f"sqlite:///{path}"
            open_store(url).close()
        before = _snapshot(url)
        store = open_store(url, check_release=False)
        message, code = "", 0
        try:
            backend: Any = store.backend
            with backend.read_cursor() as cursor:
                pages = cursor.execute("PRAGMA page_count").fetchone()[0]
                cursor.execute(f"PRAGMA max_page_count = {pages}")
            operation(store)
        except EventStateError as exc:
            message, code = f"error: {exc}", exc.exit_code
        except Exception as exc:  # reported as not clear: the case fails
            message, code = f"{type(exc).__name__}: {exc}\nTraceback (not an EventStateError)", 70
        finally:
            store.close()
        lost = _lost(before, _snapshot(url))
        store = open_store(url, check_release=False)
        try:
            operation(store)
            recovered = True
        except EventStateError:
            recovered = False
        finally:
            store.close()
        cases.append(EnvCase("full disk (max_page_count)", name, code, message, lost, recovered))
    return cases


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[str]:
    """The store file made read-only, even for root: `chattr +i` where the file system
    supports it, else chmod 0400 (which binds only non-root users). Yields the method."""
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
        method = "chattr +i"
    except (OSError, subprocess.CalledProcessError):
        if os.geteuid() == 0:
            raise RuntimeError(
                "cannot make a file read-only for root here (no chattr +i)"
            ) from None
        path.chmod(0o400)
        method = "chmod 0400"
    try:
        yield method
    finally:
        if method == "chattr +i":
            subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)
        else:
            path.chmod(0o600)


def read_only_cases(workdir: Path) -> list[EnvCase]:
    cases = []
    commands = _write_commands(workdir)
    commands["model create"] = ["model", "create", "ro", "--provider", "lxd"]
    for name, args in commands.items():
        path, url = _prepared_store(workdir, f"ro-{name.replace(' ', '-')}.db")
        before = _snapshot(url)
        with read_only(path) as method:
            done = run_child(["cli", "--store", url, *args])
        lost = _lost(before, _snapshot(url))
        again = run_child(["cli", "--store", url, *args])
        # "model create" is refused on a 1.14 store whatever the file: recovered = exit 3.
        recovered = again.returncode == (3 if name == "model create" else 0)
        cases.append(
            EnvCase(
                f"read-only file ({method})", name, done.returncode, done.stderr, lost, recovered
            )
        )
    # A read-only folder: SQLite cannot create the -wal and -shm files beside the store.
    folder = workdir / "ro-folder"
    folder.mkdir(exist_ok=True)
    path, url = _prepared_store(folder, "store.db")
    before = _snapshot(url)
    with read_only(folder) as method:
        done = run_child(["cli", "--store", url, "upgrade"])
    lost = _lost(before, _snapshot(url))
    again = run_child(["cli", "--store", url, "upgrade"])
    cases.append(
        EnvCase(
            f"read-only folder ({method})",
            "upgrade",
            done.returncode,
            done.stderr,
            lost,
            again.returncode == 0,
        )
    )
    return cases


# --- the script ----------------------------------------------------------------------------------


def _print_campaigns(campaigns: list[Campaign]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="faults: SIGKILL at random points, then resume")
    for column in ("operation", "checkpoints", "statements", "kills", "survived", "failed", "s"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for c in campaigns:
        table.add_row(
            c.operation,
            str(c.checkpoints),
            str(c.statements),
            str(c.killed),
            str(c.survived),
            str(len(c.failures)),
            f"{c.seconds:.0f}",
        )
    table.add_row(
        "all",
        "",
        "",
        str(sum(c.killed for c in campaigns)),
        str(sum(c.survived for c in campaigns)),
        str(sum(len(c.failures) for c in campaigns)),
        f"{sum(c.seconds for c in campaigns):.0f}",
    )
    console = Console()
    console.print(table)
    for c in campaigns:
        outcomes: dict[str, int] = {}
        for r in c.results:
            key = r.outcome.split(";")[0]
            outcomes[key] = outcomes.get(key, 0) + 1
        if len(outcomes) > 6:  # the append: where each kill stopped it, in batch order
            stops = sorted(int(k.split(" ")[0]) for k in outcomes if k[0].isdigit())
            console.print(f"{c.operation}: stopped after {', '.join(map(str, stops))} batches")
        else:
            console.print(f"{c.operation}: " + ", ".join(f"{k}: {v}" for k, v in outcomes.items()))
        for failure in c.failures:
            console.print(f"  FAILED at {failure.point}: {'; '.join(failure.problems)[:500]}")


def _print_env_cases(cases: list[EnvCase]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="a full disk and a read-only store")
    for column in ("condition", "command", "exit", "one clear line", "lost", "works after"):
        table.add_column(column)
    for case in cases:
        table.add_row(
            case.condition,
            case.command,
            str(case.returncode),
            "yes" if case.clear else "NO",
            "YES" if case.lost else "no",
            "yes" if case.recovered else "NO",
        )
    console = Console()
    console.print(table)
    for case in cases:
        console.print(f"{case.condition} / {case.command}: {case.stderr.strip()[:300]}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["child"]:
        return child_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.faults",
        description="SIGKILL at random points of import, append, rebuild and upgrade; "
        "a full disk; a read-only store.",
    )
    for name, default in (("import", 30), ("append", 60), ("rebuild", 30), ("upgrade", 40)):
        parser.add_argument(f"--{name}-points", type=int, default=default, metavar="N")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-env", action="store_true", help="skip full disk and read-only")
    parser.add_argument("--dir", type=Path, default=None, help="work here (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eventstate-faults-") as scratch:
        workdir = args.dir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        campaigns = []
        for name, run in CAMPAIGNS.items():
            points = getattr(args, f"{name}_points")
            if points > 0:
                campaigns.append(run(workdir, points, args.seed))
        _print_campaigns(campaigns)
        ok = all(not c.failures for c in campaigns)
        if not args.no_env:
            cases = full_disk_cases(workdir) + full_disk_api_cases(workdir)
            with contextlib.suppress(RuntimeError):  # no way to make a file read-only here
                cases += read_only_cases(workdir)
            _print_env_cases(cases)
            ok = ok and all(c.clear and not c.lost and c.recovered for c in cases)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
