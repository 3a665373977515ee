"""eventsourcing's own recorder test cases, run against the SQLite backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)

from eventstate.backends.sqlite import SQLiteBackend
from eventstate.backends.views import AggregateRecorderView
from eventstate.releases import CODE_RELEASE


class _FileStore:
    tmp: Path
    backends: list[SQLiteBackend]

    def setUp(self) -> None:
        import tempfile

        self._tmpdir = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmpdir.name)
        self.backends = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        for backend in self.backends:
            backend.close()
        self._tmpdir.cleanup()
        super().tearDown()  # type: ignore[misc]

    def create_recorder(self) -> Any:
        backend = SQLiteBackend(str(self.tmp / "store.db"), initial_release=CODE_RELEASE)
        self.backends.append(backend)
        return backend

    def new_originator_id(self) -> Any:
        return f"machine:{uuid4()}:0"


class TestAggregateRecorder(_FileStore, AggregateRecorderTestCase):
    def create_recorder(self) -> Any:
        return AggregateRecorderView(super().create_recorder())


class TestApplicationRecorder(_FileStore, ApplicationRecorderTestCase[SQLiteBackend]):
    pass


class TestTrackingRecorder(_FileStore, TrackingRecorderTestCase):
    pass


class TestProcessRecorder(_FileStore, ProcessRecorderTestCase):
    pass


def test_uuid_originator_ids_round_trip(tmp_path: Path) -> None:
    """eventsourcing applications use UUID ids: they come back as UUIDs."""
    from eventsourcing.persistence import StoredEvent

    backend = SQLiteBackend(str(tmp_path / "s.db"), initial_release=CODE_RELEASE)
    originator = uuid4()
    backend.insert_events([StoredEvent(originator, 1, "topic", b"\x80")])
    (notification,) = backend.select_notifications(1, 10)
    assert notification.originator_id == originator
    backend.close()


def test_store_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    SQLiteBackend(str(path), initial_release=CODE_RELEASE).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_not_a_store_file_is_a_clear_error(tmp_path: Path) -> None:
    from eventstate.errors import StoreURLError

    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreURLError, match=r"junk\.db"):
        SQLiteBackend(str(path), initial_release=CODE_RELEASE)
