"""The upcaster chain: registration, validation at load, composition and errors.

Each release module declares what it changed with a `ReleaseSteps`: the event types
it introduced and one upcaster per changed type, `(type, schema N) -> (type', N+1)`.
`Chain` checks the declarations once (`validate_chain`), then precomposes, for every
stored `(type, schema)` and every target release, the tuple of steps that brings it
to the schema current at the target. Reading an event then costs one dict lookup,
plus one call per step for old events; steps mutate the payload in place.
"""

from __future__ import annotations

import dis
import enum
import hashlib
import inspect
import marshal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final, NamedTuple, TypeVar

from eventstate.domain.catalogue import (
    CURRENT_SCHEMAS,
    FAST_CHECKS,
    RETIRED_TYPE,
    VALIDATORS,
    FastCheck,
    Validator,
)
from eventstate.errors import ChainError, UnknownEventTypeError, UpcastError, ValidationError
from eventstate.releases import CODE_RELEASE, RELEASES, compare, is_release, release_index

__all__ = [
    "NO_CONTEXT",
    "PROVIDER_UNKNOWN",
    "RETIRED_TYPE",
    "Chain",
    "ChainSpec",
    "ChainStep",
    "Introduction",
    "Kind",
    "ReleaseSteps",
    "Retire",
    "StepFailure",
    "UpcastContext",
    "UpcastFunction",
    "Upcaster",
    "shown",
    "validate_chain",
]

Payload = dict[str, Any]
UpcastFunction = Callable[[str, int, str, int, Payload, str | None], tuple[str, int, Payload]]

PROVIDER_UNKNOWN: Final = "provider type unknown: model stream has no creation event"


# --- what a step sees and how it ends --------------------------------------------------


class UpcastContext(NamedTuple):
    """Read-only facts from the log that a context-aware step may use.

    `type_name` and `schema` are the event's as stored; `provider_type` is the model's
    as first recorded; `machine_id` comes from the stream id (`0/lxc/3` from
    `machine:<model-uuid>:0/lxc/3`, None for other streams); `nonce` is the
    payload's own `nonce` (None when it has no string nonce).
    """

    stream: str
    version: int
    type_name: str
    schema: int
    provider_type: str | None
    machine_id: str | None
    nonce: str | None

    @classmethod
    def of(
        cls,
        stream: str,
        version: int,
        type_name: str,
        schema: int,
        provider_type: str | None,
        data: Any,
    ) -> UpcastContext:
        """The context of one stored event; built only for plans with a context step."""
        nonce = data.get("nonce") if type(data) is dict else None
        # tuple.__new__ directly: half the cost of the generated NamedTuple __new__.
        return _new_tuple(
            cls,
            (
                stream,
                version,
                type_name,
                schema,
                provider_type,
                machine_id_of(stream),
                nonce if isinstance(nonce, str) else None,
            ),
        )

    def require_provider(self) -> str:
        if self.provider_type is None:
            raise StepFailure(PROVIDER_UNKNOWN)
        return self.provider_type

    def require_machine_id(self) -> str:
        if self.machine_id is None:
            raise StepFailure(f"{shown(self.stream)} is not a machine stream")
        return self.machine_id

    def require_nonce(self) -> str:
        if self.nonce is None:
            raise StepFailure("the payload has no string 'nonce'")
        return self.nonce


_new_tuple: Final = tuple.__new__


def machine_id_of(stream: str) -> str | None:
    """`0/lxc/3` from `machine:<model-uuid>:0/lxc/3` (a model uuid has no `:`)."""
    parts = stream.split(":", 2) if isinstance(stream, str) else ()
    return parts[2] if len(parts) == 3 and parts[0] == "machine" and parts[2] else None


# Passed to steps registered without `needs_context`; validate_chain makes sure
# those never read it, so no context is built for them.
NO_CONTEXT: Final = UpcastContext("", 0, "", 0, None, None, None)

StepFunction = Callable[[Payload, UpcastContext], Payload]
F = TypeVar("F", bound=StepFunction)


