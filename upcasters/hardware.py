"""The characteristics parser of the 1.18 MachineProvisioned change (events.md).

`"arch=amd64 cpu-cores=1 mem=1740M root-disk=8G tags=a,b"` -> the hardware map:
sizes in MiB (suffix M or G, none means M), counts as integers, tags as a list,
missing keys as null. Parsing is cached per string; every call returns a fresh map
because the caller owns (and may mutate) what it gets.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

from upcasters.steps import StepFailure, shown

KEYS: Final = ("arch", "cpu-cores", "cpu-power", "mem", "root-disk", "tags")
MIB_PER_UNIT: Final = {"": 1, "M": 1, "G": 1024}

# Bounded digits: a forged string cannot make a huge integer.
_SIZE = re.compile(r"([0-9]{1,12})([MG]?)")
_COUNT = re.compile(r"[0-9]{1,9}")

Hardware = tuple[str | None, int | None, int | None, int | None, int | None, tuple[str, ...]]


def parse_characteristics(characteristics: str) -> dict[str, Any]:
    """The 1.18 hardware map of a 1.14 characteristics string; malformed ones fail."""
    if not isinstance(characteristics, str):
        raise StepFailure(f"characteristics must be a string, got {shown(characteristics)}")
    arch, cpu_cores, cpu_power, mem_mib, root_disk_mib, tags = _parse(characteristics)
    return {
        "arch": arch,
        "cpu_cores": cpu_cores,
        "cpu_power": cpu_power,
        "mem_mib": mem_mib,
        "root_disk_mib": root_disk_mib,
        "tags": list(tags),
    }


@lru_cache(maxsize=4096)
def _parse(characteristics: str) -> Hardware:
    values: dict[str, str] = {}
    for token in characteristics.split():
        key, equals, value = token.partition("=")
        if not equals:
            raise StepFailure(f"characteristics item {shown(token)} is not key=value")
        if key not in KEYS:
            raise StepFailure(f"unknown characteristics key {shown(key)}")
        if key in values:
            raise StepFailure(f"characteristics key {shown(key)} is given twice")
        values[key] = value
    return (
        _arch(values.get("arch")),
        _count("cpu-cores", values.get("cpu-cores")),
        _count("cpu-power", values.get("cpu-power")),
        _size("mem", values.get("mem")),
        _size("root-disk", values.get("root-disk")),
        _tags(values.get("tags")),
    )


def _arch(value: str | None) -> str | None:
    if value == "":
        raise StepFailure("characteristics arch is empty")
    return value


def _count(key: str, value: str | None) -> int | None:
    if value is None:
        return None
    if _COUNT.fullmatch(value) is None:
        raise StepFailure(f"characteristics {key}={shown(value)} is not a whole number")
    return int(value)


def _size(key: str, value: str | None) -> int | None:
    if value is None:
        return None
    match = _SIZE.fullmatch(value)
    if match is None:
        raise StepFailure(f"characteristics {key}={shown(value)} is not a size (like 1740M or 8G)")
    return int(match[1]) * MIB_PER_UNIT[match[2]]


def _tags(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    tags = tuple(value.split(","))
    if "" in tags:
        raise StepFailure(f"characteristics tags={shown(value)} has an empty tag")
    return tags
