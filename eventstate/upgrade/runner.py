"""`eventstate upgrade`: one command from any older release to the target.

    lease -> UpgradeStarted (status upgrading) -> preflight -> steps -> projection
    copy for the target -> UpgradeCompleted (release = target, available) -> release lease

Every write is one transaction fenced by the lease's token. The preflight reads
the whole log once, upcasting every event and folding the documents the steps
plan from. A killed upgrade leaves the store `upgrading`; the next
`eventstate upgrade` (once the lease expired) resumes the same upgrade id:
applied steps are recorded and skipped, the rest are planned from the same
state, so the end state equals an uninterrupted run.
"""

from __future__ import annotations

import gc
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from eventstate.backends.base import AVAILABLE, UPGRADING, LeaseState, StoreMeta
from eventstate.errors import (
    CorruptEventError,
    EventStateError,
    StoreTooNewError,
    UnknownEventTypeError,
    UpcastError,
    UpgradeAbortedError,
    UpgradeInProgressError,
    ValidationError,
)
from eventstate.faults import checkpoint
from eventstate.gating import FencedGuard, check_readable
from eventstate.releases import CODE_RELEASE, compare, is_release, releases_between
from eventstate.store import EventStore, NewEvent
from eventstate.streams import machine_stream, upgrade_stream
from eventstate.timeutil import format_us, now_us
from eventstate.upgrade.lease import UpgradeLease
from eventstate.upgrade.steps import steps_for
from projections import Fold, MemoryDocumentSet
from projections.documents import parse_machine_stream

Say = Callable[[str], None]


@dataclass
class StepReport:
    release: str
    step: str
    events_written: int
    skipped: bool = False  # applied by an earlier, interrupted run of this upgrade


@dataclass
class UpgradeReport:
    upgrade_id: str
    from_release: str
    to_release: str
    dry_run: bool = False
    resumed: bool = False
    steps: list[StepReport] = field(default_factory=list)
    events_written: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    outcome: str = "completed"
    planned: list[dict[str, Any]] = field(default_factory=list)  # dry run: the writes
    changes: list[dict[str, Any]] = field(default_factory=list)  # dry run: document fields


# --- guards for the upgrade's own metadata changes ---------------------------------


@dataclass(frozen=True)
class _Start:
    token: int
    new_meta: StoreMeta
    from_release: str

    def check(self, meta: StoreMeta, lease: LeaseState | None, head: int) -> StoreMeta | None:
        FencedGuard.lease_matches(lease, self.token)
        if meta.status == UPGRADING:
            raise UpgradeInProgressError(meta.upgrade_id, meta.upgrade_holder, meta.upgrade_since)
        if meta.release != self.from_release:
            raise EventStateError(
                f"store release changed to {meta.release} during the upgrade start"
            )
        return replace(self.new_meta, extra=meta.extra, head_hash=meta.head_hash)


@dataclass(frozen=True)
class _Finish:
    """Fenced; leaves the upgrade: to `release`, status available."""

    token: int
    upgrade_id: str
    release: str

    def check(self, meta: StoreMeta, lease: LeaseState | None, head: int) -> StoreMeta | None:
        FencedGuard(self.token, self.upgrade_id).check(meta, lease, head)
        return StoreMeta(
            release=self.release, status=AVAILABLE, extra=meta.extra, head_hash=meta.head_hash
        )


# --- the run ---------------------------------------------------------------------------


