"""The store-wide upgrade lease: one document (`lease`, `_id: "upgrade"`) with the
holder, the fencing token, acquired_at and expires_at.

Every change is a compare-and-set on that document, so two upgraders racing for
an expired lease cannot both win, and the token grows with every grant (a
released lease keeps its token; the next grant takes token + 1). Each grant
carries a random `grant` id: a retry after a lost acknowledgement finds its own
grant and reports success instead of "held by ourselves".

Times are on the server's clock: the caller's now_us is shifted by the measured
offset between this machine's clock and the server's (mongo/clock.py), so every
state server judges expiry on one clock, while a caller can still move time
(now_us is honoured relative to its own clock, which is what tests and the
upgrade's renewal loop do).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol, TypeVar

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from eventstate.backends.base import LeaseState
from eventstate.backends.mongo.context import Context, Session
from eventstate.backends.mongo.documents import LEASE_ID, Doc, lease_from_doc
from eventstate.backends.mongo.retry import RetrySignal
from eventstate.errors import FencingError, LeaseHeldError
from eventstate.timeutil import format_us

T = TypeVar("T")
_CAS_ROUNDS = 16


class UnderLock(Protocol):
    """Run fn holding the store's write lock (Writer.under_lock)."""

    def __call__(self, operation: str, fn: Callable[[], T]) -> T: ...


class Leases:
    def __init__(self, ctx: Context, under_lock: UnderLock) -> None:
        self.ctx = ctx
        self._under_lock = under_lock

    def _run(self, operation: str, fn: Callable[[Session], T]) -> T:
        ctx = self.ctx
        if ctx.transactions:
            # Appends read the lease inside their transaction: no lock needed.
            return ctx.sessions.run(operation, fn)
        # Standalone: a staged commit re-checks the lease and then commits in two
        # steps; lease changes take the write lock so that none falls in between.
        return self._under_lock(operation, lambda: ctx.sessions.run(operation, fn))

    def read(self) -> LeaseState | None:
        return self.ctx.sessions.run("read the upgrade lease", self.ctx.read_lease)

    def acquire(self, holder: str, ttl_s: float, now_us: int) -> LeaseState:
        ctx = self.ctx
        now = ctx.clock.to_server(now_us)
        grant = uuid.uuid4().hex

        def cas(session: Session) -> LeaseState:
            for _ in range(_CAS_ROUNDS):
                current = ctx.lease.find_one({"_id": LEASE_ID}, session=session)
                if current is not None and current.get("grant") == grant:
                    return _lease(current)  # granted by our own earlier attempt
                state = lease_from_doc(current)
                if state is not None and state.holder and state.expires_at_us > now:
                    raise LeaseHeldError(
                        state.holder,
                        format_us(state.acquired_at_us),
                        format_us(state.expires_at_us),
                    )
                new: Doc = {
                    "holder": holder,
                    "token": (state.token if state else 0) + 1,
                    "acquired_at": now,
                    "expires_at": now + int(ttl_s * 1_000_000),
                    "grant": grant,
                }
                if current is None:
                    try:
                        ctx.lease.insert_one({"_id": LEASE_ID, **new}, session=session)
                    except DuplicateKeyError:
                        continue  # another upgrader created it first: look again
                    return _lease(new)
                # Conditional on the lease as we judged it (a renewal in between
                # changes expires_at and makes us look again).
                unchanged = {k: current.get(k) for k in ("token", "holder", "expires_at")}
                result = ctx.lease.update_one(
                    {"_id": LEASE_ID, **unchanged}, {"$set": new}, session=session
                )
                if result.matched_count == 1:
                    return _lease(new)
            raise RetrySignal("the lease kept changing")

        return self._run("acquire the upgrade lease", cas)

    def renew(self, token: int, ttl_s: float, now_us: int) -> LeaseState:
        ctx = self.ctx
        expires = ctx.clock.to_server(now_us) + int(ttl_s * 1_000_000)

        def renew(session: Session) -> LeaseState:
            current = ctx.lease.find_one_and_update(
                {"_id": LEASE_ID, "token": token, "holder": {"$ne": ""}},
                {"$set": {"expires_at": expires}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if current is None:
                raise FencingError(f"upgrade lease {token} was lost: another grant superseded it")
            return _lease(current)

        return self._run("renew the upgrade lease", renew)

    def release(self, token: int) -> None:
        ctx = self.ctx
        self._run(
            "release the upgrade lease",
            lambda s: ctx.lease.update_one(
                {"_id": LEASE_ID, "token": token},
                {"$set": {"holder": "", "expires_at": 0}},
                session=s,
            ),
        )


def _lease(doc: Doc) -> LeaseState:
    state = lease_from_doc(doc)
    assert state is not None
    return state
