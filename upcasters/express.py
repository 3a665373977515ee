"""Express plans: one fused function per (type, schema) that 1.x logs are full of,
straight to today's (3.0) schema.

The release modules stay the source of truth: reading an old event means running
their steps one by one and checking the result against the 3.0 catalogue. For the
busy 1.14 types that costs several calls, copies and checks per event, so each has
an express plan here: the same transformation written as one function, for the
common, valid shapes only.

The contract, checked by tests/upcasters/test_express.py against the stepwise chain:

- an express function returns `(type, schema, payload)`, exactly what the steps plus
  the 3.0 result check return (EventRetired included), having checked everything
  that check would; or
- it returns None, or raises, before changing `data` at all: the chain then runs the
  steps, which give the result or the UpcastError. So every failure, and every odd
  shape an express function does not care to handle, reads exactly as before.

Express functions reuse the release modules' frozen tables. Names, machine ids and
addresses are read on sight by small readers that accept exactly what the catalogue's
3.0 tests and upcasters.addresses accept (property tests hold them to it), leaving
anything odd to those: a fleet has too many distinct ones for a cache of them to stay
in the CPU's cache, and a missed lookup costs more than reading one. What costs more
to work out (a characteristics string, a config change's keys, an agent version) is
remembered per distinct value in plain dicts: a fleet repeats those across many
events. A value is remembered only once the catalogue's own 3.0 checks have accepted
what it becomes, and only when it is an exact `str`, so a hit implies the value is a
string equal to one that was checked (msgpack payloads hold no other type equal to a
str).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import product
from typing import TYPE_CHECKING, Any, Final, TypeVar

from eventstate.domain.catalogue import (
    FAST_CHECKS,
    JOBS,
    RETIRED_TYPE,
    VALID_BASE_NAMES,
    VALID_BASES,
    json_problem,
)
from upcasters import v1_18, v2_0, v2_7, v3_0
from upcasters.addresses import LOCAL_CLOUD_SUFFIXES, classify_address
from upcasters.hardware import parse_characteristics
from upcasters.registry import ExpressPlans
from upcasters.steps import NO_CONTEXT, Payload, Retire, StepFunction
from upcasters.tables import SERIES_3_0

if TYPE_CHECKING:  # i64: compiled readers count in plain C integers; int when interpreted
    from mypy_extensions import i64

EXPRESS: Final = ExpressPlans(__name__)

Result = tuple[str, int, Payload]
Providers = Mapping[str, "str | None"]
K = TypeVar("K")
V = TypeVar("V")

# Distinct values remembered per cache; a log with more starts the cache afresh.
# (Not Final: compiled code would inline a Final, and tests lower the limits.)
CACHE_LIMIT = 65536


def _remember(cache: dict[K, V], key: K, value: V) -> V:
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _passes(type_name: str, payload: Payload) -> bool:
    """Whether the catalogue's fast 3.0 check accepts `payload` (before remembering)."""
    return FAST_CHECKS[type_name](payload)


def _retirement(step: StepFunction, emptied: Payload) -> str:
    """The reason `step` gives when it retires an event: read from the step itself."""
    try:
        step(emptied, NO_CONTEXT)
    except Retire as retired:
        return retired.reason
    raise AssertionError(f"{step.__name__} does not retire {emptied}")


# --- shared values ------------------------------------------------------------------------

# series -> its 3.0 base as (os, channel), and as config writes it ("ubuntu@22.04"),
# for the series of the 3.0 table whose base 3.0 accepts.
_BASES: Final[dict[str, tuple[str, str]]] = {
    series: (os, f"{version}/stable")
    for series, (os, version) in SERIES_3_0.items()
    if (os, f"{version}/stable") in VALID_BASES
}
_BASE_NAMES: Final[dict[str, str]] = {
    series: name for series in SERIES_3_0 if (name := v3_0.base_name(series)) in VALID_BASE_NAMES
}

# --- names and machine ids, read on sight --------------------------------------------------


