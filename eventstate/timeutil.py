"""Recorded-at times: stored as integer microseconds since the Unix epoch (UTC).

Integers sort, compare and filter (`--since`, `--until`) without parsing, and
format back to the same ISO 8601 string every time, which keeps export lossless.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_us() -> int:
    delta = datetime.now(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_iso_us(text: str) -> int:
    """ISO 8601 with a UTC offset -> microseconds. ValueError names the problem.

    A time without an offset is refused: the log's times are UTC instants and
    guessing the zone of a naive time would silently shift history.
    """
    if not isinstance(text, str):
        raise ValueError(f"time must be a string, got {type(text).__name__}")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"unparseable time {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    us = to_us(moment)
    if not MIN_US <= us <= MAX_US:
        raise ValueError(f"time {text!r} is outside the years 1 to 9999 in UTC")
    return us


def to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


MIN_US = to_us(datetime(1, 1, 1, tzinfo=UTC))
MAX_US = to_us(datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))


def format_us(us: int) -> str:
    """Microseconds -> '2013-08-01T09:01:33.564861+00:00' (always with microseconds)."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds")


def format_stored_us(us: object) -> str:
    """format_us for a time read back from a store, where altered bytes may hold any
    value: ValueError saying so instead of an OverflowError or a TypeError."""
    if type(us) is not int or not MIN_US <= us <= MAX_US:
        raise ValueError(not_a_time(us))
    return format_us(us)


def not_a_time(us: object) -> str:
    """What is wrong with a stored recorded_at that format_stored_us refuses."""
    return f"recorded_at {us!r} is not a time in the years 1 to 9999"


def parse_user_time(text: str) -> int:
    """A time typed by a person (`--since 2013-08-01`): a date alone means midnight UTC,
    and a time without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"unparseable time {text!r} (use ISO 8601, e.g. 2013-08-01T09:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_us(moment)
