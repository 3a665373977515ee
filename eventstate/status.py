"""The store's status report, shared by `eventstate status` and the quickstart."""

from __future__ import annotations

from typing import Any

from eventstate.backends.base import UPGRADING
from eventstate.errors import EventStateError
from eventstate.releases import CODE_RELEASE, compare
from eventstate.store import EventStore
from eventstate.url import redact_url


def status_report(store: EventStore) -> dict[str, Any]:
    meta = store.meta()
    backend = store.backend
    head = backend.head()
    order = compare(meta.release, CODE_RELEASE)
    needs = "nothing"
    if order < 0:
        needs = "upgrade"
    elif order > 0:
        needs = "newer code"
    report: dict[str, Any] = {
        "store": redact_url(store.url),
        "release": meta.release,
        "code_release": CODE_RELEASE,
        "status": meta.status,
        "events": backend.count(),
        "head_position": head,
        "streams": len(backend.list_streams("")),
        "needs": needs,
        "upgrade": None,
        "projections": [],
    }
    if meta.status == UPGRADING:
        report["upgrade"] = {
            "id": meta.upgrade_id,
            "holder": meta.upgrade_holder,
            "since": meta.upgrade_since,
        }
    report["projections"] = _projection_status(store, head)
    return report


def _projection_status(store: EventStore, head: int) -> list[dict[str, Any]]:
    try:
        from projections.runner import copies_status
    except ImportError:  # projections not built yet
        return []
    try:
        return copies_status(store, head)
    except EventStateError:
        # A read-only store that never had its projection tables: the log's status
        # is still worth showing.
        return []
