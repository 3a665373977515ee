"""Transient MongoDB errors, retried with tenacity: bounded, exponential, jittered.

A replica set elects a new primary in seconds; transactions abort on write
conflicts; a network blip can lose an acknowledgement. All of those are retried
a bounded number of times. Past the bound the caller gets one line naming the
operation (never a traceback, never the password).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pymongo.errors import (
    AutoReconnect,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from eventstate.errors import EventStateError

T = TypeVar("T")

TRANSIENT_LABELS = (
    "TransientTransactionError",
    "UnknownTransactionCommitResult",
    "RetryableWriteError",
)
# WriteConflict, NoSuchTransaction, primary changes and shutdowns (server error codes).
TRANSIENT_CODES = frozenset(
    {6, 7, 89, 91, 112, 189, 251, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)
WRITE_CONFLICT = 112


class MongoRetryExhaustedError(EventStateError):
    """A MongoDB operation still failed transiently after every allowed attempt."""


class MongoOperationError(EventStateError):
    """A MongoDB operation failed with an error that retrying cannot fix."""


class RetrySignal(Exception):
    """Raised inside an attempt to ask for another one (e.g. the head moved)."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, RetrySignal):
        return True
    if isinstance(exc, ServerSelectionTimeoutError):
        # pymongo already waited serverSelectionTimeoutMS for a server: no
        # point waiting that long eight more times.
        return False
    if isinstance(exc, AutoReconnect):  # NotPrimaryError, NetworkTimeout, ...
        return True
    if isinstance(exc, PyMongoError) and any(exc.has_error_label(x) for x in TRANSIENT_LABELS):
        return True
    return isinstance(exc, OperationFailure) and exc.code in TRANSIENT_CODES


def one_line(exc: BaseException, scrub: Callable[[str], str] = str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    return scrub(text)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts with exponential, jittered backoff (tests pass a fake sleep)."""

    attempts: int = 8
    base_s: float = 0.05
    max_wait_s: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    scrub: Callable[[str], str] = field(default=str)

    def call(self, operation: str, fn: Callable[[], T]) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.base_s, max=self.max_wait_s),
            retry=retry_if_exception(is_transient),
            sleep=self.sleep,
            reraise=False,
        )
        try:
            return retrying(fn)
        except RetryError as exhausted:
            last = exhausted.last_attempt.exception()
            raise MongoRetryExhaustedError(
                f"MongoDB {operation} failed after {self.attempts} attempts: "
                f"{one_line(last or exhausted, self.scrub)}"
            ) from last
        except PyMongoError as exc:
            raise MongoOperationError(
                f"MongoDB {operation} failed: {one_line(exc, self.scrub)}"
            ) from exc
