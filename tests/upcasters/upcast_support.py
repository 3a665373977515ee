"""Hypothesis strategies for the upcaster chain's property tests: realistic 1.14 events,
payloads of any stored schema mutated at any depth, and junk."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from upcasters import CHAIN

MODEL_UUID = "5f1c2a34-0000-4000-8000-000000000005"
# UPCAST_EXAMPLES=20000 for a long run; the default keeps each test to a second or two.
SETTINGS = settings(
    max_examples=int(os.environ.get("UPCAST_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- realistic 1.14 events, with some that cannot be upcast --------------------------------

PROVIDERS = st.sampled_from(["ec2", "local", "manual", "null", "maas", "joyent", "azure", None])
SERIES = st.sampled_from(["precise", "trusty", "xenial", "centos7", "jammy", "warty"])
MACHINE_IDS = st.one_of(
    st.just("0"),
    st.integers(0, 30).map(str),
    st.tuples(st.integers(0, 5), st.sampled_from(["lxc", "kvm"]), st.integers(0, 5)).map(
        lambda t: f"{t[0]}/{t[1]}/{t[2]}"
    ),
)
NONCES = st.sampled_from(["", "manual:10.0.0.1", "machine-1:abc"])
CONFIG_KEYS = st.sampled_from(
    [
        "default-series",
        "access-key",
        "secret-key",
        "password",
        "region",
        "tools-url",
        "public-bucket",
        "default-instance-type",
        "firewall-mode",
        "logging-config",
    ]
)
CONFIG_VALUES = st.one_of(SERIES, st.text(max_size=6), st.integers(), st.booleans())
CHARACTERISTICS = st.lists(
    st.sampled_from(
        [
            "arch=amd64",
            "arch=arm64",
            "cpu-cores=2",
            "cpu-power=100",
            "mem=1740M",
            "mem=3G",
            "mem=2048",
            "root-disk=8G",
            "root-disk=8192M",
            "tags=virtual,fast",
            "tags=",
            "mem=1T",
        ]
    ),
    unique_by=lambda item: item.partition("=")[0],
    max_size=6,
).map(" ".join)
ADDRESSES = st.lists(
    st.one_of(
        st.ip_addresses().map(str),
        st.sampled_from(["node1.maas.local", "ip-10-0-0-1.ec2.internal", "example.com", "bad..x"]),
    ),
    max_size=3,
)


# The types a 1.14 store holds.
TYPES_1_14 = sorted(
    intro.type_name
    for intro in CHAIN.spec.introductions
    if intro.release == "1.14" and CHAIN.is_known(intro.type_name, 1, "1.14")
)


@st.composite
def legacy_events(
    draw: st.DrawFn, types: Sequence[str] = ()
) -> tuple[str, str, dict[str, Any], str | None]:
    """(stream, type, 1.14 payload, provider type), of one of `types` (default: any)."""
    machine_id = draw(MACHINE_IDS)
    machine = f"machine:{MODEL_UUID}:{machine_id}"
    model = f"model:{MODEL_UUID}"
    provider = draw(PROVIDERS)
    type_name = draw(st.sampled_from(types or TYPES_1_14))
    data: dict[str, Any]
    if type_name == "EnvironmentCreated":
        config = draw(st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=5))
        data = {
            "uuid": MODEL_UUID,
            "name": "m",
            "provider_type": provider or "ec2",
            "config": config,
        }
        return model, type_name, data, provider
    if type_name == "EnvironConfigChanged":
        data = {
            "set": draw(st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=3)),
            "unset": draw(st.lists(CONFIG_KEYS, max_size=3)),
        }
        return model, type_name, data, provider
    if type_name == "AgentVersionSet":
        return model, type_name, {"version": "1.14.1"}, provider
    if type_name == "MachineAdded":
        data = {
            "machine_id": machine_id,
            "series": draw(SERIES),
            "container_type": "lxc"
            if "lxc" in machine_id
            else "kvm"
            if "kvm" in machine_id
            else "",
            "nonce": draw(NONCES),
            "jobs": draw(st.lists(st.integers(1, 6), max_size=4)),
            "constraints": draw(st.sampled_from(["", "mem=4G"])),
            "placement": "",
        }
    elif type_name == "MachineProvisioned":
        data = {
            "instance_id": "i-1",
            "nonce": draw(NONCES),
            "characteristics": draw(CHARACTERISTICS),
        }
    elif type_name == "MachineAddressesSet":
        data = {"addresses": draw(ADDRESSES)}
    elif type_name == "MachineAgentToolsSet":
        version = f"1.14.1-{draw(SERIES)}-amd64"
        data = {"tools": {"version": version, "url": "https://t", "size": 5, "sha256": "ab"}}
    elif type_name == "MachineLifeChanged":
        data = {"life": draw(st.integers(0, 3))}
    elif type_name == "MachineSupportedContainersSet":
        data = {"types": draw(st.lists(st.sampled_from(["lxc", "kvm", "lxd"]), max_size=3))}
    elif type_name == "UnitAssignedToMachine":
        data = {"unit": "wordpress/0", "service": "wordpress", "machine_id": machine_id}
        return f"unit:{MODEL_UUID}:wordpress/0", type_name, data, provider
    else:
        assert type_name == "UnitDestroyed"
        return f"unit:{MODEL_UUID}:wordpress/0", type_name, {"unit": "wordpress/0"}, provider
    return machine, type_name, data, provider


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)


JUNK = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(["", "lxc", "0", "precise", "JobHostUnits", "10.0.0.1", "mem=1G"]),
    ),
    _nested,
    max_leaves=6,
)

# Every stored (type, schema) that the chain changes on the way to 3.0.
UPCAST_PAIRS = sorted(
    (node.type_name, node.schema)
    for family in CHAIN._families.values()
    for node in family.nodes[:-1]
)


def realistic(type_name: str, schema: int) -> dict[str, Any]:
    """A valid payload at (type_name, schema): a 1.14 one brought to that schema's release."""
    release = CHAIN.release_of(type_name, schema)
    for stream, legacy_type, data, provider in EXAMPLES:
        if CHAIN.family(legacy_type) == CHAIN.family(type_name):
            result = CHAIN.upcaster_for(release)(
                stream, 1, legacy_type, 1, copy.deepcopy(data), provider
            )
            if result[:2] == (type_name, schema):
                return result[2]
    raise AssertionError((type_name, schema))


