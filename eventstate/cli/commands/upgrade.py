"""`eventstate upgrade` and `eventstate upgrades`."""

from __future__ import annotations

from dataclasses import asdict

import click
import orjson

from eventstate.audit.redact import redact_text
from eventstate.cli.context import CliContext, pass_cli
from eventstate.cli.output import emit_json, info, table
from eventstate.releases import RELEASES
from eventstate.upgrade.history import upgrade_history
from eventstate.upgrade.lease import configured_ttl_s
from eventstate.upgrade.runner import UpgradeReport, run_upgrade


@click.command()
@click.option(
    "--to",
    "to",
    type=click.Choice(RELEASES),
    default=None,
    help="Target release (default: this code's release).",
)
@click.option("--dry-run", is_flag=True, help="Show what the upgrade would write; write nothing.")
@click.option("--holder", default=None, help="Name this upgrader in the lease (default host:pid).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_cli
def upgrade(
    cli: CliContext, to: str | None, dry_run: bool, holder: str | None, as_json: bool
) -> None:
    """Upgrade the store to this code's release (any older release, in one step)."""
    if not dry_run:
        configured_ttl_s()  # a bad EVENTSTATE_LEASE_TTL is refused before the store is opened
    store = cli.store(check_release=False)
    report = run_upgrade(
        store, to=to, dry_run=dry_run, holder=holder, say=(lambda m: None) if as_json else info
    )
    if as_json:
        emit_json(asdict(report))
        return
    show_report(report)


def show_report(report: UpgradeReport) -> None:
    if report.outcome == "nothing to do":
        info(f"store is at {report.from_release}: nothing to upgrade to {report.to_release}")
        return
    title = "dry run: " if report.dry_run else ""
    table(
        f"{title}upgrade {report.from_release} -> {report.to_release}",
        ["release", "step", "events"],
        [
            (s.release, s.step + (" (done before resume)" if s.skipped else ""), s.events_written)
            for s in report.steps
        ],
    )
    if report.dry_run:
        table(
            "events the steps would write",
            ["step", "stream", "version", "type", "data"],
            [
                (p["step"], p["stream"], p["version"], p["type"], _compact(p["data"]))
                for p in report.planned
            ],
        )
        table(
            "machine document changes",
            ["model", "machine", "field", "before", "after"],
            [
                (
                    c["model_uuid"][:8],
                    c["id"],
                    c["field"],
                    _compact(c["before"]),
                    _compact(c["after"]),
                )
                for c in report.changes
            ],
        )
        info("dry run: nothing was written")
        return
    phases = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.phases.items())
    info(
        f"upgrade {report.upgrade_id}: {report.events_written} events written in "
        f"{report.duration_s:.2f}s ({phases})"
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@pass_cli
def upgrades(cli: CliContext, as_json: bool) -> None:
    """The history of upgrade runs."""
    runs = upgrade_history(cli.store(check_release=False))
    if as_json:
        emit_json([{**asdict(run), "reason": redact_text(run.reason)} for run in runs])
        return
    table(
        "upgrade history",
        ["id", "holder", "started", "from", "to", "steps", "events", "duration", "outcome"],
        [
            (
                r.upgrade_id,
                r.holder,
                r.started_at,
                r.from_release,
                r.to_release,
                "; ".join(r.steps),
                r.events_written,
                "" if r.duration_s is None else f"{r.duration_s:.2f}s",
                r.outcome + (f": {redact_text(r.reason)}" if r.reason else ""),
            )
            for r in runs
        ],
    )


def _compact(value: object) -> str:
    return orjson.dumps(value).decode()


def register(group: click.Group) -> None:
    group.add_command(upgrade)
    group.add_command(upgrades)
