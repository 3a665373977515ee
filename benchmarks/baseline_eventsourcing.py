"""Plain eventsourcing 9.5 baselines, shared by the benchmarks of this folder.

Everything here is eventsourcing used the way its documentation shows, with no
eventstate code: an `Application` on eventsourcing's own SQLite persistence
module with a file database and the default JSON transcoder.

- Legacy (1.14-era) events are `DomainEvent` subclasses, one per stored type, each
  carrying the stored payload map in a `data` field; originator ids are
  `uuid5(NAMESPACE, stream)`. `save_in_chunks` writes them with `Application.save`,
  `chunk` events per call (save accepts domain events directly).
- Reading them at today's schema is eventsourcing's upcasting: each event class has
  `class_version` and static `upcast_v1_v2`, `upcast_v2_v3`, `upcast_v3_v4` methods,
  which `Mapper.to_domain_event` applies to the stored state. `read_all` pages
  through `select_notifications` 1,000 at a time. Events are written at class
  version 1 (what 1.14 code wrote) and read at class version 4 (`set_class_version`).

  The three steps do the spec's field-level changes (renames, new defaults, the job,
  life and series tables, lxc -> lxd) in simplified form: no validation, no error
  naming, heuristic address classification, a split-on-"=" characteristics parse and
  no provider context. They are therefore cheaper than eventstate's chain, which
  makes every ratio against this baseline conservative.
- `Model` and `Machine` are eventsourcing `Aggregate`s with `@event` commands, for
  the command and load baselines.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEvent, DomainEventProtocol, event

NAMESPACE = UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # uuid.NAMESPACE_URL

_ids: dict[str, UUID] = {}


def stream_uuid(stream: str) -> UUID:
    """The originator id of a stream: uuid5 of the stream id (memoised)."""
    value = _ids.get(stream)
    if value is None:
        value = _ids[stream] = uuid5(NAMESPACE, stream)
    return value


def make_app(path: str | os.PathLike[str]) -> Application[UUID]:
    """An Application on eventsourcing's SQLite module with a file database."""
    return Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "IS_SNAPSHOTTING_ENABLED": "no",
        }
    )


def close_app(app: Application[UUID]) -> None:
    app.close()


# --- frozen tables used by the simplified upcasts ---------------------------------------

_JOBS_114 = {
    1: "JobHostUnits",
    2: "JobManageEnviron",
    4: "JobHostEnvironStorage",
    5: "JobManageEnvironFirewall",
}
_JOBS_20 = {"JobHostUnits": "JobHostUnits", "JobManageEnviron": "JobManageModel"}
_SERIES = {
    "precise": ("ubuntu", "12.04"),
    "trusty": ("ubuntu", "14.04"),
    "xenial": ("ubuntu", "16.04"),
    "bionic": ("ubuntu", "18.04"),
    "focal": ("ubuntu", "20.04"),
    "jammy": ("ubuntu", "22.04"),
    "noble": ("ubuntu", "24.04"),
    "centos7": ("centos", "7"),
}
_DEPRECATED = frozenset(
    (
        "public-bucket",
        "public-bucket-region",
        "public-bucket-url",
        "default-image-id",
        "default-instance-type",
        "shared-storage-port",
        "tools-url",
    )
)
_CREDENTIALS = ("access-key", "secret-key", "password")
_LIFE = ("alive", "dying", "dead")
_CLOUDS = {"ec2": "aws"}


def _base_of(series: str) -> str:
    os_name, version = _SERIES[series]
    return f"{os_name}@{version}"


def _address(value: str) -> dict[str, str]:
    if ":" in value:
        kind = "ipv6"
    elif value.replace(".", "").isdigit():
        kind = "ipv4"
    else:
        kind = "hostname"
    scope = "local-cloud" if value.startswith(("10.", "192.168.")) else "public"
    return {"value": value, "type": kind, "scope": scope}


def _lxd(machine_id: str) -> str:
    return machine_id.replace("/lxc/", "/lxd/")


# --- the legacy event classes -------------------------------------------------------------


class LegacyEvent(DomainEvent):
    """A stored 1.14-era event: the payload map as stored."""

    data: dict[str, Any]

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        pass

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        pass

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        pass


