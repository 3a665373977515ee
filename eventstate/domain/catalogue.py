"""The 3.0 event catalogue: every current event type, its schema and a fast payload check.

`validate_payload(type_name, data)` is what the store runs on every append and what
the upcaster chain runs on everything it produces, so a payload that passes it has
exactly the keys and value types that projections expect. Each failure is one
`ValidationError` line naming the type and the field.

These are today's (3.0) tables. The upcasters keep their own frozen per-release
tables and never import these (events.md, "Upcaster rules").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Final

from eventstate.codec import MAX_NESTING
from eventstate.errors import ValidationError
from eventstate.releases import RELEASES
from eventstate.streams import MACHINE, MODEL, UNIT, UPGRADE

# --- today's vocabulary ------------------------------------------------------------

JOB_HOST_UNITS: Final = "JobHostUnits"
JOB_MANAGE_MODEL: Final = "JobManageModel"
JOBS: Final = frozenset({JOB_HOST_UNITS, JOB_MANAGE_MODEL})

CONTAINER_TYPES: Final = ("", "lxd", "kvm")
LIFE_VALUES: Final = ("alive", "dying", "dead")
MODEL_TYPES: Final = ("iaas", "caas")
ADDRESS_TYPES: Final = ("ipv4", "ipv6", "hostname")
ADDRESS_SCOPES: Final = ("public", "local-cloud", "local-machine", "link-local")
ADDRESS_ORIGINS: Final = ("provider", "machine")

# Bases 3.0 accepts: the images of the series table frozen in upcasters/tables.py
# (a test keeps the two in step; importing it here would be an import cycle).
VALID_BASES: Final = frozenset(
    {
        ("ubuntu", "12.04/stable"),
        ("ubuntu", "14.04/stable"),
        ("ubuntu", "16.04/stable"),
        ("ubuntu", "18.04/stable"),
        ("ubuntu", "20.04/stable"),
        ("ubuntu", "22.04/stable"),
        ("ubuntu", "24.04/stable"),
        ("centos", "7/stable"),
    }
)
# The same bases as model config writes them: "ubuntu@22.04".
VALID_BASE_NAMES: Final = frozenset(
    f"{os}@{channel.partition('/')[0]}" for os, channel in VALID_BASES
)
OS_NAMES: Final = frozenset(os for os, _ in VALID_BASES)

# Config keys a 3.0 model never holds: secrets live in the cloud credential, and
# default-series became default-base.
SECRET_CONFIG_KEYS: Final = frozenset({"access-key", "secret-key", "password"})
REPLACED_CONFIG_KEYS: Final = frozenset({"default-series"})

RETIRED_TYPE: Final = "EventRetired"

# Every 3.0 event type and its current schema number.
CURRENT_SCHEMAS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "ModelCreated": 5,
        "ModelConfigChanged": 4,
        "AgentVersionSet": 1,
        "ModelEnvironVersionSet": 1,
        "MachineAdded": 6,
        "MachineProvisioned": 4,
        "MachineAddressesSet": 3,
        "MachineAgentBinarySet": 2,
        "MachineLifeChanged": 2,
        "MachineSupportedContainersSet": 2,
        "MachineUpgradeActionsRequested": 1,
        "MachineUpgradeActionsCompleted": 1,
        "UnitAssignedToMachine": 2,
        "UnitDestroyed": 1,
        "UpgradeStarted": 1,
        "UpgradeStepApplied": 1,
        "UpgradeCompleted": 1,
        "UpgradeAborted": 1,
        RETIRED_TYPE: 1,
    }
)

# The kind of stream each type is appended to (events.md). EventRetired has none: it is
# only made by upcasting, never stored.
STREAM_KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ModelCreated": MODEL,
        "ModelConfigChanged": MODEL,
        "AgentVersionSet": MODEL,
        "ModelEnvironVersionSet": MODEL,
        "MachineAdded": MACHINE,
        "MachineProvisioned": MACHINE,
        "MachineAddressesSet": MACHINE,
        "MachineAgentBinarySet": MACHINE,
        "MachineLifeChanged": MACHINE,
        "MachineSupportedContainersSet": MACHINE,
        "MachineUpgradeActionsRequested": MACHINE,
        "MachineUpgradeActionsCompleted": MACHINE,
        "UnitAssignedToMachine": UNIT,
        "UnitDestroyed": UNIT,
        "UpgradeStarted": UPGRADE,
        "UpgradeStepApplied": UPGRADE,
        "UpgradeCompleted": UPGRADE,
        "UpgradeAborted": UPGRADE,
    }
)
# The types that open their stream: appended as its version 1 only.
OPENING_TYPES: Final = frozenset({"ModelCreated", "MachineAdded", "UpgradeStarted"})

# --- checks ------------------------------------------------------------------------
# A check returns None when the value is fine, else (sub-path, problem); the
# sub-path locates the problem inside a nested map or list (".hardware.mem_mib").
Problem = tuple[str, str]
Check = Callable[[Any], Problem | None]
Validator = Callable[[Mapping[str, Any]], None]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _predicate(test: Callable[[Any], bool], expected: str) -> Check:
    def check(value: Any) -> Problem | None:
        return None if test(value) else ("", f"must be {expected}, got {_show(value)}")

    return check


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and value is not True and value is not False


STRING = _predicate(lambda v: isinstance(v, str), "a string")
NON_EMPTY_STRING = _predicate(lambda v: isinstance(v, str) and v != "", "a non-empty string")
BOOL = _predicate(lambda v: v is True or v is False, "true or false")
INT = _predicate(_is_int, "an integer")
NON_NEGATIVE_INT = _predicate(lambda v: _is_int(v) and v >= 0, "an integer >= 0")
DURATION = _predicate(
    lambda v: (_is_int(v) or (isinstance(v, float) and math.isfinite(v))) and v >= 0,
    "a number of seconds >= 0",
)
RELEASE = _predicate(lambda v: v in RELEASES, f"a release ({', '.join(RELEASES)})")


def one_of(values: Iterable[str]) -> Check:
    allowed = frozenset(values)
    listed = ", ".join(repr(v) for v in sorted(allowed))
    return _predicate(lambda v: isinstance(v, str) and v in allowed, f"one of {listed}")


def matching(pattern: str, expected: str) -> Check:
    fullmatch = re.compile(pattern).fullmatch
    return _predicate(lambda v: isinstance(v, str) and fullmatch(v) is not None, expected)


def optional(check: Check) -> Check:
    def optional_check(value: Any) -> Problem | None:
        return None if value is None else check(value)

    return optional_check


def list_of(check: Check) -> Check:
    def list_check(value: Any) -> Problem | None:
        if type(value) is not list:
            return ("", f"must be a list, got {_show(value)}")
        for index, item in enumerate(value):
            problem = check(item)
            if problem is not None:
                return (f"[{index}]{problem[0]}", problem[1])
        return None

    return list_check


def sorted_set_of(values: Iterable[str]) -> Check:
    """A list drawn from `values`, sorted, without duplicates."""
    allowed = frozenset(values)
    expected = f"a sorted list without duplicates of {', '.join(sorted(allowed))}"

    def set_check(value: Any) -> Problem | None:
        if (
            type(value) is not list
            or not all(isinstance(item, str) and item in allowed for item in value)
            or any(a >= b for a, b in pairwise(value))
        ):
            return ("", f"must be {expected}, got {_show(value)}")
        return None

    return set_check


# --- plain JSON ----------------------------------------------------------------------
# Free-form values (model config) must be plain JSON (operations.md): what msgpack
# stores and every reader (decode, projections, export, history) gets back as it was.

JSON_INT_MIN: Final = -(2**63)  # msgpack's integers: int64 and uint64
JSON_INT_MAX: Final = 2**64 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")  # the code points UTF-8 cannot encode
_TOO_DEEP: Final = f"nests deeper than {MAX_NESTING} levels (the payload is level 1)"


def _json_value_problem(value: Any) -> str | None:
    """Why a value that is not a map or list is not plain JSON, None when it is: the
    slow path of `json_problem` (subclasses, and every failure)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if JSON_INT_MIN <= value <= JSON_INT_MAX:
            return None
        return f"must be an integer from -2**63 to 2**64-1, got {_show(value)}"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"must be a finite number, got {_show(value)}"
    if isinstance(value, str):
        if _SURROGATE.search(value) is None:
            return None
        return f"must be valid UTF-8 text (no lone surrogates), got {_show(value)}"
    return (
        "must be plain JSON (null, true, false, a number, a string, a list or a map), "
        f"got {type(value).__name__} {_show(value)}"
    )


