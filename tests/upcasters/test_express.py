"""Express plans (upcasters/express.py) against the stepwise chain they shortcut.

- For any payload of an express type, real or malformed: the express function either
  returns exactly what the steps plus the 3.0 check return (same values, same key
  order), or declines without having touched the payload; through the chain (and the
  store's read loop) every event then reads exactly as stepwise, errors included.
- The express functions take the real shapes (the fixture log, the examples).
- A plan that does not match a real chain path fails when the chain is built, naming
  the type and schema; the plans and the module's source are in the fingerprint.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventstate.api import open_store
from eventstate.backends.base import Row
from eventstate.errors import ChainError, CorruptEventError, UpcastError
from eventstate.releases import CODE_RELEASE
from eventstate.store import EventStore
from tests.upcasters.upcast_support import (
    EXAMPLES,
    MODEL_UUID,
    PROVIDERS,
    SETTINGS,
    legacy_events,
    mutated,
    realistic,
)
from upcasters import CHAIN, Chain, ExpressPlan, express, no_express
from upcasters.registry import ExpressPlans
from upcasters.steps import OneModel

PLANS = {(plan.from_type, plan.from_schema): plan.function for plan in CHAIN.spec.express}
STEPWISE = CHAIN.upcaster_for(CODE_RELEASE, express=False)
FIXTURE_LOG = Path(__file__).parents[1] / "fixtures" / "legacy-1.14.jsonl"


class Text(str):
    """A str subclass: equal to a plain string, but not `type(...) is str`."""


# Values the express functions treat specially, or must refuse as the steps do.
TRICKY = st.sampled_from(
    [
        True,
        False,
        0,
        1,
        2,
        3,
        5,
        6,
        -1,
        1.0,
        None,
        "",
        "lxc",
        "lxd",
        "kvm",
        "LXC",
        "default-series",
        "default-base",
        "tools-url",
        "password",
        "ubuntu@22.04",
        "ubuntu@99.99",
        "precise",
        "warty",
        "0",
        "0/lxc/1",
        "01",
        "1/lxd/0",
        "wordpress/0",
        "Wordpress/0",
        "mysql",
        "10.0.0.1",
        "10.0.0.256",
        "fe80::1",
        "::1",
        "bad..x",
        "1.14.1-precise-amd64",
        "1.14.1-warty-amd64",
        "arch=amd64 mem=1G",
        "mem=1T",
        Text("wordpress/0"),
        Text("lxc"),
        Text("10.0.0.1"),
    ]
) | st.sampled_from([[], ["lxc"], ["lxc", "kvm", "lxc", "kvm", "lxc"], {}]).map(copy.deepcopy)
STREAMS = st.sampled_from(
    [
        f"machine:{MODEL_UUID}:0",
        f"machine:{MODEL_UUID}:3",
        f"machine:{MODEL_UUID}:0/lxc/1",
        f"machine:{MODEL_UUID}:",
        f"machine:{MODEL_UUID}",
        "machine::2",
        f"model:{MODEL_UUID}",
        f"unit:{MODEL_UUID}:wordpress/0",
    ]
)
CONFIG_KEYS = st.sampled_from(
    [
        "default-series",
        "default-base",
        "access-key",
        "password",
        "tools-url",
        "public-bucket",
        "logging-config",
        "firewall-mode",
    ]
)
CONFIG_VALUES = st.one_of(
    TRICKY, st.sampled_from(["trusty", "jammy", "ubuntu@14.04", "centos@7"]), st.none()
)


@st.composite
def config_changes(draw: st.DrawFn) -> dict[str, Any]:
    """1.14 config changes, with repeated, renamed, dropped and non-string keys."""
    keys = (
        st.one_of(CONFIG_KEYS, st.integers(0, 2)) if draw(st.integers(0, 9)) == 0 else CONFIG_KEYS
    )
    return {
        "set": draw(st.dictionaries(keys, CONFIG_VALUES, max_size=4)),
        "unset": draw(st.lists(st.one_of(CONFIG_KEYS, TRICKY), max_size=4)),
    }


@st.composite
def express_events(draw: st.DrawFn) -> tuple[str, str, int, Any, str | None]:
    """(stream, type, schema, payload, provider) for a pair with an express plan."""
    type_name, schema = draw(st.sampled_from(sorted(PLANS)))
    stream, _, data, provider = draw(legacy_events(types=[type_name]))
    kind = draw(st.sampled_from(["real", "junk", "tricky", "config"]))
    if kind == "junk":
        data = draw(mutated(realistic(type_name, schema)))
    elif kind == "tricky":
        data = draw(mutated(data, st.one_of(TRICKY, st.lists(TRICKY, max_size=3))))
    elif kind == "config" and type_name == "EnvironConfigChanged":
        data = draw(config_changes())
    if draw(st.booleans()):
        stream = draw(STREAMS)
    if draw(st.integers(0, 4)) == 0:
        provider = draw(st.one_of(PROVIDERS, st.text(max_size=3)))
    return stream, type_name, schema, data, provider


def outcome(call: Callable[[], Any]) -> tuple[str, str]:
    """What an upcast gave, as text: the result with its key order, or the error."""
    try:
        return "ok", repr(call())
    except UpcastError as exc:
        return "error", str(exc)


@SETTINGS
@given(express_events())
def test_express_returns_what_the_steps_return_or_declines_untouched(
    event: tuple[str, str, int, Any, str | None],
) -> None:
    stream, type_name, schema, data, provider = event
    expected = outcome(
        lambda: STEPWISE(stream, 7, type_name, schema, copy.deepcopy(data), provider)
    )
    mine = copy.deepcopy(data)
    try:
        result = PLANS[type_name, schema](mine, stream, OneModel(provider))
    except Exception:
        result = None
    if result is None:
        assert repr(mine) == repr(data)  # declined before changing anything
    else:
        assert expected == ("ok", repr(result))
    # The chain tries the express plan first: every event reads exactly as stepwise.
    upcast = CHAIN.upcast
    assert outcome(lambda: upcast(stream, 7, type_name, schema, copy.deepcopy(data), provider)) == (
        expected
    )


def fixture_events() -> Iterator[tuple[str, str, int, dict[str, Any], str | None]]:
    """The 1.14 fixture log's events with their model's provider type."""
    records = [json.loads(line) for line in FIXTURE_LOG.read_text().splitlines()[1:]]
    providers = {
        r["stream"].split(":")[1]: r["data"]["provider_type"]
        for r in records
        if r["stream"].startswith("model:") and r["version"] == 1
    }
    for r in records:
        provider = providers.get(r["stream"].split(":")[1])
        yield r["stream"], r["type"], r["schema"], r["data"], provider


def test_express_takes_every_express_event_of_the_fixture_log() -> None:
    taken = set()
    for stream, type_name, schema, data, provider in fixture_events():
        if (type_name, schema) not in PLANS:
            continue
        result = PLANS[type_name, schema](copy.deepcopy(data), stream, OneModel(provider))
        assert result is not None, (stream, type_name, data)
        expected = STEPWISE(stream, 1, type_name, schema, copy.deepcopy(data), provider)
        assert repr(result) == repr(expected)
        taken.add((type_name, schema))
    assert taken == set(PLANS)


def test_express_takes_the_examples() -> None:
    for stream, type_name, data, provider in EXAMPLES:
        if (type_name, 1) in PLANS:
            assert PLANS[type_name, 1](copy.deepcopy(data), stream, OneModel(provider))


def test_a_retired_change_is_retired_with_the_steps_reason() -> None:
    for data in (
        {"set": {"tools-url": "x"}, "unset": ["public-bucket"]},  # 1.18
        {"set": {"password": "x"}, "unset": ["tools-url"]},  # 2.0
        {"set": {}, "unset": []},
    ):
        expected = STEPWISE("model:m", 2, "EnvironConfigChanged", 1, copy.deepcopy(data), None)
        assert expected[0] == "EventRetired"
        result = PLANS["EnvironConfigChanged", 1](copy.deepcopy(data), "model:m", {})
        assert result == expected


def test_caches_stay_correct_when_they_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(express, "CACHE_LIMIT", 3)
    caches = ("_ADDRESS_TEMPLATES", "_CHANGE_PLANS", "_HARDWARE", "_AGENT_VERSIONS")
    express.forget()  # each starts empty (caches only: forgetting loses nothing)
    assert all(len(getattr(express, name)) == 0 for name in caches)
    # Addresses the readers leave to the classifier (a zone, an embedded IPv4 part).
    odd = ["::1%eth0", "fe80::1%eth1", "::ffff:10.0.0.1", "::ffff:10.0.0.2", "1::2%x"]
    for _ in range(2):
        test_express_takes_every_express_event_of_the_fixture_log()
        for value in odd:
            data = {"addresses": [value, "10.0.0.1"]}
            expected = STEPWISE("machine:m:0", 2, "MachineAddressesSet", 1, dict(data), None)
            result = PLANS["MachineAddressesSet", 1](copy.deepcopy(data), "machine:m:0", {})
            assert repr(result) == repr(expected)
    assert all(0 < len(getattr(express, name)) <= 3 for name in caches)


def test_unknown_pairs_have_no_express_plan() -> None:
    plan = CHAIN.read_plan(CODE_RELEASE)
    assert plan.express["MachineLifeChanged"] == {1: PLANS["MachineLifeChanged", 1], 2: None}
    assert plan.express["EnvironmentCreated"][1] is no_express
    assert ("MachineAdded", 1) in plan.contextual
    assert ("MachineLifeChanged", 1) not in plan.contextual
    staged = CHAIN.read_plan("2.0")  # express plans lead to today's release only
    assert all(f in (None, no_express) for s in staged.express.values() for f in s.values())


# --- the store's read loop --------------------------------------------------------------------


STEPS_ONLY = Chain(replace(CHAIN.spec, express=()))


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('express') / 'store.db'}")
    yield store
    store.close()


def read(store: EventStore, row: Row) -> tuple[str, str]:
    try:
        return "ok", repr(list(store.decode([row])))
    except (UpcastError, CorruptEventError) as exc:  # the codec refuses non-string keys
        return "error", str(exc)


@SETTINGS
@given(st.lists(express_events(), min_size=1, max_size=6), PROVIDERS)
def test_store_reads_express_events_as_the_steps_do(
    empty_store: EventStore,
    events: list[tuple[str, str, int, Any, str | None]],
    provider: str | None,
) -> None:
    """A log read by the store's loop (express first) and by the steps alone; the
    model's provider comes from the log, or is unknown."""
    fast = EventStore(empty_store.backend, empty_store.codec)
    slow = EventStore(empty_store.backend, empty_store.codec, STEPS_ONLY)
    model = {"uuid": MODEL_UUID, "name": "m", "provider_type": provider, "config": {}}
    log: list[tuple[str, str, Any]] = [(f"model:{MODEL_UUID}", "EnvironmentCreated", model)]
    log += [(stream, type_name, data) for stream, type_name, _, data, _ in events]
    for position, (stream, type_name, data) in enumerate(log, start=1):
        try:
            state = fast.codec.encode(data)
        except (TypeError, ValueError, OverflowError):  # beyond what msgpack stores
            continue
        row = (position, stream, position, type_name, 1, 0, state)
        assert read(fast, row) == read(slow, row)


