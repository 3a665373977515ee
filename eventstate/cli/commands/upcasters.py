"""`eventstate upcasters`: each event type's chain, release by release."""

from __future__ import annotations

from dataclasses import asdict

import click

from eventstate.cli.output import emit_json, table
from eventstate.releases import CODE_RELEASE


@click.command(name="upcasters")
@click.option("--json", "as_json", is_flag=True, help="Print the chains as JSON.")
def upcasters_command(as_json: bool) -> None:
    """Each event type's upcaster chain, release by release."""
    from upcasters import CHAIN, express
    from upcasters.native import is_compiled

    steps = CHAIN.describe()
    if as_json:
        emit_json([asdict(step) for step in steps])
        return
    rows = []
    for step in steps:
        source = (
            "(introduced)" if step.from_type is None else f"{step.from_type} {step.from_schema}"
        )
        rows.append(
            (
                step.current_type,
                step.release,
                source,
                f"{step.to_type} {step.to_schema}",
                step.summary,
            )
        )
    table("upcaster chains", ["type today", "release", "from", "to", "rule"], rows)
    # Fused shortcuts give the steps' results (upcasters/express.py): shown, not a rule.
    shortcuts = ", ".join(f"{plan.from_type} {plan.from_schema}" for plan in CHAIN.spec.express)
    if shortcuts:
        click.echo(f"express shortcuts to {CODE_RELEASE} (same results as the steps): {shortcuts}")
        # Operators checking speed: compiled C, or the source (same results, slower).
        how = "compiled (mypyc)" if is_compiled(express) else "running from source"
        click.echo(f"express module {how}: {express.__file__}")
    click.echo(f"chain fingerprint {CHAIN.fingerprint()}")


def register(group: click.Group) -> None:
    group.add_command(upcasters_command)
