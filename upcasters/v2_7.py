"""Release 2.7: network spaces; every address is in the default space."""

from __future__ import annotations

from typing import Any, Final

from upcasters.registry import ReleaseSteps
from upcasters.steps import UpcastContext

STEPS: Final = ReleaseSteps("2.7", __name__)

DEFAULT_SPACE_ID: Final = "0"


@STEPS.upcaster("MachineAddressesSet", 2)
def add_default_space(data: dict[str, Any], ctx: UpcastContext) -> dict[str, Any]:
    """Each address gains space_id "0", the default space."""
    for address in data["addresses"]:
        address["space_id"] = DEFAULT_SPACE_ID
    return data