def _number_end(value: str, index: i64, length: i64) -> i64:
    """Where a decimal number starting at `index` ends ("0" or no leading zero); -1 if
    there is none."""
    if index >= length:
        return -1
    code: i64 = ord(value[index])
    if code == 48:  # "0"
        return index + 1
    if not 49 <= code <= 57:
        return -1
    index += 1
    while index < length and 48 <= ord(value[index]) <= 57:
        index += 1
    return index


def _name_end(value: str, length: i64) -> i64:
    """Where a name `[a-z][a-z0-9-]*` at the start of `value` ends; 0 if there is none."""
    if length == 0 or not 97 <= ord(value[0]) <= 122:
        return 0
    index: i64 = 1
    while index < length:
        code: i64 = ord(value[index])
        if not (97 <= code <= 122 or 48 <= code <= 57 or code == 45):
            break
        index += 1
    return index


def _is_application_name(value: str) -> bool:
    """The catalogue's 3.0 application name (is_application_name), read on sight."""
    length: i64 = len(value)
    return length > 0 and _name_end(value, length) == length


def _is_unit_name(value: str) -> bool:
    """The catalogue's 3.0 unit name (is_unit_name): `<application>/<number>`."""
    length: i64 = len(value)
    end = _name_end(value, length)
    if end == 0 or end >= length or ord(value[end]) != 47:  # "/"
        return False
    return _number_end(value, end + 1, length) == length


def _machine_id_3_0(value: str) -> str | None:
    """A 1.x machine id as 3.0 has it (lxc containers became lxd), None unless it is
    then a machine id the catalogue's 3.0 test (is_machine_id) accepts."""
    length: i64 = len(value)
    index = _number_end(value, 0, length)
    lxc = False
    while index > 0 and index < length:
        # "/<container type>/<number>"; lxc, lxd and kvm are 3 letters
        if index + 5 > length or ord(value[index]) != 47 or ord(value[index + 4]) != 47:
            return None
        container = value[index + 1 : index + 4]
        if container == "lxc":
            lxc = True
        elif container != "lxd" and container != "kvm":
            return None
        index = _number_end(value, index + 5, length)
    if index != length:
        return None
    return value.replace("/lxc/", "/lxd/") if lxc else value


# --- UnitAssignedToMachine 1 (2.0: service -> application, lxc -> lxd) ---------------------


@EXPRESS.plan("UnitAssignedToMachine", 1, "UnitAssignedToMachine", 2)
def unit_assigned_to_machine(data: Payload, stream: str, providers: Providers) -> Result | None:
    """service becomes application, the machine id's lxc lxd; all three valid at 3.0."""
    if len(data) != 3:
        return None
    unit = data["unit"]
    service = data["service"]
    stored_id = data["machine_id"]
    if not (type(unit) is str and type(service) is str and type(stored_id) is str):
        return None
    machine_id = _machine_id_3_0(stored_id)
    if machine_id is None or not _is_unit_name(unit) or not _is_application_name(service):
        return None
    del data["service"]
    data["application"] = service
    data["machine_id"] = machine_id
    return "UnitAssignedToMachine", 2, data


# --- MachineAddressesSet 1 (1.18: classified, origin provider; 2.7: default space) ----------

_SPACE: Final = v2_7.DEFAULT_SPACE_ID
_ORIGIN: Final = v1_18.ADDRESS_ORIGIN
# address -> the 3.0 address map of its (type, scope), "value" to fill in: a copy and one
# store per address, and a handful of shared templates. Only for the rare addresses not
# classified on sight (IPv6 with a zone or an embedded IPv4 part, and invalid ones).
_ADDRESS_TEMPLATES: Final[dict[str, dict[str, str | None]]] = {}
_KIND_TEMPLATES: Final[dict[tuple[str, str], dict[str, str | None]]] = {}


