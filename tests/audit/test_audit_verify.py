"""`verify` finds every kind of damage done to the store file, and says where.

Each test tampers with a real SQLite store file through the sqlite3 module (never the
store's API), then checks that verify reports the damage at the right stream, version
and position. The fixture log is legacy-1.14 (positions are its line numbers); the
projection copy is built before the damage, as a live store would have it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from eventstate.api import open_store
from eventstate.audit import VerifyReport, verify
from eventstate.errors import StoreTooNewError
from eventstate.store import EventStore, NewEvent
from projections import service
from tests.audit.audit_support import (
    AZURE,
    JOYENT,
    MAAS,
    MODERN,
    NULL,
    Tamper,
    checks,
    legacy_store,
    life_changed,
    locations,
    machine_added,
    model_created,
    opened,
    problem_keys,
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return legacy_store(tmp_path)


def verified(url: str, workers: int | None = None) -> VerifyReport:
    with opened(url) as store:
        return verify(store, workers=workers)


def test_an_untouched_store_verifies_with_its_projection_compared(url: str) -> None:
    report = verified(url)
    assert report.ok and report.problems == []
    assert (report.events, report.streams, report.head) == (140, 41, 140)
    assert report.projection is not None
    assert report.documents == 25 + 5 + 11  # machines, models, unit records


def test_a_store_without_a_projection_copy_verifies_the_log_alone(tmp_path: Path) -> None:
    report = verified(legacy_store(tmp_path, projected=False))
    assert report.ok and report.projection is None and report.documents == 0


def test_an_empty_store_verifies(tmp_path: Path) -> None:
    with opened(f"sqlite:///{tmp_path / 'empty.db'}") as store:
        report = verify(store)
    assert report.ok and report.events == 0 and report.head == 0


def test_one_changed_payload_byte_breaks_the_chain_at_that_event(url: str) -> None:
    # Position 39: MachineAddressesSet ["10.0.241.137"] of the joyent model's machine 3.
    Tamper(url).replace_in_payload(39, b"241", b"242")
    report = verified(url)
    assert not report.ok
    stream = f"machine:{JOYENT}:3"
    assert locations(report, "hash") == [(stream, 3, 39)]
    # Still a valid payload, so the projection (folded from the original) now differs.
    assert [(s, m) for s, _v, m in locations(report, "projection")] == [(stream, 40)]
    assert checks(report) == {"hash", "projection"}


def test_a_deleted_row_is_located_by_position_stream_and_version(url: str) -> None:
    # Position 41: version 2 (MachineProvisioned) of the maas model's container 1/lxc/1.
    Tamper(url).delete(41)
    report = verified(url)
    stream = f"machine:{MAAS}:1/lxc/1"
    assert locations(report, "positions") == [(None, None, 41)]
    assert locations(report, "versions") == [(stream, 2, 41)]  # the missing event, pinned
    assert locations(report, "hash") == [(stream, 3, 42)]  # the chain breaks right after
    assert "deleted" in next(p.message for p in report.problems if p.check == "hash")


def test_two_swapped_rows_break_the_chain_at_both_positions(url: str) -> None:
    # Positions 50 and 93: the MachineProvisioned events of the azure model's machines 1
    # and 3 trade places (positions and stored hashes stay).
    Tamper(url).swap(50, 93)
    report = verified(url)
    assert locations(report, "hash") == [
        (f"machine:{AZURE}:3", 2, 50),
        (f"machine:{AZURE}:1", 2, 93),
    ]
    # Azure machine 1's version 2 now comes after its version 5; it is late, not lost.
    assert locations(report, "versions") == [(f"machine:{AZURE}:1", 2, 93)]


def test_a_deletion_is_pinned_only_to_the_stream_that_lost_an_event(url: str) -> None:
    tamper = Tamper(url)
    tamper.delete(41)  # maas container 1/lxc/1, version 2
    tamper.swap(50, 93)  # azure machine 1's version 2 moves past position 41
    report = verified(url)
    assert locations(report, "versions") == [
        (f"machine:{MAAS}:1/lxc/1", 2, 41),
        (f"machine:{AZURE}:1", 2, 93),
    ]


def test_a_changed_type_name_breaks_the_chain_and_the_upcast(url: str) -> None:
    # Position 53: MachineSupportedContainersSet {"types": []}, version 5 of azure's machine 1.
    Tamper(url).update(53, type="MachineLifeChanged")
    report = verified(url)
    stream = f"machine:{AZURE}:1"
    assert locations(report, "hash") == [(stream, 5, 53)]
    assert locations(report, "upcast") == [(stream, 5, 53)]


def test_a_renamed_type_that_never_had_that_schema_is_caught(url: str) -> None:
    # Position 37: MachineAgentToolsSet schema 1, whose 3.0 name is MachineAgentBinarySet.
    Tamper(url).update(37, type="MachineAgentBinarySet")
    report = verified(url)
    stream = f"machine:{NULL}:3/lxc/1"
    assert locations(report, "hash") == [(stream, 3, 37)]
    assert locations(report, "upcast") == [(stream, 3, 37)]


def test_a_truncated_tail_is_caught_by_the_head_hash_and_the_projection(url: str) -> None:
    # Position 140, the last: MachineLifeChanged (dying), version 6 of maas's machine 1.
    Tamper(url).delete(140)
    report = verified(url)
    assert report.head == 139
    assert locations(report, "head") == [(None, None, 140)]
    projection = locations(report, "projection")
    assert (None, None, 140) in projection  # the copy folded further than the log goes
    assert (f"machine:{MAAS}:1", 6, None) in projection  # the lost event's stream and version
    assert "hash" not in checks(report)  # no row is left to break the chain


def test_upto_verifies_a_prefix_and_gives_its_hash_for_anchoring(url: str) -> None:
    tamper = Tamper(url)
    anchored = bytes(tamper.row(100)["hash"]).hex()
    tamper.delete(140)  # beyond the prefix: not this run's business
    report = verified_upto(url, 100)
    assert report.ok and report.head == 100 and report.head_hash == anchored
    assert report.projection is None  # the copy folded past position 100
    tamper.replace_in_payload(39, b"241", b"242")
    assert locations(verified_upto(url, 100), "hash") == [(f"machine:{JOYENT}:3", 3, 39)]


def verified_upto(url: str, upto: int) -> VerifyReport:
    with opened(url) as store:
        return verify(store, upto=upto)


def test_a_changed_head_hash_is_caught(url: str) -> None:
    Tamper(url).set_meta("head_hash", bytes(32))
    report = verified(url)
    assert locations(report, "head") == [(None, None, 141)]


def test_an_undecodable_payload_is_reported_and_the_pass_goes_on(url: str) -> None:
    Tamper(url).update(2, state=b"\xc1\xc1")  # 0xc1: never used by msgpack
    report = verified(url)
    stream = f"model:{MAAS}"
    assert locations(report, "decode") == [(stream, 2, 2)]
    assert locations(report, "hash") == [(stream, 2, 2)]
    assert report.events == 140  # every other event was still checked


def rewrite_stored_machine(url: str, machine_id: str, change: Callable[[bytes], bytes]) -> None:
    """Change a machine's stored projection document directly in the SQLite file."""
    import sqlite3

    key = f"{MAAS} {machine_id}"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        (doc,) = conn.execute(
            "SELECT doc FROM projection_documents WHERE kind = 'machine' AND key = ?", (key,)
        ).fetchone()
        conn.execute(
            "UPDATE projection_documents SET doc = ? WHERE kind = 'machine' AND key = ?",
            (change(doc), key),
        )
    conn.close()


