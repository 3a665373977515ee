"""The repository API that state servers write through.

    repo = Repository(open_store("sqlite:///state.db"))
    uuid = repo.create_model("prod", provider_type="ec2", cloud_region="us-east-1")
    machine_id = repo.add_machine(uuid, base="ubuntu@22.04", jobs=["JobHostUnits"])

Each command loads the aggregate, decides, and appends at the version it loaded.
If another writer got there first the append fails with ConcurrencyConflictError;
`repo.retrying()` returns the same API with every command reloaded and re-decided
on a conflict (tenacity: bounded attempts, jittered exponential backoff), so
concurrent state servers collaborate without losing a write.

A model or machine loads from its latest snapshot plus the events after it, and a
snapshot is written once the stream has grown by `snapshot_every` events since the
last one (eventstate.snapshots, docs/snapshots.md; `snapshot_every=0` turns them off).
"""

from __future__ import annotations

import gc
import uuid as uuidlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from eventstate.domain.aggregates import (
    Aggregate,
    FoldedAggregate,
    FoldedState,
    Machine,
    Model,
    Unit,
)
from eventstate.domain.catalogue import CONTAINER_TYPES as CATALOGUE_CONTAINER_TYPES
from eventstate.domain.catalogue import SECRET_CONFIG_KEYS
from eventstate.errors import ConcurrencyConflictError, ValidationError
from eventstate.snapshots import DEFAULT_SNAPSHOT_EVERY, Snapshots
from eventstate.store import Event, EventStore, NewEvent
from eventstate.streams import machine_stream, model_stream, unit_stream
from upcasters.addresses import classify

T = TypeVar("T")
F = TypeVar("F", bound=FoldedAggregate)

CREDENTIAL_KEYS = SECRET_CONFIG_KEYS
CONTAINER_TYPES = tuple(t for t in CATALOGUE_CONTAINER_TYPES if t)  # "" is not a container
PROVIDER_CLOUDS = {"ec2": "aws"}


