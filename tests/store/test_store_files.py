"""What a store URL may open: another application's SQLite file is refused untouched,
and a closed store says so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from eventstate.api import open_store
from eventstate.errors import StoreClosedError, StoreURLError
from eventstate.repository import Repository


def test_another_applications_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ann')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreURLError) as caught:
        open_store(f"sqlite:///{path}")
    assert str(caught.value) == f"{path} is not an eventstate store (it holds tables users)"
    assert path.read_bytes() == before  # no tables added, not switched to WAL mode
    assert not Path(f"{path}-wal").exists()


def test_an_empty_database_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    store = open_store(f"sqlite:///{path}")
    assert store.head() == 0
    store.close()
    assert open_store(f"sqlite:///{path}").meta().status == "available"  # reopens as a store


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    repo = Repository(store)
    store.close()
    for use in (store.head, store.meta, lambda: repo.create_model("m", provider_type="ec2")):
        with pytest.raises(StoreClosedError, match=r"^store .*s\.db is closed$"):
            use()
