"""Declarations: what each release module introduced and changed.

A release module holds `STEPS = ReleaseSteps("<release>", __name__)`, declares the
types it introduced (`STEPS.introduce`) and registers its upcasters with the
`@STEPS.upcaster(from_type, from_schema)` decorator. The express module registers its
fused shortcuts with `@EXPRESS.plan(...)` (ExpressPlans). ChainSpec gathers them all.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import marshal
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Final, TypeVar

from eventstate.domain.catalogue import RETIRED_TYPE
from eventstate.releases import RELEASES
from upcasters.native import source_text
from upcasters.steps import Payload, StepFunction

F = TypeVar("F", bound=StepFunction)

# (data, stream, providers) -> (type, schema, payload) at today's release, or None to
# let the steps run (see upcasters/express.py for the contract). `providers[key]`, for
# the event's stream or its `<kind>:<model-uuid>` part, is the model's provider type
# (None when unknown): the context the steps get from UpcastContext.
ExpressFunction = Callable[
    [Payload, str, Mapping[str, "str | None"]], "tuple[str, int, Payload] | None"
]
E = TypeVar("E", bound=ExpressFunction)


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


@dataclass(frozen=True, slots=True)
class ExpressPlan:
    """A fused shortcut `(from_type, from_schema) -> (to_type, to_schema)` at CODE_RELEASE.

    `to_type` and `to_schema` restate where the chain leads, so that a release adding
    a step on the way makes the plan stale and fails validation at start-up.
    """

    from_type: str
    from_schema: int
    to_type: str
    to_schema: int
    function: ExpressFunction

    @property
    def label(self) -> str:
        name = getattr(self.function, "__name__", repr(self.function))
        return f"express plan {name} ({self.from_type} {self.from_schema})"


class ExpressPlans:
    """The express module's declarations: `EXPRESS = ExpressPlans(__name__)`."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.plans: list[ExpressPlan] = []

    def plan(
        self, from_type: str, from_schema: int, to_type: str, to_schema: int
    ) -> Callable[[E], E]:
        """Register the decorated function as the express plan of `(from_type, from_schema)`."""

        def register(function: E) -> E:
            self.plans.append(ExpressPlan(from_type, from_schema, to_type, to_schema, function))
            return function

        return register


@dataclass(frozen=True)
class ChainSpec:
    """Everything the chain is built from; `sources` go into the fingerprint."""

    introductions: tuple[Introduction, ...]
    upcasters: tuple[Upcaster, ...]
    sources: tuple[str, ...] = ()
    express: tuple[ExpressPlan, ...] = ()

    @classmethod
    def from_releases(
        cls,
        releases: Iterable[ReleaseSteps],
        helpers: Iterable[ModuleType] = (),
        express: Iterable[ExpressPlan] = (),
    ) -> ChainSpec:
        releases = list(releases)
        introductions = [BUILTIN_RETIRED, *(i for r in releases for i in r.introductions)]
        upcasters = [u for r in releases for u in r.upcasters]
        modules = [_module(r.module) for r in releases] + list(helpers)
        return cls(
            tuple(introductions),
            tuple(upcasters),
            tuple(_source(m) for m in modules),
            tuple(express),
        )


BUILTIN_RETIRED: Final = Introduction(
    RETIRED_TYPE,
    RELEASES[0],
    "{original_type, reason}: an event whose content became meaningless",
    Kind.PRODUCED,
)


def _module(name: str) -> ModuleType:
    return sys.modules[name]


def _source(module: ModuleType) -> str:
    try:
        return source_text(module)  # also of a module compiled to C: what it was built from
    except OSError:  # no source shipped: fall back to the compiled code
        code = [
            marshal.dumps(value.__code__)
            for value in vars(module).values()
            if inspect.isfunction(value) and value.__module__ == module.__name__
        ]
        return hashlib.sha256(b"".join(code)).hexdigest()
