"""The projected documents (spec/documents.md): their shapes, where they live, and helpers.

A machine or model document holds exactly the keys documents.md lists. The fold's own
bookkeeping (which machine a unit sits on) lives in unit records, never in a document.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from eventstate.errors import ValidationError

Document = dict[str, Any]
MachineKey = tuple[str, str]  # (model uuid, machine id as 3.0 spells it)
UnitKey = tuple[str, str]  # (model uuid, unit name)

MACHINE_KEYS: tuple[str, ...] = (
    "model_uuid",
    "id",
    "life",
    "jobs",
    "is_controller",
    "base",
    "container_type",
    "parent",
    "containers",
    "nonce",
    "is_manual",
    "instance",
    "addresses",
    "preferred_public_address",
    "preferred_private_address",
    "agent_version",
    "agent_binary",
    "supported_containers",
    "principals",
    "clean",
    "constraints",
    "placement",
    "pending_upgrade_actions",
    "stream_version",
    "updated_at",
)

MODEL_KEYS: tuple[str, ...] = (
    "model_uuid",
    "name",
    "owner",
    "type",
    "provider_type",
    "cloud",
    "cloud_region",
    "cloud_credential",
    "config",
    "agent_version",
    "environ_version",
    "capabilities",
    "machine_count",
)

# documents.md, "Capabilities by provider type": (can_start_instances, has_firewall,
# needs_local_storage).
PROVIDER_CAPABILITIES: dict[str, tuple[bool, bool, bool]] = {
    "local": (True, False, True),
    "manual": (False, False, True),
    "null": (False, False, True),
    "maas": (True, False, False),
    "ec2": (True, True, False),
    "openstack": (True, True, False),
    "azure": (True, True, False),
    "gce": (True, True, False),
    "joyent": (True, True, False),
    "lxd": (True, True, False),
}
_NO_CAPABILITIES = (False, False, False)

# Providers whose machine 0 is the manually provisioned bootstrap host.
MANUAL_PROVIDERS = frozenset({"manual", "null"})
MANUAL_NONCE_PREFIX = "manual:"
MANAGE_MODEL_JOB = "JobManageModel"
# Credential keys never reach a projection, even from an event that still carries one.
CREDENTIAL_KEYS = frozenset({"access-key", "secret-key", "password"})
LIFE_ORDER: dict[str, int] = {"alive": 0, "dying": 1, "dead": 2}


class DocumentSet(Protocol):
    """Where the fold reads and writes documents: an in-memory dict for a rebuild, a
    storage-backed cache (SQLite/MongoDB) for incremental catch-up."""

    def get_machine(self, model_uuid: str, machine_id: str) -> Document | None: ...
    def put_machine(self, doc: Document) -> None: ...
    def get_model(self, model_uuid: str) -> Document | None: ...
    def put_model(self, doc: Document) -> None: ...
    def get_unit(self, model_uuid: str, unit_name: str) -> Document | None: ...
    def put_unit(self, doc: Document) -> None: ...


class MemoryDocumentSet:
    """A DocumentSet in plain dicts; `get_*` hand out the stored objects themselves."""

    def __init__(self) -> None:
        self._machines: dict[MachineKey, Document] = {}
        self._models: dict[str, Document] = {}
        self._units: dict[UnitKey, Document] = {}

    def get_machine(self, model_uuid: str, machine_id: str) -> Document | None:
        return self._machines.get((model_uuid, machine_id))

    def put_machine(self, doc: Document) -> None:
        self._machines[doc["model_uuid"], doc["id"]] = doc

    def get_model(self, model_uuid: str) -> Document | None:
        return self._models.get(model_uuid)

    def put_model(self, doc: Document) -> None:
        self._models[doc["model_uuid"]] = doc

    def get_unit(self, model_uuid: str, unit_name: str) -> Document | None:
        return self._units.get((model_uuid, unit_name))

    def put_unit(self, doc: Document) -> None:
        self._units[doc["model_uuid"], doc["unit"]] = doc

    def machines(self) -> list[Document]:
        """Machine documents by model uuid, then numeric machine id."""
        ordered = sorted(self._machines, key=lambda key: (key[0], machine_sort_key(key[1])))
        return [self._machines[key] for key in ordered]

    def models(self) -> list[Document]:
        return [self._models[uuid] for uuid in sorted(self._models)]

    def units(self) -> list[Document]:
        return [self._units[key] for key in sorted(self._units)]


# --- documents -------------------------------------------------------------------------


def new_machine_document(model_uuid: str, machine_id: str) -> Document:
    """A machine nothing is known about yet: what its id alone tells, defaults elsewhere.

    `stream_version` 0 and `updated_at` null mark a stub: a document that a container or
    unit referred to before any event of the machine's own stream was folded.
    """
    # Copying a template is three times quicker than a 25-key literal; the lists are
    # made fresh because the fold changes `containers` and `principals` in place.
    doc = _MACHINE_TEMPLATE.copy()
    doc["model_uuid"] = model_uuid
    doc["id"] = machine_id
    if "/" in machine_id:
        doc["parent"], doc["container_type"] = parent_and_container_type(machine_id)
    doc["jobs"] = []
    doc["containers"] = []
    doc["addresses"] = []
    doc["principals"] = []
    doc["pending_upgrade_actions"] = []
    return doc


_MACHINE_TEMPLATE: Document = {
    "model_uuid": "",
    "id": "",
    "life": "alive",
    "jobs": [],
    "is_controller": False,
    "base": None,
    "container_type": "",
    "parent": None,
    "containers": [],
    "nonce": "",
    "is_manual": False,
    "instance": None,
    "addresses": [],
    "preferred_public_address": None,
    "preferred_private_address": None,
    "agent_version": None,
    "agent_binary": None,
    "supported_containers": None,
    "principals": [],
    "clean": True,
    "constraints": "",
    "placement": "",
    "pending_upgrade_actions": [],
    "stream_version": 0,
    "updated_at": None,
}


def new_model_document(model_uuid: str) -> Document:
    """A model before its ModelCreated: every field unknown (null), no capabilities."""
    return {
        "model_uuid": model_uuid,
        "name": None,
        "owner": None,
        "type": None,
        "provider_type": None,
        "cloud": None,
        "cloud_region": None,
        "cloud_credential": None,
        "config": {},
        "agent_version": None,
        "environ_version": 0,
        "capabilities": capabilities_for(None),
        "machine_count": 0,
    }


def capabilities_for(provider_type: str | None) -> dict[str, bool]:
    """documents.md's provider table; an unknown provider gets all three false."""
    start, firewall, local_storage = PROVIDER_CAPABILITIES.get(
        provider_type or "", _NO_CAPABILITIES
    )
    return {
        "can_start_instances": start,
        "has_firewall": firewall,
        "needs_local_storage": local_storage,
    }


