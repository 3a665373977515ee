"""The `eventstate` entry point: global options, error handling, command registry.

Every deliberate error (EventStateError) becomes one line on stderr and the
error's exit code; usage errors are one line too and exit 2; anything unexpected
is one line, with the traceback only when EVENTSTATE_DEBUG=1. The console script
enters through eventstate.cli.entry, which also covers Ctrl-C during the imports.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from eventstate.audit.redact import redact_text
from eventstate.cli.context import CliContext
from eventstate.errors import EventStateError
from eventstate.url import redact_url


class _Root(click.Group):
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # The root's own options (--store, an unknown option) are parsed here;
        # everything below the root is parsed inside invoke.
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            _usage_error(exc)
            raise
        except KeyboardInterrupt:  # click would say "Aborted!" and exit 1
            _fail("interrupted", 130)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _usage_error(exc)
            raise
        except click.ClickException as exc:  # not a usage error (FileError): one line too
            _fail(exc.format_message(), exc.exit_code)
        except EventStateError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # `eventstate history | head`: the reader left; not an error of ours.
            sys.stderr.close()
            sys.exit(0)
        except (click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: still one line unless asked for more
            if os.environ.get("EVENTSTATE_DEBUG") == "1":
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {redact_url(str(exc))} "
                "(set EVENTSTATE_DEBUG=1 for a traceback)",
                70,
            )


def _usage_error(exc: click.UsageError) -> None:
    """One line instead of click's four (usage, hint, blank line, message), naming the
    command whose --help explains it. Bare `eventstate` (or a bare group) still
    prints the help it asks for."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return
    message = " ".join(exc.format_message().split())
    if message.endswith(".") and not message.endswith(".."):
        message = message[:-1]
    command = exc.ctx.command_path if exc.ctx is not None else "eventstate"
    _fail(f"{message} (see '{command} --help')", exc.exit_code)


def _fail(message: str, code: int) -> NoReturn:
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
    help="Store URL: sqlite:///FILE or mongodb://HOST/DB "
    "(default: $EVENTSTATE_STORE, else sqlite:///eventstate.db).",
)
@click.version_option(package_name="eventstate")
@click.pass_context
def cli(ctx: click.Context, store_url: str | None) -> None:
    """eventstate: an event-sourced state store for infrastructure controllers."""
    if store_url is not None and not store_url.strip():
        # An empty --store (an unset shell variable) must not mean the default store.
        raise click.BadParameter(
            "the store URL is empty: give sqlite:///FILE or mongodb://HOST/DB",
            param_hint="'--store'",
        )
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
