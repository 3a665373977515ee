"""The upcaster chain: old stored events read at today's (3.0) schema.

`CHAIN` is built from every release module and validated when this package is
imported: a broken chain raises ChainError naming the type and schema.

A new release gets its own module `v<major>_<minor>.py` holding
`STEPS = ReleaseSteps("<release>", __name__)`, its frozen tables and one
`@STEPS.upcaster(type, schema)` step per changed type; it is appended to
RELEASE_MODULES, and the catalogue's schema of each changed type goes up by one.
Old release modules are never edited.

`express` holds fused shortcuts to today's schema for the busy 1.x types, an
optimisation checked against the steps; a release that adds a step on one of their
paths makes the chain fail to build until the plan is updated (or deleted). It is the
one module compiled to C (mypyc, when the build can: `native.py`).
"""

from __future__ import annotations

from typing import Final

from eventstate.domain.catalogue import RETIRED_TYPE
from upcasters import (
    addresses,
    chain,
    hardware,
    native,
    registry,
    steps,
    tables,
    v1_14,
    v1_16,
    v1_18,
    v1_21,
    v2_0,
    v2_7,
    v3_0,
    validation,
)
from upcasters.chain import Chain, ChainStep, ReadPlan, UpcastFunction, no_express
from upcasters.registry import (
    ChainSpec,
    ExpressFunction,
    ExpressPlan,
    ExpressPlans,
    Introduction,
    Kind,
    ReleaseSteps,
    Upcaster,
)
from upcasters.steps import Retire, StepFailure, UpcastContext
from upcasters.validation import validate_chain

# Compiled to C when the build could (upcasters/native.py); the same code either way.
express: Final = native.load("upcasters.express")

__all__ = [
    "CHAIN",
    "RELEASE_MODULES",
    "RETIRED_TYPE",
    "Chain",
    "ChainSpec",
    "ChainStep",
    "ExpressFunction",
    "ExpressPlan",
    "ExpressPlans",
    "Introduction",
    "Kind",
    "ReadPlan",
    "ReleaseSteps",
    "Retire",
    "StepFailure",
    "UpcastContext",
    "UpcastFunction",
    "Upcaster",
    "build_chain",
    "no_express",
    "validate_chain",
]

# Oldest first; a release's upcasters live in its module and are never deleted.
RELEASE_MODULES: Final = (v1_14, v1_16, v1_18, v1_21, v2_0, v2_7, v3_0)
# Every other module of the package: all of it goes into the fingerprint.
HELPER_MODULES: Final = (
    steps,
    registry,
    validation,
    chain,
    tables,
    addresses,
    hardware,
    native,
    express,
)


def build_chain() -> Chain:
    """The chain of every release module and the express plans (runs validate_chain;
    ChainError if broken)."""
    spec = ChainSpec.from_releases(
        (m.STEPS for m in RELEASE_MODULES), HELPER_MODULES, express.EXPRESS.plans
    )
    return Chain(spec)


CHAIN: Final = build_chain()