def _json_key_problem(key: Any) -> str | None:
    if not isinstance(key, str):
        return f"must have string keys, got {_show(key)}"
    if _SURROGATE.search(key) is not None:
        return f"must have valid UTF-8 keys (no lone surrogates), got {_show(key)}"
    return None


def json_problem(container: Any, depth: int) -> Problem | None:
    """Where and why a map or list, `depth` levels deep in its payload (the payload is
    level 1, as codec.nesting_exceeds counts), is not plain JSON; None when it is.

    Config checks run on every append of a config change, so this is a tight loop: one
    type test per value of a flat map (str, int and bool values are the common case),
    recursing only into maps and lists; subclasses and failures take the slow path.
    """
    if depth >= MAX_NESTING and container:  # its values would sit deeper than the limit
        return ("", _TOO_DEEP)
    is_map = type(container) is dict or isinstance(container, dict)
    items: Iterable[tuple[Any, Any]] = container.items() if is_map else enumerate(container)
    for key, value in items:
        if is_map and (type(key) is not str or not key.isascii()):
            message = _json_key_problem(key)
            if message is not None:
                return ("", message)
        kind = type(value)
        if kind is str:
            if value.isascii():
                continue
        elif kind is int:
            if JSON_INT_MIN <= value <= JSON_INT_MAX:
                continue
        elif kind is bool or value is None:
            continue
        elif kind is float:
            if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
                continue
        elif kind is dict or kind is list or isinstance(value, dict | list):
            problem = json_problem(value, depth + 1)
            if problem is None:
                continue
            if problem[1] is _TOO_DEEP:  # named at the top: a path 200 deep helps no one
                return problem
            return (f"[{key!r}]{problem[0]}", problem[1])
        message = _json_value_problem(value)
        if message is not None:
            return (f"[{key!r}]", message)
    return None


