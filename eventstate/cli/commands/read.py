"""Read commands: `models`, `machines [--model UUID]`, `machine MODEL ID`.

Each reads the projected documents (projections.service), which first catches this
code's copy up to the log head. `--json` prints exactly documents.md's keys for tools;
without it, a table of the columns people look at first.
"""

from __future__ import annotations

from typing import Any

import click
import orjson

from eventstate.cli.context import CliContext, pass_cli
from eventstate.cli.output import emit_json, info, table
from eventstate.cli.params import integer
from projections.documents import Document

MACHINE_COLUMNS = ("model", "id", "life", "jobs", "base", "instance", "addresses", "agent")
MODEL_COLUMNS = (
    "uuid", "name", "owner", "type", "provider", "cloud", "region", "agent", "machines",
)  # fmt: skip


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the documents as JSON.")
@pass_cli
def models(cli: CliContext, as_json: bool) -> None:
    """The model documents, by uuid."""
    from projections import service

    docs = service.models(cli.store())
    if as_json:
        emit_json(docs)
        return
    if not docs:
        info("no models")
        return
    table("models", MODEL_COLUMNS, [_model_row(doc) for doc in docs])


@click.command()
@click.option("--model", "model_uuid", metavar="UUID", default=None, help="Only this model.")
@click.option("--json", "as_json", is_flag=True, help="Print the documents as JSON.")
@pass_cli
def machines(cli: CliContext, model_uuid: str | None, as_json: bool) -> None:
    """The machine documents, by model uuid then numeric machine id."""
    from projections import service

    store = cli.store()
    docs = service.machines(store, model_uuid)
    if as_json:
        emit_json(docs)
        return
    if not docs:
        info("no machines")
        return
    names = {model["model_uuid"]: model["name"] for model in service.models(store)}
    table("machines", MACHINE_COLUMNS, [_machine_row(doc, names) for doc in docs])


@click.command()
@click.argument("model_uuid", metavar="MODEL")
@click.argument("machine_id", metavar="ID")
@click.option(
    "--at",
    "at",
    metavar="TIME",
    default=None,
    help="The document as it was at TIME (ISO 8601, UTC if no offset).",
)
@click.option(
    "--version",
    "version",
    type=integer(1),
    default=None,
    help="The document as of version N of the machine's stream.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the document as JSON.")
@pass_cli
def machine(
    cli: CliContext,
    model_uuid: str,
    machine_id: str,
    at: str | None,
    version: int | None,
    as_json: bool,
) -> None:
    """One machine document (MODEL is the model uuid, ID the machine id: 0, 0/lxd/1).

    With --at or --version: as it was then, folded from the upcast history.
    """
    if at is not None and version is not None:
        raise click.UsageError("give --at or --version, not both")
    if at is None and version is None:
        from projections import service

        doc = service.machine(cli.store(), model_uuid, machine_id)
    else:
        from eventstate.audit.asof import machine_as_of
        from eventstate.timeutil import parse_user_time

        try:
            at_us = None if at is None else parse_user_time(at)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--at") from None
        doc = machine_as_of(cli.store(), model_uuid, machine_id, at_us=at_us, version=version)
    show_machine(doc, as_json)


def show_machine(doc: Document, as_json: bool) -> None:
    """One machine document: JSON, or a field/value table (shared with as-of reads)."""
    if as_json:
        emit_json(doc)
        return
    rows = [(key, _cell(value)) for key, value in doc.items()]
    table(f"machine {doc['id']} of model {doc['model_uuid']}", ("field", "value"), rows)


# --- table cells ---------------------------------------------------------------------


def _machine_row(doc: Document, model_names: dict[str, Any]) -> tuple[Any, ...]:
    instance = doc["instance"]
    addresses = [a["value"] for a in doc["addresses"]]
    return (
        model_names.get(doc["model_uuid"]) or doc["model_uuid"],
        doc["id"],
        doc["life"],
        ", ".join(doc["jobs"]),
        _base(doc["base"]),
        "pending" if instance is None else instance["instance_id"],
        ", ".join(addresses),
        doc["agent_version"] or "",
    )


def _model_row(doc: Document) -> tuple[Any, ...]:
    return (
        doc["model_uuid"],
        doc["name"],
        doc["owner"],
        doc["type"],
        doc["provider_type"],
        doc["cloud"],
        doc["cloud_region"],
        doc["agent_version"] or "",
        doc["machine_count"],
    )


def _base(base: dict[str, str] | None) -> str:
    """{os: ubuntu, channel: 22.04/stable} -> ubuntu@22.04, as Juju shows a base."""
    if base is None:
        return ""
    return f"{base['os']}@{base['channel'].removesuffix('/stable')}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def register(group: click.Group) -> None:
    for command in (models, machines, machine):
        group.add_command(command)