def test_a_declined_event_fails_in_the_store_as_the_steps_say(empty_store: EventStore) -> None:
    row = (5, f"machine:{MODEL_UUID}:1", 3, "MachineLifeChanged", 1, 0, b"\x81\xa4life\x07")
    with pytest.raises(UpcastError) as failure:
        list(empty_store.decode([row]))
    assert str(failure.value) == (
        f"cannot upcast MachineLifeChanged schema 1 at machine:{MODEL_UUID}:1 version 3: "
        "2.0 upcaster name_life (MachineLifeChanged 1): life 7 is not 0, 1 or 2"
    )


# --- validation and fingerprint ---------------------------------------------------------------


def keep(data: dict[str, Any], stream: str, providers: Any) -> None:
    return None


def chain_with(*plans: ExpressPlan) -> Chain:
    return Chain(replace(CHAIN.spec, express=(*CHAIN.spec.express, *plans)))


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (ExpressPlan("MachineAdded", 9, "MachineAdded", 6, keep), "MachineAdded schema 9: "),
        (ExpressPlan("Mystery", 1, "Mystery", 2, keep), "Mystery schema 1: "),
        (ExpressPlan("MachineAdded", 6, "MachineAdded", 6, keep), "reads it unchanged"),
        (ExpressPlan("UnitDestroyed", 1, "UnitDestroyed", 1, keep), "UnitDestroyed schema 1: "),
        (ExpressPlan("UpgradeStarted", 1, "UpgradeStarted", 1, keep), "reads it unchanged"),
        (
            ExpressPlan("MachineAdded", 2, "MachineAdded", 5, keep),  # stale: 3.0 added a step
            "leads to MachineAdded 5, the chain to MachineAdded 6",
        ),
        (ExpressPlan("MachineLifeChanged", 1, "MachineLifeChanged", 2, keep), "two express"),
        (
            ExpressPlan("MachineAdded", 2, "MachineAdded", 6, lambda data: None),  # type: ignore[arg-type,misc]
            "must be a function of (data, stream, providers)",
        ),
    ],
)
def test_a_plan_off_the_chain_fails_at_start_up(plan: ExpressPlan, message: str) -> None:
    with pytest.raises(ChainError, match=f"^{plan.from_type} schema {plan.from_schema}: ") as err:
        chain_with(plan)
    assert message in str(err.value)


