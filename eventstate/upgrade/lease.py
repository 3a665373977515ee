"""The store-wide upgrade lease, held for the length of an upgrade.

One holder at a time across every process and machine sharing the store. The
backend grants it with a fencing token that grows with every grant and an
expiry; a daemon thread renews it while the upgrade runs. Every write the
upgrade makes carries the token (gating.FencedGuard), so a holder that lost the
lease (paused past its expiry, superseded by another upgrader) fails before it
writes instead of interleaving with the new holder.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
from types import TracebackType

from eventstate.backends.base import Backend, LeaseState
from eventstate.errors import EventStateError, FencingError
from eventstate.timeutil import now_us

TTL_VAR = "EVENTSTATE_LEASE_TTL"
MAX_TTL_S = 86_400.0
DEFAULT_TTL_S = 30.0


class LeaseSettingError(EventStateError):
    exit_code = 2  # a setting given wrong, like a usage error


def configured_ttl_s() -> float:
    """EVENTSTATE_LEASE_TTL in seconds (DEFAULT_TTL_S when unset or empty), read when a
    lease is made, not at import (a bad value there broke every command, even --help);
    a value that is not a number of seconds in (0, 1 day] is refused, naming it."""
    raw = os.environ.get(TTL_VAR, "").strip()
    if not raw:
        return DEFAULT_TTL_S
    try:
        ttl = float(raw)
    except ValueError:
        ttl = math.nan
    if not (math.isfinite(ttl) and 0 < ttl <= MAX_TTL_S):
        raise LeaseSettingError(
            f"{TTL_VAR}={raw!r} is not a number of seconds greater than 0 and at most "
            f"{MAX_TTL_S:.0f}"
        )
    return ttl


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class UpgradeLease:
    def __init__(
        self, backend: Backend, holder: str | None = None, ttl_s: float | None = None
    ) -> None:
        self.backend = backend
        self.holder = holder or default_holder()
        self.ttl_s = configured_ttl_s() if ttl_s is None else ttl_s
        self.state: LeaseState | None = None
        self.lost: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def token(self) -> int:
        if self.state is None:
            raise EventStateError("upgrade lease not held")
        return self.state.token

    def __enter__(self) -> UpgradeLease:
        self.state = self.backend.acquire_lease(self.holder, self.ttl_s, now_us())
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renewal", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.state is not None and self.lost is None:
            # An expired lease is released by expiry: nothing to undo if this fails.
            with contextlib.suppress(EventStateError):
                self.backend.release_lease(self.state.token)

    def renew(self) -> None:
        """Renew now; FencingError when the lease was lost."""
        if self.lost is not None:
            raise FencingError(f"upgrade lease {self.token} was lost: {self.lost}")
        self.state = self.backend.renew_lease(self.token, self.ttl_s, now_us())

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                self.renew()
            except FencingError as exc:
                self.lost = exc
                return
            except EventStateError:
                continue  # transient (store busy): the next round tries again before expiry
