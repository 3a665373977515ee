"""Write commands an operator needs to try the store by hand: models, machines, units.

They go through the retrying repository API, exactly as a state server would.
"""

from __future__ import annotations

from typing import Any

import click
import orjson

from eventstate.cli.context import CliContext, pass_cli
from eventstate.cli.groups import DefaultGroup
from eventstate.cli.params import integer
from eventstate.repository import Repository, RetryingRepository


def _repo(cli: CliContext, *, new_store: bool = False) -> RetryingRepository:
    # Only `model create` may start a store: any other change needs a model in one.
    return Repository(cli.store(must_exist=not new_store)).retrying()


def _pairs(values: tuple[str, ...], what: str) -> dict[str, Any]:
    """KEY=VALUE options; a VALUE that parses as JSON (numbers, true, lists) is taken as such."""
    result: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=what)
        try:
            result[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            result[key] = raw
    return result


@click.group()
def model() -> None:
    """Create and change models."""


@model.command("create")
@click.argument("name")
@click.option(
    "--provider", "provider_type", required=True, help="Provider type (ec2, lxd, maas...)."
)
@click.option("--region", "cloud_region", default="", help="Cloud region.")
@click.option("--owner", default="admin", show_default=True)
@click.option("--credential", "cloud_credential", default="", help="Cloud credential name.")
@click.option(
    "--config", "config", multiple=True, metavar="KEY=VALUE", help="Model config (repeatable)."
)
@click.option("--uuid", "model_uuid", default=None, help="Model uuid (default: a new one).")
@pass_cli
def model_create(
    cli: CliContext,
    name: str,
    provider_type: str,
    cloud_region: str,
    owner: str,
    cloud_credential: str,
    config: tuple[str, ...],
    model_uuid: str | None,
) -> None:
    """Create a model; prints its uuid."""
    values = _pairs(config, "--config")  # before the store is opened (or created)
    uuid = _repo(cli, new_store=True).create_model(
        name,
        provider_type=provider_type,
        cloud_region=cloud_region,
        owner=owner,
        cloud_credential=cloud_credential,
        config=values,
        model_uuid=model_uuid,
    )
    click.echo(uuid)


@model.command("config")
@click.argument("model_uuid", metavar="MODEL")
@click.option("--set", "set_", multiple=True, metavar="KEY=VALUE")
@click.option("--unset", multiple=True, metavar="KEY")
@pass_cli
def model_config(
    cli: CliContext, model_uuid: str, set_: tuple[str, ...], unset: tuple[str, ...]
) -> None:
    """Set and unset model config keys."""
    values = _pairs(set_, "--set")  # before the store is opened (or created)
    _repo(cli).change_model_config(model_uuid, values, unset)


@model.command("agent-version")
@click.argument("model_uuid", metavar="MODEL")
@click.argument("version")
@pass_cli
def model_agent_version(cli: CliContext, model_uuid: str, version: str) -> None:
    """Set the model's agent version."""
    _repo(cli).set_model_agent_version(model_uuid, version)


@click.group(cls=DefaultGroup, default="show")
def machine() -> None:
    """Show a machine (`machine MODEL ID`) or change machines."""


@machine.command("add")
@click.argument("model_uuid", metavar="MODEL")
@click.option(
    "--base", default="ubuntu@22.04", show_default=True, help="OS and version, os@version."
)
@click.option(
    "--job",
    "jobs",
    multiple=True,
    default=("JobHostUnits",),
    show_default=True,
    type=click.Choice(["JobHostUnits", "JobManageModel"]),
)
@click.option("--parent", default=None, help="Host machine id: adds a container.")
@click.option("--container", "container_type", default="", type=click.Choice(["", "lxd", "kvm"]))
@click.option("--id", "machine_id", default=None, help="Machine id (default: the next free one).")
@click.option("--nonce", default="")
@click.option("--constraints", default="")
@click.option("--placement", default="")
@pass_cli
def machine_add(
    cli: CliContext,
    model_uuid: str,
    base: str,
    jobs: tuple[str, ...],
    parent: str | None,
    container_type: str,
    machine_id: str | None,
    nonce: str,
    constraints: str,
    placement: str,
) -> None:
    """Add a machine or a container; prints its id."""
    if parent and not container_type:
        container_type = "lxd"
    added = _repo(cli).add_machine(
        model_uuid,
        base=base,
        jobs=list(jobs),
        parent=parent,
        container_type=container_type,
        machine_id=machine_id,
        nonce=nonce,
        constraints=constraints,
        placement=placement,
    )
    click.echo(added)


@machine.command("provision")
@click.argument("model_uuid", metavar="MODEL")
@click.argument("machine_id", metavar="ID")
@click.option("--instance-id", required=True)
@click.option("--nonce", required=True)
@click.option(
    "--hardware",
    multiple=True,
    metavar="KEY=VALUE",
    help="arch, cpu_cores, cpu_power, mem_mib, root_disk_mib, tags, availability_zone.",
)
@pass_cli
def machine_provision(
    cli: CliContext,
    model_uuid: str,
    machine_id: str,
    instance_id: str,
    nonce: str,
    hardware: tuple[str, ...],
) -> None:
    """Record that a machine's instance was provisioned."""
    values = _pairs(hardware, "--hardware")  # before the store is opened (or created)
    _repo(cli).provision_machine(
        model_uuid, machine_id, instance_id=instance_id, nonce=nonce, hardware=values
    )


@machine.command("addresses")
@click.argument("model_uuid", metavar="MODEL")
@click.argument("machine_id", metavar="ID")
@click.argument("addresses", nargs=-1, required=True)
@pass_cli
def machine_addresses(
    cli: CliContext, model_uuid: str, machine_id: str, addresses: tuple[str, ...]
) -> None:
    """Set a machine's addresses (IPs or hostnames)."""
    _repo(cli).set_machine_addresses(model_uuid, machine_id, list(addresses))


@machine.command("agent")
@click.argument("model_uuid", metavar="MODEL")
@click.argument("machine_id", metavar="ID")
@click.argument("version", metavar="VERSION")
@click.option("--url", default="")
@click.option("--size", default=0, type=integer(0))
@click.option("--sha256", default="")
@pass_cli
def machine_agent(
    cli: CliContext,
    model_uuid: str,
    machine_id: str,
    version: str,
    url: str,
    size: int,
    sha256: str,
) -> None:
    """Set a machine's agent binary (VERSION like 3.0.0-ubuntu-amd64)."""
    _repo(cli).set_machine_agent_binary(
        model_uuid, machine_id, version=version, url=url, size=size, sha256=sha256
    )


@machine.command("life")
@click.argument("model_uuid", metavar="MODEL")
@click.argument("machine_id", metavar="ID")
@click.argument("life", type=click.Choice(["dying", "dead"]))
@click.option("--force", is_flag=True)
@pass_cli
def machine_life(cli: CliContext, model_uuid: str, machine_id: str, life: str, force: bool) -> None:
    """Move a machine's life forward (never back; a controller cannot leave alive)."""
    _repo(cli).set_machine_life(model_uuid, machine_id, life, force=force)


@machine.command("containers")
@click.argument("model_uuid", metavar="MODEL")
@click.argument("machine_id", metavar="ID")
@click.argument("types", nargs=-1, type=click.Choice(["lxd", "kvm"]))
@pass_cli
def machine_containers(
    cli: CliContext, model_uuid: str, machine_id: str, types: tuple[str, ...]
) -> None:
    """Set the container types a machine supports."""
    _repo(cli).set_supported_containers(model_uuid, machine_id, list(types))


@click.group()
def unit() -> None:
    """Assign and destroy units."""


@unit.command("assign")
@click.argument("model_uuid", metavar="MODEL")
@click.argument("unit_name", metavar="UNIT")
@click.argument("machine_id", metavar="MACHINE")
@pass_cli
def unit_assign(cli: CliContext, model_uuid: str, unit_name: str, machine_id: str) -> None:
    """Assign a unit (application/N) to a machine."""
    _repo(cli).assign_unit(model_uuid, unit_name, machine_id)


@unit.command("destroy")
@click.argument("model_uuid", metavar="MODEL")
@click.argument("unit_name", metavar="UNIT")
@pass_cli
def unit_destroy(cli: CliContext, model_uuid: str, unit_name: str) -> None:
    """Destroy a unit."""
    _repo(cli).destroy_unit(model_uuid, unit_name)


def register(group: click.Group) -> None:
    # `machine MODEL ID` (the read command, registered before us) becomes the
    # group's default `show` subcommand.
    shown = group.commands.get("machine")
    if shown is not None and shown is not machine:
        machine.add_command(shown, "show")
    group.add_command(model)
    group.add_command(machine)
    group.add_command(unit)
