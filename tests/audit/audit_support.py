"""Helpers for the audit tests (no tests in here): fixture stores and tampering.

Tampering goes straight at the SQLite file with the sqlite3 module, as an attacker or
a disk fault would, never through the store's API.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventstate.api import open_store
from eventstate.audit import Problem, VerifyReport
from eventstate.interchange import import_jsonl
from eventstate.store import EventStore, NewEvent
from projections import service

FIXTURES = Path(__file__).parent.parent / "fixtures"
LEGACY = FIXTURES / "legacy-1.14.jsonl"

MAAS = "db5b5fab-8f4d-4e27-9da1-494c73cf256d"  # env0
AZURE = "73f778aa-f6fa-4db8-a56a-bd72fb710734"  # env1
MANUAL = "77064c2c-0f55-4c94-82cd-f2af19de2bc1"  # env2
JOYENT = "c4ff64de-bb5d-4b48-bc3b-66fa30d0b194"  # env3
NULL = "98b20411-e7a2-4cbd-92df-2c206bba8d21"  # env4

# Keys whose values the fixture's authors meant as secrets (listed here by hand, not
# with the redaction code under test).
_SECRET_KEYS = ("access-key", "secret-key", "password", "admin-secret")


def legacy_store(tmp_path: Path, *, projected: bool = True) -> str:
    """A store file with the legacy 1.14 fixture imported (and its projection copy built
    by a first read, unless not `projected`); closed again. Returns its URL."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with opened(url) as store:
        import_jsonl(store, LEGACY)
        if projected:
            service.machines(store)
    return url


@contextmanager
def opened(url: str) -> Iterator[EventStore]:
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


def fixture_events() -> list[dict[str, Any]]:
    """The fixture's event lines, with the position import gives them (file order)."""
    lines = LEGACY.read_text().splitlines()[1:]
    return [{**json.loads(line), "position": n} for n, line in enumerate(lines, 1)]


def credential_values() -> list[str]:
    """Every non-empty secret string in the fixture."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in _SECRET_KEYS and isinstance(item, str) and item:
                    found.append(item)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for event in fixture_events():
        walk(event["data"])
    return found


def locations(report: VerifyReport, check: str) -> list[tuple[str | None, int | None, int | None]]:
    return [(p.stream, p.version, p.position) for p in report.problems if p.check == check]


def checks(report: VerifyReport) -> set[str]:
    return {p.check for p in report.problems}


def problem_keys(problems: list[Problem]) -> list[tuple[str, str | None, int | None, int | None]]:
    return sorted(
        ((p.check, p.stream, p.version, p.position) for p in problems),
        key=repr,
    )


class Tamper:
    """Direct edits of the store file's `events` and `meta` tables."""

    def __init__(self, url: str) -> None:
        self.path = url.removeprefix("sqlite:///")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def row(self, position: int) -> dict[str, Any]:
        with self._connection() as conn:
            conn.row_factory = sqlite3.Row
            found = conn.execute("SELECT * FROM events WHERE position = ?", (position,)).fetchone()
        assert found is not None, f"no row at position {position}"
        return dict(found)

    def update(self, position: int, **columns: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._connection() as conn:
            conn.execute(
                f"UPDATE events SET {assignments} WHERE position = ?", (*columns.values(), position)
            )

    def replace_in_payload(self, position: int, old: bytes, new: bytes) -> None:
        """Change bytes inside the stored payload (same length: still valid msgpack)."""
        state = bytes(self.row(position)["state"])
        assert state.count(old) == 1 and len(old) == len(new)
        self.update(position, state=state.replace(old, new))

    def delete(self, position: int) -> None:
        with self._connection() as conn:
            conn.execute("DELETE FROM events WHERE position = ?", (position,))

    def swap(self, a: int, b: int) -> None:
        """Swap the contents of two rows; positions and stored hashes stay where they are."""
        columns = ("stream", "version", "type", "schema", "recorded_at", "state")
        first, second = self.row(a), self.row(b)
        self.update(a, stream="tampering", version=0)  # out of the unique index's way
        self.update(b, **{c: first[c] for c in columns})
        self.update(a, **{c: second[c] for c in columns})

    def set_meta(self, key: str, value: Any) -> None:
        with self._connection() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))


# --- a store written at today's release ----------------------------------------------------

MODERN = "5e1f0c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


def model_created(uuid: str, provider: str) -> NewEvent:
    return NewEvent(
        f"model:{uuid}",
        1,
        "ModelCreated",
        {
            "model_uuid": uuid,
            "name": "modern",
            "provider_type": provider,
            "controller_uuid": uuid,
            "owner": "admin",
            "type": "iaas",
            "cloud": provider,
            "cloud_region": "",
            "cloud_credential": "",
            "config": {"default-base": "ubuntu@22.04", "admin-secret": "modern-secret-42"},
        },
    )


def machine_added(uuid: str, machine_id: str) -> NewEvent:
    return NewEvent(
        f"machine:{uuid}:{machine_id}",
        1,
        "MachineAdded",
        {
            "machine_id": machine_id,
            "base": {"os": "ubuntu", "channel": "22.04/stable"},
            "container_type": "",
            "nonce": f"machine-{machine_id}:n",
            "jobs": ["JobHostUnits"],
            "constraints": "",
            "placement": "",
        },
    )


def life_changed(uuid: str, machine_id: str, version: int, life: str) -> NewEvent:
    return NewEvent(
        f"machine:{uuid}:{machine_id}",
        version,
        "MachineLifeChanged",
        {"life": life, "force": False},
    )
