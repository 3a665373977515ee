"""The server's clock, as seen from this process.

Lease and write-lock expiry must be judged on ONE clock by every state server,
however far their own clocks drift. MongoDB's `hello` reply carries the
server's `localTime`; the offset between it and this process's clock (taken
at the midpoint of the round trip) maps any local time onto the server's
clock. The offset is re-measured every `refresh_s`. An offset smaller than the
measurement's own uncertainty (half the round trip plus the millisecond
resolution of `localTime`) is not applied: it cannot be told from zero.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from eventstate.timeutil import now_us, to_us


class ServerClock:
    def __init__(
        self,
        hello: Callable[[], Mapping[str, Any]],
        local: Callable[[], int] = now_us,
        refresh_s: float = 60.0,
    ) -> None:
        self._hello = hello
        self.local = local
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._offset_us = 0
        self._measured_at = -1e18
        self.source = "caller"  # becomes "server" once localTime was seen

    def observe(self, reply: Mapping[str, Any], sent_us: int, received_us: int) -> None:
        """Take the offset from a `hello` reply (also used at open)."""
        server_time = reply.get("localTime")
        if not isinstance(server_time, datetime):
            self.source = "caller"
            self._offset_us = 0
            return
        if server_time.tzinfo is None:
            server_time = server_time.replace(tzinfo=UTC)
        midpoint = (sent_us + received_us) // 2
        offset = to_us(server_time) - midpoint
        uncertainty = (received_us - sent_us) // 2 + 1_000
        self._offset_us = offset if abs(offset) > uncertainty else 0
        self.source = "server"
        self._measured_at = time.monotonic()

    def offset_us(self) -> int:
        with self._lock:
            if time.monotonic() - self._measured_at > self._refresh_s:
                sent = self.local()
                reply = self._hello()
                self.observe(reply, sent, self.local())
            return self._offset_us

    def now_us(self) -> int:
        """Now, on the server's clock."""
        return self.local() + self.offset_us()

    def to_server(self, local_us: int) -> int:
        """A time given on this process's clock, on the server's clock."""
        return local_us + self.offset_us()