def test_registration_records_the_plan() -> None:
    plans = ExpressPlans("here")
    decorated = plans.plan("MachineAdded", 2, "MachineAdded", 6)(keep)
    assert decorated is keep
    assert plans.plans == [ExpressPlan("MachineAdded", 2, "MachineAdded", 6, keep)]
    assert plans.plans[0].label == "express plan keep (MachineAdded 2)"
    assert chain_with(*plans.plans).read_plan(CODE_RELEASE).express["MachineAdded"][2] is keep


def test_fingerprint_covers_the_express_plans_and_their_source() -> None:
    # Read from the file: the module may run compiled (upcasters/native.py).
    source = Path(express.__file__ or "").with_name("express.py").read_text(encoding="utf-8")
    assert source in CHAIN.spec.sources
    fewer = Chain(replace(CHAIN.spec, express=CHAIN.spec.express[1:]))
    assert fewer.fingerprint() != CHAIN.fingerprint()


# --- addresses classified on sight -------------------------------------------------------

OCTET = st.one_of(
    st.integers(0, 999).map(str),
    st.integers(0, 99).map(lambda n: f"0{n}"),  # leading zeros: not a quad
    st.sampled_from(["", "-1", "1a", "\u0661", "+1", " 1"]),
)
QUADISH = st.lists(OCTET, min_size=1, max_size=6).map(".".join)
LABEL = st.text("abcXYZ019-_.:\u00e9", min_size=0, max_size=12)
HOSTISH = st.one_of(
    st.lists(LABEL, min_size=1, max_size=5).map(".".join),
    st.builds(lambda name, end: name + end, LABEL, st.sampled_from([".internal", ".LOCAL", ""])),
    st.text(st.characters(codec="utf-8"), max_size=20),
    st.integers(60, 70).map(lambda n: "a" * n + ".com"),  # the 63-character label limit
)
HEXTET = st.one_of(
    st.integers(0, 0xFFFF).map(lambda n: format(n, "x")),
    st.sampled_from(["", "0", "1", "fe80", "FEBF", "fec0", "00001", "12345", "g", "0.0.0.1"]),
)
V6ISH = st.one_of(
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda address: address.exploded),
    st.lists(HEXTET, min_size=1, max_size=10).map(":".join),
    st.text("0123456789abcdefABCDEF:%.", max_size=42),
    st.builds("{}{}".format, st.ip_addresses(v=6).map(str), st.sampled_from(["%eth0", "%", ":"])),
)
QUAD_SCOPES = ("local-machine", "local-cloud", "public")
V6_SCOPES = ("local-machine", "link-local", "public")
HOST_SCOPES = (None, "local-cloud", "public")


