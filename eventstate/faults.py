"""Crash points for fault-injection tests.

`checkpoint("name")` marks a place where a crash must leave the store
consistent (between transactions, inside long loops). With
EVENTSTATE_CRASH_AT=N set, the process SIGKILLs itself at the N-th checkpoint
it passes, so tests can kill an import, an upgrade or a rebuild at exact,
reproducible points. Unset (always, in production) it costs one comparison.
"""

from __future__ import annotations

import os
import signal

_SETTING = os.environ.get("EVENTSTATE_CRASH_AT", "")
# "count": pass every checkpoint and print how many at exit (to size a kill range).
_COUNTING = _SETTING == "count"
_CRASH_AT = int(_SETTING) if _SETTING.isdigit() else (-1 if _COUNTING else 0)
_passed = 0

if _COUNTING:
    import atexit
    import sys

    atexit.register(lambda: print(f"checkpoints: {_passed}", file=sys.stderr))


def checkpoint(name: str) -> None:
    global _passed
    if not _CRASH_AT:
        return
    _passed += 1
    if _passed == _CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)


def passed() -> int:
    """How many checkpoints this process passed (tests size their kill range with it)."""
    return _passed
