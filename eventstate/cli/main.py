"""The `eventstate` entry point: global options, error handling, command registry.

Every deliberate error (EventStateError) becomes one line on stderr and the
error's exit code; usage errors exit 2 (click); anything unexpected is one line
too, with the traceback only when EVENTSTATE_DEBUG=1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from eventstate.audit.redact import redact_text
from eventstate.cli.context import CliContext
from eventstate.errors import EventStateError
from eventstate.url import redact_url


class _Root(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EventStateError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # `eventstate history | head`: the reader left; not an error of ours.
            sys.stderr.close()
            sys.exit(0)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: still one line unless asked for more
            if os.environ.get("EVENTSTATE_DEBUG") == "1":
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {redact_url(str(exc))} "
                "(set EVENTSTATE_DEBUG=1 for a traceback)",
                70,
            )


def _fail(message: str, code: int) -> None:
    # Error messages may quote a payload (an upcast error on a malformed event):
    # credentials in them are shown as ***, and a store URL's password never.
    click.echo(f"error: {redact_url(redact_text(message))}", err=True)
    sys.exit(code)


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    default=None,
    help="Store URL: sqlite:///FILE, memory:// or mongodb://HOST/DB "
    "(default: $EVENTSTATE_STORE, else sqlite:///eventstate.db).",
)
@click.version_option(package_name="eventstate")
@click.pass_context
def cli(ctx: click.Context, store_url: str | None) -> None:
    """eventstate: an event-sourced state store for infrastructure controllers."""
    ctx.obj = CliContext(store_url)
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from eventstate.cli.commands import audit, quickstart, read, store, upcasters, upgrade, write
    from eventstate.cli.commands import projections as projection_commands

    for module in (store, read, write, upgrade, projection_commands, audit, upcasters, quickstart):
        module.register(cli)


_register()


def main() -> None:
    cli(prog_name="eventstate")