def shown(value: Any) -> str:
    """A short repr for error messages: payloads can be large."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class StepFailure(Exception):
    """Raised by a step: this event cannot be upcast (becomes an UpcastError)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Retire(Exception):
    """Raised by a step: this event's content became meaningless (becomes EventRetired)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- declarations ------------------------------------------------------------------------


class Kind(enum.Enum):
    DOMAIN = "domain"  # stored from its release on
    OPERATIONAL = "operational"  # upgrade records: storable at every release
    PRODUCED = "produced"  # only ever produced by upcasting, never stored


@dataclass(frozen=True, slots=True)
class Introduction:
    """A type first written at `release`, with schema 1."""

    type_name: str
    release: str
    summary: str
    kind: Kind = Kind.DOMAIN


@dataclass(frozen=True, slots=True)
class Upcaster:
    """`(from_type, from_schema) -> (to_type, from_schema + 1)`, introduced by `release`."""

    release: str
    from_type: str
    from_schema: int
    to_type: str
    step: StepFunction
    needs_context: bool = False

    @property
    def to_schema(self) -> int:
        return self.from_schema + 1

    @property
    def name(self) -> str:
        return getattr(self.step, "__name__", repr(self.step))

    @property
    def summary(self) -> str:
        doc = inspect.getdoc(self.step) or self.name
        return doc.strip().splitlines()[0]

    @property
    def label(self) -> str:
        return f"{self.release} upcaster {self.name} ({self.from_type} {self.from_schema})"


class ReleaseSteps:
    """One release module's declarations: `STEPS = ReleaseSteps("1.16", __name__)`."""

    def __init__(self, release: str, module: str) -> None:
        self.release = release
        self.module = module
        self.introductions: list[Introduction] = []
        self.upcasters: list[Upcaster] = []

    def introduce(self, type_name: str, summary: str, kind: Kind = Kind.DOMAIN) -> None:
        self.introductions.append(Introduction(type_name, self.release, summary, kind))

    def upcaster(
        self,
        from_type: str,
        from_schema: int,
        *,
        to_type: str | None = None,
        needs_context: bool = False,
    ) -> Callable[[F], F]:
        """Register the decorated step; `to_type` renames the type."""

        def register(step: F) -> F:
            self.upcasters.append(
                Upcaster(
                    self.release,
                    from_type,
                    from_schema,
                    to_type or from_type,
                    step,
                    needs_context,
                )
            )
            return step

        return register


@dataclass(frozen=True)
class ChainSpec:
    """Everything the chain is built from; `sources` go into the fingerprint."""

    introductions: tuple[Introduction, ...]
    upcasters: tuple[Upcaster, ...]
    sources: tuple[str, ...] = ()

    @classmethod
    def from_releases(
        cls, releases: Iterable[ReleaseSteps], helpers: Iterable[ModuleType] = ()
    ) -> ChainSpec:
        releases = list(releases)
        introductions = [BUILTIN_RETIRED, *(i for r in releases for i in r.introductions)]
        upcasters = [u for r in releases for u in r.upcasters]
        modules = [_module(r.module) for r in releases] + list(helpers)
        return cls(tuple(introductions), tuple(upcasters), tuple(_source(m) for m in modules))


BUILTIN_RETIRED: Final = Introduction(
    RETIRED_TYPE,
    RELEASES[0],
    "{original_type, reason}: an event whose content became meaningless",
    Kind.PRODUCED,
)


def _module(name: str) -> ModuleType:
    import sys

    return sys.modules[name]


def _source(module: ModuleType) -> str:
    try:
        return inspect.getsource(module)
    except (OSError, TypeError):  # no source shipped: fall back to the compiled code
        code = [
            marshal.dumps(value.__code__)
            for value in vars(module).values()
            if inspect.isfunction(value) and value.__module__ == module.__name__
        ]
        return hashlib.sha256(b"".join(code)).hexdigest()


# --- validation at load --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Node:
    """One `(type_name, schema)` of a family, and the release that introduced it."""

    type_name: str
    schema: int
    release: str
    step_in: Upcaster | None  # None for schema 1


