"""Store URLs (operations.md, "Store URLs") and the backend each one opens."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from eventstate.errors import StoreURLError

DEFAULT_URL = "sqlite:///eventstate.db"
ENV_VAR = "EVENTSTATE_STORE"
_CREDENTIALS = re.compile(r"(://[^:/@]*):.*@")  # greedy: a password may hold @ or /
# The options api.open_backend reads: any other is a typo that would be silently ignored.
SQLITE_OPTIONS = ("synchronous", "timeout")


@dataclass(frozen=True)
class StoreURL:
    scheme: str  # sqlite, memory, mongodb
    path: str  # SQLite file path; ":memory:" for memory://
    raw: str
    options: dict[str, str] = field(default_factory=dict)


def resolve_url(explicit: str | None) -> str:
    """--store, else $EVENTSTATE_STORE, else the embedded default."""
    return explicit or os.environ.get(ENV_VAR) or DEFAULT_URL


def parse_url(url: str) -> StoreURL:
    if url.startswith("memory://"):
        return StoreURL("memory", ":memory:", url)
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :]
        path, _, query = rest.partition("?")
        if not path:
            raise StoreURLError(f"store URL {url!r} names no file: use sqlite:///path/to/store.db")
        options = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        unknown = sorted(set(options) - set(SQLITE_OPTIONS))
        if unknown:
            raise StoreURLError(
                f"store URL {url!r}: unknown option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)} (sqlite:/// URLs take {', '.join(SQLITE_OPTIONS)})"
            )
        return StoreURL("sqlite", path, url, options)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        return StoreURL("mongodb", "", url)
    raise StoreURLError(
        f"unsupported store URL {redact_url(url)!r}: use sqlite:///FILE, memory:// or mongodb://HOST/DB"
    )


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and status output.

    A regex rather than urlsplit: mongodb URLs list several hosts, which
    urlsplit's port parsing rejects.
    """
    return _CREDENTIALS.sub(r"\1:***@", url)