@EXPRESS.plan("MachineAddressesSet", 1, "MachineAddressesSet", 3)
def machine_addresses_set(data: Payload, stream: str, providers: Providers) -> Result | None:
    """Each address string becomes {value, type, scope, space_id}; origin provider."""
    values = data["addresses"]
    if len(data) != 1 or type(values) is not list:
        return None
    templates = _ADDRESS_TEMPLATES
    quads = _QUAD_TEMPLATES
    hosts = _HOSTNAME_TEMPLATES
    v6s = _V6_TEMPLATES
    addresses = []
    for value in values:
        # Addresses are classified on sight: a cache of every one a fleet has costs more
        # in CPU-cache misses than reading them, and each would be parsed once anyway
        # (ipaddress takes ~3.6 us for an IPv6 address, more than its whole event).
        if type(value) is not str:
            return None
        scope = _quad_scope(value)
        template = quads[scope] if scope >= 0 else None
        if template is None:
            if ":" in value:
                scope = _v6_scope(value)
                template = v6s[scope] if scope >= 0 else None
            else:
                scope = _hostname_scope(value)
                template = hosts[scope] if scope >= 0 else None
        if template is None:  # what the readers leave to the classifier
            template = templates.get(value) or _learn_address(value)
            if template is None:
                return None
        address = template.copy()
        address["value"] = value
        addresses.append(address)
    data["addresses"] = addresses
    data["origin"] = _ORIGIN
    return "MachineAddressesSet", 3, data


def _learn_address(value: Any) -> dict[str, str | None] | None:
    # Uncached: this cache is the one; 3.0 wants the value a non-empty string.
    kind = classify_address(value) if type(value) is str and value else None
    if kind is None:
        return None
    template = _KIND_TEMPLATES.get(kind) or _kind_template(kind)
    if template is None:
        return None
    return _remember(_ADDRESS_TEMPLATES, value, template)


def _kind_template(kind: tuple[str, str]) -> dict[str, str | None] | None:
    """The 3.0 address map of one (type, scope), its value to fill in, if 3.0 takes it."""
    address = {"value": "x", "type": kind[0], "scope": kind[1], "space_id": _SPACE}
    if not _passes("MachineAddressesSet", {"addresses": [address], "origin": _ORIGIN}):
        return None
    return _KIND_TEMPLATES.setdefault(kind, {**address, "value": None})


_QUAD_SCOPES: Final = ("local-machine", "local-cloud", "public")
_HOST_SCOPES: Final = ("local-cloud", "public")
_QUAD_TEMPLATES: Final = tuple(_kind_template(("ipv4", scope)) for scope in _QUAD_SCOPES)


def _quad_scope(value: str) -> i64:
    """The scope of a dotted quad as addresses.classify_address decides it: 0 (index
    into _QUAD_TEMPLATES) local-machine, 1 local-cloud, 2 public; -1 for anything but
    four decimal octets <= 255 without leading zeros (classify_address decides those)."""
    length: i64 = len(value)
    if length < 7 or length > 15:
        return -1
    first: i64 = 0
    second: i64 = 0
    octet: i64 = 0
    dots: i64 = 0
    digits: i64 = 0
    for index in range(length):
        code: i64 = ord(value[index])
        if code == 46:  # "."
            if digits == 0 or octet > 255:
                return -1
            if dots == 0:
                first = octet
            elif dots == 1:
                second = octet
            dots += 1
            octet = digits = 0
        elif 48 <= code <= 57:  # ASCII digits only, as the classifier's pattern
            if (digits and octet == 0) or digits == 3:
                return -1  # a leading zero, or a fourth digit
            octet = octet * 10 + code - 48
            digits += 1
        else:
            return -1
    if dots != 3 or digits == 0 or octet > 255:
        return -1
    if first == 127:  # 127/8
        return 0
    if first == 10 or (first == 172 and 16 <= second <= 31) or (first == 192 and second == 168):
        return 1  # 10/8, 172.16/12, 192.168/16
    return 2


_HOSTNAME_TEMPLATES: Final = (None, *(_kind_template(("hostname", s)) for s in _HOST_SCOPES))


