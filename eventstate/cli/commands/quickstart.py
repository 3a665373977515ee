"""`eventstate quickstart`: the whole story on the bundled legacy 1.14 environment.

import -> status (needs upgrade) -> upgrade 1.14 -> 3.0 -> machines -> upgrade history
"""

from __future__ import annotations

import os
from importlib.resources import as_file, files
from pathlib import Path

import click

from eventstate.cli.commands.read import machines
from eventstate.cli.commands.store import status
from eventstate.cli.commands.upgrade import show_report, upgrades
from eventstate.cli.context import CliContext, pass_cli
from eventstate.cli.output import info, progress_bar
from eventstate.errors import EventStateError
from eventstate.interchange import import_jsonl
from eventstate.upgrade.lease import configured_ttl_s
from eventstate.upgrade.runner import run_upgrade
from eventstate.url import ENV_VAR, parse_url

DEFAULT_FILE = "eventstate-quickstart.db"
SAMPLE = "legacy-1.14.jsonl"


@click.command()
@click.pass_context
@pass_cli
def quickstart(cli: CliContext, ctx: click.Context) -> None:
    """Import the bundled 1.14 environment, upgrade it to 3.0 and show the result.

    Uses a new SQLite store ./eventstate-quickstart.db (recreated on each run)
    unless --store or EVENTSTATE_STORE names an empty store to use instead.
    """
    configured_ttl_s()  # the upgrade's setting, checked before anything is created
    explicit = ctx.find_root().params.get("store_url") or os.environ.get(ENV_VAR)
    if not explicit:
        _fresh_file(Path(DEFAULT_FILE))
        cli.url = f"sqlite:///{DEFAULT_FILE}"
    store = cli.store(must_exist=False)
    if store.head() > 0:
        raise EventStateError(
            f"quickstart needs an empty store, and {cli.url} holds {store.head()} events: "
            "run it without --store, or name a new file"
        )

    _heading("1. import a store written by Juju 1.14 servers")
    sample = files("eventstate.samples").joinpath(SAMPLE)
    with (
        as_file(sample) as path,
        progress_bar("importing", path.stat().st_size, unit="bytes") as advance,
    ):
        result = import_jsonl(store, path, progress=advance)
    info(f"imported {result.events} events in {result.streams} streams (release {result.release})")

    _heading("2. status: the store is at 1.14, this code is 3.0")
    ctx.invoke(status)

    _heading("3. upgrade 1.14 -> 3.0 in one step (preflight, release steps, projections)")
    report = run_upgrade(store, say=info)
    show_report(report)

    _heading("4. the machines, as 3.0 clients read them")
    ctx.invoke(machines, model_uuid=None, as_json=False)

    _heading("5. the upgrade history")
    ctx.invoke(upgrades)
    info(f"\nexplore further: eventstate --store {cli.url} machines | history | verify | upcasters")


def _heading(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


def _fresh_file(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            candidate.unlink()
    parse_url(f"sqlite:///{path}")


def register(group: click.Group) -> None:
    group.add_command(quickstart)