EXAMPLES: list[tuple[str, str, dict[str, Any], str | None]] = [
    (
        f"model:{MODEL_UUID}",
        "EnvironmentCreated",
        {
            "uuid": MODEL_UUID,
            "name": "m",
            "provider_type": "ec2",
            "config": {"default-series": "trusty", "access-key": "k", "region": "r"},
        },
        "ec2",
    ),
    (f"model:{MODEL_UUID}", "EnvironConfigChanged", {"set": {"a": 1}, "unset": ["b"]}, "ec2"),
    (
        f"machine:{MODEL_UUID}:0",
        "MachineAdded",
        {
            "machine_id": "0",
            "series": "trusty",
            "container_type": "",
            "nonce": "",
            "jobs": [2, 3, 1],
            "constraints": "",
            "placement": "",
        },
        "ec2",
    ),
    (
        f"machine:{MODEL_UUID}:1",
        "MachineProvisioned",
        {"instance_id": "i", "nonce": "n", "characteristics": "arch=amd64 mem=1G tags=a"},
        "ec2",
    ),
    (f"machine:{MODEL_UUID}:1", "MachineAddressesSet", {"addresses": ["10.0.0.1", "a.b"]}, "ec2"),
    (
        f"machine:{MODEL_UUID}:1",
        "MachineAgentToolsSet",
        {"tools": {"version": "1.14.1-precise-amd64", "url": "u", "size": 1, "sha256": "s"}},
        "ec2",
    ),
    (f"machine:{MODEL_UUID}:1", "MachineLifeChanged", {"life": 1}, "ec2"),
    (f"machine:{MODEL_UUID}:1", "MachineSupportedContainersSet", {"types": ["lxc"]}, "ec2"),
    (
        f"unit:{MODEL_UUID}:wordpress/0",
        "UnitAssignedToMachine",
        {"unit": "wordpress/0", "service": "wordpress", "machine_id": "1/lxc/0"},
        "ec2",
    ),
]


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], junk: st.SearchStrategy[Any] = JUNK) -> Any:
    """`base` with a few keys removed, replaced by junk or added, at any depth; or junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(junk)
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        target: Any = payload
        while isinstance(target, dict | list) and target and draw(st.booleans()):
            keys = list(target) if isinstance(target, dict) else list(range(len(target)))
            child = target[draw(st.sampled_from(keys))]
            if not isinstance(child, dict | list) or not child:
                break
            target = child
        if isinstance(target, dict):
            action = draw(st.sampled_from(["remove", "replace", "add"]))
            if action == "add" or not target:
                target[draw(st.text(max_size=6))] = draw(junk)
            elif action == "remove":
                del target[draw(st.sampled_from(sorted(target)))]
            else:
                target[draw(st.sampled_from(sorted(target)))] = draw(junk)
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(junk)
    return payload


@st.composite
def stored_events(draw: st.DrawFn) -> tuple[str, str, int, Any, str | None]:
    type_name, schema = draw(st.sampled_from(UPCAST_PAIRS))
    stream = draw(
        st.sampled_from(
            [
                f"machine:{MODEL_UUID}:0",
                f"machine:{MODEL_UUID}:0/lxc/1",
                f"model:{MODEL_UUID}",
                f"unit:{MODEL_UUID}:a/0",
                "junk",
            ]
        )
    )
    provider = draw(st.one_of(PROVIDERS, st.text(max_size=4)))
    return stream, type_name, schema, draw(mutated(realistic(type_name, schema))), provider