class _Run:
    def __init__(self, store: EventStore, say: Say) -> None:
        self.store = store
        self.say = say
        self.docs = MemoryDocumentSet()
        self.heads: dict[str, int] = {}
        self.machine_streams: dict[tuple[str, str], str] = {}

    def machine_stream(self, model_uuid: str, machine_id: str) -> str:
        return self.machine_streams.get((model_uuid, machine_id)) or machine_stream(
            model_uuid, machine_id
        )

    def head(self, stream: str) -> int:
        if stream not in self.heads:
            self.heads.update(self.store.backend.stream_heads([stream]))
            self.heads.setdefault(stream, 0)
        return self.heads[stream]

    def preflight(self, target: str) -> UpcastError | CorruptEventError | None:
        """Upcast every stored event to `target` and fold the 3.0 documents; the first
        event that does not upcast is returned (nothing is written here)."""
        store = self.store
        fold = Fold(self.docs)
        heads = self.heads
        check_target = None if target == CODE_RELEASE else store.chain.upcaster_for(target)
        rows = store.backend.iter_log(0)
        if check_target is not None:
            rows = self._checked_against(rows, check_target)
        # The preflight holds the whole document set: without this, the cyclic
        # collector rescans that growing heap over and over (half the preflight's time).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            batch: list[Any] = []
            machine_streams = self.machine_streams
            for event in store.decode(rows):
                if event.version == 1 and event.stream.startswith("machine:"):
                    machine_streams[parse_machine_stream(event.stream)] = event.stream
                heads[event.stream] = event.version
                batch.append(event)
                if len(batch) >= 10_000:
                    fold.apply_many(batch)
                    batch.clear()
            fold.apply_many(batch)
        except (UpcastError, CorruptEventError) as exc:
            return exc
        except (ValidationError, UnknownEventTypeError) as exc:
            # An event the documents cannot hold (an old store's event on the wrong kind
            # of stream): abort like any other, rather than fail in every later phase.
            return CorruptEventError(f"the log does not fold into documents: {exc}")
        finally:
            if gc_was_enabled:
                gc.enable()
        return None

    def _checked_against(self, rows: Any, upcast: Any) -> Any:
        codec = self.store.codec
        provider_for = self.store._provider_for
        for row in rows:
            position, stream, version, type_name, schema, _, state = row
            data = codec.decode(state, f"{stream} version {version} (position {position})")
            upcast(stream, version, type_name, schema, data, provider_for(stream))
            yield row

    def write(self, events: list[NewEvent], guard: FencedGuard) -> None:
        self.store.append(events, guard)
        for event in events:
            self.heads[event.stream] = event.version
        Fold(self.docs).apply_many(
            (0, e.stream, e.version, e.type, 0, now_us(), e.data) for e in events
        )


def run_upgrade(
    store: EventStore,
    *,
    to: str | None = None,
    dry_run: bool = False,
    holder: str | None = None,
    ttl_s: float | None = None,  # None: EVENTSTATE_LEASE_TTL, else the default
    say: Say = lambda message: None,
) -> UpgradeReport:
    target = to or CODE_RELEASE
    if not is_release(target):
        raise EventStateError(f"unknown release {target!r} for --to")
    if compare(target, CODE_RELEASE) > 0:
        raise StoreTooNewError(target, CODE_RELEASE)
    meta = store.meta()
    check_readable(meta)
    if dry_run:
        return _dry_run(store, meta, target, say)
    with UpgradeLease(store.backend, holder, ttl_s) as lease:
        return _upgrade(store, lease, target, say)


def _upgrade(store: EventStore, lease: UpgradeLease, target: str, say: Say) -> UpgradeReport:
    started = time.monotonic()
    meta = store.meta()
    resumed = meta.status == UPGRADING
    if resumed:
        upgrade_id = meta.upgrade_id
        first = store.read_stream(upgrade_stream(upgrade_id), 0, 1)
        if not first:
            raise EventStateError(f"upgrade {upgrade_id} is marked in progress but has no record")
        from_release, target = first[0].data["from_release"], first[0].data["to_release"]
        say(
            f"resuming interrupted upgrade {upgrade_id} ({from_release} -> {target}), "
            f"lease token {lease.token}"
        )
    else:
        from_release = meta.release
        if compare(from_release, target) >= 0:
            say(f"store is at {from_release} already: nothing to upgrade")
            return UpgradeReport("", from_release, target, outcome="nothing to do")
        upgrade_id = (
            f"{format_us(now_us())[:19].replace(':', '').replace('-', '')}Z-{secrets.token_hex(3)}"
        )
        since = format_us(now_us())
        started_event = NewEvent(
            upgrade_stream(upgrade_id),
            1,
            "UpgradeStarted",
            {
                "from_release": from_release,
                "to_release": target,
                "holder": lease.holder,
                "fencing_token": lease.token,
            },
        )
        upgrading = StoreMeta(
            release=from_release,
            status=UPGRADING,
            upgrade_id=upgrade_id,
            upgrade_holder=lease.holder,
            upgrade_since=since,
        )
        store.append([started_event], _Start(lease.token, upgrading, from_release))
        say(f"upgrade {upgrade_id}: {from_release} -> {target}, lease token {lease.token}")
    checkpoint("upgrade:started")
    report = UpgradeReport(upgrade_id, from_release, target, resumed=resumed)
    guard = FencedGuard(lease.token, upgrade_id)
    run = _Run(store, say)
    stream = upgrade_stream(upgrade_id)

    phase = time.monotonic()
    failure = run.preflight(target)
    report.phases["preflight"] = time.monotonic() - phase
    if failure is not None:
        _abort(store, run, lease, upgrade_id, from_release, failure)
    say(f"preflight: every event upcasts to {target} ({report.phases['preflight']:.1f}s)")
    checkpoint("upgrade:preflight")

    phase = time.monotonic()
    applied = _applied_steps(store, stream)
    for step in steps_for(releases_between(from_release, target)):
        lease.renew()
        if (step.release, step.name) in applied:
            report.steps.append(
                StepReport(step.release, step.name, applied[(step.release, step.name)], True)
            )
            continue
        events = step.plan(run.docs, run)
        step.apply(events, run.docs)
        record = NewEvent(
            stream,
            run.head(stream) + 1,
            "UpgradeStepApplied",
            {"release": step.release, "step": step.name, "events_written": len(events)},
        )
        run.write([*events, record], guard)
        report.steps.append(StepReport(step.release, step.name, len(events)))
        say(f"step {step.release} {step.name}: {len(events)} events")
        checkpoint(f"upgrade:step:{step.name}")
    report.phases["steps"] = time.monotonic() - phase

    if target == CODE_RELEASE:
        phase = time.monotonic()
        from projections.runner import build_copy

        build_copy(store, store_release=target)
        report.phases["projections"] = time.monotonic() - phase
        say(f"projection copy for {target} built ({report.phases['projections']:.1f}s)")
        checkpoint("upgrade:projections")

    phase = time.monotonic()
    written = sum(s.events_written for s in report.steps)
    duration = round(time.monotonic() - started, 3)
    completed = NewEvent(
        stream,
        run.head(stream) + 1,
        "UpgradeCompleted",
        {"release": target, "events_written": written, "duration_s": duration},
    )
    store.append([completed], _Finish(lease.token, upgrade_id, target))
    checkpoint("upgrade:completed")
    if target == CODE_RELEASE:
        from projections.runner import prune_copies

        prune_copies(store)
    report.phases["switch"] = time.monotonic() - phase
    report.events_written = written
    report.duration_s = round(time.monotonic() - started, 3)
    say(f"upgrade {upgrade_id} completed: store at {target}")
    return report


