"""Release 3.0: series become bases, agent tools become agent binaries; the upgrade
stream's records appear."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Final

from upcasters.registry import Kind, ReleaseSteps
from upcasters.steps import StepFailure, UpcastContext, shown
from upcasters.tables import series_3_0

STEPS: Final = ReleaseSteps("3.0", __name__)

DEFAULT_SERIES: Final = "default-series"
DEFAULT_BASE: Final = "default-base"
TOOLS_KEYS: Final = frozenset({"version", "url", "size", "sha256"})

# Operational records: an aborted upgrade leaves them in a store at any release.
STEPS.introduce(
    "UpgradeStarted", "{from_release, to_release, holder, fencing_token}", Kind.OPERATIONAL
)
STEPS.introduce("UpgradeStepApplied", "{release, step, events_written}", Kind.OPERATIONAL)
STEPS.introduce("UpgradeCompleted", "{release, events_written, duration_s}", Kind.OPERATIONAL)
STEPS.introduce("UpgradeAborted", "{reason, stream, version, type, schema}", Kind.OPERATIONAL)


def base_name(series: Any) -> str:
    """`trusty` -> `ubuntu@14.04`, the config form of a base."""
    os, version = series_3_0(series)
    return f"{os}@{version}"


@STEPS.upcaster("ModelCreated", 4)
def default_series_to_base(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """config default-series becomes default-base "<os>@<version>"."""
    config = data["config"]
    if type(config) is not dict:
        raise StepFailure(f"config must be a map, got {shown(config)}")
    _series_to_base(config)
    return data


@STEPS.upcaster("ModelConfigChanged", 3)
def default_series_to_base_changes(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """default-series becomes default-base "<os>@<version>", in set and in unset."""
    changes = data["set"]
    unset = data["unset"]
    if type(changes) is not dict or type(unset) is not list:
        raise StepFailure(
            f"set must be a map and unset a list, got {shown(changes)}, {shown(unset)}"
        )
    _series_to_base(changes)
    if DEFAULT_SERIES in unset:
        renamed = [DEFAULT_BASE if key == DEFAULT_SERIES else key for key in unset]
        data["unset"] = list(dict.fromkeys(renamed))  # in order, without a second default-base
    return data


@STEPS.upcaster("MachineAdded", 5)
def series_to_base(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """series becomes base {os, channel: "<version>/stable"} through the series table."""
    os, version = series_3_0(data.pop("series"))
    data["base"] = {"os": os, "channel": f"{version}/stable"}
    return data


@STEPS.upcaster("MachineAgentToolsSet", 1, to_type="MachineAgentBinarySet")
def tools_to_agent_binary(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Becomes MachineAgentBinarySet {version, url, size, sha256}, the series part of the
    version becoming the OS name."""
    tools = data.pop("tools")
    if type(tools) is not dict or tools.keys() != TOOLS_KEYS:
        raise StepFailure(f"tools must be a map {{version, url, size, sha256}}, got {shown(tools)}")
    data["version"] = agent_binary_version(tools["version"])
    data["url"] = tools["url"]
    data["size"] = tools["size"]
    data["sha256"] = tools["sha256"]
    return data


@lru_cache(maxsize=1024)
def agent_binary_version(tools_version: str) -> str:
    """`1.14.1-precise-amd64` -> `1.14.1-ubuntu-amd64` (a log repeats a few versions)."""
    parts = tools_version.rsplit("-", 2) if isinstance(tools_version, str) else ()
    if len(parts) != 3:
        raise StepFailure(f"tools version {shown(tools_version)} is not <number>-<series>-<arch>")
    number, series, arch = parts
    os, _ = series_3_0(series)
    return f"{number}-{os}-{arch}"


def _series_to_base(config: dict[str, Any]) -> None:
    if DEFAULT_SERIES not in config:
        return
    if DEFAULT_BASE in config:
        raise StepFailure(f"config has both {DEFAULT_SERIES} and {DEFAULT_BASE}")
    config[DEFAULT_BASE] = base_name(config.pop(DEFAULT_SERIES))
