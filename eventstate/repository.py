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

from eventstate.arguments import (
    address_entry,
    checked_flag,
    checked_list,
    checked_map,
    checked_text,
    checked_texts,
    is_int,
    parse_base,
    placement_of,
    shown,
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
from eventstate.streams import (
    is_canonical_uuid,
    legacy_machine_id,
    machine_stream,
    model_stream,
    unit_stream,
)
from projections.documents import current_machine_id

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
        checked_text("model_uuid", model_uuid)
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
        checked_text("model_uuid", model_uuid)
        machine_id = current_machine_id(checked_text("machine_id", machine_id))
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
        checked_text("model_uuid", model_uuid)
        checked_text("unit_name", unit_name)
        key = ("unit", model_uuid, unit_name)
        cached = self._cached(key)
        if isinstance(cached, Unit):
            return cached
        stream = unit_stream(model_uuid, unit_name)
        unit = Unit(model_uuid, unit_name, self.store.read_stream(stream))
        unit.cache_key = key
        return unit

    def save(self, *aggregates: Aggregate, read: Sequence[Aggregate] = ()) -> list[int]:
        """Append every pending event of the aggregates in one atomic write.

        `read`: aggregates the decision read but does not change (the machine a
        unit is assigned to). Each must still be at the version loaded when the
        write commits, else ConcurrencyConflictError and the retrying API decides
        again: a rule spanning two streams never commits on stale state."""
        events: list[NewEvent] = [e for a in aggregates for e in a.pending]
        unchanged = {a.stream: a.version for a in read}
        positions = self.store.append(events, unchanged=unchanged)
        cache = self._cache
        appended = 0  # positions come in the order of `events`
        for aggregate in aggregates:
            if aggregate.pending:
                appended += len(aggregate.pending)
                aggregate.version += len(aggregate.pending)
                aggregate.position = positions[appended - 1]
                aggregate.pending.clear()
        for aggregate in (*aggregates, *read):  # loading took them out of the cache
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
        for arg, value in (
            ("name", name),
            ("provider_type", provider_type),
            ("owner", owner),
            ("cloud_region", cloud_region),
            ("cloud_credential", cloud_credential),
        ):
            checked_text(arg, value)
        if cloud is not None:
            checked_text("cloud", cloud)
        if controller_uuid is not None:
            checked_text("controller_uuid", controller_uuid)
        if model_uuid is None:
            model_uuid = str(uuidlib.uuid4())
        elif not is_canonical_uuid(model_uuid):
            # One spelling per model: the uuid is the model's stream id and its key.
            raise ValidationError(
                f"model_uuid {shown(model_uuid)} must be a lowercase uuid "
                "like '5f1c2a34-0c4d-4e8b-9a1f-2b3c4d5e6f70'"
            )
        config = dict(checked_map("config", config))
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
        values = dict(checked_map("set", set))
        unset_keys = checked_texts("unset", unset)
        secrets = sorted(k for k in values if k in CREDENTIAL_KEYS)
        if secrets:
            raise ValidationError(f"config keys {secrets} are credentials: not model config")
        model = self.load_model(model_uuid)
        model.change_config(values, unset_keys)
        self.save(model)

    def set_model_agent_version(self, model_uuid: str, version: str) -> None:
        checked_text("version", version)
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
        same one conflict, and the retrying API picks again. A container's id
        (`0/lxd/3`) implies its parent and container_type: given, they must agree.
        """
        parsed_base = parse_base(base)
        job_names = checked_texts("jobs", jobs)
        for arg, value in (
            ("container_type", container_type),
            ("nonce", nonce),
            ("constraints", constraints),
            ("placement", placement),
        ):
            checked_text(arg, value)
        if parent is not None:
            parent = current_machine_id(checked_text("parent", parent))
        if machine_id is not None:
            machine_id = current_machine_id(checked_text("machine_id", machine_id))
            parent, container_type = placement_of(machine_id, parent, container_type)
        self.load_model(model_uuid).require()
        host = None
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
        picked = machine_id is None
        if machine_id is None:
            machine_id = self._next_machine_id(model_uuid, parent, container_type)
        machine = self.load_machine(model_uuid, machine_id)
        if picked and machine.exists:
            # Another writer took the id between the listing and the load: a lost
            # race, so the retrying API lists again rather than refusing the command.
            raise ConcurrencyConflictError(machine.stream, 1, f"picked machine id {machine_id}")
        machine.add(
            base=parsed_base,
            jobs=job_names,
            container_type=container_type,
            nonce=nonce,
            constraints=constraints,
            placement=placement,
        )
        # A container's host must still be as checked (alive) when it commits.
        self.save(machine, read=[host] if host is not None else [])
        return machine_id

    def _next_machine_id(self, model_uuid: str, parent: str | None, container_type: str) -> str:
        ids = [f"{parent}/{container_type}/"] if parent else [""]
        if legacy_machine_id(ids[0]) != ids[0]:
            ids.append(legacy_machine_id(ids[0]))  # 1.x containers read as lxd today
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
        given = checked_map("hardware", hardware)
        for arg, value in (
            ("instance_id", instance_id),
            ("nonce", nonce),
            ("display_name", display_name),
        ):
            checked_text(arg, value)
        checked_flag("keep_instance", keep_instance)
        unknown = sorted(set(given) - set(full_hardware))
        if unknown:
            raise ValidationError(f"unknown hardware keys {unknown}")
        full_hardware.update(given)
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
        checked_text("origin", origin)
        entries = [address_entry(a) for a in checked_list("addresses", addresses)]
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
        for arg, value in (("version", version), ("url", url), ("sha256", sha256)):
            checked_text(arg, value)
        if not is_int(size) or size < 0:
            raise ValidationError(f"size must be an integer >= 0, got {shown(size)}")
        self._machine_command(
            model_uuid,
            machine_id,
            lambda m: m.set_agent_binary(version=version, url=url, size=size, sha256=sha256),
        )

    def set_machine_life(
        self, model_uuid: str, machine_id: str, life: str, *, force: bool = False
    ) -> None:
        checked_text("life", life)
        checked_flag("force", force)
        self._machine_command(model_uuid, machine_id, lambda m: m.set_life(life, force=force))

    def destroy_machine(self, model_uuid: str, machine_id: str, *, force: bool = False) -> None:
        self.set_machine_life(model_uuid, machine_id, "dying", force=force)

    def set_supported_containers(
        self, model_uuid: str, machine_id: str, types: Sequence[str]
    ) -> None:
        names = checked_texts("types", types)
        self._machine_command(model_uuid, machine_id, lambda m: m.set_supported_containers(names))

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
        machine = self.load_machine(model_uuid, machine_id)
        unit.assign(machine)
        self.save(unit, read=[machine])  # refused if the machine died meanwhile

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
