"""Pages read ahead by a thread: the same pages in order, its errors raised in order,
and a reader that stops early stops the thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from projections.storage import readahead


def test_pages_come_in_order_and_the_thread_reads_them() -> None:
    threads: set[str] = set()

    def pages() -> Iterator[list[int]]:
        for n in range(10):
            threads.add(threading.current_thread().name)
            yield [n] * 3

    assert list(readahead.read_ahead(pages)) == [[n] * 3 for n in range(10)]
    assert threads == {"projections-read-ahead"}


def test_an_error_comes_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise LookupError("disk gone")

    got = []
    with pytest.raises(LookupError, match="disk gone"):
        for page in readahead.read_ahead(pages):
            got.append(page)
    assert got == [1, 2]


def test_a_reader_that_stops_early_stops_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readahead, "_POLL_S", 0.01)
    fetched: list[int] = []
    finished = threading.Event()

    def pages() -> Iterator[int]:
        try:
            for n in range(1000):
                fetched.append(n)
                yield n
        finally:
            finished.set()

    reader = readahead.read_ahead(pages)
    assert next(reader) == 0
    reader.close()  # e.g. the fold failed
    assert finished.wait(5)
    time.sleep(0.05)
    assert len(fetched) <= 2 + readahead.DEPTH  # it stopped, not read the rest