@SETTINGS
@given(st.one_of(QUADISH, HOSTISH, V6ISH))
def test_addresses_classified_on_sight_as_the_classifier_does(value: str) -> None:
    """The express plan's own readers of dotted quads, IPv6 addresses and host names
    give exactly what upcasters.addresses (the 1.18 rule) gives, or leave the value to
    it; an IPv6 address of hex digits and colons only is never left to it."""
    from upcasters.addresses import classify_address

    expected = classify_address(value)
    quad = express._quad_scope(value)
    if quad >= 0:
        assert expected == ("ipv4", QUAD_SCOPES[quad])
        return
    assert expected is None or expected[0] != "ipv4"
    if ":" in value:
        v6 = express._v6_scope(value)
        if v6 >= 0:
            assert expected == ("ipv6", V6_SCOPES[v6])
        elif set(value) <= set("0123456789abcdefABCDEF:"):
            assert expected is None
        return  # else the classifier's, through the cache
    host = express._hostname_scope(value)
    if host >= 0:
        assert expected == ("hostname", HOST_SCOPES[host])
    else:
        assert expected is None


@pytest.mark.parametrize(
    ("value", "quad", "host"),
    [
        ("10.1.2.3", 1, -1),
        ("172.16.0.1", 1, -1),
        ("172.32.0.1", 2, -1),
        ("192.168.9.9", 1, -1),
        ("127.0.0.1", 0, -1),
        ("8.8.8.8", 2, -1),
        ("10.0.0.256", -1, -1),
        ("010.0.0.1", -1, -1),
        ("1.2.3", -1, -1),
        ("juju-1.internal", -1, 1),
        ("ns1.example.com", -1, 2),
        ("Juju-1.Internal", -1, 1),  # the local-cloud suffixes match in any case
        ("NS1.EXAMPLE.LOCAL", -1, 1),
        ("Host.Example.com", -1, 2),
        ("-bad.example.com", -1, -1),
        ("example.123", -1, -1),
    ],
)
def test_addresses_classified_on_sight_examples(value: str, quad: int, host: int) -> None:
    assert express._quad_scope(value) == quad
    assert express._hostname_scope(value) == host