def _hostname_scope(value: str) -> i64:
    """The scope of an RFC 1123 host name as addresses.classify_address decides it for a
    value with no ":" that is not a dotted quad: 1 (index into _HOSTNAME_TEMPLATES)
    local-cloud, 2 public; -1 when it is not a host name (classify_address decides)."""
    length: i64 = len(value)
    if length == 0 or length > 253:
        return -1
    label: i64 = 0  # characters of the current label so far
    digits_only = True  # the current label is all digits (the top one must not be)
    upper = False  # an uppercase letter: the suffix test needs a lowercased copy
    previous: i64 = 46  # the character before ("." at the start)
    for index in range(length):
        code: i64 = ord(value[index])
        if code == 46:  # "."
            if label == 0 or previous == 45:
                return -1  # an empty label, or one ending with "-"
            label = 0
            digits_only = True
        elif 48 <= code <= 57:
            label += 1
        elif 97 <= code <= 122 or (code == 45 and label):
            label += 1  # a lowercase letter, or a "-" not starting the label
            digits_only = False
        elif 65 <= code <= 90:
            label += 1
            digits_only = False
            upper = True
        else:
            return -1
        if label > 63:
            return -1
        previous = code
    if label == 0 or previous == 45 or digits_only:
        return -1
    return 1 if (value.lower() if upper else value).endswith(LOCAL_CLOUD_SUFFIXES) else 2


_V6_SCOPES: Final = ("local-machine", "link-local", "public")
_V6_TEMPLATES: Final = tuple(_kind_template(("ipv6", scope)) for scope in _V6_SCOPES)
_LINK_LOCAL_TOP: Final = 0xFE80 >> 6  # fe80::/10: the first hextet's top 10 bits
_HEXTETS: Final = 8


def _v6_scope(value: str) -> i64:
    """The scope of an IPv6 address of hex digits and colons only, as
    addresses.classify_address (ipaddress.IPv6Address) decides it: 0 (index into
    _V6_TEMPLATES) local-machine (::1), 1 link-local, 2 public; -1 for anything else
    (a zone, an embedded IPv4 part, an invalid address: classify_address decides).
    The groups are checked as IPv6Address checks them: at most one "::", which must
    stand for at least one hextet; a leading or trailing ":" only as part of "::"."""
    if len(value) > 39:  # longer than 8 hextets of 4 digits and 7 colons
        return -1
    parts = value.split(":")
    count = len(parts)
    if count < 3 or count > _HEXTETS + 1:
        return -1
    skip = -1
    for index in range(1, count - 1):
        if not parts[index]:
            if skip >= 0:
                return -1  # a second "::"
            skip = index
    if skip >= 0:
        head = skip
        tail = count - skip - 1
        if not parts[0]:
            head -= 1
            if head:
                return -1  # a leading ":" that is not "::"
        if not parts[count - 1]:
            tail -= 1
            if tail:
                return -1  # a trailing ":" that is not "::"
        if head + tail >= _HEXTETS:
            return -1  # "::" standing for no hextet
    elif count != _HEXTETS:
        return -1
    else:
        head = count
        tail = 0
    # The address is 1 (::1) when every hextet but the last is 0 and the last is 1.
    first = high = last = 0
    for index in range(head + tail):
        hextet = _hextet(parts[index] if index < head else parts[count - head - tail + index])
        if hextet < 0:
            return -1
        if index == 0 and head:
            first = hextet
        if index == head + tail - 1 and (tail or head == _HEXTETS):
            last = hextet
        else:
            high |= hextet
    if high == 0 and last == 1:
        return 0
    return 1 if first >> 6 == _LINK_LOCAL_TOP else 2


def _hextet(part: str) -> i64:
    """The value of 1 to 4 hex digits, -1 for anything else."""
    length: i64 = len(part)
    if length == 0 or length > 4:
        return -1
    value: i64 = 0
    for index in range(length):
        code: i64 = ord(part[index])
        if 48 <= code <= 57:
            value = value * 16 + code - 48
        elif 97 <= code <= 102:
            value = value * 16 + code - 87
        elif 65 <= code <= 70:
            value = value * 16 + code - 55
        else:
            return -1
    return value


# --- EnvironConfigChanged 1 (1.18, 2.0 and 3.0: keys dropped, renamed, retired) -------------

