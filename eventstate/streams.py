"""Stream ids (events.md, "Envelope"): building and parsing them in one place."""

from __future__ import annotations

from typing import NamedTuple

from eventstate.errors import ValidationError

MODEL = "model"
MACHINE = "machine"
UNIT = "unit"
UPGRADE = "upgrade"
KINDS = (MODEL, MACHINE, UNIT, UPGRADE)


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


def model_uuid_of(stream: str) -> str | None:
    """The model a model, machine or unit stream belongs to (None for upgrade streams)."""
    kind, _, rest = stream.partition(":")
    if kind == MODEL:
        return rest
    if kind in (MACHINE, UNIT):
        return rest.partition(":")[0]
    return None
