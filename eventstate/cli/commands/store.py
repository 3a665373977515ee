"""Store-level commands: status, import, export, keygen."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import orjson

from eventstate.audit.history import resolve_stream
from eventstate.cli.context import CliContext, pass_cli
from eventstate.cli.output import emit_json, info, progress_bar, table
from eventstate.errors import EventStateError, NotFoundError
from eventstate.interchange import ImportResult, export_jsonl, import_jsonl, read_header
from eventstate.releases import CODE_RELEASE
from eventstate.store import EventStore
from eventstate.streams import parse_stream
from eventstate.timeutil import parse_iso_us
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
    store = cli.store(must_exist=False)
    size = file.stat().st_size
    before = store.head()
    result: ImportResult | None = None
    try:
        with progress_bar(f"importing {file.name}", size, unit="bytes") as advance:
            result = import_jsonl(store, file, progress=advance)
        with _interrupts_ignored():
            info(_imported(result, file, store.url))
    except KeyboardInterrupt:
        # A Ctrl-C may land after the commit (while the transaction ends, or before
        # this line is printed): the store, not the interrupt, says what happened, and
        # "interrupted" for a committed import would make a retry fail ("repeats").
        with _interrupts_ignored():
            if result is None:
                result = _import_outcome(store, file, before)
            info(f"{_imported(result, file, store.url)}; the interrupt came after the commit")


def _imported(result: ImportResult, file: Path, url: str) -> str:
    streams = f" in {result.streams} streams" if result.streams else ""
    return (
        f"imported {result.events} events{streams} from {file} "
        f"(store release {result.release}) into {redact_url(url)}"
    )


def _import_outcome(store: EventStore, file: Path, before: int) -> ImportResult:
    """After an interrupted import: what the file's commit left, read from the store.

    An import is one transaction, so either none of the file's events are in the store
    or all of them are, at consecutive positions after `before`. The result when they
    are (streams not counted: 0); an error saying which when they are not."""
    head = store.head()
    if head == before:
        raise _interrupted("interrupted: nothing was imported (the store is as it was)")
    if not file.is_file():  # a pipe cannot be read again to compare
        raise _interrupted(
            f"interrupted: the store went from {before} to {head} events while {file} was "
            "imported, and it cannot be read again to tell whether they are its events: "
            "check with `eventstate history` before importing it again"
        )
    try:
        release, events, first, last = _file_events(file)
    except (OSError, EventStateError):  # changed or gone since: not what was imported
        first = last = None
    if first is not None and last is not None and events <= head - before:
        found_first = _stored_position(store, first, before)
        found_last = _stored_position(store, last, before)
        if found_first is not None and found_last == found_first + events - 1:
            return ImportResult(events=events, streams=0, release=release)
    raise _interrupted(
        f"interrupted: nothing of {file} was imported (the {head - before} events "
        "written meanwhile are another writer's)"
    )


def _interrupted(message: str) -> EventStateError:
    error = EventStateError(message)
    error.exit_code = 130
    return error


def _file_events(file: Path) -> tuple[str, int, bytes | None, bytes | None]:
    """The header's release, the number of event lines and the first and last of them."""
    events, first, last = 0, None, None
    with open(file, "rb") as handle:
        release = read_header(handle.readline(), str(file))
        for line in handle:
            events += 1
            if first is None:
                first = line
            last = line
    return release, events, first, last


def _stored_position(store: EventStore, line: bytes, after: int) -> int | None:
    """The position of the stored event this line describes, if written after `after`."""
    try:
        event = orjson.loads(line)
        stream, version = event["stream"], event["version"]
        rows = store.backend.read_stream(stream, version - 1, version)
        recorded_at = parse_iso_us(event["recorded_at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, EventStateError):
        return None
    for position, _, _, type_name, schema, stored_at, _ in rows:
        if position > after and (type_name, schema, stored_at) == (
            event["type"],
            event["schema"],
            recorded_at,
        ):
            return position
    return None


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """No KeyboardInterrupt while the outcome is checked and said: it would hide it."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread (an embedding caller): nothing to ignore
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
    if stream is not None:
        stream = _existing_stream(store, stream)
    if output is None:
        try:
            count = export_jsonl(store, sys.stdout.buffer, upcast=upcast, stream=stream)
            sys.stdout.flush()
        except BrokenPipeError:
            raise  # `export | head`: the reader left (main.py)
        except OSError as exc:
            _discard_stdout()
            raise _cannot_write("standard output", exc) from None
        info(f"exported {count} events; the output holds credentials: keep it private")
        return
    count = _export_to_file(store, output, upcast, stream)
    info(f"exported {count} events to {output} (mode 0600: it holds credentials)")


def _existing_stream(store: EventStore, stream: str) -> str:
    """--stream as `history STREAM` takes it: a malformed id or a stream without events
    is an error, not an empty backup. The stored id (a 1.x container keeps `lxc`)."""
    parse_stream(stream)
    found = resolve_stream(store.backend, stream)
    if found is None:
        raise NotFoundError(f"stream {stream} has no events")
    return found


def _export_to_file(store: EventStore, output: Path, upcast: bool, stream: str | None) -> int:
    """Export into a new file beside `output`, renamed over it once complete and on disk:
    a failed or interrupted export leaves an earlier backup as it was, and no partial
    file behind (one cut at a line end would import cleanly)."""
    target = Path(os.path.realpath(output))  # through a symlink: replace what it names
    if target.exists() and not target.is_file():
        # A device or a FIFO (/dev/stdout): nothing to replace, and no rename over it.
        try:
            with open(target, "wb") as handle:
                return export_jsonl(store, handle, upcast=upcast, stream=stream)
        except OSError as exc:
            raise _cannot_write(str(output), exc) from None
    try:
        fd, temporary = tempfile.mkstemp(  # mode 0600 whatever the umask
            prefix=f".{target.name}.", suffix=".partial", dir=target.parent
        )
    except OSError as exc:
        raise _cannot_write(str(output), exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            count = export_jsonl(store, handle, upcast=upcast, stream=stream)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise _cannot_write(str(output), exc) from None
        raise
    _sync_folder(target.parent)
    return count


def _cannot_write(what: str, exc: OSError) -> EventStateError:
    return EventStateError(f"cannot write {what}: {exc.strerror or exc}")


def _discard_stdout() -> None:
    """What is left in stdout's buffer goes nowhere: flushed again at exit, it would add
    the same error a second time, with a traceback."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _sync_folder(folder: Path) -> None:
    # The rename is durable once the folder's entry is on disk; a folder that cannot be
    # opened for that (some file systems) still has the renamed file.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@click.command()
def keygen() -> None:
    """Print a new AES key for EVENTSTATE_CIPHER_KEY (encryption at rest)."""
    from eventstate.api import new_cipher_key

    click.echo(new_cipher_key())


def register(group: click.Group) -> None:
    for command in (status, import_command, export, keygen):
        group.add_command(command)
