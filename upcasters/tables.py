"""Frozen tables shared by release modules.

The series table is the one of the 3.0 series -> base change (events.md, MachineAdded
3.0). It is frozen with that release: a later release that knows more series adds
its own table in its own module instead of editing this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from upcasters.steps import StepFailure, shown

# series -> (os, version), as of release 3.0.
SERIES_3_0: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "precise": ("ubuntu", "12.04"),
        "trusty": ("ubuntu", "14.04"),
        "xenial": ("ubuntu", "16.04"),
        "bionic": ("ubuntu", "18.04"),
        "focal": ("ubuntu", "20.04"),
        "jammy": ("ubuntu", "22.04"),
        "noble": ("ubuntu", "24.04"),
        "centos7": ("centos", "7"),
    }
)


@lru_cache(maxsize=256)
def series_3_0(series: str) -> tuple[str, str]:
    """(os, version) of a series through the 3.0 table; any other series is an error."""
    found = SERIES_3_0.get(series) if isinstance(series, str) else None
    if found is None:
        raise StepFailure(f"unknown series {shown(series)} (not in the 3.0 series table)")
    return found