class Repository:
    def __init__(
        self,
        store: EventStore,
        cache_size: int = 10_000,
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    ) -> None:
        self.store = store
        # Aggregates as last saved by this process, keyed by what was asked for. A
        # load takes one out and reads only the events appended since (by anyone),
        # so a command costs one indexed read instead of a replay of its stream.
        # Taken out, not shared: an aggregate whose save failed is never put back.
        self._cache: OrderedDict[tuple[str, ...], Aggregate] = OrderedDict()
        self.cache_size = cache_size
        # None when snapshot_every is 0 or the backend keeps no snapshots.
        self.snapshots = Snapshots.for_store(store, snapshot_every)

    # --- loading ---------------------------------------------------------------

    def _cached(self, key: tuple[str, ...]) -> Aggregate | None:
        aggregate = self._cache.pop(key, None)
        if aggregate is not None:
            newer = self.store.read_stream(aggregate.stream, gt=aggregate.version)
            aggregate.fast_forward(newer)
        return aggregate

    def load_model(self, model_uuid: str) -> Model:
        key = ("model", model_uuid)
        cached = self._cached(key)
        if isinstance(cached, Model):
            return cached
        model = self._load_folded(
            model_stream(model_uuid), lambda events, start: Model(model_uuid, events, start)
        )
        model.cache_key = key
        return model

    def load_machine(self, model_uuid: str, machine_id: str) -> Machine:
        key = ("machine", model_uuid, machine_id)
        cached = self._cached(key)
        if isinstance(cached, Machine):
            return cached
        stream = self.store.machine_stream_of(model_uuid, machine_id)
        machine = self._load_folded(
            stream,
            lambda events, start: Machine(model_uuid, machine_id, events, stream, start),
        )
        machine.cache_key = key
        return machine

    def _load_folded(self, stream: str, make: Callable[[list[Event], FoldedState | None], F]) -> F:
        """Fold the stream from its snapshot (if any is usable) or from version 1."""
        with _gc_paused():
            aggregate = None
            start = None if self.snapshots is None else self.snapshots.read(stream)
            if start is not None:
                # From the snapshot's own event on: it must still be where it was.
                events = self.store.read_stream(stream, gt=start.version - 1)
                if events and (events[0].version, events[0].position) == (
                    start.version,
                    start.position,
                ):
                    del events[0]
                    aggregate = make(events, start)
            if aggregate is None:
                aggregate = make(self.store.read_stream(stream), None)
        self._snapshot_if_due(aggregate)
        return aggregate

    def _snapshot_if_due(self, aggregate: Aggregate) -> None:
        snapshots = self.snapshots
        if (
            snapshots is not None
            and isinstance(aggregate, FoldedAggregate)
            and not aggregate.pending
            and snapshots.due(aggregate.version, aggregate.snapshot_version)
        ):
            snapshots.write(aggregate.stream, aggregate.folded_state())
            # Written or not, the next attempt waits for another snapshot_every events.
            aggregate.snapshot_version = aggregate.version

    def load_unit(self, model_uuid: str, unit_name: str) -> Unit:
        key = ("unit", model_uuid, unit_name)
        cached = self._cached(key)
        if isinstance(cached, Unit):
            return cached
        stream = unit_stream(model_uuid, unit_name)
        unit = Unit(model_uuid, unit_name, self.store.read_stream(stream))
        unit.cache_key = key
        return unit

    def save(self, *aggregates: Aggregate) -> list[int]:
        """Append every pending event of the aggregates in one atomic write."""
        events: list[NewEvent] = [e for a in aggregates for e in a.pending]
        positions = self.store.append(events)
        cache = self._cache
        appended = 0  # positions come in the order of `events`
        for aggregate in aggregates:
            if aggregate.pending:
                appended += len(aggregate.pending)
                aggregate.version += len(aggregate.pending)
                aggregate.position = positions[appended - 1]
                aggregate.pending.clear()
            if aggregate.cache_key:
                cache[aggregate.cache_key] = aggregate
                cache.move_to_end(aggregate.cache_key)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)
        for aggregate in aggregates:
            self._snapshot_if_due(aggregate)
        return positions

    # --- reading (write-side state) ---------------------------------------------

    def get_model(self, model_uuid: str) -> dict[str, Any]:
        """The model's current state (its own stream folded)."""
        return self.load_model(model_uuid).require()

    def get_machine(self, model_uuid: str, machine_id: str) -> dict[str, Any]:
        """The machine's current state (its own stream folded; for the full
        document with containers and units, read the projection)."""
        return self.load_machine(model_uuid, machine_id).require()

    # --- model commands -------------------------------------------------------------

    def create_model(
        self,
        name: str,
        *,
        provider_type: str,
        config: dict[str, Any] | None = None,
        owner: str = "admin",
        cloud: str | None = None,
        cloud_region: str = "",
        cloud_credential: str = "",
        controller_uuid: str | None = None,
        model_uuid: str | None = None,
    ) -> str:
        model_uuid = model_uuid or str(uuidlib.uuid4())
        config = dict(config or {})
        secrets = sorted(k for k in config if k in CREDENTIAL_KEYS)
        if secrets:
            raise ValidationError(
                f"config keys {secrets} are credentials: store them as a cloud credential"
            )
        model = self.load_model(model_uuid)
        model.create(
            name=name,
            provider_type=provider_type,
            cloud=cloud or PROVIDER_CLOUDS.get(provider_type, provider_type),
            cloud_region=cloud_region,
            cloud_credential=cloud_credential,
            owner=owner,
            controller_uuid=controller_uuid or model_uuid,
            config=config,
        )
        self.save(model)
        return model_uuid

    def change_model_config(
        self, model_uuid: str, set: dict[str, Any] | None = None, unset: Iterable[str] = ()
    ) -> None:
        values = dict(set or {})
        secrets = sorted(k for k in values if k in CREDENTIAL_KEYS)
        if secrets:
            raise ValidationError(f"config keys {secrets} are credentials: not model config")
        model = self.load_model(model_uuid)
        model.change_config(values, unset)
        self.save(model)

    def set_model_agent_version(self, model_uuid: str, version: str) -> None:
        model = self.load_model(model_uuid)
        model.set_agent_version(version)
        self.save(model)

    # --- machine commands ------------------------------------------------------------

    def add_machine(
        self,
        model_uuid: str,
        *,
        base: str | dict[str, str],
        jobs: Sequence[str] = ("JobHostUnits",),
        parent: str | None = None,
        container_type: str = "",
        machine_id: str | None = None,
        nonce: str = "",
        constraints: str = "",
        placement: str = "",
    ) -> str:
        """Add a machine (or, with parent and container_type, a container); returns its id.

        Without machine_id the next free id is taken; two servers that pick the
        same one conflict, and the retrying API picks again.
        """
        self.load_model(model_uuid).require()
        if parent is not None:
            if container_type not in CONTAINER_TYPES:
                raise ValidationError(
                    f"a container needs container_type lxd or kvm, not {container_type!r}"
                )
            host = self.load_machine(model_uuid, parent)
            host_state = host._require_alive("add a container to")
            supported = host_state.get("supported_containers")
            if supported is not None and container_type not in supported:
                raise ValidationError(
                    f"machine {parent} does not support {container_type} containers "
                    f"(supports {supported})"
                )
        elif container_type:
            raise ValidationError("container_type needs a parent machine")
        if machine_id is None:
            machine_id = self._next_machine_id(model_uuid, parent, container_type)
        machine = self.load_machine(model_uuid, machine_id)
        machine.add(
            base=parse_base(base),
            jobs=jobs,
            container_type=container_type,
            nonce=nonce,
            constraints=constraints,
            placement=placement,
        )
        self.save(machine)
        return machine_id

    def _next_machine_id(self, model_uuid: str, parent: str | None, container_type: str) -> str:
        ids = [f"{parent}/{container_type}/"] if parent else [""]
        if parent and container_type == "lxd":
            ids.append(f"{parent}/lxc/")  # 1.x containers read as lxd today
        numbers = []
        for suffix in ids:
            prefix = machine_stream(model_uuid, suffix)
            taken = [s[len(prefix) :] for s in self.store.backend.list_streams(prefix)]
            numbers += [int(t) for t in taken if t.isdigit()]
        number = max(numbers) + 1 if numbers else 0
        return f"{parent}/{container_type}/{number}" if parent else str(number)

    def provision_machine(
        self,
        model_uuid: str,
        machine_id: str,
        *,
        instance_id: str,
        nonce: str,
        hardware: dict[str, Any] | None = None,
        display_name: str = "",
        keep_instance: bool = False,
    ) -> None:
        full_hardware: dict[str, Any] = {
            "arch": None,
            "cpu_cores": None,
            "cpu_power": None,
            "mem_mib": None,
            "root_disk_mib": None,
            "tags": [],
            "availability_zone": None,
        }
        unknown = sorted(set(hardware or {}) - set(full_hardware))
        if unknown:
            raise ValidationError(f"unknown hardware keys {unknown}")
        full_hardware.update(hardware or {})
        self._machine_command(
            model_uuid,
            machine_id,
            lambda m: m.provision(
                instance_id=instance_id,
                nonce=nonce,
                hardware=full_hardware,
                display_name=display_name,
                keep_instance=keep_instance,
            ),
        )

    def set_machine_addresses(
        self,
        model_uuid: str,
        machine_id: str,
        addresses: Sequence[str | dict[str, Any]],
        origin: str = "provider",
    ) -> None:
        """Addresses as plain values (classified like the 1.18 upcaster does) or full maps."""
        entries = [_address_entry(a) for a in addresses]
        self._machine_command(model_uuid, machine_id, lambda m: m.set_addresses(entries, origin))

    def set_machine_agent_binary(
        self,
        model_uuid: str,
        machine_id: str,
        *,
        version: str,
        url: str = "",
        size: int = 0,
        sha256: str = "",
    ) -> None:
        self._machine_command(
            model_uuid,
            machine_id,
            lambda m: m.set_agent_binary(version=version, url=url, size=size, sha256=sha256),
        )

    def set_machine_life(
        self, model_uuid: str, machine_id: str, life: str, *, force: bool = False
    ) -> None:
        self._machine_command(model_uuid, machine_id, lambda m: m.set_life(life, force=force))

    def destroy_machine(self, model_uuid: str, machine_id: str, *, force: bool = False) -> None:
        self.set_machine_life(model_uuid, machine_id, "dying", force=force)

    def set_supported_containers(
        self, model_uuid: str, machine_id: str, types: Sequence[str]
    ) -> None:
        self._machine_command(model_uuid, machine_id, lambda m: m.set_supported_containers(types))

    def _machine_command(
        self, model_uuid: str, machine_id: str, decide: Callable[[Machine], Any]
    ) -> None:
        machine = self.load_machine(model_uuid, machine_id)
        decide(machine)
        if machine.pending:
            self.save(machine)

    # --- unit commands -----------------------------------------------------------------

    def assign_unit(self, model_uuid: str, unit_name: str, machine_id: str) -> None:
        unit = self.load_unit(model_uuid, unit_name)
        unit.assign(self.load_machine(model_uuid, machine_id))
        self.save(unit)

    def destroy_unit(self, model_uuid: str, unit_name: str) -> None:
        unit = self.load_unit(model_uuid, unit_name)
        unit.destroy()
        self.save(unit)

    # --- concurrency ----------------------------------------------------------------------

    def retrying(self, attempts: int = 12, max_wait_s: float = 0.5) -> RetryingRepository:
        return RetryingRepository(self, attempts, max_wait_s)