def json_map(depth: int) -> Check:
    """A map of plain JSON with string keys, `depth` levels deep in its payload."""

    def map_check(value: Any) -> Problem | None:
        if type(value) is not dict:
            return ("", f"must be a map, got {_show(value)}")
        return json_problem(value, depth)

    return map_check


def record(fields: Mapping[str, Check]) -> Check:
    """A nested map with exactly these keys."""
    keys = frozenset(fields)
    items = tuple(fields.items())

    def record_check(value: Any) -> Problem | None:
        if type(value) is not dict:
            return ("", f"must be a map, got {_show(value)}")
        if value.keys() != keys:
            return ("", _key_problem(value, keys))
        for name, check in items:
            problem = check(value[name])
            if problem is not None:
                return (f".{name}{problem[0]}", problem[1])
        return None

    return record_check


def _key_problem(value: Mapping[Any, Any], keys: frozenset[str]) -> str:
    missing = sorted(keys - value.keys())
    extra = sorted((str(k) for k in value.keys() - keys), key=str)
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("unexpected " + ", ".join(extra))
    return "has " + "; ".join(parts)


# --- domain-specific checks -----------------------------------------------------------

# String formats, cached: a log repeats the same ids and versions many times over.
_MACHINE_ID = re.compile(r"(?:0|[1-9][0-9]*)(?:/(?:lxd|kvm)/(?:0|[1-9][0-9]*))*")
_UNIT_NAME = re.compile(r"[a-z][a-z0-9-]*/(?:0|[1-9][0-9]*)")
_APPLICATION_NAME = re.compile(r"[a-z][a-z0-9-]*")
_AGENT_BINARY = re.compile(r"\d+\.\d+(?:[.-][0-9A-Za-z]+)*-([a-z]+)-[0-9a-z]+")