_DEPRECATED: Final = v1_18.DEPRECATED_CONFIG_KEYS
_DROPPED: Final = _DEPRECATED | v2_0.CREDENTIAL_KEYS  # 1.18 and 2.0 drop these keys
_SERIES: Final = v3_0.DEFAULT_SERIES
_BASE: Final = v3_0.DEFAULT_BASE
_RETIRED_AT_1_18: Final = _retirement(v1_18.drop_deprecated_changes, {"set": {}, "unset": []})
_RETIRED_AT_2_0: Final = _retirement(v2_0.environ_to_model_config, {"set": {}, "unset": []})
_RENAME_SERIES: Final = 1  # default-series in set: becomes default-base
_CHECK_BASE: Final = 2  # default-base in set: must be a base 3.0 knows

# What the releases do to a change depends on its keys only (and the value of
# default-series or default-base): per (set keys, unset keys), either the reason it is
# retired, or (set keys to drop, the new unset list or None, _RENAME_SERIES/_CHECK_BASE/0).
ChangePlan = tuple[str | None, tuple[str, ...], tuple[str, ...] | None, int]
_CHANGE_PLANS: Final[dict[tuple[tuple[str, ...], tuple[str, ...]], ChangePlan]] = {}


@EXPRESS.plan("EnvironConfigChanged", 1, "ModelConfigChanged", 4)
def environ_config_changed(data: Payload, stream: str, providers: Providers) -> Result | None:
    """Deprecated and credential keys go (an emptied change is retired), default-series
    becomes default-base; string keys and plain JSON values only, as 3.0 wants them."""
    changes = data["set"]
    unset = data["unset"]
    if len(data) != 2 or type(changes) is not dict or type(unset) is not list:
        return None
    keys = (tuple(changes), tuple(unset))
    plan = _CHANGE_PLANS.get(keys) or _learn_change(keys)
    if plan is None:
        return None
    retired, dropped, new_unset, base_rule = plan
    if retired is not None:
        return RETIRED_TYPE, 1, {"original_type": "EnvironConfigChanged", "reason": retired}
    # The values the 3.0 check would refuse (a dropped key's too: then the steps decide).
    if json_problem(changes, 2) is not None:
        return None
    if base_rule:  # every check before the first change to data
        if base_rule == _RENAME_SERIES:
            base = _BASE_NAMES.get(changes[_SERIES])
            if base is None:
                return None
        elif changes[_BASE] not in VALID_BASE_NAMES:
            return None
    for key in dropped:
        del changes[key]
    if new_unset is not None:
        data["unset"] = list(new_unset)
    if base_rule == _RENAME_SERIES:
        del changes[_SERIES]
        changes[_BASE] = base
    return "ModelConfigChanged", 4, data


def _learn_change(keys: tuple[tuple[Any, ...], tuple[Any, ...]]) -> ChangePlan | None:
    """The plan for one shape of change, as 1.18, 2.0 and 3.0 define it."""
    set_keys, unset_keys = keys
    if not all(type(key) is str for key in (*set_keys, *unset_keys)):
        return None  # 3.0 wants string keys
    if _DEPRECATED.issuperset(set_keys) and _DEPRECATED.issuperset(unset_keys):
        plan: ChangePlan = (_RETIRED_AT_1_18, (), None, 0)
    elif _DROPPED.issuperset(set_keys) and _DROPPED.issuperset(unset_keys):
        plan = (_RETIRED_AT_2_0, (), None, 0)
    elif _SERIES in set_keys and _BASE in set_keys:
        return None  # 3.0 refuses both
    else:
        kept = [key for key in unset_keys if key not in _DROPPED]
        if _SERIES in kept:  # renamed, in order, one default-base
            kept = list(dict.fromkeys(_BASE if key == _SERIES else key for key in kept))
        plan = (
            None,
            tuple(key for key in set_keys if key in _DROPPED),
            None if tuple(kept) == unset_keys else tuple(kept),
            _RENAME_SERIES if _SERIES in set_keys else _CHECK_BASE if _BASE in set_keys else 0,
        )
    return _remember(_CHANGE_PLANS, keys, plan)


