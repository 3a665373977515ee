"""validate_chain on deliberately broken chains: each flaw names the type and schema."""

from __future__ import annotations

from typing import Any

import pytest

from eventstate.errors import ChainError
from upcasters import CHAIN, RELEASE_MODULES, Chain, ChainSpec, validate_chain
from upcasters.registry import BUILTIN_RETIRED, Introduction, Kind, Upcaster
from upcasters.steps import UpcastContext

Data = dict[str, Any]


def real() -> tuple[list[Introduction], list[Upcaster]]:
    return list(CHAIN.spec.introductions), list(CHAIN.spec.upcasters)


def spec(introductions: list[Introduction], upcasters: list[Upcaster]) -> ChainSpec:
    return ChainSpec(tuple(introductions), tuple(upcasters))


def keep(data: Data, ctx: UpcastContext) -> Data:
    """Does nothing."""
    return data


def reads_context(data: Data, ctx: UpcastContext) -> Data:
    """Reads the provider."""
    data["p"] = ctx.provider_type
    return data


def find(upcasters: list[Upcaster], from_type: str, from_schema: int) -> int:
    return next(
        i
        for i, up in enumerate(upcasters)
        if (up.from_type, up.from_schema) == (from_type, from_schema)
    )


def test_the_real_chain_is_valid() -> None:
    validate_chain(CHAIN)
    validate_chain(CHAIN.spec)
    assert [m.STEPS.release for m in RELEASE_MODULES] == [
        "1.14",
        "1.16",
        "1.18",
        "1.21",
        "2.0",
        "2.7",
        "3.0",
    ]


def test_gap_is_named() -> None:
    introductions, upcasters = real()
    del upcasters[find(upcasters, "MachineAdded", 3)]  # the 1.21 step
    with pytest.raises(ChainError, match="MachineAdded schema 3") as caught:
        validate_chain(spec(introductions, upcasters))
    assert "gap" in str(caught.value)
    with pytest.raises(ChainError):
        Chain(spec(introductions, upcasters))


def test_missing_last_step_is_a_gap_against_the_catalogue() -> None:
    introductions, upcasters = real()
    del upcasters[find(upcasters, "MachineAddressesSet", 2)]  # the 2.7 step
    with pytest.raises(ChainError, match=r"MachineAddressesSet schema 2.*catalogue says schema 3"):
        validate_chain(spec(introductions, upcasters))


def test_duplicate_is_named() -> None:
    introductions, upcasters = real()
    upcasters.append(Upcaster("2.0", "MachineLifeChanged", 1, "MachineLifeChanged", keep))
    with pytest.raises(ChainError, match="MachineLifeChanged schema 1: duplicate upcaster"):
        validate_chain(spec(introductions, upcasters))


def test_rename_to_unknown_type_is_named() -> None:
    introductions, upcasters = real()
    index = find(upcasters, "EnvironConfigChanged", 2)
    upcasters[index] = Upcaster("2.0", "EnvironConfigChanged", 2, "ModelConfigChangd", keep)
    with pytest.raises(ChainError, match="ModelConfigChangd schema 3") as caught:
        validate_chain(spec(introductions, upcasters))
    assert "renamed to a type the code does not know" in str(caught.value)


def test_rename_onto_another_type_is_named() -> None:
    introductions, upcasters = real()
    index = find(upcasters, "MachineLifeChanged", 1)
    upcasters[index] = Upcaster("2.0", "MachineLifeChanged", 1, "MachineAdded", keep)
    with pytest.raises(ChainError, match="MachineLifeChanged schema 1 -> MachineAdded 2"):
        validate_chain(spec(introductions, upcasters))


def test_releases_must_increase_along_a_family() -> None:
    introductions, upcasters = real()
    index = find(upcasters, "MachineAdded", 2)  # 1.18, after 1.16's step
    upcasters[index] = Upcaster("1.16", "MachineAdded", 2, "MachineAdded", keep)
    with pytest.raises(ChainError, match=r"MachineAdded schema 2 -> MachineAdded 3.*not after"):
        validate_chain(spec(introductions, upcasters))


def test_upcaster_of_a_type_nobody_introduced() -> None:
    introductions, upcasters = real()
    upcasters.append(Upcaster("2.0", "MachineTeleported", 1, "MachineTeleported", keep))
    with pytest.raises(ChainError, match="MachineTeleported"):
        validate_chain(spec(introductions, upcasters))


def test_catalogue_type_without_a_chain() -> None:
    introductions, upcasters = real()
    introductions = [i for i in introductions if i.type_name != "UnitDestroyed"]
    with pytest.raises(
        ChainError, match="UnitDestroyed schema 1: in the catalogue but has no chain"
    ):
        validate_chain(spec(introductions, upcasters))


def test_type_outside_the_catalogue() -> None:
    introductions, upcasters = real()
    introductions.append(Introduction("MachineTeleported", "1.16", "{}"))
    with pytest.raises(ChainError, match="MachineTeleported schema 1: not a type"):
        validate_chain(spec(introductions, upcasters))


def test_double_introduction() -> None:
    introductions, upcasters = real()
    introductions.append(Introduction("UnitDestroyed", "1.16", "{unit}"))
    with pytest.raises(ChainError, match="UnitDestroyed schema 1 is introduced twice"):
        validate_chain(spec(introductions, upcasters))


def test_unknown_release() -> None:
    introductions, upcasters = real()
    upcasters.append(Upcaster("1.15", "UnitDestroyed", 1, "UnitDestroyed", keep))
    with pytest.raises(ChainError, match="UnitDestroyed schema 1: upcaster at unknown release"):
        validate_chain(spec(introductions, upcasters))


def test_step_reading_context_must_declare_it() -> None:
    introductions, upcasters = real()
    index = find(upcasters, "MachineLifeChanged", 1)
    upcasters[index] = Upcaster("2.0", "MachineLifeChanged", 1, "MachineLifeChanged", reads_context)
    with pytest.raises(ChainError, match=r"MachineLifeChanged schema 1: .*reads its context"):
        validate_chain(spec(introductions, upcasters))


def test_operational_types_do_not_change() -> None:
    introductions, upcasters = real()
    upcasters.append(Upcaster("3.0", "UpgradeStarted", 1, "UpgradeStarted", keep))
    with pytest.raises(ChainError, match="UpgradeStarted"):
        validate_chain(spec(introductions, upcasters))


def test_builtin_retired_type_is_produced_only() -> None:
    assert BUILTIN_RETIRED.kind is Kind.PRODUCED
    assert BUILTIN_RETIRED in CHAIN.spec.introductions
