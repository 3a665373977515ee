"""How many CPUs the parallel parts (a rebuild's partitions, verify's shares) may use:
the ones idle now. A process on a busy CPU costs more than it saves: it reads what the
others read, and slows the whole to its pace."""

from __future__ import annotations

import os
import statistics
import time
from typing import Final

# Looks at the number of runnable threads, a few milliseconds apart.
LOOKS: Final = 5
LOOK_APART_S: Final = 0.004


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_cpus() -> float:
    """CPUs nothing else wants now (may be negative on a crowded machine)."""
    others = others_running()
    if others is None:
        try:
            others = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average on this system
            others = 0.0
    return usable_cpus() - others


def others_running() -> float | None:
    """How many other threads want a CPU now: the median of a few quick looks at the
    kernel's count of runnable ones, less this one. Unlike the load average, it does
    not count this process's own work of the last minute (a caller that rebuilds or
    verifies again and again would otherwise never get a second process). None off
    Linux."""
    counts = []
    for look in range(LOOKS):
        if look:
            time.sleep(LOOK_APART_S)
        running = running_now()
        if running is None:
            return None
        counts.append(max(running - 1, 0))
    return float(statistics.median(counts))


def running_now() -> int | None:
    """Runnable threads on this machine now, this one included (None off Linux)."""
    try:
        with open("/proc/loadavg") as file:
            return int(file.read().split()[3].partition("/")[0])
    except (OSError, IndexError, ValueError):
        return None
