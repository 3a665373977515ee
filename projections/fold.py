"""The fold: upcast (3.0-schema) events in, machine and model documents out.

The fold is a pure function of the log. All state it needs between events lives in the
DocumentSet (documents plus unit records), so a fresh `Fold` over the same DocumentSet
continues exactly where another one stopped: rebuilding from position 0 and catching up
live in batches of any size give identical documents.

Rules where the spec leaves a choice (each is a deterministic function of the log order):

- A machine stream's documents are keyed by the 3.0 machine id. A stream written by 1.x
  keeps its old id (`machine:<uuid>:0/lxc/1`); the fold reads it as `0/lxd/1`, as the 2.0
  upcaster renamed it.
- Cross-stream facts about a document that does not exist yet create a *stub*: a
  container added before its parent, a unit assigned to a machine never added, a machine
  whose model has no ModelCreated yet. A stub machine has `stream_version` 0 and
  `updated_at` null; a stub model has null name, owner, type, provider and cloud fields,
  empty config and no capabilities. The first event of the document's own stream fills
  the stub in and keeps what other streams said (`containers`, `principals`, `clean`,
  `machine_count`).
- `machine_count` counts machines whose own stream has been folded (stubs are not
  machines yet) and whose life is not `dead`; containers are machines.
- Any event of a machine's own stream creates its document if missing, MachineAdded or
  not, so every machine stream has exactly one document.
- A second MachineAdded re-applies its fields; the nonce stays the provisioned one once
  the machine has an instance. A second ModelCreated keeps the first provider type.
- Life only moves forward (`alive` -> `dying` -> `dead`): an event that would move it
  back leaves it (and `machine_count`) as it was, but still advances `stream_version`.
- EventRetired changes no field, but on a machine stream it is still the stream's last
  version folded in: it advances `stream_version` and `updated_at` of an existing
  (non-stub) document, so `stream_version` always equals the stream's head. It never
  creates a document.
- A dead container stays in its parent's `containers` (its document stays too).
- Unit records are keyed by the unit stream's name; the payload's `unit` repeats it.
  A reassigned unit leaves its old machine's `principals`; `clean` never turns back.
  `principals` sort as plain strings (`wordpress/10` before `wordpress/2`); only
  machine ids have a numeric order in documents.md.
- `pending_upgrade_actions` sort by release number; a repeated request for a release
  replaces the earlier one; completing a release that is not pending changes nothing.
- ModelConfigChanged applies `set`, then `unset`; credential keys are dropped from
  ModelCreated and ModelConfigChanged alike.
- Upgrade streams fold to no document. An unknown type raises UnknownEventTypeError;
  a known type on the wrong kind of stream raises ValidationError.

Speed (a rebuild folds ~1M events): dispatch is one dict lookup of a bound method; a
machine's own events find its document with one more (by stream id), and the loop records
their version and time itself. Parsed stream ids are cached. Documents touched in a batch
stay in a write-back cache until the batch ends, so each is put once per batch, with
`updated_at` kept as integer microseconds until then and formatted once. No deep copies:
documents keep references to parts of the payloads (`base`, `hardware`, package lists).
The fold never changes a payload; its caller must not change one after folding it.

Memory (a rebuild holds a partition's documents at once): equal values of the fields the
fold never changes in place (a machine's `base`, `jobs`, `constraints`, `placement`,
`hardware`, `supported_containers`, agent binary and version) are one object for all
the documents of a Fold that have them, a fifth of a machine document's memory.
"""

from __future__ import annotations

import bisect
import gc
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import msgpack

from eventstate.errors import (
    CorruptEventError,
    EventStateError,
    UnknownEventTypeError,
    ValidationError,
)
from projections.documents import (
    CREDENTIAL_KEYS,
    LIFE_ORDER,
    MANAGE_MODEL_JOB,
    MANUAL_NONCE_PREFIX,
    MANUAL_PROVIDERS,
    Document,
    DocumentSet,
    MachineKey,
    UnitKey,
    capabilities_for,
    format_timestamp_us,
    machine_sort_key,
    new_machine_document,
    new_model_document,
    parse_machine_stream,
    parse_model_stream,
    parse_unit_stream,
    release_sort_key,
    without_credentials,
)

# A model, unit, retired or upgrade event: (fold, stream, version, data, recorded_at_us).
StreamHandler = Callable[["Fold", str, int, dict[str, Any], int], None]
# An event of a machine's own stream: (fold, the machine's document, data).
MachineHandler = Callable[["Fold", Document, dict[str, Any]], None]

