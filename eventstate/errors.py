"""Every error the store raises on purpose.

Each one carries a one-line message that names what went wrong and where; the
CLI prints `str(error)` and exits non-zero, never a traceback.
"""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError


class EventStateError(Exception):
    """Base of every deliberate eventstate error."""

    exit_code = 1


# --- input and configuration -------------------------------------------------


class StoreURLError(EventStateError):
    """A store URL that cannot be opened."""

    exit_code = 2


class StoreClosedError(EventStateError):
    """A store used after close()."""


class CorruptEventError(EventStateError):
    """Stored bytes that do not decode (or decrypt) to an event payload."""


class UnknownEventTypeError(EventStateError):
    """An event type or schema version the code does not know."""


class InterchangeError(EventStateError):
    """A JSONL file that is not valid interchange format; names the line."""

    def __init__(self, line: int, message: str, source: str = "") -> None:
        self.line = line
        where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(f"{where}: {message}")


class ValidationError(EventStateError):
    """A command or event payload that breaks the 3.0 schema or an invariant."""


# --- upcasting -----------------------------------------------------------------


class UpcastError(EventStateError):
    """An event that the upcaster chain cannot bring to the target schema."""

    def __init__(self, stream: str, version: int, type_name: str, schema: int, reason: str):
        self.stream = stream
        self.version = version
        self.type_name = type_name
        self.schema = schema
        self.reason = reason
        super().__init__(
            f"cannot upcast {type_name} schema {schema} at {stream} version {version}: {reason}"
        )


class ChainError(EventStateError):
    """The upcaster chain itself is broken (found when the code loads)."""


# --- concurrency -----------------------------------------------------------------


class ConcurrencyConflictError(EventStateError, IntegrityError):
    """Another writer appended to the same stream first.

    Also eventsourcing's IntegrityError, which is what eventsourcing's
    applications and recorder test cases expect on a version clash.
    """

    def __init__(self, stream: str, version: int, detail: str = "") -> None:
        self.stream = stream
        self.version = version
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"concurrency conflict: {stream} version {version} was written by another "
            f"writer{extra}; reload and retry"
        )


class StreamVersionGapError(EventStateError):
    """An append whose first version does not follow the stream's last one."""


class NotFoundError(EventStateError):
    """A model, machine or stream that does not exist."""


# --- gating (operations.md, "Store release and gating") --------------------------


class StoreGatedError(EventStateError):
    """Base of the refusals of the gating table."""

    exit_code = 3


class StoreNeedsUpgradeError(StoreGatedError):
    def __init__(self, store_release: str, code_release: str) -> None:
        self.store_release = store_release
        self.code_release = code_release
        super().__init__(
            f"store is at {store_release}, this code is {code_release}: run `eventstate upgrade`"
        )


class StoreTooNewError(StoreGatedError):
    def __init__(self, store_release: str, code_release: str) -> None:
        self.store_release = store_release
        self.code_release = code_release
        super().__init__(f"store is at {store_release}, newer than this code ({code_release})")


class UpgradeInProgressError(StoreGatedError):
    def __init__(self, upgrade_id: str, holder: str, since: str) -> None:
        self.upgrade_id = upgrade_id
        self.holder = holder
        self.since = since
        super().__init__(f"upgrade in progress ({upgrade_id}, {holder}, {since})")


# --- upgrade lease ---------------------------------------------------------------


class LeaseHeldError(EventStateError):
    """Another process holds the store-wide upgrade lease."""

    exit_code = 4

    def __init__(self, holder: str, since: str, expires: str) -> None:
        self.holder = holder
        self.since = since
        super().__init__(f"upgrade lease is held by {holder} since {since} (expires {expires})")


class FencingError(EventStateError):
    """A write by a lease holder whose lease was lost (stale fencing token)."""

    exit_code = 4


class UpgradeAbortedError(EventStateError):
    """The upgrade preflight found an event that does not upcast."""

    exit_code = 5