class EnvironmentCreated(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        config = state["data"]["config"]
        for key in _DEPRECATED.intersection(config):
            del config[key]

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        data = state["data"]
        data["owner"] = "admin@local"
        data["server_uuid"] = data["uuid"]

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        data = state["data"]
        config = data["config"]
        owner = data.pop("owner").removesuffix("@local")
        cloud = _CLOUDS.get(data["provider_type"], data["provider_type"])
        had_secrets = False
        for key in _CREDENTIALS:
            if config.pop(key, None) is not None:
                had_secrets = True
        series = config.pop("default-series", None)
        if series is not None:
            config["default-base"] = _base_of(series)
        state["data"] = {
            "model_uuid": data["uuid"],
            "name": data["name"],
            "provider_type": data["provider_type"],
            "owner": owner,
            "type": "iaas",
            "cloud": cloud,
            "cloud_region": config.pop("region", ""),
            "cloud_credential": f"{cloud}/{owner}/default" if had_secrets else "",
            "controller_uuid": data["server_uuid"],
            "config": config,
        }


class EnvironConfigChanged(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        data = state["data"]
        for key in _DEPRECATED.intersection(data["set"]):
            del data["set"][key]
        data["unset"] = [key for key in data["unset"] if key not in _DEPRECATED]

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        data = state["data"]
        for key in _CREDENTIALS:
            data["set"].pop(key, None)

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        data = state["data"]
        series = data["set"].pop("default-series", None)
        if series is not None:
            data["set"]["default-base"] = _base_of(series)
        if "default-series" in data["unset"]:
            data["unset"] = ["default-base" if k == "default-series" else k for k in data["unset"]]


class AgentVersionSet(LegacyEvent):
    pass


class MachineAdded(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        data = state["data"]
        data["jobs"] = [_JOBS_114[job] for job in data["jobs"] if job != 3]

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        data = state["data"]
        data["jobs"] = sorted({_JOBS_20[job] for job in data["jobs"] if job in _JOBS_20})
        if data["container_type"] == "lxc":
            data["container_type"] = "lxd"
        data["machine_id"] = _lxd(data["machine_id"])

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        data = state["data"]
        os_name, version = _SERIES[data.pop("series")]
        data["base"] = {"os": os_name, "channel": f"{version}/stable"}


class MachineProvisioned(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        data = state["data"]
        pairs = dict(item.split("=", 1) for item in data.pop("characteristics").split())
        tags = pairs.get("tags")
        hardware = {
            "arch": pairs.get("arch"),
            "cpu_cores": pairs.get("cpu-cores"),
            "cpu_power": pairs.get("cpu-power"),
            "mem_mib": pairs.get("mem"),
            "root_disk_mib": pairs.get("root-disk"),
            "tags": tags.split(",") if tags else [],
        }
        data["instance"] = {"instance_id": data.pop("instance_id"), "hardware": hardware}

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["data"]["instance"]["hardware"]["availability_zone"] = None

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        instance = state["data"]["instance"]
        instance["display_name"] = ""
        instance["keep_instance"] = False


class MachineAddressesSet(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        data = state["data"]
        data["origin"] = "provider"
        data["addresses"] = [_address(value) for value in data["addresses"]]

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        for address in state["data"]["addresses"]:
            address["space_id"] = "0"


class MachineAgentToolsSet(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["data"] = dict(state["data"]["tools"])

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        data = state["data"]
        number, series, arch = data["version"].rsplit("-", 2)
        data["version"] = f"{number}-{_SERIES[series][0]}-{arch}"


class MachineLifeChanged(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        data = state["data"]
        data["life"] = _LIFE[data["life"]]

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        state["data"]["force"] = False


class MachineSupportedContainersSet(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        data = state["data"]
        data["types"] = ["lxd" if t == "lxc" else t for t in data["types"]]

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        data = state["data"]
        data["types"] = sorted(set(data["types"]))


class UnitAssignedToMachine(LegacyEvent):
    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        data = state["data"]
        data["application"] = data.pop("service")

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        data = state["data"]
        data["machine_id"] = _lxd(data["machine_id"])


class UnitDestroyed(LegacyEvent):
    pass


LEGACY_CLASSES: dict[str, type[LegacyEvent]] = {
    cls.__name__: cls
    for cls in (
        EnvironmentCreated,
        EnvironConfigChanged,
        AgentVersionSet,
        MachineAdded,
        MachineProvisioned,
        MachineAddressesSet,
        MachineAgentToolsSet,
        MachineLifeChanged,
        MachineSupportedContainersSet,
        UnitAssignedToMachine,
        UnitDestroyed,
    )
}
UPCAST_VERSION = 4  # class_version at read time: three upcast_vX_vY steps from 1


def set_class_version(version: int) -> None:
    """1 while writing (1.14 code wrote these), UPCAST_VERSION when reading at today's schema."""
    for cls in (LegacyEvent, *LEGACY_CLASSES.values()):
        cls.class_version = version  # type: ignore[attr-defined]


set_class_version(1)


# --- writing and reading the legacy log -------------------------------------------------------

LegacyRecord = tuple[str, int, str, int, datetime, dict[str, Any]]


def legacy_events(records: Iterable[LegacyRecord]) -> list[LegacyEvent]:
    """(stream, version, type, schema, recorded_at, data) -> DomainEvent objects (schema 1 only)."""
    classes = LEGACY_CLASSES
    out: list[LegacyEvent] = []
    append = out.append
    for stream, version, type_name, schema, recorded_at, data in records:
        if schema != 1:
            raise ValueError(
                f"{type_name} schema {schema}: the baseline holds 1.14 (schema 1) events"
            )
        append(
            classes[type_name](
                originator_id=stream_uuid(stream),
                originator_version=version,
                timestamp=recorded_at,
                data=data,
            )  # type: ignore[call-arg]  # a dataclass field mypy does not see
        )
    return out


def save_in_chunks(app: Application[UUID], events: Sequence[DomainEvent], chunk: int = 100) -> None:
    """`Application.save` with `chunk` events per call."""
    save = app.save
    for i in range(0, len(events), chunk):
        save(*events[i : i + chunk])


def read_all(app: Application[UUID], page: int = 1000) -> Iterator[DomainEventProtocol[UUID]]:
    """Every event in notification order: `select_notifications` pages of `page`,
    each notification through `Mapper.to_domain_event` (which runs the upcasts)."""
    return read_notifications(app.recorder, app.mapper, page)


def read_notifications(
    recorder: Any, mapper: Any, page: int = 1000
) -> Iterator[DomainEventProtocol[UUID]]:
    """The same read over a bare recorder and mapper (no Application around them)."""
    select = recorder.select_notifications
    to_domain_event = mapper.to_domain_event
    start = 1
    while True:
        notifications = select(start, page)
        for notification in notifications:
            yield to_domain_event(notification)
        if len(notifications) < page:
            return
        start = notifications[-1].id + 1


# --- aggregates: the command and load baselines ---------------------------------------------


class Model(Aggregate):
    @staticmethod
    def create_id(model_uuid: str, **_: Any) -> UUID:
        return stream_uuid(f"model:{model_uuid}")

    @event("Created")
    def __init__(
        self, model_uuid: str, name: str, provider_type: str, config: dict[str, Any]
    ) -> None:
        self.model_uuid = model_uuid
        self.name = name
        self.provider_type = provider_type
        self.config = dict(config)

    def change_config(self, set: dict[str, Any], unset: Sequence[str] = ()) -> None:
        if not set and not unset:
            raise ValueError("a config change needs at least one key to set or unset")
        self._config_changed(set=dict(set), unset=sorted(unset))

    @event("ConfigChanged")
    def _config_changed(self, set: dict[str, Any], unset: list[str]) -> None:
        self.config.update(set)
        for key in unset:
            self.config.pop(key, None)


class Machine(Aggregate):
    @staticmethod
    def create_id(model_uuid: str, machine_id: str, **_: Any) -> UUID:
        return stream_uuid(f"machine:{model_uuid}:{machine_id}")

    @event("Added")
    def __init__(
        self,
        model_uuid: str,
        machine_id: str,
        base: dict[str, str],
        jobs: list[str],
        container_type: str = "",
        nonce: str = "",
        constraints: str = "",
        placement: str = "",
    ) -> None:
        self.model_uuid = model_uuid
        self.machine_id = machine_id
        self.base = base
        self.jobs = jobs
        self.container_type = container_type
        self.nonce = nonce
        self.constraints = constraints
        self.placement = placement
        self.life = "alive"
        self.instance: dict[str, Any] | None = None
        self.addresses: list[dict[str, Any]] = []
        self.address_origin = ""
        self.agent_binary: dict[str, Any] | None = None
        self.supported_containers: list[str] | None = None

    @event("Provisioned")
    def provision(self, nonce: str, instance: dict[str, Any]) -> None:
        self.nonce = nonce
        self.instance = instance

    @event("AddressesSet")
    def set_addresses(self, origin: str, addresses: list[dict[str, Any]]) -> None:
        self.address_origin = origin
        self.addresses = addresses

    @event("AgentBinarySet")
    def set_agent_binary(self, version: str, url: str, size: int, sha256: str) -> None:
        self.agent_binary = {"version": version, "url": url, "size": size, "sha256": sha256}

    @event("SupportedContainersSet")
    def set_supported_containers(self, types: list[str]) -> None:
        self.supported_containers = sorted(set(types))

    def set_life(self, life: str, force: bool = False) -> None:
        if _LIFE.index(life) < _LIFE.index(self.life):
            raise ValueError(f"life never goes backwards ({self.life} -> {life})")
        if life != self.life:
            self._life_changed(life=life, force=force)

    @event("LifeChanged")
    def _life_changed(self, life: str, force: bool) -> None:
        self.life = life
