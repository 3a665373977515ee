"""The console script's entry point (`eventstate`, and `python -m eventstate.cli`).

Importing the CLI (click, rich, the store, the upcasters) takes a noticeable part of
a second: a Ctrl-C then would print a KeyboardInterrupt traceback, since nothing of
the CLI's own error handling is loaded yet. This module imports nothing heavy, so
it can catch that interrupt and exit the way an interrupted command does.
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn


def main() -> None:
    try:
        from eventstate.cli.main import main as run

        run()
    except KeyboardInterrupt:
        _interrupted()


def _interrupted() -> NoReturn:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not add a traceback
    try:
        sys.stderr.write("error: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or gone: the exit code still says it
        pass
    sys.exit(130)