@lru_cache(maxsize=65536)
def is_machine_id(value: str) -> bool:
    """`0`, `12`, `0/lxd/3`, `0/kvm/1/lxd/2`: containers nest, lxc is gone since 2.0."""
    return _MACHINE_ID.fullmatch(value) is not None


@lru_cache(maxsize=65536)
def is_unit_name(value: str) -> bool:
    """`wordpress/0`."""
    return _UNIT_NAME.fullmatch(value) is not None


@lru_cache(maxsize=4096)
def is_application_name(value: str) -> bool:
    return _APPLICATION_NAME.fullmatch(value) is not None


@lru_cache(maxsize=4096)
def is_agent_binary(value: str) -> bool:
    """`3.0.0-ubuntu-amd64`: version number, a known OS name, architecture."""
    match = _AGENT_BINARY.fullmatch(value)
    return match is not None and match[1] in OS_NAMES


def _formatted(test: Callable[[str], bool], expected: str) -> Check:
    return _predicate(lambda v: isinstance(v, str) and test(v), expected)


MACHINE_ID = _formatted(is_machine_id, "a machine id")
UNIT_NAME = _formatted(is_unit_name, "a unit name like 'wordpress/0'")
APPLICATION_NAME = _formatted(is_application_name, "an application name")
AGENT_BINARY = _formatted(is_agent_binary, "'<version>-<os>-<arch>' with a known OS")


def _base(value: Any) -> Problem | None:
    if type(value) is not dict or value.keys() != {"os", "channel"}:
        return ("", f"must be a map {{os, channel}}, got {_show(value)}")
    os, channel = value["os"], value["channel"]
    if not (isinstance(os, str) and isinstance(channel, str) and (os, channel) in VALID_BASES):
        return ("", f"must be a known base, got {_show(value)}")
    return None


_REFUSED_CONFIG_KEYS = SECRET_CONFIG_KEYS | REPLACED_CONFIG_KEYS


def _config(value: dict[str, Any]) -> Problem | None:
    refused = _REFUSED_CONFIG_KEYS.intersection(value)
    if refused:
        return (f"[{min(refused)!r}]", "is not a 3.0 config key")
    base = value.get("default-base")
    if base is not None and not (isinstance(base, str) and base in VALID_BASE_NAMES):
        return ("['default-base']", f"must be a known base like 'ubuntu@22.04', got {_show(base)}")
    return None


def _unset_keys(value: list[Any]) -> Problem | None:
    for index, key in enumerate(value):
        if key in _REFUSED_CONFIG_KEYS:
            return (f"[{index}]", f"is not a 3.0 config key: {key!r}")
    return None


def _then(first: Check, second: Callable[[Any], Problem | None]) -> Check:
    def both(value: Any) -> Problem | None:
        problem = first(value)
        return problem if problem is not None else second(value)

    return both


CONFIG = _then(json_map(2), _config)  # payload -> config (level 2) -> values
UNSET_KEYS = _then(list_of(STRING), _unset_keys)
CLOUD_CREDENTIAL = matching(r"(?:[^/]+/[^/]+/[^/]+)?", "'' or '<cloud>/<owner>/<name>'")
HARDWARE = record(
    {
        "arch": optional(NON_EMPTY_STRING),
        "cpu_cores": optional(NON_NEGATIVE_INT),
        "cpu_power": optional(NON_NEGATIVE_INT),
        "mem_mib": optional(NON_NEGATIVE_INT),
        "root_disk_mib": optional(NON_NEGATIVE_INT),
        "tags": list_of(NON_EMPTY_STRING),
        "availability_zone": optional(STRING),
    }
)
INSTANCE = record(
    {
        "instance_id": NON_EMPTY_STRING,
        "display_name": STRING,
        "keep_instance": BOOL,
        "hardware": HARDWARE,
    }
)
ADDRESS = record(
    {
        "value": NON_EMPTY_STRING,
        "type": one_of(ADDRESS_TYPES),
        "scope": one_of(ADDRESS_SCOPES),
        "space_id": NON_EMPTY_STRING,
    }
)