class RetryingRepository:
    """The Repository API with every command retried on a concurrency conflict.

    Each attempt runs the whole command again: it reloads the aggregate and
    decides anew, so a retried command never appends a decision made on stale
    state. Past `attempts` the last ConcurrencyConflictError reaches the caller.
    """

    def __init__(self, repository: Repository, attempts: int, max_wait_s: float) -> None:
        self.repository = repository
        self.attempts = attempts
        self.max_wait_s = max_wait_s
        self.conflicts = 0  # how many attempts lost a race, for load reports

    def run(self, command: Callable[[Repository], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception_type(ConcurrencyConflictError),
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=0.002, max=self.max_wait_s),
            reraise=True,
            before_sleep=self._count,
        )
        return retrying(command, self.repository)

    def _count(self, _state: Any) -> None:
        self.conflicts += 1

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.repository, name)
        if not callable(method) or name.startswith(("load_", "save", "_")):
            return method  # type: ignore[no-any-return]

        def command(*args: Any, **kwargs: Any) -> Any:
            return self.run(lambda repo: getattr(repo, name)(*args, **kwargs))

        return command


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A load allocates a payload per event; CPython's cyclic collector would walk
    the process's heap several times over while it runs, for no garbage (the
    decoded events and documents hold no cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_base(base: str | dict[str, str]) -> dict[str, str]:
    """'ubuntu@22.04' or {os, channel} -> {os, channel} with channel '<version>/stable'."""
    if isinstance(base, dict):
        if set(base) != {"os", "channel"}:
            raise ValidationError(f"base must be {{os, channel}}, got keys {sorted(base)}")
        return {"os": str(base["os"]), "channel": str(base["channel"])}
    os_name, sep, version = base.partition("@")
    if not sep or not os_name or not version:
        raise ValidationError(f"base {base!r} must look like ubuntu@22.04")
    channel = version if "/" in version else f"{version}/stable"
    return {"os": os_name, "channel": channel}


def _address_entry(address: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(address, dict):
        return {"space_id": "0", **address}
    # The 1.18 classification rules are still today's: one implementation for both.
    classified = classify(address)
    if classified is None:
        raise ValidationError(f"address {address!r} is neither an IP address nor a valid host name")
    type_name, scope = classified
    return {"value": address, "type": type_name, "scope": scope, "space_id": "0"}
