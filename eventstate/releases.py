"""Schema releases, oldest first, and the code's own release."""

from __future__ import annotations

RELEASES: tuple[str, ...] = ("1.14", "1.16", "1.18", "1.21", "2.0", "2.7", "3.0")
CODE_RELEASE = "3.0"

_INDEX = {release: i for i, release in enumerate(RELEASES)}


def is_release(name: str) -> bool:
    return name in _INDEX


def release_index(name: str) -> int:
    """Position of a release in RELEASES; unknown names raise ValueError."""
    try:
        return _INDEX[name]
    except KeyError:
        known = ", ".join(RELEASES)
        raise ValueError(f"unknown release {name!r} (known: {known})") from None


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as release a is older than, equal to or newer than b.

    A release this code has never heard of (a store written by a newer
    release) compares as newer than every known one, by its numeric parts.
    """
    if a in _INDEX and b in _INDEX:
        return (_INDEX[a] > _INDEX[b]) - (_INDEX[a] < _INDEX[b])
    ka, kb = _numeric(a), _numeric(b)
    return (ka > kb) - (ka < kb)


def releases_between(after: str, up_to: str) -> tuple[str, ...]:
    """The releases in (after, up_to], oldest first."""
    lo, hi = release_index(after), release_index(up_to)
    return RELEASES[lo + 1 : hi + 1]


def _numeric(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return (-1,)
