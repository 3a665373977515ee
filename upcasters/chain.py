"""The upcaster chain: composition of the validated declarations, and its questions.

`Chain` precomposes, for every stored `(type, schema)` and every target release, the
tuple of steps that brings it to the schema current at the target. Reading an event
then costs one dict lookup, plus one call per step for old events; steps mutate the
payload in place. A result at today's release is checked against the 3.0 catalogue,
so `upcast` returns a valid payload or raises UpcastError, never anything else.

To today's release, a stored schema with an express plan (upcasters/express.py)
tries that one fused function first; when it declines, the steps run as above.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from eventstate.domain.catalogue import (
    FAST_CHECKS,
    RETIRED_TYPE,
    VALIDATORS,
    FastCheck,
    Validator,
)
from eventstate.errors import UnknownEventTypeError, UpcastError, ValidationError
from eventstate.releases import CODE_RELEASE, RELEASES, compare, release_index
from upcasters.registry import ChainSpec, ExpressFunction, Kind
from upcasters.steps import (
    NO_CONTEXT,
    OneModel,
    Payload,
    Retire,
    StepFailure,
    StepFunction,
    UpcastContext,
)
from upcasters.validation import Family, Node, build_families

UpcastFunction = Callable[[str, int, str, int, Payload, str | None], tuple[str, int, Payload]]


def no_express(data: Payload, stream: str, providers: Mapping[str, str | None]) -> None:
    """The express function of a schema that has none: it always declines."""
    return None


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """What a reader's hot loop needs to upcast to one target release.

    Per stored type and schema the chain knows, `express[type][schema]` is None when
    it is already current (upcast would return it as it is, so a reader skips it),
    else its express function (`no_express` when it has none). When that declines
    (returns None or raises), `stepwise` upcasts, with the model's provider type for
    the pairs in `contextual`; a pair missing from `express` is unknown and
    `stepwise` says so. (Keyed by type, then schema: no tuple to build per event.)
    """

    express: Mapping[str, Mapping[int, ExpressFunction | None]]
    contextual: frozenset[tuple[str, int]]
    stepwise: UpcastFunction


# --- composition ------------------------------------------------------------------------------

# Per (type_name, schema): None when already current at the target, else the steps,
# the resulting type and schema, whether a step needs context, the result checks and
# the express function (None when there is none or the target is not CODE_RELEASE).
_Plan = tuple[
    tuple[StepFunction, ...], str, int, bool, FastCheck | None, Validator, ExpressFunction | None
]
_MISSING: Final[Any] = object()


def _never(data: Mapping[str, Any]) -> bool:
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
        self._families = build_families(spec)
        self._by_name: dict[str, Family] = {
            name: family for family in self._families.values() for name in family.names
        }
        self._nodes: dict[tuple[str, int], Node] = {
            (node.type_name, node.schema): node
            for family in self._families.values()
            for node in family.nodes
        }
        self._by_step = {up.step: up for up in spec.upcasters}
        self._express: dict[tuple[str, int], ExpressFunction] = {
            (plan.from_type, plan.from_schema): plan.function for plan in spec.express
        }
        self._upcasters: dict[tuple[str, bool], UpcastFunction] = {}
        self._read_plans: dict[str, ReadPlan] = {}
        self._fingerprint = _fingerprint(spec)
        self.upcast = self.upcaster_for(CODE_RELEASE)

    # --- reading events -------------------------------------------------------------

    def upcaster_for(self, target_release: str, *, express: bool = True) -> UpcastFunction:
        """`upcast`, but to the schemas current at `target_release` (staged upgrades).

        `express=False` runs the release steps only, never an express plan: the
        reference the express plans are tested against, and what readers fall
        back to when an express function declines an event.
        """
        release_index(target_release)  # unknown releases raise ValueError
        upcast = self._upcasters.get((target_release, express))
        if upcast is None:
            upcast = self._compile(target_release, express)
            self._upcasters[target_release, express] = upcast
        return upcast

    def read_plan(self, target_release: str) -> ReadPlan:
        """The ReadPlan of readers' hot loops (EventStore.decode) to `target_release`."""
        release_index(target_release)
        found = self._read_plans.get(target_release)
        if found is None:
            plans = self._plans(target_release)
            express: dict[str, dict[int, ExpressFunction | None]] = {}
            for (type_name, schema), plan in plans.items():
                shortcut = None if plan is None else plan[6] or no_express
                express.setdefault(type_name, {})[schema] = shortcut
            found = self._read_plans[target_release] = ReadPlan(
                express,
                frozenset(key for key, plan in plans.items() if plan and plan[3]),
                self.upcaster_for(target_release, express=False),
            )
        return found

    def _plans(self, target: str) -> dict[tuple[str, int], _Plan | None]:
        plans: dict[tuple[str, int], _Plan | None] = {}
        for family in self._families.values():
            current = family.current_index(target)
            if current is None:
                continue
            final = family.nodes[current]
            check, validate = _result_checks(final.type_name, target)
            express = self._express if target == CODE_RELEASE else {}
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
                    express.get((node.type_name, node.schema)),
                )
        return plans

    def _compile(self, target: str, use_express: bool) -> UpcastFunction:
        """The upcast function to `target`: a closure over that target's plans."""
        get = self._plans(target).get
        by_step = self._by_step
        explain = self._explain_unknown
        missing = _MISSING
        no_context = NO_CONTEXT
        no_providers = OneModel(None)  # what an express plan without context never reads
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
            steps, to_type, to_schema, needs_context, check, validate, express = plan
            if express is not None and use_express:
                result: tuple[str, int, Payload] | None
                try:
                    providers = OneModel(provider_type) if needs_context else no_providers
                    result = express(data, stream, providers)
                except Exception:  # declined: the steps give the result or the error
                    result = None
                if result is not None:
                    return result
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

    def _family(self, type_name: str) -> Family:
        family = self._by_name.get(type_name)
        if family is None:
            raise UnknownEventTypeError(f"unknown event type {type_name!r}")
        return family

    def _current_node(self, type_name: str, release: str) -> Node:
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

    def why_not_storable(self, type_name: str, schema: int, release: str) -> str:
        """Why a store at `release` cannot hold `(type_name, schema)` (is_known is False)."""
        family = self._by_name.get(type_name)
        if family is not None and family.introduction.kind is Kind.PRODUCED:
            return (
                f"{type_name} is never stored, only made by upcasting: an `export --upcast` "
                "file is a view of the log; back up and restore with a plain `export`"
            )
        return self._explain_unknown(type_name, schema, release)

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
    for plan in spec.express:
        shortcut = (
            "express",
            plan.from_type,
            plan.from_schema,
            plan.to_type,
            plan.to_schema,
            getattr(plan.function, "__module__", ""),
            getattr(plan.function, "__qualname__", ""),
        )
        digest.update(repr(shortcut).encode())
    for source in spec.sources:
        digest.update(hashlib.sha256(source.encode()).digest())
    return digest.hexdigest()[:16]


def _why(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
