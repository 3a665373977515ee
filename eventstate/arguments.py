"""The repository's arguments: what callers give, checked where a command starts and
turned into the catalogue's shapes, or refused with one ValidationError line naming
the argument (never an AttributeError from deep inside a command)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventstate.domain.catalogue import ADDRESS_SCOPES, is_machine_id
from eventstate.errors import ValidationError
from projections.documents import parent_and_container_type
from upcasters.addresses import classify


def parse_base(base: str | dict[str, str]) -> dict[str, str]:
    """'ubuntu@22.04' or {os, channel} -> {os, channel} with channel '<version>/stable'."""
    if isinstance(base, dict):
        if set(base) != {"os", "channel"}:
            raise ValidationError(
                f"base must be {{os, channel}}, got keys {sorted(base, key=repr)}"
            )
        return {
            "os": checked_text("base os", base["os"]),
            "channel": checked_text("base channel", base["channel"]),
        }
    if not isinstance(base, str):
        raise ValidationError(
            f"base must be like 'ubuntu@22.04' or {{os, channel}}, got {shown(base)}"
        )
    os_name, sep, version = base.partition("@")
    if not sep or not os_name or not version:
        raise ValidationError(f"base {base!r} must look like ubuntu@22.04")
    channel = version if "/" in version else f"{version}/stable"
    return {"os": os_name, "channel": channel}


ADDRESS_KEYS = frozenset({"value", "type", "scope", "space_id"})


def address_entry(address: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(address, dict):
        return _address_map(address)
    if not isinstance(address, str):
        raise ValidationError(
            f"address {shown(address)} must be a string or a map {{value, type, scope}}"
        )
    type_name, scope = _classified(address)
    return {"value": address, "type": type_name, "scope": scope, "space_id": "0"}


def _classified(value: str) -> tuple[str, str]:
    # The 1.18 classification rules are still today's: one implementation for both.
    classified = classify(value)
    if classified is None:
        raise ValidationError(f"address {value!r} is neither an IP address nor a valid host name")
    return classified


def _address_map(address: dict[str, Any]) -> dict[str, Any]:
    """A full map is checked as strictly as a plain value: its type must be what the
    value is; its scope is the caller's (a provider knows better than the rules)."""
    value = address.get("value")
    if not isinstance(value, str):
        raise ValidationError(f"address {shown(address)} needs a string value")
    extra = sorted((k for k in address if k not in ADDRESS_KEYS), key=repr)
    missing = [k for k in ("type", "scope") if k not in address]
    if extra or missing:
        problems = [f"no {k}" for k in missing] + [f"unexpected key {k!r}" for k in extra]
        raise ValidationError(f"address {value!r} has {', '.join(problems)}")
    type_name, _ = _classified(value)
    if address["type"] != type_name:
        raise ValidationError(
            f"address {value!r} is of type {type_name}, not {shown(address['type'])}"
        )
    scope = address["scope"]
    if not isinstance(scope, str) or scope not in ADDRESS_SCOPES:
        raise ValidationError(
            f"address {value!r} has scope {shown(scope)}, not one of {', '.join(ADDRESS_SCOPES)}"
        )
    space_id = address.get("space_id", "0")
    if not isinstance(space_id, str) or not space_id:
        raise ValidationError(
            f"address {value!r} has space_id {shown(space_id)}, not a non-empty string"
        )
    return {"value": value, "type": type_name, "scope": scope, "space_id": space_id}


# --- plain values ------------------------------------------------------------------------


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def checked_text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {shown(value)}")
    return value


def checked_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false, got {shown(value)}")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked_list(name: str, value: Any) -> list[Any]:
    """A list given as any iterable but a string or a map (which would iterate as
    letters or keys)."""
    if isinstance(value, str):
        raise ValidationError(f"{name} must be a list, not the string {shown(value)}")
    if isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise ValidationError(f"{name} must be a list, got {shown(value)}")
    return list(value)


def checked_texts(name: str, value: Any) -> list[str]:
    items = checked_list(name, value)
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(f"{name} must be a list of strings, got item {shown(item)}")
    return items


def checked_map(name: str, value: Any) -> dict[str, Any]:
    """An optional map with string keys (None is an empty one)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{name} must be a map, got {shown(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ValidationError(f"{name} keys must be strings, got {shown(key)}")
    return value


def placement_of(
    machine_id: str, parent: str | None, container_type: str
) -> tuple[str | None, str]:
    """The (parent, container_type) a given machine id implies: ('0', 'lxd') for
    `0/lxd/3`, (None, '') for `4`; a parent or type that disagrees is refused."""
    if not is_machine_id(machine_id):
        raise ValidationError(f"machine_id {machine_id!r} must look like 4 or 0/lxd/3")
    host, kind = parent_and_container_type(machine_id)
    if host is None:
        if parent is not None or container_type:
            raise ValidationError(
                f"machine_id {machine_id!r} is not a container: it takes no parent or "
                "container_type"
            )
        return None, ""
    if parent is not None and parent != host:
        raise ValidationError(
            f"machine_id {machine_id!r} is a container of machine {host}, not of {parent}"
        )
    if container_type and container_type != kind:
        raise ValidationError(
            f"machine_id {machine_id!r} is a container of type {kind}, not {container_type}"
        )
    return host, kind
