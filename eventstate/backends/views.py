"""eventsourcing recorder facets over an eventstate backend.

A backend is eventsourcing's ProcessRecorder. eventsourcing's AggregateRecorder
contract differs in one detail (its `insert_events` returns None, not the new
positions); this view gives that contract over the same storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, ProcessRecorder, StoredEvent


class AggregateRecorderView(AggregateRecorder):
    def __init__(self, recorder: ProcessRecorder) -> None:
        self.recorder = recorder

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        if stored_events:
            self.recorder.insert_events(stored_events, **kwargs)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        return self.recorder.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
