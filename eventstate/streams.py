"""Stream ids (events.md, "Envelope"): building and parsing them in one place."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from eventstate.errors import ValidationError

MODEL = "model"
MACHINE = "machine"
UNIT = "unit"
UPGRADE = "upgrade"
KINDS = (MODEL, MACHINE, UNIT, UPGRADE)
FORMS = {
    MODEL: "model:<model-uuid>",
    MACHINE: "machine:<model-uuid>:<machine-id>",
    UNIT: "unit:<model-uuid>:<unit-name>",
    UPGRADE: "upgrade:<upgrade-id>",
}


class StreamId(NamedTuple):
    kind: str
    model_uuid: str  # empty for upgrade streams
    name: str  # machine id, unit name, upgrade id; empty for model streams


def model_stream(model_uuid: str) -> str:
    return f"model:{model_uuid}"


def machine_stream(model_uuid: str, machine_id: str) -> str:
    return f"machine:{model_uuid}:{machine_id}"


def unit_stream(model_uuid: str, unit_name: str) -> str:
    return f"unit:{model_uuid}:{unit_name}"


def upgrade_stream(upgrade_id: str) -> str:
    return f"upgrade:{upgrade_id}"


def legacy_machine_id(machine_id: str) -> str:
    """`0/lxd/1` as 1.x spelled it (`0/lxc/1`): container types sit at odd segments.
    Stream ids are never rewritten, so a 1.x container keeps that id in its stream."""
    segments = machine_id.split("/")
    segments[1::2] = ["lxc" if part == "lxd" else part for part in segments[1::2]]
    return "/".join(segments)


def parse_stream(stream: str) -> StreamId:
    """Split a stream id; a malformed one raises ValidationError naming it."""
    kind, _, rest = stream.partition(":")
    if kind == MODEL and rest and ":" not in rest:
        return StreamId(MODEL, rest, "")
    if kind in (MACHINE, UNIT):
        model_uuid, _, name = rest.partition(":")
        if model_uuid and name:
            return StreamId(kind, model_uuid, name)
    if kind == UPGRADE and rest:
        return StreamId(UPGRADE, "", rest)
    raise ValidationError(
        f"malformed stream id {stream!r}: expected model:<uuid>, machine:<uuid>:<id>, "
        "unit:<uuid>:<name> or upgrade:<id>"
    )


# What a write may name (appends and imports), stricter than parse_stream, which
# reads whatever an older store holds: a canonical lowercase model uuid, a machine id
# (1.x spellings too: an import brings lxc containers) or a unit name, printable text.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ANY_MACHINE_ID = re.compile(r"(?:0|[1-9][0-9]*)(?:/(?:lxc|lxd|kvm)/(?:0|[1-9][0-9]*))*")
_UNIT_NAME = re.compile(r"[a-z][a-z0-9-]*/(?:0|[1-9][0-9]*)")
_NEW_STREAM = re.compile(
    f"(?P<{MODEL}>{MODEL}:{_UUID.pattern})"
    f"|(?P<{MACHINE}>{MACHINE}:{_UUID.pattern}:{_ANY_MACHINE_ID.pattern})"
    f"|(?P<{UNIT}>{UNIT}:{_UUID.pattern}:{_UNIT_NAME.pattern})"
    f"|(?P<{UPGRADE}>{UPGRADE}:[!-~]+)"  # printable ASCII, no space
)


def is_canonical_uuid(value: object) -> bool:
    """The one spelling str(uuid.uuid4()) gives: lowercase, hyphenated, no braces."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def check_new_stream(stream: str) -> str:
    """The kind of a stream id a write may create; ValidationError says what is wrong.
    One match for a good id (an import meets every stream of a fleet once)."""
    match = _NEW_STREAM.fullmatch(stream)
    if match is not None:
        return str(match.lastgroup)
    parsed = parse_stream(stream)
    if not stream.isascii():
        try:
            stream.encode()
        except UnicodeEncodeError:
            raise ValidationError(
                f"stream id {stream!r} is not valid UTF-8 (it holds a lone surrogate)"
            ) from None
    if not stream.isprintable():
        raise ValidationError(f"stream id {stream!r} holds unprintable characters")
    kind = parsed.kind
    if kind != UPGRADE and _UUID.fullmatch(parsed.model_uuid) is None:
        raise ValidationError(
            f"stream id {stream!r}: {parsed.model_uuid!r} is not a lowercase model uuid"
        )
    if kind == MACHINE and _ANY_MACHINE_ID.fullmatch(parsed.name) is None:
        raise ValidationError(f"stream id {stream!r}: {parsed.name!r} is not a machine id")
    if kind == UNIT and _UNIT_NAME.fullmatch(parsed.name) is None:
        raise ValidationError(f"stream id {stream!r}: {parsed.name!r} is not a unit name")
    raise ValidationError(f"stream id {stream!r}: {parsed.name!r} is not an upgrade id")


def placement_problem(stream: str, version: int, kind: str, opens: bool) -> str | None:
    """Why an event of a type that belongs in `kind` streams (and opens its stream, when
    `opens`) cannot be written as `stream` version `version`, None when it can. The
    text follows "<stream> version <n>: <type>": it starts with ": " or " "."""
    try:
        actual = check_new_stream(stream)
    except ValidationError as exc:
        return f": {exc}"
    if actual != kind:
        return f" belongs in {kind} streams ({FORMS[kind]}), not in {actual} streams"
    if opens and version != 1:
        return " opens its stream: it can only be its version 1"
    return None


@lru_cache(maxsize=65536)
def stream_kind(stream: str) -> str | None:
    """check_new_stream's kind, None for a stream id a write may not create. Cached: a
    bulk append meets each stream many times."""
    try:
        return check_new_stream(stream)
    except ValidationError:
        return None


def model_uuid_of(stream: str) -> str | None:
    """The model a model, machine or unit stream belongs to (None for upgrade streams)."""
    kind, _, rest = stream.partition(":")
    if kind == MODEL:
        return rest
    if kind in (MACHINE, UNIT):
        return rest.partition(":")[0]
    return None
