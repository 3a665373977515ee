"""Credential redaction for everything the audit tools print.

A value is a credential when its key is `access-key`, `secret-key` or `password`, or
contains `secret`, `password` or `token` (any case, `_` read as `-`): it shows as `***`,
whatever it is (a string, a number, a whole map), at any depth of a payload. The log
itself keeps the real values: `export` is a lossless backup and is never redacted.

`redact` is on the output path of every event `history` prints, so a payload without
credential keys costs one cached lookup per key and is returned as is, uncopied. Free
text that may spell a credential out is scrubbed too: an upgrade's abort `reason` (it
quotes the upcast error) and `key=value` strings (`password=...` in a malformed payload).
`redact_text` scrubs free text (error and verify messages quote payload fragments).
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar

REDACTED: Final = "***"
CREDENTIAL_KEYS: Final = frozenset({"access-key", "secret-key", "password"})
CREDENTIAL_PARTS: Final = ("secret", "password", "token")

T = TypeVar("T")

# What a key's value is: plain, a credential, or free text that may quote one (an
# upgrade's abort `reason` repeats an upcast error, which quotes payload fragments).
_PLAIN, _CREDENTIAL, _FREE_TEXT = 0, 1, 2
FREE_TEXT_KEYS: Final = frozenset({"reason"})

# key -> its kind. Payloads repeat a small vocabulary of keys, so each distinct key is
# classified once; the bound keeps hostile key variety from growing the cache.
_KEY_KINDS: dict[Any, int] = {}
_KEY_CACHE_LIMIT = 65_536


def _key_kind(key: object) -> int:
    try:
        kind = _KEY_KINDS.get(key)
    except TypeError:  # an unhashable key cannot come from a decoded payload; be safe
        return _PLAIN
    if kind is None:
        folded = str(key).lower().replace("_", "-")
        if folded in CREDENTIAL_KEYS or any(part in folded for part in CREDENTIAL_PARTS):
            kind = _CREDENTIAL
        else:
            kind = _FREE_TEXT if folded in FREE_TEXT_KEYS else _PLAIN
        if len(_KEY_KINDS) < _KEY_CACHE_LIMIT:
            _KEY_KINDS[key] = kind
    return kind


def is_credential_key(key: object) -> bool:
    return _key_kind(key) == _CREDENTIAL


def redact(value: T) -> T:
    """`value` with every credential shown as `***`: a copy of the parts that change,
    the very same object when nothing does (the common case)."""
    kind = type(value)
    if kind is dict:
        return _redact_map(value)  # type: ignore[arg-type,return-value]
    if kind is list or kind is tuple:
        return _redact_items(value)  # type: ignore[arg-type,return-value]
    if kind is str and "=" in value:  # type: ignore[operator]
        # `key=value` text (constraints, characteristics, a malformed config change)
        # may spell a credential out; the `in` test keeps other strings free.
        return redact_text(value)  # type: ignore[arg-type,return-value]
    return value


def _redact_map(data: dict[Any, Any]) -> dict[Any, Any]:
    changed: dict[Any, Any] | None = None
    for key, value in data.items():
        key_kind = _key_kind(key)
        if key_kind == _CREDENTIAL:
            new: Any = REDACTED
        elif key_kind == _FREE_TEXT and type(value) is str:
            new = redact_text(value)
            if new == value:
                continue
        else:
            new = redact(value)
            if new is value:
                continue
        if changed is None:
            changed = dict(data)
        changed[key] = new
    return data if changed is None else changed


def _redact_items(items: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
    changed: list[Any] | None = None
    for index, value in enumerate(items):
        new = redact(value)
        if new is not value:
            if changed is None:
                changed = list(items)
            changed[index] = new
    if changed is None:
        return items
    return tuple(changed) if type(items) is tuple else changed


# `'password': 'x'`, `"admin-secret": "x"`, `access_key=x`, `token: x`: a credential key,
# quoted or not, then `:` or `=`, then the value, quoted (possibly cut short by a
# truncated repr) or bare.
_KEY = r"""['"]?[\w.-]*(?:secret|password|token|access[-_]key)[\w.-]*['"]?"""
_VALUE = r"""'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s,;)}\]]+"""
_IN_TEXT = re.compile(rf"(?P<key>{_KEY})(?P<sep>\s*[:=]\s*)(?:{_VALUE})", re.IGNORECASE)
_QUICK = re.compile(r"secret|password|token|access[-_]key", re.IGNORECASE)


def redact_text(text: str) -> str:
    """Free text with the value after any credential key shown as `***`."""
    if _QUICK.search(text) is None:
        return text
    return _IN_TEXT.sub(lambda match: f"{match['key']}{match['sep']}{REDACTED}", text)