# --- the catalogue ---------------------------------------------------------------------

PAYLOADS: Final[Mapping[str, Mapping[str, Check]]] = MappingProxyType(
    {
        "ModelCreated": {
            "model_uuid": NON_EMPTY_STRING,
            "name": NON_EMPTY_STRING,
            "provider_type": NON_EMPTY_STRING,
            "controller_uuid": NON_EMPTY_STRING,
            "owner": NON_EMPTY_STRING,
            "type": one_of(MODEL_TYPES),
            "cloud": NON_EMPTY_STRING,
            "cloud_region": STRING,
            "cloud_credential": CLOUD_CREDENTIAL,
            "config": CONFIG,
        },
        "ModelConfigChanged": {"set": CONFIG, "unset": UNSET_KEYS},
        "AgentVersionSet": {"version": NON_EMPTY_STRING},
        "ModelEnvironVersionSet": {
            "from_version": NON_NEGATIVE_INT,
            "to_version": NON_NEGATIVE_INT,
            "operations": list_of(NON_EMPTY_STRING),
        },
        "MachineAdded": {
            "machine_id": MACHINE_ID,
            "base": _base,
            "container_type": one_of(CONTAINER_TYPES),
            "nonce": STRING,
            "jobs": sorted_set_of(JOBS),
            "constraints": STRING,
            "placement": STRING,
        },
        "MachineProvisioned": {"nonce": STRING, "instance": INSTANCE},
        "MachineAddressesSet": {
            "origin": one_of(ADDRESS_ORIGINS),
            "addresses": list_of(ADDRESS),
        },
        "MachineAgentBinarySet": {
            "version": AGENT_BINARY,
            "url": STRING,
            "size": NON_NEGATIVE_INT,
            "sha256": STRING,
        },
        "MachineLifeChanged": {"life": one_of(LIFE_VALUES), "force": BOOL},
        "MachineSupportedContainersSet": {"types": sorted_set_of(("lxd", "kvm"))},
        "MachineUpgradeActionsRequested": {
            "release": RELEASE,
            "packages": list_of(NON_EMPTY_STRING),
            "apt_sources": list_of(NON_EMPTY_STRING),
        },
        "MachineUpgradeActionsCompleted": {"release": RELEASE},
        "UnitAssignedToMachine": {
            "unit": UNIT_NAME,
            "application": APPLICATION_NAME,
            "machine_id": MACHINE_ID,
        },
        "UnitDestroyed": {"unit": UNIT_NAME},
        "UpgradeStarted": {
            "from_release": RELEASE,
            "to_release": RELEASE,
            "holder": NON_EMPTY_STRING,
            "fencing_token": NON_NEGATIVE_INT,
        },
        "UpgradeStepApplied": {
            "release": RELEASE,
            "step": NON_EMPTY_STRING,
            "events_written": NON_NEGATIVE_INT,
        },
        "UpgradeCompleted": {
            "release": RELEASE,
            "events_written": NON_NEGATIVE_INT,
            "duration_s": DURATION,
        },
        "UpgradeAborted": {
            "reason": NON_EMPTY_STRING,
            "stream": STRING,
            "version": NON_NEGATIVE_INT,
            "type": STRING,
            "schema": NON_NEGATIVE_INT,
        },
        RETIRED_TYPE: {"original_type": NON_EMPTY_STRING, "reason": NON_EMPTY_STRING},
    }
)


# --- fast paths ------------------------------------------------------------------------
# Every upcast result and every append is validated, so the busy types get a plain
# predicate that only says yes quickly. It must never say yes to an invalid payload
# (tests check it against the checks above); when it says no, or raises, the checks
# above run and give the message (or accept what the fast path was too strict for,
# such as a str subclass). Missing keys raise KeyError; with `len` that makes the
# key set exact without a set comparison.

