"""Validation at load: the chain of every type is whole, or ChainError says where not.

`build_families` walks each type from its introduction through its upcasters and
returns the families (one per 3.0 type) that Chain composes; `validate_chain` is
the same walk for callers that only want the verdict.
"""

from __future__ import annotations

import dis
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from inspect import Parameter
from typing import TYPE_CHECKING

from eventstate.domain.catalogue import CURRENT_SCHEMAS
from eventstate.errors import ChainError
from eventstate.releases import CODE_RELEASE, compare, is_release, release_index
from upcasters.registry import ChainSpec, ExpressPlan, Introduction, Kind, Upcaster

if TYPE_CHECKING:
    from upcasters.chain import Chain


@dataclass(frozen=True, slots=True)
class Node:
    """One `(type_name, schema)` of a family, and the release that introduced it."""

    type_name: str
    schema: int
    release: str
    step_in: Upcaster | None  # None for schema 1


@dataclass(frozen=True, slots=True)
class Family:
    introduction: Introduction
    nodes: tuple[Node, ...]  # schema 1, 2, ... in order

    @property
    def names(self) -> frozenset[str]:
        return frozenset(node.type_name for node in self.nodes)

    def current_index(self, release: str) -> int | None:
        """Index of the node current at `release`; None if the type did not exist yet."""
        if self.introduction.kind is not Kind.DOMAIN:
            return 0  # single-schema types that exist at every release
        return _last_at(self.nodes, release)


def _last_at(nodes: Sequence[Node], release: str) -> int | None:
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
    its context is registered with `needs_context`. Every express plan starts from a
    stored schema and leads where the chain leads at CODE_RELEASE.
    """
    build_families(chain if isinstance(chain, ChainSpec) else chain.spec)


def build_families(spec: ChainSpec) -> dict[str, Family]:
    """Families keyed by their current (3.0) name; raises ChainError on any flaw."""
    introduced = _introductions(spec.introductions)
    steps = _steps_by_source(spec.upcasters)
    families: dict[str, Family] = {}
    owner: dict[str, str] = {}  # every type name -> the introduced name of its family
    used: set[tuple[str, int]] = set()
    for intro in introduced.values():
        nodes = _walk(intro, introduced, steps, used)
        for node in nodes:
            if owner.setdefault(node.type_name, intro.type_name) != intro.type_name:
                raise ChainError(
                    f"{node.type_name} schema {node.schema}: name used by two types "
                    f"({owner[node.type_name]} and {intro.type_name})"
                )
        _check_ends_current(intro, nodes)
        families[nodes[-1].type_name] = Family(intro, tuple(nodes))
    _check_every_step_used(steps, used, owner)
    for type_name, schema in CURRENT_SCHEMAS.items():
        if type_name not in families:
            raise ChainError(f"{type_name} schema {schema}: in the catalogue but has no chain")
    _check_express(families, spec.express)
    return families


def _introductions(introductions: Sequence[Introduction]) -> dict[str, Introduction]:
    """Schema 1 of every type, by name: each at a known release, once."""
    introduced: dict[str, Introduction] = {}
    for intro in introductions:
        if not is_release(intro.release):
            raise ChainError(f"{intro.type_name} schema 1: unknown release {intro.release!r}")
        if intro.type_name in introduced:
            raise ChainError(f"{intro.type_name} schema 1 is introduced twice")
        introduced[intro.type_name] = intro
    return introduced


def _steps_by_source(upcasters: Sequence[Upcaster]) -> dict[tuple[str, int], Upcaster]:
    """Every upcaster by the (type, schema) it reads: one each, at a known release."""
    steps: dict[tuple[str, int], Upcaster] = {}
    for up in upcasters:
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
    return steps


def _walk(
    intro: Introduction,
    introduced: dict[str, Introduction],
    steps: dict[tuple[str, int], Upcaster],
    used: set[tuple[str, int]],
) -> list[Node]:
    """One type's nodes from schema 1 along its upcasters (marking each step used):
    releases strictly increase, and a rename never takes a name already in use."""
    nodes = [Node(intro.type_name, 1, intro.release, None)]
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
        nodes.append(Node(up.to_type, up.to_schema, up.release, up))
    return nodes


def _check_ends_current(intro: Introduction, nodes: Sequence[Node]) -> None:
    """The walk ends at a type the code's catalogue knows, at its catalogued schema."""
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


def _check_every_step_used(
    steps: dict[tuple[str, int], Upcaster], used: set[tuple[str, int]], owner: dict[str, str]
) -> None:
    """An upcaster no walk reached reads a schema nothing produces (or a type no
    release introduced)."""
    for key, up in steps.items():
        if key in used:
            continue
        if owner.get(up.from_type) is None:
            raise ChainError(f"{up.label}: upcasts {up.from_type}, a type no release introduced")
        raise ChainError(
            f"{up.from_type} schema {up.from_schema}: gap, no upcaster produces this schema "
            f"but {up.label} upcasts from it"
        )


def _check_express(families: dict[str, Family], plans: Sequence[ExpressPlan]) -> None:
    """Each express plan is a shortcut of a real path: from a stored, not yet current
    schema to the type and schema the chain reaches at CODE_RELEASE; one per schema."""
    located = {
        (node.type_name, node.schema): (family, index)
        for family in families.values()
        for index, node in enumerate(family.nodes)
    }
    seen: set[tuple[str, int]] = set()
    for plan in plans:
        key = (plan.from_type, plan.from_schema)
        where = f"{plan.from_type} schema {plan.from_schema}"
        if key in seen:
            raise ChainError(f"{where}: two express plans")
        seen.add(key)
        if key not in located:
            raise ChainError(f"{where}: {plan.label} starts from a schema the chain does not have")
        family, index = located[key]
        current = family.current_index(CODE_RELEASE)
        if family.introduction.kind is not Kind.DOMAIN or current is None or index >= current:
            raise ChainError(f"{where}: {plan.label}, but {CODE_RELEASE} reads it unchanged")
        final = family.nodes[current]
        if (final.type_name, final.schema) != (plan.to_type, plan.to_schema):
            raise ChainError(
                f"{where}: {plan.label} leads to {plan.to_type} {plan.to_schema}, the chain "
                f"to {final.type_name} {final.schema} at {CODE_RELEASE}"
            )
        if _positional_parameters(plan.function) != 3:
            raise ChainError(
                f"{where}: {plan.label} must be a function of (data, stream, providers)"
            )


def _positional_parameters(function: object) -> int | None:
    """How many positional parameters `function` takes (compiled to C or not); None
    when it is not a function with a signature."""
    try:
        parameters = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    positional = (Parameter.POSITIONAL_ONLY, Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind not in positional or p.default is not Parameter.empty for p in parameters):
        return None
    return len(parameters)


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