def test_a_changed_projection_document_is_caught(url: str) -> None:
    rewrite_stored_machine(url, "2", lambda doc: doc.replace(b'"alive"', b'"dead"'))
    report = verified(url)
    assert locations(report, "projection") == [(f"machine:{MAAS}:2", 5, 77)]
    assert "life is 'dead' in the projection, 'alive' in the log" in report.problems[0].message


def test_a_document_stored_with_its_keys_in_another_order_is_the_same(url: str) -> None:
    import json

    def reorder(doc: bytes) -> bytes:
        return json.dumps(dict(reversed(json.loads(doc).items()))).encode()

    rewrite_stored_machine(url, "2", reorder)
    for workers in (1, 2):
        report = verified(url, workers)
        assert report.ok and report.problems == [], workers
        assert report.documents == 25 + 5 + 11  # still compared, and equal


def test_verify_of_an_encrypted_store_compares_its_projection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventstate.api import new_cipher_key

    monkeypatch.setenv("EVENTSTATE_CIPHER_KEY", new_cipher_key())
    url = f"sqlite:///{tmp_path / 'secret.db'}"
    with opened(url) as store:
        store.append([model_created(MODERN, "ec2"), machine_added(MODERN, "0")])
    with opened(url) as store:
        assert service.machines(store)  # builds the (encrypted) copy
    report = verified(url)
    assert report.ok and report.projection is not None and report.documents == 2


