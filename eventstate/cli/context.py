"""What every command shares: the store URL and a store opened on first use."""

from __future__ import annotations

import click

from eventstate.store import EventStore
from eventstate.url import resolve_url


class CliContext:
    def __init__(self, store_url: str | None) -> None:
        self.url = resolve_url(store_url)
        self._store: EventStore | None = None

    def store(self, *, check_release: bool = True) -> EventStore:
        if self._store is None:
            from eventstate.api import open_store

            self._store = open_store(self.url, check_release=check_release)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_cli = click.make_pass_decorator(CliContext)
