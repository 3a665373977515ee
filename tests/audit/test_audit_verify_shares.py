"""verify split into shares finds what one pass finds, wherever the spans end.

Each share checks the order and hashes of one span of positions and folds one partition
of the models. The damage of test_audit_verify.py is repeated here with the span
boundaries put right at it (a deleted row at the end or the start of a span, a span
with no rows left, a swap across two spans...): the report must not change. The shares
run in this process (every plan, in turn), except in the last test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from eventstate.audit import VerifyReport, verify
from eventstate.audit import parallel as parallel_module
from eventstate.audit.scan import Scan, ScanPlan, ScanResult
from eventstate.interchange import import_jsonl
from eventstate.store import EventStore
from projections import service
from tests.audit.audit_support import LEGACY, Tamper, legacy_store, opened, problem_keys
from tests.backends.mongomock_adapter import (
    Target,
    target_fixture,  # noqa: F401 - the `target` fixture
)

verify_module = __import__("eventstate.audit.verify", fromlist=["split_spans"])

Spans = list[tuple[int, int]]


class InProcess:
    """Workers that run every share in this process, one after another."""

    def __init__(self, url: str, count: int) -> None:
        self.count = count

    def __enter__(self) -> InProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        pass

    def run(self, store: EventStore, plans: Sequence[ScanPlan], progress: Any) -> list[ScanResult]:
        assert len(plans) == self.count + 1
        return [Scan(store, plan).run() for plan in plans]


def verified_in(
    url: str, spans: Spans, monkeypatch: pytest.MonkeyPatch, upto: int | None = None
) -> VerifyReport:
    """verify with len(spans) shares, whose spans are these."""

    def split(upto: int, sizes: Sequence[int] | None) -> Spans:
        assert sizes is None or len(sizes) == len(spans)
        return spans

    with monkeypatch.context() as patch:
        patch.setattr(verify_module, "split_spans", split)
        patch.setattr(parallel_module, "Workers", InProcess)
        with opened(url) as store:
            return verify(store, workers=len(spans), upto=upto)


def splits_at(*cuts: int) -> list[Spans]:
    """Two-share splits ending the first span at each cut, and three-share splits with
    a one-position middle span at each cut, plus an empty middle span."""
    found: list[Spans] = []
    for cut in cuts:
        found.append([(1, cut), (cut + 1, 140)])
        found.append([(1, cut - 1), (cut, cut), (cut + 1, 140)])
        found.append([(1, cut), (cut + 1, cut), (cut + 1, 140)])
    found.append([(1, 35), (36, 70), (71, 105), (106, 140)])
    return found


def summary(report: VerifyReport) -> tuple[Any, ...]:
    return (
        problem_keys(report.problems),
        sorted(p.message for p in report.problems),
        report.events,
        report.streams,
        report.documents,
        report.head,
        report.head_hash,
        report.ok,
    )


Damage = Callable[[Tamper], None]


def delete_three(tamper: Tamper) -> None:
    for position in (41, 42, 43):
        tamper.delete(position)


def delete_and_swap(tamper: Tamper) -> None:
    tamper.delete(41)
    tamper.swap(50, 93)


CASES: list[tuple[str, Damage, tuple[int, ...]]] = [
    ("untouched", lambda t: None, (1, 70, 139)),
    ("payload byte", lambda t: t.replace_in_payload(39, b"241", b"242"), (38, 39)),
    ("deleted row", lambda t: t.delete(41), (40, 41, 42)),
    ("deleted rows", delete_three, (40, 41, 42, 43)),
    ("first row deleted", lambda t: t.delete(1), (1, 2)),
    ("swapped rows", lambda t: t.swap(50, 93), (49, 50, 92, 93)),
    ("deleted and swapped", delete_and_swap, (41, 50, 93)),
    ("type name", lambda t: t.update(53, type="MachineLifeChanged"), (52, 53)),
    ("undecodable", lambda t: t.update(2, state=b"\xc1\xc1"), (1, 2)),
    ("truncated tail", lambda t: t.delete(140), (138, 139, 140)),
    ("head hash", lambda t: t.set_meta("head_hash", bytes(32)), (139, 140)),
]


@pytest.mark.parametrize(("damage", "cuts"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_shares_report_what_one_pass_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: Damage, cuts: tuple[int, ...]
) -> None:
    url = legacy_store(tmp_path)
    damage(Tamper(url))
    with opened(url) as store:
        alone = verify(store, workers=1)
    for spans in splits_at(*cuts):
        shared = verified_in(url, spans, monkeypatch)
        assert shared.workers == len(spans)
        assert summary(shared) == summary(alone), spans


def test_a_span_whose_rows_were_all_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = legacy_store(tmp_path)
    tamper = Tamper(url)
    for position in range(60, 71):
        tamper.delete(position)
    with opened(url) as store:
        alone = verify(store, workers=1)
    assert [p.position for p in alone.problems if p.check == "positions"] == [60]
    shared = verified_in(url, [(1, 59), (60, 70), (71, 140)], monkeypatch)
    assert summary(shared) == summary(alone)


def test_a_tail_span_with_no_rows_left_leaves_the_head_check_to_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = legacy_store(tmp_path)
    Tamper(url).delete(140)
    with opened(url) as store:
        alone = verify(store, workers=1)
    shared = verified_in(url, [(1, 139), (140, 140)], monkeypatch)
    assert summary(shared) == summary(alone)
    assert [p.position for p in shared.problems if p.check == "head"] == [140]


def test_shares_verify_a_prefix_with_upto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = legacy_store(tmp_path)
    tamper = Tamper(url)
    tamper.delete(140)  # beyond the prefix
    tamper.delete(60)
    tamper.replace_in_payload(39, b"241", b"242")
    with opened(url) as store:
        alone = verify(store, workers=1, upto=100)
    assert alone.head == 100 and not alone.ok
    for spans in ([(1, 59), (60, 100)], [(1, 60), (61, 100)], [(1, 100), (101, 100)]):
        assert summary(verified_in(url, spans, monkeypatch, upto=100)) == summary(alone), spans


def test_worker_processes_check_their_own_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = legacy_store(tmp_path)
    tamper = Tamper(url)
    tamper.delete(41)
    tamper.swap(50, 93)
    tamper.replace_in_payload(39, b"241", b"242")
    with opened(url) as store:
        alone = verify(store, workers=1)
    monkeypatch.setattr(verify_module, "split_spans", lambda upto, sizes: [(1, 45), (46, upto)])
    with opened(url) as store:
        shared = verify(store, workers=2)
    assert shared.workers == 2
    assert summary(shared) == summary(alone)


def test_shares_on_mongodb_report_what_one_pass_reports(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = target.server
    if server is not None:
        monkeypatch.setattr(
            "eventstate.backends.mongodb.MongoClient", lambda *args, **kwargs: server.client()
        )
    with opened(target.url) as store:
        import_jsonl(store, LEGACY)
        service.machines(store)
        store.backend._ctx.events.delete_one({"_id": 41})  # as a hand edit would
        alone = verify(store, workers=1)
    assert [p.position for p in alone.problems if p.check == "positions"] == [41]
    for spans in splits_at(40, 41, 93):
        assert summary(verified_in(target.url, spans, monkeypatch)) == summary(alone), spans
