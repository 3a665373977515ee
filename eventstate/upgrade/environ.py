"""Environ upgraders: the provider-side half of the 2.0 `provider-environ-version` step.

A plug-in says which operations a model needs to reach its target environ
version and applies them one at a time. The built-in ones have no cloud to
talk to: applying records the operation and nothing else. Register more with
`register_environ_upgrader` (for example from a deployment's own package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class EnvironUpgrader(Protocol):
    @property
    def provider_type(self) -> str:
        """The provider type whose models this upgrader handles."""
        ...

    @property
    def target_version(self) -> int:
        """The environ version a model reaches."""
        ...

    def operations(self, model: dict[str, Any]) -> list[str]:
        """The operations a model (its document) needs, in order."""
        ...

    def apply(self, model: dict[str, Any], operation: str) -> None:
        """Carry one operation out; raise to stop the upgrade before it records anything."""
        ...


@dataclass(frozen=True)
class RecordingUpgrader:
    """A built-in upgrader: its operations need no cloud call here."""

    provider_type: str
    operation: str
    target_version: int = 1

    def operations(self, model: dict[str, Any]) -> list[str]:
        return [self.operation]

    def apply(self, model: dict[str, Any], operation: str) -> None:
        return None


_UPGRADERS: dict[str, EnvironUpgrader] = {}


def register_environ_upgrader(upgrader: EnvironUpgrader) -> None:
    _UPGRADERS[upgrader.provider_type] = upgrader


def environ_upgrader_for(provider_type: str | None) -> EnvironUpgrader | None:
    return _UPGRADERS.get(provider_type or "")


for _builtin in (
    RecordingUpgrader("lxd", "create-profiles"),
    RecordingUpgrader("openstack", "tag-security-groups"),
    RecordingUpgrader("azure", "common-deployment"),
):
    register_environ_upgrader(_builtin)
