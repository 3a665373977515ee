"""The upgrade lease: fencing tokens, expiry on the server's clock, holders named."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from eventstate.errors import FencingError, LeaseHeldError
from eventstate.timeutil import format_us, now_us
from tests.backends.mongomock_adapter import (
    FaultyClient,
    Target,
    open_backend,
    target_fixture,  # noqa: F401 - the `target` fixture
)

S = 1_000_000


def test_tokens_grow_with_every_grant_and_are_never_reused(target: Target) -> None:
    backend = open_backend(target)
    assert backend.read_lease() is None
    t0 = now_us()
    first = backend.acquire_lease("host-a", 30, t0)
    assert (first.holder, first.token) == ("host-a", 1)
    assert first.expires_at_us - first.acquired_at_us == 30 * S
    backend.release_lease(first.token)
    released = backend.read_lease()
    assert released is not None and released.holder == "" and released.token == 1
    second = backend.acquire_lease("host-b", 30, t0 + S)
    # Expired, not released: taken over with the next token.
    third = backend.acquire_lease("host-c", 30, t0 + 40 * S)
    assert [second.token, third.token] == [2, 3]
    current = backend.read_lease()
    assert current is not None and (current.holder, current.token) == ("host-c", 3)


def test_a_held_lease_names_its_holder_and_since(target: Target) -> None:
    backend = open_backend(target)
    t0 = now_us()
    lease = backend.acquire_lease("upgrader@host-a", 60, t0)
    with pytest.raises(LeaseHeldError) as caught:
        open_backend(target).acquire_lease("upgrader@host-b", 60, t0 + 59 * S)
    assert caught.value.holder == "upgrader@host-a"
    assert caught.value.since == format_us(lease.acquired_at_us)
    assert "upgrader@host-a" in str(caught.value)


def test_renewal_and_fencing(target: Target) -> None:
    backend = open_backend(target)
    t0 = now_us()
    lease = backend.acquire_lease("a", 10, t0)
    renewed = backend.renew_lease(lease.token, 10, t0 + 8 * S)
    assert renewed.token == lease.token and renewed.expires_at_us == lease.acquired_at_us + 18 * S
    with pytest.raises(LeaseHeldError):  # renewed: still held at t0 + 15s
        backend.acquire_lease("b", 10, t0 + 15 * S)
    newer = backend.acquire_lease("b", 10, t0 + 19 * S)
    with pytest.raises(FencingError, match=f"lease {lease.token} was lost"):
        backend.renew_lease(lease.token, 10, t0 + 20 * S)
    backend.release_lease(lease.token)  # a stale release changes nothing
    current = backend.read_lease()
    assert current is not None and current.holder == "b" and current.token == newer.token
    backend.release_lease(newer.token)
    with pytest.raises(FencingError):
        backend.renew_lease(newer.token, 10, t0 + 21 * S)


def test_expiry_is_judged_on_the_servers_clock(target: Target) -> None:
    """A state server whose own clock runs ten minutes fast must not think a
    one-minute lease has expired."""
    fast = 600 * S
    honest = open_backend(target)
    skewed = open_backend(target, local_clock=lambda: now_us() + fast)
    lease = honest.acquire_lease("a", 60, now_us())
    with pytest.raises(LeaseHeldError):
        skewed.acquire_lease("b", 60, now_us() + fast)  # "now", on its own clock
    # Both see the same expiry, on the server's clock.
    seen = skewed.read_lease()
    assert seen is not None and abs(seen.expires_at_us - lease.expires_at_us) < S


def test_lease_times_follow_a_server_clock_that_differs(target: Target) -> None:
    if target.server is None:
        pytest.skip("needs a server whose clock the test can set")
    target.server.clock_skew = timedelta(hours=1)
    backend = open_backend(target)
    lease = backend.acquire_lease("a", 60, now_us())
    assert abs(lease.acquired_at_us - (now_us() + 3600 * S)) < 5 * S
    assert backend.describe()["lease_clock"] == "server"


def test_a_lost_acknowledgement_grants_once(target: Target) -> None:
    client = FaultyClient(target.client())
    backend = open_backend(target, client=client)
    t0 = now_us()
    client.faults.add("lease.insert_one", lambda: AutoReconnect("reply lost"), after=True)
    assert backend.acquire_lease("a", 30, t0).token == 1
    backend.release_lease(1)
    client.faults.add("lease.update_one", lambda: AutoReconnect("reply lost"), after=True)
    again = backend.acquire_lease("a", 30, t0 + S)
    assert again.token == 2 and backend.read_lease() == again


def test_one_winner_among_concurrent_acquirers(target: Target) -> None:
    backends = [open_backend(target) for _ in range(4)]
    t0 = now_us()
    winners: list[Any] = []
    refused: list[str] = []

    def contend(n: int) -> None:
        try:
            winners.append(backends[n].acquire_lease(f"host-{n}", 30, t0))
        except LeaseHeldError as exc:
            refused.append(exc.holder)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and len(refused) == 3
    assert set(refused) == {winners[0].holder} and winners[0].token == 1
