"""Random but valid field values for the sample logs (ids, hardware, addresses, config).

Every function takes the builder's seeded `random.Random`, so a seed gives the same values
in the same order. Values stay inside what the upcasters accept (events.md): known series,
sizes in M/G/unsuffixed, addresses that classify unambiguously, no secrets outside the
three credential keys.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

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


class SampleRandom(random.Random):
    """A seeded `random.Random` that also shows rare variants early.

    `variant` returns a feature's variants in order on its first calls, then draws by
    weight: so even a small log holds every rare shape (an unsuffixed size, a duplicated
    container type, a CentOS machine...) whatever the seed, and the bundled sample can
    exercise every upcaster rule without hand-picked events.
    """

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self._turns: dict[str, int] = {}
        self._bounds: dict[str, list[float]] = {}

    def variant(self, feature: str, variants: Sequence[T], weights: Sequence[float]) -> T:
        bounds = self._bounds.get(feature)
        if bounds is None:
            turn = self._turns.get(feature, 0)
            if turn < len(variants):
                self._turns[feature] = turn + 1
                return variants[turn]
            bounds = self._bounds[feature] = list(accumulate(weights))
        return variants[bisect_right(bounds, self.random() * bounds[-1])]


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


# --- hardware and characteristics ------------------------------------------------------

# (cores, mem MiB, root-disk MiB, cpu-power) per provider, after their 2013 instance types.
_SHAPES: dict[str, tuple[tuple[int, int, int | None, int | None], ...]] = {
    "ec2": (
        (1, 1740, 8192, 100),
        (1, 3840, 8192, 200),
        (2, 7680, 8192, 400),
        (4, 15360, 8192, 800),
    ),
    "openstack": (
        (1, 512, 1024, None),
        (1, 2048, 20480, None),
        (2, 4096, 40960, None),
        (4, 8192, 81920, None),
    ),
    "azure": ((1, 1792, 130048, None), (2, 3584, 130048, None), (4, 7168, 130048, None)),
    "maas": ((4, 8192, 238475, None), (8, 16384, 476940, None), (16, 65536, 953869, None)),
    "joyent": ((1, 1024, 30720, None), (2, 4096, 122880, None)),
    "manual": ((2, 3953, None, None), (4, 7985, None, None), (8, 16046, None, None)),
    "kvm": ((1, 512, 8192, None), (2, 1024, 8192, None)),
}
_MAAS_TAGS = (("virtual",), ("hw-fast", "ssd"), ("storage",), ())


_ARCHES = ("amd64", "i386", "armhf")
_DROPS = ("", "arch", "cores", "mem", "disk")  # which key a provider failed to report


def hardware(rng: SampleRandom, kind: str) -> Hardware:
    """Hardware for a provider kind; 'lxc' and 'local' report the arch at most."""
    arch = rng.variant("arch", _ARCHES, (85, 10, 5))
    shapes = _SHAPES.get(kind)
    if shapes is None:  # lxc containers and local-provider machines
        reported = rng.variant("bare-arch", (True, False), (8, 2))
        return Hardware(arch if reported else None, None, None, None, None, ())
    cores, mem, disk, power = rng.choice(shapes)
    tags = rng.variant("maas-tags", _MAAS_TAGS, (1, 1, 1, 1)) if kind == "maas" else ()
    drop = rng.variant("drop", _DROPS, (76, 5, 7, 4, 8))
    return Hardware(
        None if drop == "arch" else arch,
        None if drop == "cores" else cores,
        power,
        None if drop == "mem" else mem,
        None if drop == "disk" else disk,
        tags,
    )


def characteristics(rng: SampleRandom, hw: Hardware) -> str:
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


def _size(rng: SampleRandom, mib: int) -> str:
    # Whole GiB were written either way; a bare number means MiB.
    if mib % 1024 == 0:
        suffix = rng.variant("size-gib", ("G", "M", ""), (45, 43, 12))
        return f"{mib // 1024}G" if suffix == "G" else f"{mib}{suffix}"
    return f"{mib}{rng.variant('size', ('M', ''), (88, 12))}"


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
    a, b, c = (rng.randrange(1, 0x10000) for _ in range(3))
    return f"{prefix}:{a:x}:{b:x}::{c:x}"


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


_EXTRAS = ("hostnames", "ipv6", "link-local", "loopback", "loopback6", "")


def addresses(
    rng: SampleRandom, provider: str, private: str, container: bool, name: str
) -> list[Address]:
    """A machine's address list as its provider reported it: a private IPv4 first, often a
    public IPv4, sometimes hostnames, IPv6 (global or link-local) or loopback."""
    found = [Address(private, "ipv4", _ipv4_scope(private))]
    public = None
    if not container and provider in _PUBLIC_FIRST_OCTET and rng.random() < 0.7:
        public = public_ipv4(rng, provider)
        found.append(Address(public, "ipv4", "public"))
    extra = rng.variant("address-extra", _EXTRAS, (25, 13, 8, 4, 3, 47))
    # EC2 reported its DNS names with the IPs more often than not.
    if provider == "ec2" and rng.variant("ec2-dns", (True, False), (6, 4)):
        extra = "hostnames"
    if extra == "hostnames":
        found.extend(_hostnames(private, public, provider, name))
    elif extra == "ipv6":
        found.append(Address(public_ipv6(rng, provider), "ipv6", "public"))
    elif extra == "link-local":
        found.append(Address(link_local_ipv6(rng), "ipv6", "link-local"))
    elif extra == "loopback":
        found.append(Address("127.0.0.1", "ipv4", "local-machine"))
    elif extra == "loopback6":
        found.append(Address("::1", "ipv6", "local-machine"))
    if rng.random() < 0.2:
        found.reverse()  # providers did not promise an order
    return found


# Machine 0 of the local provider is the user's own host: the lxc bridge and loopback.
LOCAL_HOST_ADDRESSES = [
    Address("10.0.3.1", "ipv4", "local-cloud"),
    Address("127.0.0.1", "ipv4", "local-machine"),
    Address("::1", "ipv6", "local-machine"),
]


def _ipv4_scope(value: str) -> str:
    # Our private pools are all RFC 1918; anything else we generate is public.
    if value.startswith(("10.", "192.168.")):
        return "local-cloud"
    if value.startswith("172."):
        second = int(value.split(".", 2)[1])
        return "local-cloud" if 16 <= second < 32 else "public"
    return "public"


def manual_host(rng: SampleRandom) -> tuple[str, str]:
    """(host as typed in `add-machine ssh:...`, its private IPv4)."""
    private = private_ipv4(rng, "manual")
    if rng.variant("manual-by-ip", (True, False), (6, 4)):
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
        return {
            "bootstrap-host": private_ipv4(rng, "manual"),
            "bootstrap-user": "ubuntu",
            "storage-port": 8040,
        }
    if provider == "joyent":
        return {
            "sdc-url": "https://us-west-1.api.joyentcloud.com",
            "sdc-user": "juju",
            "manta-user": "juju",
        }
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