# Event type -> the Fold method that folds it. A Fold keeps these as functions of its
# class, not as its own bound methods: those would make each Fold a reference cycle,
# kept (with the documents it reaches) until the cyclic collector runs, which a rebuild
# and verify pause, and then traversed by it.
_MACHINE_HANDLERS: dict[str, str] = {
    "MachineAdded": "_machine_added",
    "MachineProvisioned": "_machine_provisioned",
    "MachineAddressesSet": "_machine_addresses_set",
    "MachineAgentBinarySet": "_machine_agent_binary_set",
    "MachineLifeChanged": "_machine_life_changed",
    "MachineSupportedContainersSet": "_machine_supported_containers_set",
    "MachineUpgradeActionsRequested": "_machine_upgrade_actions_requested",
    "MachineUpgradeActionsCompleted": "_machine_upgrade_actions_completed",
}
_STREAM_HANDLERS: dict[str, str] = {
    "ModelCreated": "_model_created",
    "ModelConfigChanged": "_model_config_changed",
    "AgentVersionSet": "_agent_version_set",
    "ModelEnvironVersionSet": "_model_environ_version_set",
    "UnitAssignedToMachine": "_unit_assigned_to_machine",
    "UnitDestroyed": "_unit_destroyed",
    "EventRetired": "_event_retired",
    "UpgradeStarted": "_no_document",
    "UpgradeStepApplied": "_no_document",
    "UpgradeCompleted": "_no_document",
    "UpgradeAborted": "_no_document",
}
# (position, stream, version, type_name, schema, recorded_at_us, data)
EventTuple = tuple[int, str, int, str, int, int, dict[str, Any]]

_Value = TypeVar("_Value")

# Bounds the parsed-stream-id caches (a rebuild is one batch of the whole log).
_STREAM_CACHE_LIMIT = 200_000


