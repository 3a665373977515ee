"""eventsourcing subscriptions for MongoDB, by polling.

Change streams would push, but they exist only on replica sets and report
commits in oplog order per document, not by position. Polling
`select_notifications` (which only ever returns committed, gap-free positions)
is correct on every deployment; appends made through the same backend wake
subscribers at once, others are seen within `interval_s`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, ListenNotifySubscription


class PollingSubscription(ListenNotifySubscription[ApplicationRecorder]):
    def __init__(
        self,
        recorder: ApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
        interval_s: float = 0.2,
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def wake(self) -> None:
        self._has_been_notified.set()

    def _poll(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self._has_been_notified.set()

    def stop(self) -> None:
        self._stopped.set()
        super().stop()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._poller.join()
