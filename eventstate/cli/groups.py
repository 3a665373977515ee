"""A click group that also runs a default command: `eventstate machine MODEL ID`
shows a machine while `eventstate machine add ...` adds one."""

from __future__ import annotations

from typing import Any

import click


class DefaultGroup(click.Group):
    def __init__(self, *args: Any, default: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_command = default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
