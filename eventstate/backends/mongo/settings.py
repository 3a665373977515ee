"""The MongoDB store URL: database name, password scrubbing, default concerns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from eventstate.errors import StoreURLError
from eventstate.url import redact_url

DEFAULT_DATABASE = "eventstate"
_URL = re.compile(
    r"^(?P<scheme>mongodb(?:\+srv)?)://(?:(?P<auth>[^@/]*)@)?(?P<hosts>[^/?]*)"
    r"(?:/(?P<db>[^?]*))?(?:\?(?P<query>.*))?$"
)
_BAD_DB_CHARS = re.compile(r'[/\\. "$\x00*<>:|?]')


@dataclass(frozen=True)
class MongoURL:
    raw: str = field(repr=False)  # holds the password: never in a repr
    database: str = ""
    password: str = field(default="", repr=False)  # only ever used to scrub messages

    @property
    def redacted(self) -> str:
        return self.scrub(redact_url(self.raw))

    def scrub(self, text: str) -> str:
        """Remove the password from any text (driver messages can echo the URL)."""
        text = text.replace(self.raw, redact_url(self.raw))
        for secret in {self.password, unquote(self.password)}:
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text


def parse_mongo_url(url: str) -> MongoURL:
    match = _URL.match(url)
    if match is None:
        raise StoreURLError(
            f"store URL {redact_url(url)!r} is not a MongoDB URL: use mongodb://HOST[:PORT]/DB"
        )
    auth = match.group("auth") or ""
    password = auth.partition(":")[2]
    database = unquote(match.group("db") or "") or DEFAULT_DATABASE
    if _BAD_DB_CHARS.search(database) or len(database.encode()) > 63:
        raise StoreURLError(f"store URL {redact_url(url)!r}: {database!r} is not a database name")
    return MongoURL(raw=url, database=database, password=password)


def with_database(url: str, database: str) -> str:
    """The same URL naming another database, authenticating where it did before.

    MongoDB authenticates against the URL's database unless `authSource` says
    otherwise, so a user defined there keeps working only if we say so.
    """
    match = _URL.match(url)
    if match is None:
        raise StoreURLError(f"store URL {redact_url(url)!r} is not a MongoDB URL")
    base = f"{match.group('scheme')}://" + (
        f"{match.group('auth')}@" if match.group("auth") else ""
    )
    query = match.group("query") or ""
    options = [part for part in query.split("&") if part]
    if match.group("auth") and not any(o.lower().startswith("authsource=") for o in options):
        options.append(f"authSource={unquote(match.group('db') or '') or 'admin'}")
    tail = f"?{'&'.join(options)}" if options else ""
    return f"{base}{match.group('hosts')}/{database}{tail}"


def effective_write_concern(configured: WriteConcern, replicated: bool) -> WriteConcern:
    """Majority by default; a `w=`/`journal=` option in the URL wins.

    A standalone server has no majority to wait for: there, journaled w:1 is
    the durable acknowledgement.
    """
    if not configured.is_server_default:
        return configured
    return WriteConcern("majority") if replicated else WriteConcern(w=1, j=True)


def effective_read_concern(configured: ReadConcern, replicated: bool) -> ReadConcern:
    """Majority by default (reads never see what a failover could roll back)."""
    if configured.level is not None:
        return configured
    return ReadConcern("majority") if replicated else ReadConcern("local")
