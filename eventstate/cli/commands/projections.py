"""`eventstate projections status` and `eventstate projections rebuild [NAME]`."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import click

from eventstate.cli.context import CliContext, pass_cli
from eventstate.cli.output import emit_json, info, progress_bar, table

# The machines and models projections are folded together (a model's machine_count
# comes from its machines), so each copy holds both and a rebuild rebuilds both.
PROJECTION_NAMES = ("machines", "models")
_PHASES = {"fold": ("folding the log", "events"), "write": ("writing documents", "documents")}


@click.group(name="projections")
def projections_group() -> None:
    """Projection copies: their positions and lag, and rebuilding them."""


@projections_group.command()
@click.option("--json", "as_json", is_flag=True, help="Print the copies as JSON.")
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Copies, their state, position, lag behind the log head and code fingerprint."""
    from projections.runner import copies_status

    store = cli.store(check_release=False)
    head = store.head()
    copies = copies_status(store, head)
    if as_json:
        emit_json(copies)
        return
    rows = [_status_row(copy) for copy in copies]
    columns = ("copy", "state", "position", "lag", "fingerprint", "release", "documents", "reads")
    table(f"projections (log head {head})", columns, rows)


def _status_row(copy: dict[str, Any]) -> tuple[Any, ...]:
    documents = copy["documents"]
    counted = ""
    if documents is not None:
        counted = f"{documents['machine']} machines, {documents['model']} models"
    reads = "this code" if copy["current"] else ("other code/release" if copy["live"] else "")
    return (
        copy["name"],
        copy["state"],
        copy["position"],
        copy["lag"],
        copy["fingerprint"][:12],
        copy["store_release"],
        counted,
        reads,
    )


@projections_group.command()
@click.argument("name", required=False, type=click.Choice(PROJECTION_NAMES))
@click.option("--json", "as_json", is_flag=True, help="Print the new copy as JSON.")
@pass_cli
def rebuild(cli: CliContext, name: str | None, as_json: bool) -> None:
    """Rebuild the projections from position 0, beside the copy readers use; readers
    switch to the new copy in one step when it is complete. NAME (machines or models)
    rebuilds the copy holding it, which holds both."""
    from projections.runner import cleanup_copies, copy_name
    from projections.runner import rebuild as rebuild_copy

    store = cli.store()
    with _PhaseBars() as progress:
        result = rebuild_copy(store, progress=progress)
    dropped = [*result.dropped, *cleanup_copies(store)]  # the generation it replaced too
    copy = result.copy
    if as_json:
        emit_json(
            {
                "name": copy_name(copy),
                "projections": list(PROJECTION_NAMES),
                "copy_id": copy.copy_id,
                "fingerprint": copy.fingerprint,
                "store_release": copy.store_release,
                "generation": copy.generation,
                "position": copy.position,
                "events": result.events,
                "documents": result.documents,
                "seconds": round(result.seconds, 3),
                "dropped": [copy_name(old) for old in dropped],
            }
        )
        return
    what = "machines and models"
    if name:
        what = f"{name} (with {_other(name)}: they are folded together)"
    info(
        f"rebuilt {what}: copy {copy_name(copy)} at position {copy.position}, "
        f"{result.events} events, {result.documents} documents in {result.seconds:.2f}s; "
        "readers switched to it"
    )
    for old in dropped:
        info(f"dropped {old.state} copy {copy_name(old)}")


def _other(name: str) -> str:
    return "models" if name == "machines" else "machines"


class _PhaseBars:
    """progress(phase, done, total) -> one progress bar per phase, on stderr."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._phase = ""
        self._advance: Any = None

    def __enter__(self) -> _PhaseBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self._phase:
            self._stack.close()
            label, unit = _PHASES.get(phase, (phase, ""))
            self._advance = self._stack.enter_context(progress_bar(label, total, unit=unit))
            self._phase = phase
        self._advance(done)


def register(group: click.Group) -> None:
    group.add_command(projections_group)
