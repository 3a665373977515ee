"""What `verify` found: one Problem per finding, located by stream, version and position."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

from eventstate.audit.redact import redact_text

ERROR: Final = "error"
WARNING: Final = "warning"

# The checks, in the order a report lists them for one position.
POSITIONS: Final = "positions"  # log positions run 1, 2, 3 ... with no gap
HASH: Final = "hash"  # each event's stored hash is the chain's hash of its stored bytes
HEAD: Final = "head"  # the store's head hash is the last event's hash
STREAM_ID: Final = "stream-id"  # stream ids are well formed
VERSIONS: Final = "versions"  # each stream's versions run 1, 2, 3 ... with no gap
DECODE: Final = "decode"  # the stored payload decodes to a map
UPCAST: Final = "upcast"  # the chain brings it to a valid 3.0 payload
PAYLOAD: Final = "payload"  # an event stored at 3.0 is a valid 3.0 payload
FOLD: Final = "fold"  # the fold accepts it
PROJECTION: Final = "projection"  # the stored projection copy equals a fresh fold
PROVIDER: Final = "provider"  # a provider type the capability table knows (warning)
CHECKS: Final = (
    POSITIONS, HASH, HEAD, STREAM_ID, VERSIONS, DECODE, UPCAST, PAYLOAD, FOLD, PROJECTION,
    PROVIDER,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding. `stream`, `version` and `position` locate it as far as the log can:
    a deleted event has a position but no stream left, a truncated tail neither."""

    check: str
    message: str
    stream: str | None = None
    version: int | None = None
    position: int | None = None
    severity: str = ERROR

    def __post_init__(self) -> None:
        # Messages quote payload fragments; no credential leaves through a report.
        object.__setattr__(self, "message", redact_text(self.message))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sort_key(self) -> tuple[int, int, str, int]:
        """Log order; problems without a position last."""
        position = self.position if self.position is not None else 2**62
        return (position, CHECKS.index(self.check), self.stream or "", self.version or 0)


@dataclass
class VerifyReport:
    events: int  # events read (rows in the log, up to `head`)
    streams: int
    head: int  # the log position verified up to
    head_hash: str  # hex of the last event's stored hash
    projection: str | None  # the projection copy compared, None when there is none
    documents: int  # stored documents compared with the fresh fold
    workers: int  # processes that shared the pass
    seconds: float
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        """No errors (warnings do not make a store wrong)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "head": self.head,
            "head_hash": self.head_hash,
            "projection": self.projection,
            "documents": self.documents,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }
