"""Past upgrade runs, read from the upgrade streams (`eventstate upgrades`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from eventstate.store import EventStore
from eventstate.timeutil import format_us


@dataclass
class UpgradeRun:
    upgrade_id: str
    holder: str = ""
    started_at: str = ""
    from_release: str = ""
    to_release: str = ""
    steps: list[str] = field(default_factory=list)
    events_written: int = 0
    duration_s: float | None = None
    outcome: str = "in progress"
    reason: str = ""


def upgrade_history(store: EventStore) -> list[UpgradeRun]:
    """Every upgrade run, oldest first."""
    runs = []
    meta = store.meta()
    for stream in store.backend.list_streams("upgrade:"):
        run = UpgradeRun(stream.partition(":")[2])
        for event in store.read_stream(stream):
            data = event.data
            if event.type == "UpgradeStarted":
                run.holder = data["holder"]
                run.started_at = format_us(event.recorded_at)
                run.from_release, run.to_release = data["from_release"], data["to_release"]
            elif event.type == "UpgradeStepApplied":
                run.steps.append(f"{data['release']} {data['step']} ({data['events_written']})")
                run.events_written += data["events_written"]
            elif event.type == "UpgradeCompleted":
                run.outcome = "completed"
                run.duration_s = data["duration_s"]
            elif event.type == "UpgradeAborted":
                run.outcome = "aborted"
                run.reason = (
                    f"{data['reason']} ({data['stream']} version {data['version']}, "
                    f"{data['type']} schema {data['schema']})"
                )
        if run.outcome == "in progress" and meta.upgrade_id != run.upgrade_id:
            run.outcome = "interrupted"
        runs.append(run)
    runs.sort(key=lambda r: r.started_at)
    return runs
