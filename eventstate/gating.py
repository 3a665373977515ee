"""The gating table of operations.md, as checks and write guards.

| store                | reads                 | writes  |
| S = C, available     | yes                   | yes     |
| S < C                | yes, via upcasters    | refused |
| S > C                | refused               | refused |
| upgrading            | yes                   | refused |

Guards run inside the append's transaction (see backends.base.WriteGuard).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from eventstate.backends.base import UPGRADING, LeaseState, StoreMeta
from eventstate.errors import (
    FencingError,
    InterchangeError,
    StoreNeedsUpgradeError,
    StoreTooNewError,
    UpgradeInProgressError,
)
from eventstate.releases import CODE_RELEASE, compare


def check_readable(meta: StoreMeta, code_release: str = CODE_RELEASE) -> None:
    if compare(meta.release, code_release) > 0:
        raise StoreTooNewError(meta.release, code_release)


def check_writable(meta: StoreMeta, code_release: str = CODE_RELEASE) -> None:
    check_readable(meta, code_release)
    if meta.status == UPGRADING:
        raise UpgradeInProgressError(meta.upgrade_id, meta.upgrade_holder, meta.upgrade_since)
    if compare(meta.release, code_release) < 0:
        raise StoreNeedsUpgradeError(meta.release, code_release)


class AppendGuard:
    """An ordinary write: the store must be at the code's release and available."""

    def check(self, meta: StoreMeta, lease: LeaseState | None, head: int) -> StoreMeta | None:
        check_writable(meta)
        return None


APPEND_GUARD = AppendGuard()


@dataclass(frozen=True)
class ImportGuard:
    """An import: into an empty store the store takes the file's release;
    into a non-empty one the releases must match."""

    release: str
    source: str = ""

    def check(self, meta: StoreMeta, lease: LeaseState | None, head: int) -> StoreMeta | None:
        check_readable(meta)
        if compare(self.release, CODE_RELEASE) > 0:
            raise StoreTooNewError(self.release, CODE_RELEASE)
        if meta.status == UPGRADING:
            raise UpgradeInProgressError(meta.upgrade_id, meta.upgrade_holder, meta.upgrade_since)
        if head == 0:
            return replace(meta, release=self.release) if meta.release != self.release else None
        if meta.release != self.release:
            raise InterchangeError(
                1,
                f"file is at release {self.release} but the store (not empty) is at "
                f"{meta.release}: import into an empty store, or export at {meta.release}",
                self.source,
            )
        return None


@dataclass(frozen=True)
class FencedGuard:
    """A write by the upgrade: the store must be upgrading under this very lease."""

    token: int
    upgrade_id: str

    @staticmethod
    def lease_matches(lease: LeaseState | None, token: int) -> None:
        if lease is None or lease.token != token or not lease.holder:
            current = (
                "none" if lease is None else f"{lease.token} held by {lease.holder or 'nobody'}"
            )
            raise FencingError(
                f"stale fencing token {token} (current lease: {current}): this upgrader "
                "lost its lease and must not write"
            )

    def check(self, meta: StoreMeta, lease: LeaseState | None, head: int) -> StoreMeta | None:
        self.lease_matches(lease, self.token)
        if meta.status != UPGRADING or meta.upgrade_id != self.upgrade_id:
            raise FencingError(f"store is no longer in upgrade {self.upgrade_id}")
        return None


@dataclass(frozen=True)
class MetaChange:
    """Replace the metadata after an optional fencing check (upgrade start and finish)."""

    new_meta: StoreMeta
    token: int | None = None

    def check(self, meta: StoreMeta, lease: LeaseState | None, head: int) -> StoreMeta | None:
        if self.token is not None:
            FencedGuard.lease_matches(lease, self.token)
        return replace(self.new_meta, head_hash=meta.head_hash)
