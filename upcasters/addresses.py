"""Address classification of the 1.18 MachineAddressesSet change (events.md).

`classify_address` is a pure function of one address string; `classify` is the same,
cached: a fleet repeats the same addresses across many events. (The express plan
reads the usual addresses itself and calls the uncached function for the rest.) Each
kind is parsed once: a dotted quad, else IPv6 (`:` occurs in nothing else), else an
RFC 1123 host name, which never ends in a number, so a malformed dotted quad is
refused there.
"""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import AddressValueError, IPv6Address
from typing import Final

LINK_LOCAL_V6: Final = (118, 0xFE80 >> 6)  # fe80::/10
LOOPBACK_V6: Final = 1  # ::1
LOCAL_CLOUD_SUFFIXES: Final = (".internal", ".local")

# RFC 1123 labels: letters, digits and hyphens, 1 to 63, no hyphen at either end.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# A dotted quad as ipaddress.IPv4Address accepts it (no leading zeros; octets checked
# <= 255 below), which is several times slower to construct; tests check they agree.
_QUAD = re.compile(
    r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})"
)


def is_hostname(value: str) -> bool:
    """A valid RFC 1123 host name; the top label is never all digits (RFC 1123 2.1),
    so a malformed dotted quad such as `10.0.0.256` is not a host name either."""
    return (
        len(value) <= 253
        and _HOSTNAME.fullmatch(value) is not None
        and not value.rpartition(".")[2].isdigit()
    )


def classify_address(value: str) -> tuple[str, str] | None:
    """(type, scope) of one address, or None when it is neither an IP nor a host name."""
    quad = _QUAD.fullmatch(value)
    if quad is not None:
        return _classify_v4(*map(int, quad.groups()))
    if ":" in value:
        return _classify_v6(value)
    if is_hostname(value):
        if value.lower().endswith(LOCAL_CLOUD_SUFFIXES):
            return ("hostname", "local-cloud")
        return ("hostname", "public")
    return None


classify: Final = lru_cache(maxsize=65536)(classify_address)


def _classify_v4(a: int, b: int, c: int, d: int) -> tuple[str, str] | None:
    if max(a, b, c, d) > 255:
        return None  # not an address, and not a host name either (numeric top label)
    if a == 127:  # 127/8
        return ("ipv4", "local-machine")
    if a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168):
        return ("ipv4", "local-cloud")  # 10/8, 172.16/12, 192.168/16
    return ("ipv4", "public")


def _classify_v6(value: str) -> tuple[str, str] | None:
    try:
        address = IPv6Address(value)
    except AddressValueError:
        return None
    number = int(address)
    if number == LOOPBACK_V6 and address.scope_id is None:
        return ("ipv6", "local-machine")
    if number >> LINK_LOCAL_V6[0] == LINK_LOCAL_V6[1]:
        return ("ipv6", "link-local")
    return ("ipv6", "public")
