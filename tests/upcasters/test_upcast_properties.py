"""Hypothesis properties of the chain.

- Upcasting a 1.14 event straight to 3.0 equals stepping through every release one at
  a time (upcaster_for each release in turn, each result fed into the next).
- Any payload of a stored (type, schema) that the chain changes, close to the real
  shapes or junk, either upcasts to a payload that passes validate_payload or raises
  UpcastError; never another exception. (An event already current is returned as
  stored, at once: the store validated it on append.)
- The catalogue's fast checks never accept what the full checks refuse.
"""

from __future__ import annotations

import contextlib
import copy
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from eventstate.domain.catalogue import FAST_CHECKS, PAYLOADS, payload_validator, validate_payload
from eventstate.errors import UpcastError, ValidationError
from eventstate.releases import CODE_RELEASE, RELEASES
from tests.upcasters.upcast_support import (
    EXAMPLES,
    JUNK,
    SETTINGS,
    UPCAST_PAIRS,
    legacy_events,
    mutated,
    stored_events,
)
from upcasters import CHAIN
from upcasters.addresses import classify


def outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except UpcastError:
        return "error", None


@SETTINGS
@given(legacy_events())
def test_straight_to_3_0_equals_one_release_at_a_time(
    event: tuple[str, str, dict[str, Any], str | None],
) -> None:
    stream, type_name, data, provider = event
    straight = outcome(lambda: CHAIN.upcast(stream, 1, type_name, 1, copy.deepcopy(data), provider))

    def stepwise() -> tuple[str, int, dict[str, Any]]:
        current = (type_name, 1, copy.deepcopy(data))
        for release in RELEASES[1:]:
            current = CHAIN.upcaster_for(release)(stream, 1, *current, provider)
        return current

    assert outcome(stepwise) == straight


# --- any payload: a valid result or an UpcastError ----------------------------------------------


@SETTINGS
@given(stored_events())
def test_any_payload_upcasts_to_a_valid_payload_or_raises_upcast_error(
    event: tuple[str, str, int, Any, str | None],
) -> None:
    stream, type_name, schema, data, provider = event
    try:
        result_type, result_schema, result = CHAIN.upcast(
            stream, 1, type_name, schema, data, provider
        )
    except UpcastError:
        return
    assert result_schema == CHAIN.current_schema(result_type, CODE_RELEASE)
    validate_payload(result_type, result)


@SETTINGS
@given(
    st.one_of(st.text(max_size=12), st.sampled_from(sorted({t for t, _ in UPCAST_PAIRS}))),
    st.one_of(st.integers(-2, 9), st.text(max_size=2), st.none()),
    JUNK,
)
def test_unknown_types_and_schemas_raise_upcast_error(
    type_name: str, schema: Any, data: Any
) -> None:
    with contextlib.suppress(UpcastError):
        CHAIN.upcast("model:x", 1, type_name, schema, data, None)


# --- the catalogue's fast checks ------------------------------------------------------------------

FULL_CHECKS = {t: payload_validator(t, PAYLOADS[t]) for t in FAST_CHECKS}


def valid_3_0(type_name: str) -> dict[str, Any]:
    for stream, legacy_type, data, provider in EXAMPLES:
        result = CHAIN.upcast(stream, 1, legacy_type, 1, copy.deepcopy(data), provider)
        if result[0] == type_name:
            return result[2]
    fallbacks: dict[str, dict[str, Any]] = {
        "AgentVersionSet": {"version": "3.0.1"},
        "UnitDestroyed": {"unit": "wordpress/0"},
        "ModelConfigChanged": {"set": {"default-base": "ubuntu@22.04"}, "unset": ["x"]},
        "EventRetired": {"original_type": "X", "reason": "y"},
    }
    return fallbacks[type_name]


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, Any]:
    type_name = draw(st.sampled_from(sorted(FAST_CHECKS)))
    return type_name, draw(mutated(valid_3_0(type_name)))


@SETTINGS
@given(near_valid())
def test_fast_checks_never_accept_what_the_full_checks_refuse(case: tuple[str, Any]) -> None:
    type_name, data = case
    try:
        fast = FAST_CHECKS[type_name](data)
    except Exception:
        fast = False
    try:
        FULL_CHECKS[type_name](data)
        full = True
    except ValidationError:
        full = False
    if fast:
        assert full
    # And the public validator agrees with the full checks either way.
    try:
        validate_payload(type_name, data)
        assert full
    except ValidationError:
        assert not full


def test_fast_checks_accept_the_real_shapes() -> None:
    for type_name in FAST_CHECKS:
        assert FAST_CHECKS[type_name](valid_3_0(type_name)), type_name


# --- address classification against the ipaddress module --------------------------------------

_LOCAL_CLOUD = [ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def reference_classification(value: str) -> tuple[str, str] | None:
    """events.md's rule written with ipaddress networks, as plainly as possible."""
    try:
        address = ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv4Address):
        if address in ip_network("127.0.0.0/8"):
            return ("ipv4", "local-machine")
        if any(address in network for network in _LOCAL_CLOUD):
            return ("ipv4", "local-cloud")
        return ("ipv4", "public")
    assert isinstance(address, IPv6Address)
    if address.scope_id is None and address == ip_address("::1"):
        return ("ipv6", "local-machine")
    if address in ip_network("fe80::/10"):
        return ("ipv6", "link-local")
    return ("ipv6", "public")


OCTETS = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "007", "", "1a"]))
DOTTED = st.lists(OCTETS, min_size=3, max_size=5).map(".".join)
IP_TEXT = st.one_of(
    DOTTED,
    st.ip_addresses().map(str),
    st.sampled_from(["::1", "::1%eth0", "fe80::1%2", "febf::", "fec0::", "::ffff:10.0.0.1"]),
    st.text(alphabet="0123456789abcdef:.%", max_size=20),
)


@SETTINGS
@given(IP_TEXT)
def test_ip_classification_agrees_with_ipaddress(value: str) -> None:
    expected = reference_classification(value)
    if expected is not None:
        assert classify(value) == expected
    else:
        result = classify(value)
        assert result is None or result[0] == "hostname"