# --- MachineAdded 1 (1.16 .. 3.0: jobs, lxd, base; context from the log) ---------------------


def _final_job(number: int) -> str | None:
    """A 1.14 job integer's 3.0 job, None when a release dropped it on the way."""
    if number in v1_18.MERGED_JOBS:
        return None
    name = v1_18.JOB_NAMES[number]
    return None if name in v2_0.DROPPED_JOBS else v2_0.JOB_RENAMES[name]


# 1.x job integer -> its 3.0 job (None: dropped); other integers fail at 1.18.
_JOBS: Final[dict[int, str | None]] = {
    number: job
    for number in (*v1_18.JOB_NAMES, *v1_18.MERGED_JOBS)
    if (job := _final_job(number)) is None or job in JOBS
}
_CONTAINER_TYPES: Final[dict[str, str]] = dict(v2_0.CONTAINER_RENAMES)


@EXPRESS.plan("MachineAdded", 1, "MachineAdded", 6)
def machine_added(data: Payload, stream: str, providers: Providers) -> Result | None:
    """Jobs become their 3.0 names (the provider and nonce jobs of 1.16 and 1.21 are
    dropped again at 2.0), lxc becomes lxd, series becomes base."""
    jobs = data["jobs"]
    if not (
        len(data) == 7
        and type(jobs) is list
        and type(data["nonce"]) is str  # 1.21 may need it, 3.0 wants a string
        and type(data["constraints"]) is str
        and type(data["placement"]) is str
    ):
        return None
    # machine:<model-uuid>:<machine-id>: 1.16 needs the machine id, 1.21 the provider.
    model, _, machine = stream.rpartition(":")
    if not (machine and model.startswith("machine:") and type(providers[model]) is str):
        return None
    names = set()
    for job in jobs:
        if type(job) is not int:
            return None
        names.add(_JOBS[job])  # KeyError: not in the 1.16 table, the steps say so
    names.discard(None)
    container_type = _CONTAINER_TYPES.get(data["container_type"])
    stored_id = data["machine_id"]
    machine_id = _machine_id_3_0(stored_id) if type(stored_id) is str else None
    base = _BASES.get(data["series"])
    if container_type is None or machine_id is None or base is None:
        return None
    data["jobs"] = sorted(names)
    data["container_type"] = container_type
    data["machine_id"] = machine_id
    del data["series"]
    data["base"] = {"os": base[0], "channel": base[1]}
    return "MachineAdded", 6, data


# --- MachineProvisioned 1 (1.18 instance and hardware, 1.21 zone, 2.0 display name) ---------

_HARDWARE: Final[dict[str, dict[str, Any]]] = {}  # characteristics -> 3.0 hardware (copied)


@EXPRESS.plan("MachineProvisioned", 1, "MachineProvisioned", 4)
def machine_provisioned(data: Payload, stream: str, providers: Providers) -> Result | None:
    """instance {instance_id, hardware (sizes in MiB, no zone), display_name "",
    keep_instance false} from the instance id and characteristics string."""
    instance_id = data["instance_id"]
    if not (
        len(data) == 3
        and type(instance_id) is str
        and instance_id != ""
        and type(data["nonce"]) is str
    ):
        return None
    characteristics = data["characteristics"]
    template = _HARDWARE.get(characteristics)
    if template is None:
        template = _learn_hardware(characteristics)
        if template is None:
            return None
    hardware = template.copy()
    hardware["tags"] = template["tags"].copy()
    del data["characteristics"], data["instance_id"]
    data["instance"] = {
        "instance_id": instance_id,
        "hardware": hardware,
        "display_name": "",
        "keep_instance": False,
    }
    return "MachineProvisioned", 4, data


def _learn_hardware(characteristics: Any) -> dict[str, Any] | None:
    if type(characteristics) is not str:
        return None
    hardware = parse_characteristics(characteristics)  # StepFailure: the steps say why
    hardware["availability_zone"] = None
    instance = {
        "instance_id": "i",
        "hardware": hardware,
        "display_name": "",
        "keep_instance": False,
    }
    if not _passes("MachineProvisioned", {"nonce": "", "instance": instance}):
        return None
    return _remember(_HARDWARE, characteristics, hardware)


