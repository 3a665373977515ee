"""What every command shares: the store URL and a store opened on first use."""

from __future__ import annotations

import os

import click

from eventstate.errors import EventStateError, StoreURLError
from eventstate.store import EventStore
from eventstate.url import parse_url, resolve_url


class CliContext:
    def __init__(self, store_url: str | None) -> None:
        self.url = resolve_url(store_url)
        self._store: EventStore | None = None

    def store(self, *, check_release: bool = True, must_exist: bool = True) -> EventStore:
        """The store, opened on first use. `must_exist` stays on but for the commands
        that may start a store (import, model create, quickstart): opening a SQLite file
        creates it, and a mistyped path must not leave a new empty store behind."""
        if self._store is None:
            from eventstate.api import open_store

            parsed = parse_url(self.url)
            if parsed.scheme == "memory" or parsed.path == ":memory:":
                # It would exit 0 and keep nothing: each command is its own process.
                raise StoreURLError(
                    "store URL memory:// only lives inside one process, so a command "
                    "would keep nothing: use sqlite:///FILE"
                )
            if must_exist and parsed.scheme == "sqlite" and not os.path.exists(parsed.path):
                raise EventStateError(
                    f"no store at {parsed.path} (import a log or create a model to start one)"
                )
            self._store = open_store(self.url, check_release=check_release)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_cli = click.make_pass_decorator(CliContext)
