"""Audit commands: `history` (what happened) and `verify` (is the log whole and untampered).

Both redact credentials in everything they print: event payloads (JSON and lines),
verify's messages, and the one-line errors they may end with. The as-of read
(`machine MODEL ID --at TIME | --version N`) is `eventstate.audit.machine_as_of`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import orjson

from eventstate.audit import VerifyReport, iter_history, redact, redact_text, verify
from eventstate.cli.context import CliContext, pass_cli
from eventstate.cli.output import emit_json, info, progress_bar, table
from eventstate.cli.params import MAX_WORKERS, integer
from eventstate.errors import CorruptEventError, EventStateError
from eventstate.store import Event
from eventstate.timeutil import format_stored_us, parse_user_time

_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


@click.command()
@click.argument("stream", required=False, metavar="[STREAM]")
@click.option("--model", "model_uuid", metavar="UUID", help="The model and everything in it.")
@click.option(
    "--type",
    "types",
    metavar="T",
    multiple=True,
    help="Only this event type, by any name it ever had (repeatable).",
)
@click.option("--since", metavar="TIME", help="Recorded at or after TIME (ISO 8601; UTC).")
@click.option("--until", metavar="TIME", help="Recorded at or before TIME (ISO 8601; UTC).")
@click.option("--raw", is_flag=True, help="As stored (old type names and schemas).")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one event per line.")
@pass_cli
def history(
    cli: CliContext,
    stream: str | None,
    model_uuid: str | None,
    types: tuple[str, ...],
    since: str | None,
    until: str | None,
    raw: bool,
    as_json: bool,
) -> None:
    """Events oldest first, upcast to today's schema unless --raw; credentials as ***.

    STREAM is one stream id (model:UUID, machine:UUID:ID, unit:UUID:NAME, upgrade:ID) or
    a model uuid, meaning the model with its machines and units. No STREAM: the whole log.
    """
    since_us = _user_time(since, "--since")
    until_us = _user_time(until, "--until")
    with redacted_errors():
        store = cli.store()
        events = iter_history(store, stream, model_uuid, types, since_us, until_us, raw=raw)
        written = _write_jsonl(events) if as_json else _write_lines(events)
    if not written:
        info("no events")


@click.command(name="verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--workers",
    type=integer(1, MAX_WORKERS),
    default=None,
    help="Processes sharing the work (default: one per idle CPU on a large log).",
)
@click.option(
    "--upto",
    metavar="POSITION",
    type=integer(0),
    default=None,
    help="Only the log up to POSITION (its head_hash: compare with one kept earlier).",
)
@pass_cli
@click.pass_context
def verify_command(
    ctx: click.Context, cli: CliContext, as_json: bool, workers: int | None, upto: int | None
) -> None:
    """Check every event decodes and upcasts, stream versions have no gaps, the hash
    chain holds, and the projections equal a fresh fold. Exits 1 on any error."""
    with redacted_errors():
        store = cli.store()
        total = store.head() if upto is None else min(upto, store.head())
        with progress_bar("verifying", total, unit="events") as advance:
            report = verify(store, lambda done, _total: advance(done), workers=workers, upto=upto)
    if as_json:
        emit_json(report.to_dict())
    else:
        _show_report(report)
    if not report.ok:
        ctx.exit(1)


# --- output ----------------------------------------------------------------------------


def _record(event: Event) -> dict[str, Any]:
    """The interchange format's event line (plus position), credentials redacted."""
    return {
        "position": event.position,
        "stream": event.stream,
        "version": event.version,
        "type": event.type,
        "schema": event.schema,
        "recorded_at": _recorded_at(event),
        "data": redact(event.data),
    }


def _recorded_at(event: Event) -> str:
    try:
        return format_stored_us(event.recorded_at)
    except ValueError as exc:  # altered bytes: name the event, as a bad payload does
        raise CorruptEventError(
            f"{event.stream} version {event.version} (position {event.position}): {exc}"
        ) from None


def _write_jsonl(events: Iterator[Event]) -> int:
    write = sys.stdout.buffer.write
    count = 0
    for event in events:
        write(orjson.dumps(_record(event), default=_plain, option=_JSON_OPTIONS))
        write(b"\n")
        count += 1
    sys.stdout.flush()
    return count


def _write_lines(events: Iterator[Event]) -> int:
    """One line per event, written as it is read: a long history starts at once and
    stops cleanly in `| head`."""
    write = sys.stdout.write
    count = 0
    for event in events:
        if not count:
            write(f"{'POSITION':>9}  {'RECORDED AT':<32}  STREAM #VERSION  TYPE/SCHEMA  DATA\n")
        data = orjson.dumps(redact(event.data), default=_plain, option=_JSON_OPTIONS).decode()
        write(
            f"{event.position:>9}  {_recorded_at(event):<32}  "
            f"{event.stream} #{event.version}  {event.type}/{event.schema}  {data}\n"
        )
        count += 1
    sys.stdout.flush()
    return count


def _plain(value: Any) -> Any:
    """JSON for what msgpack can hold and JSON cannot (a damaged or foreign payload)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return repr(value)


def _show_report(report: VerifyReport) -> None:
    projection = (
        f"projection {report.projection}: {report.documents} documents compared"
        if report.projection
        else "no projection copy to compare yet (one is built on the first read)"
    )
    info(
        f"verified {report.events} events in {report.streams} streams up to position "
        f"{report.head} in {report.seconds:.2f} s ({report.workers} process"
        f"{'es' if report.workers > 1 else ''}); {projection}"
    )
    if report.head_hash:
        info(f"hash at position {report.head}: {report.head_hash}")
    if report.problems:
        rows = [
            (p.severity, p.check, p.stream, p.version, p.position, p.message)
            for p in report.problems
        ]
        table(
            "verify: problems",
            ("severity", "check", "stream", "version", "position", "problem"),
            rows,
        )
    errors, warnings = len(report.errors), len(report.warnings)
    if report.ok:
        click.echo(f"OK: the log verifies ({warnings} warning{'s' if warnings != 1 else ''})")
    else:
        click.echo(f"FAILED: {errors} error{'s' if errors != 1 else ''}, {warnings} warnings")


# --- errors ----------------------------------------------------------------------------


@contextmanager
def redacted_errors() -> Iterator[None]:
    """Errors quote payload fragments (a malformed value, an upcaster's reason): the
    one-line message the CLI prints must not carry a credential."""
    try:
        yield
    except EventStateError as exc:
        text = str(exc)
        clean = redact_text(text)
        if clean == text:
            raise
        error = EventStateError(clean)
        error.exit_code = exc.exit_code
        raise error from None


def _user_time(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_user_time(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def register(group: click.Group) -> None:
    for command in (history, verify_command):
        group.add_command(command)