@dataclass(frozen=True, slots=True)
class _Family:
    introduction: Introduction
    nodes: tuple[_Node, ...]  # schema 1, 2, ... in order

    @property
    def names(self) -> frozenset[str]:
        return frozenset(node.type_name for node in self.nodes)

    def current_index(self, release: str) -> int | None:
        """Index of the node current at `release`; None if the type did not exist yet."""
        if self.introduction.kind is not Kind.DOMAIN:
            return 0  # single-schema types that exist at every release
        return _last_at(self.nodes, release)


def _last_at(nodes: Sequence[_Node], release: str) -> int | None:
    found = None
    for index, node in enumerate(nodes):
        if compare(node.release, release) <= 0:
            found = index
    return found


def validate_chain(chain: ChainSpec | Chain) -> None:
    """Raise ChainError, naming the type and schema, unless the chain is whole.

    For every type: schemas 1..current are each produced by exactly one upcaster (no
    gap, no duplicate), releases strictly increase along the chain, every rename leads
    to a type the 3.0 catalogue knows at its catalogued schema, and a step that reads
    its context is registered with `needs_context`.
    """
    spec = chain.spec if isinstance(chain, Chain) else chain
    _build_families(spec)


def _build_families(spec: ChainSpec) -> dict[str, _Family]:
    """Families keyed by their current (3.0) name; raises ChainError on any flaw."""
    introduced: dict[str, Introduction] = {}
    for intro in spec.introductions:
        if not is_release(intro.release):
            raise ChainError(f"{intro.type_name} schema 1: unknown release {intro.release!r}")
        if intro.type_name in introduced:
            raise ChainError(f"{intro.type_name} schema 1 is introduced twice")
        introduced[intro.type_name] = intro

    steps: dict[tuple[str, int], Upcaster] = {}
    for up in spec.upcasters:
        where = f"{up.from_type} schema {up.from_schema}"
        if not is_release(up.release):
            raise ChainError(f"{where}: upcaster at unknown release {up.release!r}")
        if type(up.from_schema) is not int or up.from_schema < 1:
            raise ChainError(f"{where}: schemas start at 1")
        if (up.from_type, up.from_schema) in steps:
            other = steps[up.from_type, up.from_schema]
            raise ChainError(
                f"{where}: duplicate upcaster ({other.label} and {up.label}) "
                f"both produce schema {up.to_schema}"
            )
        _check_step_function(up)
        steps[up.from_type, up.from_schema] = up

    families: dict[str, _Family] = {}
    owner: dict[str, str] = {}  # every type name -> the introduced name of its family
    used: set[tuple[str, int]] = set()
    for intro in introduced.values():
        nodes = [_Node(intro.type_name, 1, intro.release, None)]
        while (nodes[-1].type_name, nodes[-1].schema) in steps:
            last = nodes[-1]
            up = steps[last.type_name, last.schema]
            used.add((last.type_name, last.schema))
            where = f"{last.type_name} schema {last.schema} -> {up.to_type} {up.to_schema}"
            if release_index(up.release) <= release_index(last.release):
                raise ChainError(
                    f"{where}: upcaster at {up.release} is not after {last.release}, "
                    f"where schema {last.schema} was introduced"
                )
            if up.to_type != last.type_name and (
                up.to_type in introduced or any(n.type_name == up.to_type for n in nodes)
            ):
                raise ChainError(f"{where}: renames to {up.to_type}, a name already in use")
            nodes.append(_Node(up.to_type, up.to_schema, up.release, up))
        for node in nodes:
            if owner.setdefault(node.type_name, intro.type_name) != intro.type_name:
                raise ChainError(
                    f"{node.type_name} schema {node.schema}: name used by two types "
                    f"({owner[node.type_name]} and {intro.type_name})"
                )
        final = nodes[-1]
        if final.type_name not in CURRENT_SCHEMAS:
            renamed = final.type_name != intro.type_name
            raise ChainError(
                f"{final.type_name} schema {final.schema}: "
                + (
                    f"{intro.type_name} is renamed to a type the code does not know"
                    if renamed
                    else "not a type of the code's catalogue"
                )
            )
        if final.schema != CURRENT_SCHEMAS[final.type_name]:
            raise ChainError(
                f"{final.type_name} schema {final.schema}: the chain ends here but the "
                f"{CODE_RELEASE} catalogue says schema {CURRENT_SCHEMAS[final.type_name]} "
                "(a gap: no upcaster from this schema)"
            )
        if intro.kind is not Kind.DOMAIN and len(nodes) > 1:
            raise ChainError(f"{intro.type_name} schema 1: {intro.kind.value} types do not change")
        families[final.type_name] = _Family(intro, tuple(nodes))

    for key, up in steps.items():
        if key not in used:
            name = owner.get(up.from_type)
            if name is None:
                raise ChainError(
                    f"{up.label}: upcasts {up.from_type}, a type no release introduced"
                )
            raise ChainError(
                f"{up.from_type} schema {up.from_schema}: gap, no upcaster produces this schema "
                f"but {up.label} upcasts from it"
            )
    for type_name, schema in CURRENT_SCHEMAS.items():
        if type_name not in families:
            raise ChainError(f"{type_name} schema {schema}: in the catalogue but has no chain")
    return families