# --- MachineAgentToolsSet 1 (3.0: MachineAgentBinarySet, series -> OS name) ------------------

_TOOLS_KEY_COUNT: Final = len(v3_0.TOOLS_KEYS)
_AGENT_VERSIONS: Final[dict[str, str]] = {}  # tools version -> valid agent binary version


@EXPRESS.plan("MachineAgentToolsSet", 1, "MachineAgentBinarySet", 2)
def machine_agent_tools_set(data: Payload, stream: str, providers: Providers) -> Result | None:
    """The tools map's fields, the version's series part becoming the OS name."""
    tools = data["tools"]
    if len(data) != 1 or type(tools) is not dict or len(tools) != _TOOLS_KEY_COUNT:
        return None
    version = _AGENT_VERSIONS.get(tools["version"]) or _learn_agent_version(tools["version"])
    url = tools["url"]
    size = tools["size"]
    sha256 = tools["sha256"]
    if (
        version is None
        or type(url) is not str
        or type(size) is not int
        or size < 0
        or type(sha256) is not str
    ):
        return None
    binary = {"version": version, "url": url, "size": size, "sha256": sha256}
    return "MachineAgentBinarySet", 2, binary


def _learn_agent_version(tools_version: Any) -> str | None:
    if type(tools_version) is not str:
        return None
    version = v3_0.agent_binary_version(tools_version)  # StepFailure: the steps say why
    probe = {"version": version, "url": "", "size": 0, "sha256": ""}
    if not _passes("MachineAgentBinarySet", probe):
        return None
    return _remember(_AGENT_VERSIONS, tools_version, version)


# --- MachineLifeChanged 1 and MachineSupportedContainersSet 1 (2.0) -------------------------


# Module attributes cost a lookup per use; a Final alias of a tuple is a C constant.
_LIFE_NAMES: Final[tuple[str, ...]] = tuple(v2_0.LIFE_NAMES)


@EXPRESS.plan("MachineLifeChanged", 1, "MachineLifeChanged", 2)
def machine_life_changed(data: Payload, stream: str, providers: Providers) -> Result | None:
    """life 0/1/2 becomes alive/dying/dead, with force false."""
    life = data["life"]
    if len(data) != 1 or type(life) is not int or not 0 <= life < len(_LIFE_NAMES):
        return None
    data["life"] = _LIFE_NAMES[life]
    data["force"] = False
    return "MachineLifeChanged", 2, data


def _container_lists(longest: int) -> Mapping[tuple[str, ...], tuple[str, ...]]:
    """Every 1.x list of up to `longest` container types -> its sorted 3.0 set."""
    renamable = [t for t in v2_0.CONTAINER_RENAMES if t]  # "" is refused at 2.0
    table = {}
    for length in range(longest + 1):
        for types in product(renamable, repeat=length):
            result = tuple(sorted({v2_0.CONTAINER_RENAMES[t] for t in types}))
            if _passes("MachineSupportedContainersSet", {"types": list(result)}):
                table[types] = result
    return table


_CONTAINER_LISTS: Final = _container_lists(4)


@EXPRESS.plan("MachineSupportedContainersSet", 1, "MachineSupportedContainersSet", 2)
def machine_supported_containers_set(
    data: Payload, stream: str, providers: Providers
) -> Result | None:
    """lxc becomes lxd; sorted, without duplicates."""
    types = data["types"]
    if len(data) != 1 or type(types) is not list:
        return None
    renamed = _CONTAINER_LISTS.get(tuple(types))
    if renamed is None:
        return None  # longer lists (or invalid ones) take the steps
    data["types"] = list(renamed)
    return "MachineSupportedContainersSet", 2, data


def forget() -> None:
    """Empty every cache of distinct values, so the next read works each one out afresh
    as a new process would (cold-read benchmarks, tests)."""
    _ADDRESS_TEMPLATES.clear()
    _CHANGE_PLANS.clear()
    _HARDWARE.clear()
    _AGENT_VERSIONS.clear()