_CONTAINER_TYPES = frozenset(CONTAINER_TYPES)
_LIFE_VALUES = frozenset(LIFE_VALUES)
_ADDRESS_TYPES = frozenset(ADDRESS_TYPES)
_ADDRESS_SCOPES = frozenset(ADDRESS_SCOPES)
_ADDRESS_ORIGINS = frozenset(ADDRESS_ORIGINS)
# Sorted lists without duplicates, as tuples: one hash lookup checks a whole list.
_JOB_LISTS = frozenset(
    {(), (JOB_HOST_UNITS,), (JOB_MANAGE_MODEL,), (JOB_HOST_UNITS, JOB_MANAGE_MODEL)}
)
_CONTAINER_LISTS = frozenset({(), ("kvm",), ("lxd",), ("kvm", "lxd")})


def _all_strings(values: Iterable[Any], allow_empty: bool = True) -> bool:
    # A plain loop: cheaper than all() over a generator for the short lists here.
    for value in values:  # noqa: SIM110
        if type(value) is not str or (value == "" and not allow_empty):
            return False
    return True


def _fast_machine_added(d: Mapping[str, Any]) -> bool:
    base = d["base"]
    jobs = d["jobs"]
    return (
        len(d) == 7
        and type(machine_id := d["machine_id"]) is str
        and is_machine_id(machine_id)
        and type(base) is dict
        and len(base) == 2
        and (base["os"], base["channel"]) in VALID_BASES
        and d["container_type"] in _CONTAINER_TYPES
        and type(d["nonce"]) is str
        and type(jobs) is list
        and tuple(jobs) in _JOB_LISTS
        and type(d["constraints"]) is str
        and type(d["placement"]) is str
    )


def _fast_machine_provisioned(d: Mapping[str, Any]) -> bool:
    instance = d["instance"]
    if not (len(d) == 2 and type(d["nonce"]) is str and type(instance) is dict):
        return False
    hardware = instance["hardware"]
    if not (
        len(instance) == 4
        and type(instance_id := instance["instance_id"]) is str
        and instance_id != ""
        and type(instance["display_name"]) is str
        and type(instance["keep_instance"]) is bool
        and type(hardware) is dict
        and len(hardware) == 7
    ):
        return False
    arch = hardware["arch"]
    cores = hardware["cpu_cores"]
    power = hardware["cpu_power"]
    mem = hardware["mem_mib"]
    disk = hardware["root_disk_mib"]
    zone = hardware["availability_zone"]
    tags = hardware["tags"]
    return (
        (arch is None or (type(arch) is str and arch != ""))
        and (cores is None or (type(cores) is int and cores >= 0))
        and (power is None or (type(power) is int and power >= 0))
        and (mem is None or (type(mem) is int and mem >= 0))
        and (disk is None or (type(disk) is int and disk >= 0))
        and (zone is None or type(zone) is str)
        and type(tags) is list
        and (not tags or _all_strings(tags, allow_empty=False))
    )


def _fast_machine_addresses_set(d: Mapping[str, Any]) -> bool:
    addresses = d["addresses"]
    if not (len(d) == 2 and d["origin"] in _ADDRESS_ORIGINS and type(addresses) is list):
        return False
    for address in addresses:
        if not (
            type(address) is dict
            and len(address) == 4
            and type(value := address["value"]) is str
            and value != ""
            and address["type"] in _ADDRESS_TYPES
            and address["scope"] in _ADDRESS_SCOPES
            and type(space_id := address["space_id"]) is str
            and space_id != ""
        ):
            return False
    return True


def _fast_machine_agent_binary_set(d: Mapping[str, Any]) -> bool:
    return (
        len(d) == 4
        and type(version := d["version"]) is str
        and is_agent_binary(version)
        and type(d["url"]) is str
        and type(size := d["size"]) is int
        and size >= 0
        and type(d["sha256"]) is str
    )


def _fast_machine_life_changed(d: Mapping[str, Any]) -> bool:
    return len(d) == 2 and d["life"] in _LIFE_VALUES and type(d["force"]) is bool


def _fast_machine_supported_containers_set(d: Mapping[str, Any]) -> bool:
    types = d["types"]
    return len(d) == 1 and type(types) is list and tuple(types) in _CONTAINER_LISTS