def _abort(
    store: EventStore,
    run: _Run,
    lease: UpgradeLease,
    upgrade_id: str,
    from_release: str,
    failure: UpcastError | CorruptEventError,
) -> None:
    stream = upgrade_stream(upgrade_id)
    if isinstance(failure, UpcastError):
        data = {
            "reason": failure.reason,
            "stream": failure.stream,
            "version": failure.version,
            "type": failure.type_name,
            "schema": failure.schema,
        }
    else:
        data = {"reason": str(failure), "stream": "", "version": 0, "type": "", "schema": 0}
    aborted = NewEvent(stream, run.head(stream) + 1, "UpgradeAborted", data)
    store.append([aborted], _Finish(lease.token, upgrade_id, from_release))
    raise UpgradeAbortedError(
        f"upgrade {upgrade_id} aborted by the preflight, store left at {from_release}: {failure}"
    )


def _applied_steps(store: EventStore, stream: str) -> dict[tuple[str, str], int]:
    return {
        (e.data["release"], e.data["step"]): e.data["events_written"]
        for e in store.read_stream(stream)
        if e.type == "UpgradeStepApplied"
    }


# --- dry run ---------------------------------------------------------------------------


def _dry_run(store: EventStore, meta: StoreMeta, target: str, say: Say) -> UpgradeReport:
    from_release = meta.release
    report = UpgradeReport("(dry run)", from_release, target, dry_run=True)
    if meta.status == UPGRADING:
        raise UpgradeInProgressError(meta.upgrade_id, meta.upgrade_holder, meta.upgrade_since)
    if compare(from_release, target) >= 0:
        report.outcome = "nothing to do"
        return report
    run = _Run(store, say)
    started = time.monotonic()
    failure = run.preflight(target)
    report.phases["preflight"] = time.monotonic() - started
    if failure is not None:
        raise UpgradeAbortedError(f"dry run: the preflight would abort the upgrade: {failure}")
    before = {(d["model_uuid"], d["id"]): dict(d) for d in run.docs.machines()}
    for step in steps_for(releases_between(from_release, target)):
        events = step.plan(run.docs, run)
        report.steps.append(StepReport(step.release, step.name, len(events)))
        report.planned.extend(
            {
                "release": step.release,
                "step": step.name,
                "stream": e.stream,
                "version": e.version,
                "type": e.type,
                "data": e.data,
            }
            for e in events
        )
        # Fold the plan in memory only, so later steps and the diff see it.
        for event in events:
            run.heads[event.stream] = event.version
        Fold(run.docs).apply_many(
            (0, e.stream, e.version, e.type, 0, now_us(), e.data) for e in events
        )
    for doc in run.docs.machines():
        old = before.get((doc["model_uuid"], doc["id"]), {})
        for key, value in doc.items():
            if key in ("updated_at", "stream_version"):
                continue
            if old.get(key) != value:
                report.changes.append(
                    {
                        "model_uuid": doc["model_uuid"],
                        "id": doc["id"],
                        "field": key,
                        "before": old.get(key),
                        "after": value,
                    }
                )
    report.events_written = len(report.planned)
    report.outcome = "dry run"
    return report
