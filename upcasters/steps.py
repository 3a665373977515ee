"""What an upcaster step sees and how it ends.

A step is `(data, ctx) -> data`: it mutates the payload it owns and returns it,
raises StepFailure when the event cannot be upcast, or Retire when its content
became meaningless. `ctx` is an UpcastContext for steps registered with
`needs_context`, NO_CONTEXT for the others (which never read it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

Payload = dict[str, Any]

PROVIDER_UNKNOWN: Final = "provider type unknown: model stream has no creation event"


class UpcastContext(NamedTuple):
    """Read-only facts from the log that a context-aware step may use.

    `type_name` and `schema` are the event's as stored; `provider_type` is the model's
    as first recorded; `machine_id` comes from the stream id (`0/lxc/3` from
    `machine:<model-uuid>:0/lxc/3`, None for other streams); `nonce` is the
    payload's own `nonce` (None when it has no string nonce).
    """

    stream: str
    version: int
    type_name: str
    schema: int
    provider_type: str | None
    machine_id: str | None
    nonce: str | None

    @classmethod
    def of(
        cls,
        stream: str,
        version: int,
        type_name: str,
        schema: int,
        provider_type: str | None,
        data: Any,
    ) -> UpcastContext:
        """The context of one stored event; built only for plans with a context step."""
        nonce = data.get("nonce") if type(data) is dict else None
        # machine:<model-uuid>:<machine-id>; a model uuid has no ":", a machine id may.
        parts = stream.split(":", 2) if type(stream) is str else ()
        machine_id = parts[2] if len(parts) == 3 and parts[0] == "machine" and parts[2] else None
        # tuple.__new__ directly: half the cost of the generated NamedTuple __new__.
        return _new_tuple(
            cls,
            (
                stream,
                version,
                type_name,
                schema,
                provider_type,
                machine_id,
                nonce if isinstance(nonce, str) else None,
            ),
        )

    def require_provider(self) -> str:
        if self.provider_type is None:
            raise StepFailure(PROVIDER_UNKNOWN)
        return self.provider_type

    def require_machine_id(self) -> str:
        if self.machine_id is None:
            raise StepFailure(f"{shown(self.stream)} is not a machine stream")
        return self.machine_id

    def require_nonce(self) -> str:
        if self.nonce is None:
            raise StepFailure("the payload has no string 'nonce'")
        return self.nonce


_new_tuple: Final = tuple.__new__


# Passed to steps registered without `needs_context`; validate_chain makes sure
# those never read it, so no context is built for them.
NO_CONTEXT: Final = UpcastContext("", 0, "", 0, None, None, None)

StepFunction = Callable[[Payload, UpcastContext], Payload]


def shown(value: Any) -> str:
    """A short repr for error messages: payloads can be large."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class OneModel(dict[str, "str | None"]):
    """The providers of an express call (upcasters/express.py) for one event whose
    model's provider type the caller knows: that provider type for any key."""

    def __init__(self, provider_type: str | None) -> None:
        super().__init__()
        self.provider_type = provider_type

    def __missing__(self, key: str) -> str | None:
        return self.provider_type


class StepFailure(Exception):
    """Raised by a step: this event cannot be upcast (becomes an UpcastError)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Retire(Exception):
    """Raised by a step: this event's content became meaningless (becomes EventRetired)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
