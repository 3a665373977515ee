"""Reading the next pages of the log while the caller folds this one.

SQLite steps through a query with the GIL released, so a thread that fetches pages on a
connection of its own overlaps that work (seeking, and skipping the rows of other
partitions, most of a partition scan) with the fold's Python on another CPU.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Final, TypeVar

Page = TypeVar("Page")

DEPTH: Final = 2  # pages fetched ahead: enough to hide a fetch, little memory
_POLL_S: Final = 0.1
_END: Final = object()


def read_ahead(pages: Callable[[], Iterator[Page]]) -> Iterator[Page]:
    """The pages `pages()` yields, fetched by a thread while the caller works through
    the previous ones. `pages()` runs in that thread (so it opens its own connection
    there); its error is raised here, in order. Stopping early (an error in the caller,
    a closed generator) stops the thread at its next page."""
    ready: queue.Queue[object] = queue.Queue(DEPTH)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in pages():
                if not _put(ready, page, stop):
                    return
        except BaseException as exc:  # handed over to the reading thread
            _put(ready, _Failed(exc), stop)
            return
        _put(ready, _END, stop)

    threading.Thread(target=fetch, name="projections-read-ahead", daemon=True).start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _put(ready: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Queue `item` unless the reader stopped; False when it did."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False