def _fast_unit_assigned_to_machine(d: Mapping[str, Any]) -> bool:
    return (
        len(d) == 3
        and type(unit := d["unit"]) is str
        and is_unit_name(unit)
        and type(application := d["application"]) is str
        and is_application_name(application)
        and type(machine_id := d["machine_id"]) is str
        and is_machine_id(machine_id)
    )


def _fast_unit_destroyed(d: Mapping[str, Any]) -> bool:
    return len(d) == 1 and type(unit := d["unit"]) is str and is_unit_name(unit)


def _fast_agent_version_set(d: Mapping[str, Any]) -> bool:
    return len(d) == 1 and type(version := d["version"]) is str and version != ""


def _fast_model_config_changed(d: Mapping[str, Any]) -> bool:
    changes = d["set"]
    unset = d["unset"]
    base = changes.get("default-base") if type(changes) is dict else None
    return (
        len(d) == 2
        and type(changes) is dict
        and json_problem(changes, 2) is None
        and _REFUSED_CONFIG_KEYS.isdisjoint(changes)
        and (base is None or base in VALID_BASE_NAMES)
        and type(unset) is list
        and _all_strings(unset)
        and _REFUSED_CONFIG_KEYS.isdisjoint(unset)
    )


def _fast_event_retired(d: Mapping[str, Any]) -> bool:
    return (
        len(d) == 2
        and type(original := d["original_type"]) is str
        and original != ""
        and type(reason := d["reason"]) is str
        and reason != ""
    )


FastCheck = Callable[[Mapping[str, Any]], bool]
FAST_CHECKS: Final[Mapping[str, FastCheck]] = MappingProxyType(
    {
        "MachineAdded": _fast_machine_added,
        "MachineProvisioned": _fast_machine_provisioned,
        "MachineAddressesSet": _fast_machine_addresses_set,
        "MachineAgentBinarySet": _fast_machine_agent_binary_set,
        "MachineLifeChanged": _fast_machine_life_changed,
        "MachineSupportedContainersSet": _fast_machine_supported_containers_set,
        "UnitAssignedToMachine": _fast_unit_assigned_to_machine,
        "UnitDestroyed": _fast_unit_destroyed,
        "AgentVersionSet": _fast_agent_version_set,
        "ModelConfigChanged": _fast_model_config_changed,
        RETIRED_TYPE: _fast_event_retired,
    }
)


def payload_validator(
    type_name: str, fields: Mapping[str, Check], fast: FastCheck | None = None
) -> Validator:
    """One type's validator: the fast path when it has one, else each field's check."""
    keys = frozenset(fields)
    items = tuple(fields.items())

    def check_fields(data: Mapping[str, Any]) -> None:
        if type(data) is not dict and not isinstance(data, Mapping):
            raise ValidationError(f"{type_name}: payload must be a map, got {_show(data)}")
        if data.keys() != keys:
            raise ValidationError(f"{type_name}: payload {_key_problem(data, keys)}")
        for name, check in items:
            try:
                problem = check(data[name])
            except Exception as exc:  # a check's own bug must still read as invalid input
                problem = ("", f"is malformed ({type(exc).__name__})")
            if problem is not None:
                raise ValidationError(f"{type_name}: field '{name}{problem[0]}' {problem[1]}")

    if fast is None:
        return check_fields

    def validate(data: Mapping[str, Any]) -> None:
        try:
            if fast(data):
                return
        except Exception:  # a missing key, an unhashable value: let the checks say what
            pass
        check_fields(data)

    return validate


VALIDATORS: Final[Mapping[str, Validator]] = MappingProxyType(
    {
        type_name: payload_validator(type_name, fields, FAST_CHECKS.get(type_name))
        for type_name, fields in PAYLOADS.items()
    }
)


def validate_payload(type_name: str, data: Mapping[str, Any]) -> None:
    """Raise ValidationError unless `data` is a valid 3.0 payload of `type_name`."""
    try:
        validate = VALIDATORS[type_name]
    except (KeyError, TypeError):
        raise ValidationError(f"{_show(type_name)} is not a 3.0 event type") from None
    validate(data)