def test_a_projection_behind_the_log_is_compared_at_its_own_position(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modern.db'}"
    with opened(url) as store:
        store.append([model_created(MODERN, "ec2"), machine_added(MODERN, "0")])
        service.machines(store)  # the copy is at position 2
        store.append([life_changed(MODERN, "0", 2, "dying")])
        report = verify(store)
        assert report.ok, report.problems
        assert report.head == 3 and report.documents == 2
        # verify only reads: the copy did not catch up.
        assert service_copy_position(store) == 2


def service_copy_position(store: EventStore) -> int:
    from projections.runner import copy_key
    from projections.storage import storage_for

    copy = storage_for(store).live_copy(copy_key(store))
    assert copy is not None
    return copy.position


def test_an_invalid_payload_stored_at_today_s_schema_is_caught(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modern.db'}"
    with opened(url) as store:
        store.append([model_created(MODERN, "ec2"), machine_added(MODERN, "0")])
        bad = store.codec.encode({"life": "undead", "force": False})
    # A valid hash for the bad row too: only the payload check can object.
    tamper = Tamper(url)
    tamper.update(2, type="MachineLifeChanged", schema=2, state=bad)
    report = verified(url)
    assert locations(report, "payload") == [(f"machine:{MODERN}:0", 1, 2)]


def test_an_unknown_provider_type_is_a_warning(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modern.db'}"
    with opened(url) as store:
        store.append([model_created(MODERN, "vsphere"), machine_added(MODERN, "0")])
        report = verify(store)
    assert report.ok  # warnings do not fail a store
    assert [(p.severity, p.stream, p.version, p.position) for p in report.problems] == [
        ("warning", f"model:{MODERN}", 1, 1)
    ]


def test_shares_in_worker_processes_find_the_same_problems(url: str) -> None:
    tamper = Tamper(url)
    tamper.replace_in_payload(39, b"241", b"242")
    tamper.delete(41)
    tamper.swap(50, 93)
    tamper.update(53, type="MachineLifeChanged")
    tamper.update(2, state=b"\xc1\xc1")
    alone = verified(url, workers=1)
    shared = verified(url, workers=2)
    assert shared.workers == 2
    assert problem_keys(shared.problems) == problem_keys(alone.problems)
    assert (shared.events, shared.streams, shared.documents) == (
        alone.events,
        alone.streams,
        alone.documents,
    )


def test_worker_processes_compare_a_lagging_copy_and_stub_only_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'modern.db'}"
    orphan = "0badc0de-0000-4000-8000-000000000000"  # a model with only a unit stream
    assigned = NewEvent(
        f"unit:{orphan}:mysql/0",
        1,
        "UnitAssignedToMachine",
        {"unit": "mysql/0", "application": "mysql", "machine_id": "3"},
    )
    with opened(url) as store:
        store.append([model_created(MODERN, "ec2"), machine_added(MODERN, "0"), assigned])
        service.machines(store)  # the copy is at position 3
        store.append([life_changed(MODERN, "0", 2, "dying")])
        alone = verify(store, workers=1)
        shared = verify(store, workers=2)
    assert alone.ok and shared.ok, shared.problems
    assert shared.workers == 2
    assert shared.documents == alone.documents == 4  # 2 machines (one a stub), model, unit
    assert shared.head == 4


def test_a_store_newer_than_the_code_is_refused(url: str) -> None:
    Tamper(url).set_meta("release", "9.9")
    store = open_store(url, check_release=False)
    try:
        with pytest.raises(StoreTooNewError):
            verify(store)
    finally:
        store.close()
