"""Random but valid field values for the sample logs (ids, hardware, addresses, config).

Every function takes the builder's seeded `random.Random`, so a seed gives the same values
in the same order. Values stay inside what the upcasters accept (events.md): known series,
sizes in M/G/unsuffixed, addresses that classify unambiguously, no secrets outside the
three credential keys.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, NamedTuple

# The 1.14 servers' deprecated and credential config keys (events.md, ModelConfigChanged).
DEPRECATED_KEYS = frozenset(
    (
        "public-bucket",
        "public-bucket-region",
        "public-bucket-url",
        "default-image-id",
        "default-instance-type",
        "shared-storage-port",
        "tools-url",
    )
)
CREDENTIAL_KEYS = frozenset(("access-key", "secret-key", "password"))

_ALNUM_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ALNUM_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"


class Hardware(NamedTuple):
    """What a provider reported; None (or no tags) means the key was missing."""

    arch: str | None
    cores: int | None
    power: int | None
    mem: int | None  # MiB
    disk: int | None  # MiB
    tags: tuple[str, ...]


class Address(NamedTuple):
    value: str
    type: str  # ipv4, ipv6, hostname
    scope: str  # local-cloud, local-machine, link-local, public


# --- identifiers ------------------------------------------------------------------------


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID string from the seeded generator (uuid.uuid4 is not seedable)."""
    h = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def hex_string(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def token(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choices(alphabet, k=length))


def weighted(rng: random.Random, table: Sequence[tuple[str, int]]) -> str:
    """Pick a name from (name, weight) pairs."""
    total = sum(weight for _, weight in table)
    r = rng.random() * total
    for name, weight in table:
        r -= weight
        if r < 0:
            return name
    return table[-1][0]


# --- hardware and characteristics ------------------------------------------------------

# (cores, mem MiB, root-disk MiB, cpu-power) per provider, after their 2013 instance types.
_SHAPES: dict[str, tuple[tuple[int, int, int | None, int | None], ...]] = {
    "ec2": ((1, 1740, 8192, 100), (1, 3840, 8192, 200), (2, 7680, 8192, 400), (4, 15360, 8192, 800)),
    "openstack": ((1, 512, 1024, None), (1, 2048, 20480, None), (2, 4096, 40960, None), (4, 8192, 81920, None)),
    "azure": ((1, 1792, 130048, None), (2, 3584, 130048, None), (4, 7168, 130048, None)),
    "maas": ((4, 8192, 238475, None), (8, 16384, 476940, None), (16, 65536, 953869, None)),
    "joyent": ((1, 1024, 30720, None), (2, 4096, 122880, None)),
    "manual": ((2, 3953, None, None), (4, 7985, None, None), (8, 16046, None, None)),
    "kvm": ((1, 512, 8192, None), (2, 1024, 8192, None)),
}
_MAAS_TAGS = (("virtual",), ("hw-fast", "ssd"), ("storage",), ())


def hardware(rng: random.Random, kind: str) -> Hardware:
    """Hardware for a provider kind; 'lxc' and 'local' report the arch at most."""
    arch = "amd64" if rng.random() < 0.85 else rng.choice(("i386", "armhf"))
    shapes = _SHAPES.get(kind)
    if shapes is None:  # lxc containers and local-provider machines
        return Hardware(arch if rng.random() < 0.8 else None, None, None, None, None, ())
    cores, mem, disk, power = rng.choice(shapes)
    tags = rng.choice(_MAAS_TAGS) if kind == "maas" else ()
    # Providers did not always report every key: drop one now and then.
    drop = rng.random()
    return Hardware(
        arch if drop > 0.05 else None,
        cores if not 0.05 < drop < 0.12 else None,
        power,
        mem if not 0.12 < drop < 0.16 else None,
        disk if not 0.16 < drop < 0.24 else None,
        tags,
    )


def characteristics(rng: random.Random, hw: Hardware) -> str:
    """The 1.14 string form: 'arch=amd64 cpu-cores=1 mem=1740M root-disk=8192M'."""
    parts = []
    if hw.arch is not None:
        parts.append("arch=" + hw.arch)
    if hw.cores is not None:
        parts.append(f"cpu-cores={hw.cores}")
    if hw.power is not None:
        parts.append(f"cpu-power={hw.power}")
    if hw.mem is not None:
        parts.append("mem=" + _size(rng, hw.mem))
    if hw.disk is not None:
        parts.append("root-disk=" + _size(rng, hw.disk))
    if hw.tags:
        parts.append("tags=" + ",".join(hw.tags))
    return " ".join(parts)


def _size(rng: random.Random, mib: int) -> str:
    # Whole GiB were written either way; a bare number means MiB.
    r = rng.random()
    if mib % 1024 == 0 and r < 0.45:
        return f"{mib // 1024}G"
    return f"{mib}M" if r < 0.88 else str(mib)


def hardware_map(hw: Hardware) -> dict[str, Any]:
    """The 1.18 map form (MachineProvisioned schema 2)."""
    return {
        "arch": hw.arch,
        "cpu_cores": hw.cores,
        "cpu_power": hw.power,
        "mem_mib": hw.mem,
        "root_disk_mib": hw.disk,
        "tags": list(hw.tags),
    }


# --- addresses --------------------------------------------------------------------------

_PUBLIC_FIRST_OCTET = {"ec2": (54, 50, 23), "azure": (23, 137, 168), "openstack": (185, 91)}


def private_ipv4(rng: random.Random, provider: str) -> str:
    b, c = rng.randrange(256), rng.randrange(1, 255)
    if provider in ("local", "lxd"):
        return f"10.0.3.{c}"
    if provider == "openstack" and rng.random() < 0.5:
        return f"192.168.{b}.{c}"
    if provider in ("maas", "manual", "null") and rng.random() < 0.5:
        return f"172.{rng.randrange(16, 32)}.{b}.{c}"
    return f"10.{rng.randrange(256)}.{b}.{c}"


def public_ipv4(rng: random.Random, provider: str) -> str:
    first = rng.choice(_PUBLIC_FIRST_OCTET.get(provider, (91, 162, 185)))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def public_ipv6(rng: random.Random, provider: str) -> str:
    prefix = "2600:1f18" if provider == "ec2" else "2a01:4f8"
    return f"{prefix}:{rng.randrange(1, 0xFFFF):x}:{rng.randrange(1, 0xFFFF):x}::{rng.randrange(1, 0xFFFF):x}"


def link_local_ipv6(rng: random.Random) -> str:
    # An EUI-64 style interface id: xxxx:xxff:fexx:xxxx.
    a, b = rng.randrange(0x100, 0x10000), rng.randrange(0x10, 0x100)
    c, d = rng.randrange(0x100), rng.randrange(0x100, 0x10000)
    return f"fe80::{a:x}:{b:x}ff:fe{c:02x}:{d:x}"


def _hostnames(private: str, public: str | None, provider: str, name: str) -> list[Address]:
    dashed = private.replace(".", "-")
    if provider == "ec2":
        names = [Address(f"ip-{dashed}.ec2.internal", "hostname", "local-cloud")]
        if public is not None:
            pub = public.replace(".", "-")
            names.append(Address(f"ec2-{pub}.compute-1.amazonaws.com", "hostname", "public"))
        return names
    if provider == "azure":
        return [Address(f"{name}.cloudapp.net", "hostname", "public")]
    if provider == "maas":
        return [Address(f"{name}.maas", "hostname", "public")]
    return [Address(f"{name}.local", "hostname", "local-cloud")]


def addresses(
    rng: random.Random, provider: str, private: str, container: bool, name: str
) -> list[Address]:
    """A machine's address list as its provider reported it: a private IPv4 first, often a
    public IPv4, sometimes hostnames, IPv6 (global or link-local) or loopback."""
    found = [Address(private, "ipv4", _ipv4_scope(private))]
    public = None
    if not container and provider in _PUBLIC_FIRST_OCTET and rng.random() < 0.7:
        public = public_ipv4(rng, provider)
        found.append(Address(public, "ipv4", "public"))
    r = rng.random()
    if r < 0.25:
        found.extend(_hostnames(private, public, provider, name))
    elif r < 0.38 and provider not in ("local", "lxd"):
        found.append(Address(public_ipv6(rng, provider), "ipv6", "public"))
    elif r < 0.46:
        found.append(Address(link_local_ipv6(rng), "ipv6", "link-local"))
    elif r < 0.5:
        found.append(Address("127.0.0.1", "ipv4", "local-machine"))
    elif r < 0.53:
        found.append(Address("::1", "ipv6", "local-machine"))
    if rng.random() < 0.2:
        found.reverse()  # providers did not promise an order
    return found


def _ipv4_scope(value: str) -> str:
    # Our private pools are all RFC 1918; anything else we generate is public.
    if value.startswith(("10.", "192.168.")):
        return "local-cloud"
    if value.startswith("172."):
        second = int(value.split(".", 2)[1])
        return "local-cloud" if 16 <= second < 32 else "public"
    return "public"


def manual_host(rng: random.Random, provider: str) -> tuple[str, str]:
    """(host as typed in `add-machine ssh:...`, its private IPv4)."""
    private = private_ipv4(rng, "manual")
    if rng.random() < 0.6:
        return private, private
    return f"node{rng.randrange(1, 400)}.lab.example.com", private


# --- instances --------------------------------------------------------------------------

ZONES = {
    "ec2": ("a", "b", "c"),
    "openstack": ("nova",),
    "maas": ("default", "rack-2"),
}


def instance_id(rng: random.Random, provider: str, env: str, machine_id: str) -> str:
    if provider == "ec2":
        return f"i-{rng.getrandbits(32):08x}"
    if provider in ("openstack", "joyent"):
        return uuid4(rng)
    if provider == "maas":
        return f"/MAAS/api/1.0/nodes/node-{uuid4(rng)}/"
    if provider == "azure":
        return f"juju-{env}-{hex_string(rng, 8)}"
    return f"ubuntu-{env}-machine-{machine_id}"  # local and lxd providers name containers


# --- model config -----------------------------------------------------------------------

_SSH_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC{} ubuntu@juju-client"


def _provider_config(rng: random.Random, provider: str, name: str) -> dict[str, Any]:
    if provider == "ec2":
        return {
            "region": rng.choice(("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")),
            "access-key": "AKIA" + token(rng, _ALNUM_UPPER, 16),
            "secret-key": token(rng, _ALNUM_LOWER + _ALNUM_UPPER, 40),
            "control-bucket": "juju-" + hex_string(rng, 32),
            "public-bucket": "juju-dist",
            "public-bucket-region": "us-east-1",
        }
    if provider == "openstack":
        return {
            "auth-url": "https://keystone.example.net:5000/v2.0/",
            "auth-mode": "userpass",
            "username": "juju",
            "password": token(rng, _ALNUM_LOWER, 16),
            "tenant-name": name,
            "region": rng.choice(("RegionOne", "lcy01")),
            "control-bucket": "juju-" + hex_string(rng, 32),
            "public-bucket-url": "https://swift.example.net/v1/AUTH_" + hex_string(rng, 32),
            "default-image-id": uuid4(rng),
            "default-instance-type": "m1.small",
        }
    if provider == "azure":
        return {
            "location": rng.choice(("West US", "North Europe")),
            "management-subscription-id": uuid4(rng),
            "management-certificate-path": "/home/ubuntu/.azure/azure.pem",
            "storage-account-name": "juju" + hex_string(rng, 10),
        }
    if provider == "maas":
        return {"maas-server": f"http://10.20.{rng.randrange(256)}.2/MAAS"}
    if provider == "local":
        return {
            "root-dir": f"/home/ubuntu/.juju/{name}",
            "storage-port": 8040,
            "shared-storage-port": 8041,
            "network-bridge": "lxcbr0",
        }
    if provider in ("manual", "null"):
        return {"bootstrap-host": private_ipv4(rng, "manual"), "bootstrap-user": "ubuntu", "storage-port": 8040}
    if provider == "joyent":
        return {"sdc-url": "https://us-west-1.api.joyentcloud.com", "sdc-user": "juju", "manta-user": "juju"}
    return {}


def model_config(rng: random.Random, provider: str, name: str, series: str) -> dict[str, Any]:
    """A full config as a 1.14 client put it in environments.yaml (credentials,
    region and deprecated keys included); later writers filter it."""
    config: dict[str, Any] = {
        "name": name,
        "type": provider,
        "default-series": series,
        "firewall-mode": "instance",
        "authorized-keys": _SSH_KEY.format(token(rng, _ALNUM_LOWER, 24)),
        "ssl-hostname-verification": True,
        "development": False,
        "logging-config": "<root>=WARNING",
    }
    config.update(_provider_config(rng, provider, name))
    if rng.random() < 0.4:
        config["tools-url"] = "https://streams.canonical.com/tools"
    return config


def credential_values(rng: random.Random) -> dict[str, Any]:
    return {
        "access-key": "AKIA" + token(rng, _ALNUM_UPPER, 16),
        "secret-key": token(rng, _ALNUM_LOWER + _ALNUM_UPPER, 40),
    }


def config_change(rng: random.Random, index: int, series: str) -> tuple[dict[str, Any], list[str]]:
    """The index-th of a cycle of `juju set-environment` changes (set, unset); the cycle
    covers deprecated-only, credential-only, mixed and default-series changes."""
    pick = index % 11
    if pick == 0:
        return {"default-series": series}, []
    if pick == 1:
        return {"tools-url": "https://streams.canonical.com/tools"}, ["public-bucket-url"]
    if pick == 2:
        return credential_values(rng), []
    if pick == 3:
        level = rng.choice(("DEBUG", "INFO", "WARNING"))
        return {"logging-config": f"<root>={level};unit=DEBUG"}, []
    if pick == 4:
        return {"default-instance-type": "m1.medium", "firewall-mode": "global"}, []
    if pick == 5:
        return {}, ["default-series"]
    if pick == 6:
        return {"password": token(rng, _ALNUM_LOWER, 16)}, []
    if pick == 7:
        return {"ssl-hostname-verification": False}, ["shared-storage-port"]
    if pick == 8:
        return {"image-stream": "released", "development": rng.random() < 0.5}, []
    if pick == 9:
        return {"default-series": series, "provisioner-safe-mode": True}, ["default-image-id"]
    return {"logging-config": "<root>=INFO"}, ["public-bucket", "public-bucket-region"]


# --- units ------------------------------------------------------------------------------

SERVICES = (
    "wordpress",
    "mysql",
    "haproxy",
    "memcached",
    "rabbitmq-server",
    "nova-compute",
    "ceph",
    "mediawiki",
    "postgresql",
    "hadoop-slave",
)