_LOADS = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_LOAD_FAST", "LOAD_DEREF"})


def _check_step_function(up: Upcaster) -> None:
    """A step is `(data, ctx)`; one that reads ctx must say so (no context is built else)."""
    where = f"{up.from_type} schema {up.from_schema}"
    code = getattr(up.step, "__code__", None)
    if code is None or code.co_argcount != 2:
        raise ChainError(f"{where}: {up.label} must be a function of (data, ctx)")
    if up.needs_context:
        return
    ctx_name = code.co_varnames[1]
    for instruction in dis.get_instructions(code):
        argval = instruction.argval
        if instruction.opname in _LOADS and (
            argval == ctx_name or (isinstance(argval, tuple) and ctx_name in argval)
        ):
            raise ChainError(f"{where}: {up.label} reads its context but needs_context is False")
    if ctx_name in code.co_cellvars:
        raise ChainError(f"{where}: {up.label} reads its context but needs_context is False")


# --- composition ------------------------------------------------------------------------------

# Per (type_name, schema): None when already current at the target, else the steps,
# the resulting type and schema, whether a step needs context, and the result checks.
_Plan = tuple[tuple[StepFunction, ...], str, int, bool, "FastCheck | None", Validator]
_MISSING: Final[Any] = object()


def _never(data: dict[str, Any]) -> bool:
    return False


def _unchecked(data: Mapping[str, Any]) -> None:
    return None


def _result_checks(type_name: str, target: str) -> tuple[FastCheck | None, Validator]:
    """(fast check, validator) of results: today's catalogue for today's release only."""
    if target != CODE_RELEASE:
        return None, _unchecked  # older schemas have no validator; steps check what they use
    return FAST_CHECKS.get(type_name, _never), VALIDATORS[type_name]


@dataclass(frozen=True, slots=True)
class ChainStep:
    """One row of `eventstate upcasters`: an introduction (from_type None) or an upcaster."""

    current_type: str
    release: str
    from_type: str | None
    from_schema: int | None
    to_type: str
    to_schema: int
    summary: str


