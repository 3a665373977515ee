"""Store-level commands: status, import, export, keygen."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from eventstate.cli.context import CliContext, pass_cli
from eventstate.cli.output import emit_json, info, progress_bar, table
from eventstate.errors import EventStateError
from eventstate.interchange import export_jsonl, import_jsonl
from eventstate.releases import CODE_RELEASE
from eventstate.url import redact_url


def store_status(cli: CliContext) -> dict[str, Any]:
    from eventstate.status import status_report

    return status_report(cli.store(check_release=False))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Store release and status, event count, upgrade in progress, projection lag."""
    report = store_status(cli)
    if as_json:
        emit_json(report)
        return
    rows: list[tuple[str, Any]] = [
        ("store", report["store"]),
        ("release", report["release"]),
        ("code release", report["code_release"]),
        ("status", report["status"]),
        ("events", report["events"]),
        ("streams", report["streams"]),
        ("needs", report["needs"]),
    ]
    upgrade = report.get("upgrade")
    if upgrade:
        rows.append(
            (
                "upgrade in progress",
                f"{upgrade['id']} by {upgrade['holder']} since {upgrade['since']}",
            )
        )
    for copy in report.get("projections", []):
        rows.append(
            (f"projection {copy['name']}", f"position {copy['position']}, lag {copy['lag']}")
        )
    table("eventstate status", ["", "value"], rows)


@click.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_cli
def import_command(cli: CliContext, file: Path) -> None:
    """Import a JSON Lines log (all or nothing; the first problem names its line)."""
    if not file.exists():
        raise EventStateError(f"{file}: no such file")
    store = cli.store()
    size = file.stat().st_size
    with progress_bar(f"importing {file.name}", size, unit="bytes") as advance:
        result = import_jsonl(store, file, progress=advance)
    info(
        f"imported {result.events} events in {result.streams} streams from {file} "
        f"(store release {result.release}) into {redact_url(store.url)}"
    )


@click.command()
@click.option(
    "--upcast", is_flag=True, help=f"Write every event in today's schema ({CODE_RELEASE})."
)
@click.option("--stream", "stream", metavar="ID", default=None, help="Only this stream.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE (created with mode 0600) instead of standard output.",
)
@pass_cli
def export(cli: CliContext, upcast: bool, stream: str | None, output: Path | None) -> None:
    """Export the log as JSON Lines: a lossless backup (credentials included)."""
    store = cli.store()
    if output is None:
        count = export_jsonl(store, sys.stdout.buffer, upcast=upcast, stream=stream)
        sys.stdout.flush()
        info(f"exported {count} events; the output holds credentials: keep it private")
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
    except OSError as exc:
        raise EventStateError(f"cannot write {output}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        count = export_jsonl(store, handle, upcast=upcast, stream=stream)
    info(f"exported {count} events to {output} (mode 0600: it holds credentials)")


@click.command()
def keygen() -> None:
    """Print a new AES key for EVENTSTATE_CIPHER_KEY (encryption at rest)."""
    from eventstate.api import new_cipher_key

    click.echo(new_cipher_key())


def register(group: click.Group) -> None:
    for command in (status, import_command, export, keygen):
        group.add_command(command)