def without_credentials(config: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy of `config` that the fold may change in place, minus any credential."""
    return {key: value for key, value in config.items() if key not in CREDENTIAL_KEYS}


# --- machine ids -----------------------------------------------------------------------


def machine_sort_key(machine_id: str) -> tuple[tuple[int, int, str], ...]:
    """Numeric segment by segment: `2` < `10`, `0/lxd/2` < `0/lxd/10`, `0` < `0/lxd/0`.

    Non-numeric segments (container types) sort as text and after numbers, so even a
    malformed id gets a total order instead of a TypeError.
    """
    return tuple(
        (0, int(segment), "") if segment.isdigit() else (1, 0, segment)
        for segment in machine_id.split("/")
    )


def parent_and_container_type(machine_id: str) -> tuple[str | None, str]:
    """`0/lxd/1` -> ("0", "lxd"); a top-level machine `4` -> (None, "")."""
    host_and_type, slash, _number = machine_id.rpartition("/")
    if not slash:
        return None, ""
    host, _, container_type = host_and_type.rpartition("/")
    return (host or None), container_type


def current_machine_id(machine_id: str) -> str:
    """The 3.0 spelling of a machine id taken from a stream id.

    Stream ids never change, so a stream written by 1.x still says `0/lxc/1`; the 2.0
    upcaster renamed the machine to `0/lxd/1`, and the document is keyed by that name.
    """
    if "lxc" not in machine_id:
        return machine_id
    segments = machine_id.split("/")
    # Container types sit at the odd positions: host/type/n/type/n.
    for index in range(1, len(segments), 2):
        if segments[index] == "lxc":
            segments[index] = "lxd"
    return "/".join(segments)


# --- stream ids ------------------------------------------------------------------------


def parse_model_stream(stream: str) -> str:
    """`model:<uuid>` -> uuid."""
    kind, _, uuid = stream.partition(":")
    if kind != "model" or not uuid or ":" in uuid:
        raise ValidationError(f"expected a model stream id model:<uuid>, got {stream!r}")
    return uuid


def parse_machine_stream(stream: str) -> MachineKey:
    """`machine:<uuid>:<machine-id>` -> (uuid, 3.0 machine id); ids may contain `/`."""
    kind, _, rest = stream.partition(":")
    uuid, _, machine_id = rest.partition(":")
    if kind != "machine" or not uuid or not machine_id:
        raise ValidationError(
            f"expected a machine stream id machine:<uuid>:<machine-id>, got {stream!r}"
        )
    return uuid, current_machine_id(machine_id)


def parse_unit_stream(stream: str) -> UnitKey:
    """`unit:<uuid>:<unit-name>` -> (uuid, unit name)."""
    kind, _, rest = stream.partition(":")
    uuid, _, unit_name = rest.partition(":")
    if kind != "unit" or not uuid or not unit_name:
        raise ValidationError(f"expected a unit stream id unit:<uuid>:<unit-name>, got {stream!r}")
    return uuid, unit_name


# --- times and releases ----------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_DAY = 86_400_000_000
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))
# Calendar dates by day number: the expensive part, and a log spans few distinct days.
_DATES: dict[int, str] = {}


def format_timestamp_us(us: int) -> str:
    """Microseconds since the epoch -> "2013-08-01T17:56:41.652228+00:00"."""
    day, in_day = divmod(us, _US_PER_DAY)
    date = _DATES.get(day)
    if date is None:
        if len(_DATES) > 100_000:
            _DATES.clear()
        date = _DATES[day] = (_EPOCH + timedelta(days=day)).date().isoformat()
    seconds, micros = divmod(in_day, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    two = _TWO_DIGITS
    return f"{date}T{two[hours]}:{two[minutes]}:{two[seconds]}.{micros:06d}+00:00"


def release_sort_key(release: str) -> tuple[int, ...]:
    """`1.16` < `1.18` < `2.0`: numeric parts, so this also orders releases newer than
    the code; a non-numeric name sorts first rather than failing the fold."""
    try:
        return tuple(int(part) for part in release.split("."))
    except ValueError:
        return (-1,)