class Chain:
    """The validated chain. `upcast` reads an event at today's schema (CODE_RELEASE)."""

    # A precomposed closure, not a method: the read path calls it once per event.
    upcast: UpcastFunction

    def __init__(self, spec: ChainSpec) -> None:
        self.spec = spec
        self._families = _build_families(spec)
        self._by_name: dict[str, _Family] = {
            name: family for family in self._families.values() for name in family.names
        }
        self._nodes: dict[tuple[str, int], _Node] = {
            (node.type_name, node.schema): node
            for family in self._families.values()
            for node in family.nodes
        }
        self._by_step = {up.step: up for up in spec.upcasters}
        self._upcasters: dict[str, UpcastFunction] = {}
        self._fingerprint = _fingerprint(spec)
        self.upcast = self.upcaster_for(CODE_RELEASE)

    # --- reading events -------------------------------------------------------------

    def upcaster_for(self, target_release: str) -> UpcastFunction:
        """`upcast`, but to the schemas current at `target_release` (staged upgrades)."""
        release_index(target_release)  # unknown releases raise ValueError
        upcast = self._upcasters.get(target_release)
        if upcast is None:
            upcast = self._compile(target_release)
            self._upcasters[target_release] = upcast
        return upcast

    def _plans(self, target: str) -> dict[tuple[str, int], _Plan | None]:
        plans: dict[tuple[str, int], _Plan | None] = {}
        for family in self._families.values():
            current = family.current_index(target)
            if current is None:
                continue
            final = family.nodes[current]
            check, validate = _result_checks(final.type_name, target)
            for index in range(current + 1):
                node = family.nodes[index]
                if index == current:
                    plans[node.type_name, node.schema] = None
                    continue
                ups = [n.step_in for n in family.nodes[index + 1 : current + 1] if n.step_in]
                plans[node.type_name, node.schema] = (
                    tuple(up.step for up in ups),
                    final.type_name,
                    final.schema,
                    any(up.needs_context for up in ups),
                    check,
                    validate,
                )
        return plans

    def _compile(self, target: str) -> UpcastFunction:
        """The upcast function to `target`: a closure over that target's plans."""
        get = self._plans(target).get
        by_step = self._by_step
        explain = self._explain_unknown
        missing = _MISSING
        no_context = NO_CONTEXT
        make_context = UpcastContext.of

        def upcast(
            stream: str,
            version: int,
            type_name: str,
            schema: int,
            data: Payload,
            provider_type: str | None,
        ) -> tuple[str, int, Payload]:
            try:
                plan = get((type_name, schema), missing)
            except TypeError:  # an unhashable type name or schema
                plan = missing
            if plan is None:  # already current: the common case of a store at today's release
                return type_name, schema, data
            if plan is missing:
                reason = explain(type_name, schema, target)
                raise UpcastError(stream, version, type_name, schema, reason)
            steps, to_type, to_schema, needs_context, check, validate = plan
            step = None
            try:
                ctx = (
                    make_context(stream, version, type_name, schema, provider_type, data)
                    if needs_context
                    else no_context
                )
                for step in steps:
                    data = step(data, ctx)
            except Retire as retired:
                original = by_step[step].from_type if step is not None else type_name
                return RETIRED_TYPE, 1, {"original_type": original, "reason": retired.reason}
            except StepFailure as failure:
                where = by_step[step].label if step is not None else "context"
                raise UpcastError(
                    stream, version, type_name, schema, f"{where}: {failure.reason}"
                ) from None
            except Exception as exc:  # any malformed payload: a missing key, a wrong type...
                where = by_step[step].label if step is not None else "context"
                raise UpcastError(
                    stream, version, type_name, schema, f"{where}: malformed payload ({_why(exc)})"
                ) from None
            if check is not None:
                # The result must be a valid payload at today's schema: the fast check
                # says yes almost always; else the full validator says why (or accepts).
                try:
                    valid = check(data)
                except Exception:
                    valid = False
                if not valid:
                    try:
                        validate(data)
                    except Exception as exc:
                        reason = f"result is not a valid {CODE_RELEASE} payload: {_why(exc)}"
                        raise UpcastError(stream, version, type_name, schema, reason) from None
            return to_type, to_schema, data

        return upcast

    def _explain_unknown(self, type_name: Any, schema: Any, target: str) -> str:
        family = self._by_name.get(type_name) if isinstance(type_name, str) else None
        if family is None:
            return f"unknown event type {type_name!r}"
        if type(schema) is not int:
            return f"schema must be an integer, got {schema!r}"
        node = self._nodes.get((type_name, schema))
        if node is not None:
            if family.introduction.kind is Kind.PRODUCED:
                return f"{type_name} is never stored"
            return (
                f"schema {schema} was introduced at {node.release}, "
                f"newer than the target release {target}"
            )
        newest = family.nodes[-1]
        if schema > newest.schema:
            return (
                f"schema {schema} is newer than this code ({CODE_RELEASE} knows "
                f"{newest.type_name} up to schema {newest.schema})"
            )
        owner = next((n for n in family.nodes if n.schema == schema), None)
        if owner is None:
            return f"{type_name} has no schema {schema} (schemas start at 1)"
        return f"{type_name} has no schema {schema}: schema {schema} is {owner.type_name}"

    # --- questions about types ----------------------------------------------------------

    def _family(self, type_name: str) -> _Family:
        family = self._by_name.get(type_name)
        if family is None:
            raise UnknownEventTypeError(f"unknown event type {type_name!r}")
        return family

    def _current_node(self, type_name: str, release: str) -> _Node:
        family = self._family(type_name)
        index = family.current_index(release)
        if index is None:
            raise UnknownEventTypeError(
                f"{type_name} did not exist at release {release} "
                f"(introduced at {family.introduction.release})"
            )
        return family.nodes[index]

    def current_schema(self, type_name: str, release: str = CODE_RELEASE) -> int:
        """The schema of `type_name`'s type at `release`, for any name the type ever had."""
        return self._current_node(type_name, release).schema

    def current_name(self, type_name: str, release: str = CODE_RELEASE) -> str:
        """The type's name at `release`: EnvironmentCreated -> ModelCreated at 2.0 and later."""
        return self._current_node(type_name, release).type_name

    def family(self, type_name: str) -> frozenset[str]:
        """Every name the type ever had; empty for unknown names."""
        family = self._by_name.get(type_name)
        return family.names if family is not None else frozenset()

    def is_known(self, type_name: str, schema: int, release: str) -> bool:
        """True when `(type_name, schema)` can be stored in a store at schema `release`."""
        node = self._nodes.get((type_name, schema))
        if node is None:
            return False
        kind = self._by_name[type_name].introduction.kind
        if kind is Kind.PRODUCED:
            return False
        return kind is Kind.OPERATIONAL or compare(node.release, release) <= 0

    def release_of(self, type_name: str, schema: int) -> str:
        """The release that introduced `(type_name, schema)`."""
        node = self._nodes.get((type_name, schema))
        if node is None:
            raise UnknownEventTypeError(f"the chain has no {type_name} schema {schema}")
        return node.release

    def describe(self) -> list[ChainStep]:
        """Per current type, its introduction and every upcaster, release by release."""
        rows: list[ChainStep] = []
        for current, family in self._families.items():
            intro = family.introduction
            rows.append(
                ChainStep(current, intro.release, None, None, intro.type_name, 1, intro.summary)
            )
            for node in family.nodes[1:]:
                up = node.step_in
                assert up is not None  # every node after schema 1 has its upcaster
                rows.append(
                    ChainStep(
                        current,
                        up.release,
                        up.from_type,
                        up.from_schema,
                        up.to_type,
                        up.to_schema,
                        up.summary,
                    )
                )
        return rows

    def fingerprint(self) -> str:
        """Short digest of the releases, every registration and the modules' source."""
        return self._fingerprint


def _fingerprint(spec: ChainSpec) -> str:
    digest = hashlib.sha256()
    digest.update(repr(RELEASES).encode())
    for intro in spec.introductions:
        digest.update(repr((intro.type_name, intro.release, intro.kind.value)).encode())
    for up in spec.upcasters:
        registration = (
            up.release,
            up.from_type,
            up.from_schema,
            up.to_type,
            up.needs_context,
            getattr(up.step, "__module__", ""),
            getattr(up.step, "__qualname__", ""),
        )
        digest.update(repr(registration).encode())
    for source in spec.sources:
        digest.update(hashlib.sha256(source.encode()).digest())
    return digest.hexdigest()[:16]


def _why(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