@pytest.mark.parametrize(
    ("value", "scope"),
    [
        ("::1", 0),
        ("0:0:0:0:0:0:0:1", 0),
        ("0000:0000:0000:0000:0000:0000:0000:0001", 0),
        ("::", 2),
        ("fe80::1", 1),
        ("FEBF:ffff::", 1),
        ("fec0::1", 2),
        ("2001:db8::8a2e:370:7334", 2),
        ("1::", 2),
        ("::1:0", 2),
        ("1:2:3:4:5:6:7::", 2),
        ("::2:3:4:5:6:7:8", 2),
        # left to the classifier: a zone, an embedded IPv4 part, or not an address
        ("::1%eth0", -1),
        ("::ffff:10.0.0.1", -1),
        ("1:2:3:4:5:6:7:8:9", -1),
        ("1:2:3:4:5:6:7", -1),
        ("1::2::3", -1),
        (":1::2", -1),
        ("1::2:", -1),
        ("1:2:3:4::5:6:7:8", -1),
        ("12345::1", -1),
        ("g::1", -1),
        ("1:2", -1),
    ],
)
def test_ipv6_classified_on_sight_examples(value: str, scope: int) -> None:
    from upcasters.addresses import classify_address

    assert express._v6_scope(value) == scope
    if scope >= 0:
        assert classify_address(value) == ("ipv6", V6_SCOPES[scope])


NAMEISH = st.one_of(
    st.text("abz09-/", max_size=12),
    st.text("aZ0/-_.\u0661\u00e9 ", max_size=8),
    st.builds("{}/{}".format, st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True), OCTET),
)
MACHINE_IDISH = st.one_of(
    st.lists(
        st.one_of(OCTET, st.sampled_from(["lxc", "lxd", "kvm", "lx", "lxcc", "LXC", ""])),
        min_size=1,
        max_size=6,
    ).map("/".join),
    st.text("0129/lxdckvm", max_size=14),
)


@SETTINGS
@given(NAMEISH)
def test_names_read_on_sight_as_the_catalogue_checks_them(value: str) -> None:
    """The express plans' readers of unit and application names accept exactly what
    the catalogue's 3.0 tests accept."""
    from eventstate.domain.catalogue import is_application_name, is_unit_name

    assert express._is_unit_name(value) == is_unit_name(value)
    assert express._is_application_name(value) == is_application_name(value)


@SETTINGS
@given(MACHINE_IDISH)
def test_machine_ids_read_on_sight_as_the_releases_rename_them(value: str) -> None:
    """A 1.x machine id becomes what 2.0 makes of it (lxc -> lxd) when the catalogue's
    3.0 test accepts that, else the reader refuses it (the steps then decide)."""
    from eventstate.domain.catalogue import is_machine_id
    from upcasters.v2_0 import lxd_machine_id

    renamed = lxd_machine_id(value)
    expected = renamed if is_machine_id(renamed) else None
    assert express._machine_id_3_0(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "0"),
        ("12", "12"),
        ("0/lxc/1", "0/lxd/1"),
        ("3/kvm/0/lxc/12", "3/kvm/0/lxd/12"),
        ("1/lxd/2", "1/lxd/2"),
        ("01", None),
        ("0/lxc/01", None),
        ("0/lxc", None),
        ("0/docker/1", None),
        ("0/lxc/1/", None),
        ("", None),
    ],
)
def test_machine_ids_read_on_sight_examples(value: str, expected: str | None) -> None:
    assert express._machine_id_3_0(value) == expected


@pytest.mark.parametrize(
    ("value", "unit", "application"),
    [
        ("wordpress/0", True, False),
        ("my-app2/13", True, False),
        ("wordpress", False, True),
        ("wordpress/01", False, False),
        ("Wordpress/0", False, False),
        ("2app/0", False, False),
        ("app/0/1", False, False),
        ("app/", False, False),
        ("", False, False),
    ],
)
def test_names_read_on_sight_examples(value: str, unit: bool, application: bool) -> None:
    assert express._is_unit_name(value) is unit
    assert express._is_application_name(value) is application