class Fold:
    """Folds upcast events into a DocumentSet. Not thread-safe; one batch at a time.

    `pause_gc`: suspend CPython's cyclic garbage collector while a batch folds. The
    documents are trees, so the fold makes no reference cycles; but it allocates enough
    containers to set off full collections that walk every object in the process (the
    whole document set and the decoded log), which would more than double the fold's time.
    """

    def __init__(self, docs: DocumentSet, *, pause_gc: bool = True) -> None:
        self._docs = docs
        self._pause_gc = pause_gc
        # Write-back cache of the documents the current batch touched, and a second
        # index of the machines by their own stream id: one lookup per machine event.
        self._machines: dict[MachineKey, Document] = {}
        self._own_machines: dict[str, Document] = {}
        self._models: dict[str, Document] = {}
        # Parsed stream ids of models and units (a unit has few events, but the verify
        # of a legacy log meets them often). A machine stream is parsed once per batch
        # anyway: its document is then found by the stream id.
        self._model_streams: dict[str, str] = {}
        self._unit_streams: dict[str, UnitKey] = {}
        # One string per model uuid, shared by every document and key of the model
        # (a rebuild holds them all: a copy per document would be ~85 bytes each).
        self._uuids: dict[str, str] = {}
        self._same = SharedValues()
        # Agent binary -> (the binary, its agent version), both shared.
        self._binaries: dict[str, tuple[str, str]] = {}
        cls = type(self)
        self._machine_handlers: dict[str, MachineHandler] = {
            type_name: getattr(cls, method) for type_name, method in _MACHINE_HANDLERS.items()
        }
        self._stream_handlers: dict[str, StreamHandler] = {
            type_name: getattr(cls, method) for type_name, method in _STREAM_HANDLERS.items()
        }

    # --- public API --------------------------------------------------------------------

    def apply(
        self, stream: str, version: int, type_name: str, data: dict[str, Any], recorded_at_us: int
    ) -> None:
        """Fold one upcast event; recorded_at_us is microseconds since the epoch, UTC."""
        self.apply_many(((0, stream, version, type_name, 0, recorded_at_us, data),))

    def apply_many(self, events: Iterable[EventTuple]) -> int:
        """Fold (position, stream, version, type, schema, recorded_at_us, data) tuples in
        order; returns how many were folded. The documents are written when it returns
        (or raises: then they hold every event before the failing one, and perhaps part
        of it, so a caller saving them in a transaction rolls it back)."""
        gc_was_enabled = self._pause_gc and gc.isenabled()
        if gc_was_enabled:
            gc.disable()
        try:
            return self._fold(events)
        finally:
            try:
                self._flush()
            finally:
                if gc_was_enabled:
                    gc.enable()

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._machine_handlers) | frozenset(self._stream_handlers)

    # --- plumbing ----------------------------------------------------------------------

    def _fold(self, events: Iterable[EventTuple]) -> int:
        # The hot path: one dict lookup picks the handler; a machine's own events find
        # its document with one more, and get their version and time recorded here.
        machine_handlers = self._machine_handlers
        stream_handlers = self._stream_handlers
        own_machines = self._own_machines
        folded = 0
        stream, version = "", 0
        try:
            for _position, stream, version, type_name, _schema, recorded_at_us, data in events:
                on_machine = machine_handlers.get(type_name)
                if on_machine is not None:
                    doc = own_machines.get(stream)
                    if doc is None:
                        doc = self._open_own_machine(stream)
                    doc["stream_version"] = version
                    doc["updated_at"] = recorded_at_us  # formatted once, at the flush
                    on_machine(self, doc, data)
                else:
                    on_stream = stream_handlers.get(type_name)
                    if on_stream is None:
                        raise UnknownEventTypeError(
                            f"cannot fold unknown event type {type_name!r} "
                            f"at {stream} version {version}"
                        )
                    on_stream(self, stream, version, data, recorded_at_us)
                folded += 1
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # Only a payload that skipped validation gets here (stored at today's
            # schema, then altered in the file): name the event, not a bare KeyError.
            if isinstance(exc, EventStateError):
                raise
            raise CorruptEventError(
                f"{stream} version {version}: payload cannot be folded "
                f"({type(exc).__name__}: {str(exc)[:80]})"
            ) from None
        return folded

    def _flush(self) -> None:
        put_machine = self._docs.put_machine
        for doc in self._machines.values():
            updated_at = doc["updated_at"]
            if type(updated_at) is int:
                doc["updated_at"] = format_timestamp_us(updated_at)
            put_machine(doc)
        put_model = self._docs.put_model
        for doc in self._models.values():
            put_model(doc)
        self._machines.clear()
        self._own_machines.clear()
        self._models.clear()
        for cache in (self._model_streams, self._unit_streams, self._uuids, self._binaries):
            if len(cache) > _STREAM_CACHE_LIMIT:
                cache.clear()
        self._same.clear_over(_STREAM_CACHE_LIMIT)

    def _one_uuid(self, uuid: str) -> str:
        return self._uuids.setdefault(uuid, uuid)

    def _machine_key(self, stream: str) -> MachineKey:
        uuid, machine_id = parse_machine_stream(stream)
        return self._one_uuid(uuid), machine_id

    def _unit_key(self, stream: str) -> UnitKey:
        key = self._unit_streams.get(stream)
        if key is None:
            uuid, unit_name = parse_unit_stream(stream)
            key = self._unit_streams[stream] = (self._one_uuid(uuid), unit_name)
        return key

    def _model_uuid(self, stream: str) -> str:
        uuid = self._model_streams.get(stream)
        if uuid is None:
            uuid = self._model_streams[stream] = self._one_uuid(parse_model_stream(stream))
        return uuid

    def _open_own_machine(self, stream: str) -> Document:
        """The first event of a machine stream in this batch: load (or create) its
        document and index it by the stream id."""
        key = self._machine_key(stream)
        doc = self._machine(key)
        if not doc["stream_version"] and doc["life"] != "dead":
            # The first event of the machine's own stream: from now on it is a machine.
            self._model(key[0])["machine_count"] += 1
        self._own_machines[stream] = doc
        return doc

    def _machine(self, key: MachineKey) -> Document:
        """A machine document by key, loaded into the batch (a stub if there is none)."""
        doc = self._machines.get(key)
        if doc is None:
            doc = self._docs.get_machine(key[0], key[1])
            if doc is None:
                doc = new_machine_document(key[0], key[1])
                if key[1] == "0":  # the only id whose is_manual the model decides
                    doc["is_manual"] = self._is_manual(doc)
            self._machines[key] = doc
        return doc

    def _existing_machine(self, key: MachineKey) -> Document | None:
        doc = self._machines.get(key)
        if doc is None:
            doc = self._docs.get_machine(key[0], key[1])
            if doc is not None:
                self._machines[key] = doc
        return doc

    def _model(self, uuid: str) -> Document:
        """A model document by uuid, loaded into the batch (a stub if there is none)."""
        doc = self._models.get(uuid)
        if doc is None:
            doc = self._docs.get_model(uuid) or new_model_document(uuid)
            self._models[uuid] = doc
        return doc

    def _provider_type(self, uuid: str) -> str | None:
        doc = self._models.get(uuid) or self._docs.get_model(uuid)
        return None if doc is None else doc["provider_type"]

    def _is_manual(self, doc: Document) -> bool:
        """The nonce says `manual:`, or it is machine 0 of a manual or null model."""
        by_nonce: bool = doc["nonce"].startswith(MANUAL_NONCE_PREFIX)
        if by_nonce or doc["id"] != "0":  # only machine 0 pays for the model lookup
            return by_nonce
        return self._provider_type(doc["model_uuid"]) in MANUAL_PROVIDERS

    # --- model stream ------------------------------------------------------------------

    def _model_created(self, stream: str, version: int, data: dict[str, Any], at_us: int) -> None:
        uuid = self._model_uuid(stream)
        doc = self._model(uuid)
        provider_type = doc["provider_type"] or data["provider_type"]  # as first recorded
        doc["name"] = data["name"]
        doc["owner"] = data["owner"]
        doc["type"] = data["type"]
        doc["provider_type"] = provider_type
        doc["cloud"] = data["cloud"]
        doc["cloud_region"] = data["cloud_region"]
        doc["cloud_credential"] = data["cloud_credential"]
        doc["config"] = without_credentials(data["config"])
        doc["capabilities"] = capabilities_for(provider_type)
        # Machine 0 may have been folded before the model was known (see module docs).
        machine_zero = self._existing_machine((uuid, "0"))
        if machine_zero is not None:
            machine_zero["is_manual"] = self._is_manual(machine_zero)

    def _model_config_changed(
        self, stream: str, version: int, data: dict[str, Any], at_us: int
    ) -> None:
        config = self._model(self._model_uuid(stream))["config"]
        for key, value in data["set"].items():
            if key not in CREDENTIAL_KEYS:
                config[key] = value
        for key in data["unset"]:
            config.pop(key, None)

    def _agent_version_set(
        self, stream: str, version: int, data: dict[str, Any], at_us: int
    ) -> None:
        self._model(self._model_uuid(stream))["agent_version"] = data["version"]

    def _model_environ_version_set(
        self, stream: str, version: int, data: dict[str, Any], at_us: int
    ) -> None:
        self._model(self._model_uuid(stream))["environ_version"] = data["to_version"]

    # --- machine stream (the loop in _fold has recorded version and time) -------------

    def _machine_added(self, doc: Document, data: dict[str, Any]) -> None:
        shared = self._same.of
        jobs = sorted(data["jobs"])
        doc["jobs"] = shared(jobs)
        doc["is_controller"] = MANAGE_MODEL_JOB in jobs
        doc["base"] = shared(data["base"])
        doc["container_type"] = shared(data["container_type"])
        doc["constraints"] = shared(data["constraints"])
        doc["placement"] = shared(data["placement"])
        if doc["instance"] is None:  # a provisioned nonce wins over the one at adding
            doc["nonce"] = data["nonce"]
        doc["is_manual"] = self._is_manual(doc)
        parent_id = doc["parent"]
        if parent_id is not None:
            containers = self._machine((doc["model_uuid"], parent_id))["containers"]
            machine_id = doc["id"]
            if machine_id not in containers:
                bisect.insort(containers, machine_id, key=machine_sort_key)

    def _machine_provisioned(self, doc: Document, data: dict[str, Any]) -> None:
        instance = data["instance"]
        doc["instance"] = {
            "instance_id": instance["instance_id"],
            "display_name": instance["display_name"],
            "keep_instance": instance["keep_instance"],
            "hardware": self._same.of(instance["hardware"]),
        }
        doc["nonce"] = data["nonce"]
        doc["is_manual"] = self._is_manual(doc)

    def _machine_addresses_set(self, doc: Document, data: dict[str, Any]) -> None:
        origin = data["origin"]
        # 3.0 addresses are {value, type, scope, space_id}; the document adds the origin
        # (to copies: the fold never changes a payload).
        addresses = []
        public = private = None
        for address in data["addresses"]:
            address = address.copy()
            address["origin"] = origin
            addresses.append(address)
            scope = address["scope"]
            if scope == "public":
                if public is None:
                    public = address["value"]
            elif scope == "local-cloud" and private is None:
                private = address["value"]
        doc["addresses"] = addresses
        doc["preferred_public_address"] = public
        doc["preferred_private_address"] = private

    def _machine_agent_binary_set(self, doc: Document, data: dict[str, Any]) -> None:
        binary = data["version"]  # "3.0.0-ubuntu-amd64"; a number may carry a tag: "2.9-rc1"
        known = self._binaries.get(binary) if type(binary) is str else None
        if known is None:
            known = (binary, binary.rsplit("-", 2)[0])  # anything but a str fails here
            self._binaries[binary] = known
        doc["agent_binary"], doc["agent_version"] = known

    def _machine_life_changed(self, doc: Document, data: dict[str, Any]) -> None:
        life = data["life"]
        rank = LIFE_ORDER.get(life)
        if rank is None:
            raise ValidationError(
                f"unknown life {life!r} for machine {doc['id']} of model {doc['model_uuid']} "
                f"at version {doc['stream_version']}"
            )
        if rank > LIFE_ORDER[doc["life"]]:
            doc["life"] = life
            if life == "dead":
                self._model(doc["model_uuid"])["machine_count"] -= 1

    def _machine_supported_containers_set(self, doc: Document, data: dict[str, Any]) -> None:
        doc["supported_containers"] = self._same.of(sorted(set(data["types"])))

    def _machine_upgrade_actions_requested(self, doc: Document, data: dict[str, Any]) -> None:
        release = data["release"]
        # A repeated request for a release replaces the earlier one.
        pending = [a for a in doc["pending_upgrade_actions"] if a["release"] != release]
        pending.append(
            {"release": release, "packages": data["packages"], "apt_sources": data["apt_sources"]}
        )
        pending.sort(key=lambda action: release_sort_key(action["release"]))
        doc["pending_upgrade_actions"] = pending

    def _machine_upgrade_actions_completed(self, doc: Document, data: dict[str, Any]) -> None:
        release = data["release"]
        doc["pending_upgrade_actions"] = [
            a for a in doc["pending_upgrade_actions"] if a["release"] != release
        ]

    # --- unit stream -------------------------------------------------------------------

    def _unit_assigned_to_machine(
        self, stream: str, version: int, data: dict[str, Any], at_us: int
    ) -> None:
        uuid, unit_name = self._unit_key(stream)
        machine_id = data["machine_id"]
        record = self._docs.get_unit(uuid, unit_name)
        old_machine_id = None if record is None else record["machine_id"]
        if old_machine_id is not None and old_machine_id != machine_id:
            self._remove_principal((uuid, old_machine_id), unit_name)
        machine = self._machine((uuid, machine_id))
        principals = machine["principals"]
        if unit_name not in principals:
            bisect.insort(principals, unit_name)
        machine["clean"] = False
        self._docs.put_unit(_unit_record((uuid, unit_name), machine_id, destroyed=False))

    def _unit_destroyed(self, stream: str, version: int, data: dict[str, Any], at_us: int) -> None:
        uuid, unit_name = self._unit_key(stream)
        record = self._docs.get_unit(uuid, unit_name)
        if record is not None and record["machine_id"] is not None:
            self._remove_principal((uuid, record["machine_id"]), unit_name)
        self._docs.put_unit(_unit_record((uuid, unit_name), None, destroyed=True))

    def _remove_principal(self, machine_key: MachineKey, unit_name: str) -> None:
        principals = self._machine(machine_key)["principals"]
        if unit_name in principals:
            principals.remove(unit_name)

    # --- no state ----------------------------------------------------------------------

    def _event_retired(self, stream: str, version: int, data: dict[str, Any], at_us: int) -> None:
        if not stream.startswith("machine:"):
            return
        doc = self._existing_machine(self._machine_key(stream))
        if doc is not None and doc["stream_version"]:
            doc["stream_version"] = version
            doc["updated_at"] = at_us

    def _no_document(self, stream: str, version: int, data: dict[str, Any], at_us: int) -> None:
        """Upgrade stream events: history, not state."""


def _unit_record(key: UnitKey, machine_id: str | None, *, destroyed: bool) -> Document:
    """Bookkeeping, not a document clients read: which machine a unit sits on."""
    return {"model_uuid": key[0], "unit": key[1], "machine_id": machine_id, "destroyed": destroyed}


class SharedValues:
    """One object for each distinct value: `of(value)` gives the first value seen that
    is the same down to its types and key order (its msgpack encoding is: True, 1 and
    1.0 are not), or `value` itself when it holds what msgpack cannot encode. Only for
    values nobody changes in place."""

    __slots__ = ("_encode", "_strings", "_values")

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}  # most of them: no key to build
        self._values: dict[bytes, Any] = {}
        # Per instance: a Packer is not safe to share between threads.
        self._encode = msgpack.Packer(use_bin_type=True, autoreset=True).pack

    def of(self, value: _Value) -> _Value:
        found: Any = value
        if type(found) is str:
            return cast(_Value, self._strings.setdefault(found, found))
        try:
            key = self._encode(found)
        except (TypeError, ValueError, OverflowError):
            return value
        return cast(_Value, self._values.setdefault(key, found))

    def clear_over(self, limit: int) -> None:
        for values in (self._strings, self._values):
            if len(values) > limit:
                values.clear()
