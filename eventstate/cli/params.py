"""Option types the commands share."""

from __future__ import annotations

import click

# The stores keep integers in 64 bits (SQLite INTEGER, MongoDB long): a bigger one is
# a typo, and would reach the store as an OverflowError instead of a usage error.
MAX_INT64 = 2**63 - 1
# More processes than this for one verify pass is a typo, not a machine.
MAX_WORKERS = 256


def integer(minimum: int, maximum: int = MAX_INT64) -> click.IntRange:
    """Every integer option: bounded on both sides, so out of range is a usage error."""
    return click.IntRange(minimum, maximum)
