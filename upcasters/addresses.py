"""Address classification of the 1.18 MachineAddressesSet change (events.md).

`classify` is a pure function of one address string, cached: a fleet repeats the
same few thousand addresses across millions of events.
"""

from __future__ import annotations

import re
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Final

LOCAL_CLOUD_V4: Final = (
    ip_network("10.0.0.0/8"),
    ip_network("172.16.0.0/12"),
    ip_network("192.168.0.0/16"),
)
LOOPBACK_V4: Final = ip_network("127.0.0.0/8")
LOOPBACK_V6: Final = ip_address("::1")
LINK_LOCAL_V6: Final = ip_network("fe80::/10")
LOCAL_CLOUD_SUFFIXES: Final = (".internal", ".local")

# RFC 1123 labels: letters, digits and hyphens, 1 to 63, no hyphen at either end.
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def is_hostname(value: str) -> bool:
    """A valid RFC 1123 host name; the top label is never all digits (RFC 1123 2.1),
    so a malformed dotted quad such as `10.0.0.256` is not a host name either."""
    return (
        len(value) <= 253
        and _HOSTNAME.fullmatch(value) is not None
        and not value.rpartition(".")[2].isdigit()
    )


@lru_cache(maxsize=65536)
def classify(value: str) -> tuple[str, str] | None:
    """(type, scope) of one address, or None when it is neither an IP nor a host name."""
    try:
        ip = ip_address(value)
    except ValueError:
        ip = None
    if isinstance(ip, IPv4Address):
        if ip in LOOPBACK_V4:
            return ("ipv4", "local-machine")
        if any(ip in network for network in LOCAL_CLOUD_V4):
            return ("ipv4", "local-cloud")
        return ("ipv4", "public")
    if isinstance(ip, IPv6Address):
        if ip.scope_id is None and ip == LOOPBACK_V6:
            return ("ipv6", "local-machine")
        if ip in LINK_LOCAL_V6:
            return ("ipv6", "link-local")
        return ("ipv6", "public")
    if is_hostname(value):
        if value.lower().endswith(LOCAL_CLOUD_SUFFIXES):
            return ("hostname", "local-cloud")
        return ("hostname", "public")
    return None
