"""`iter_history`: selections, type filters by old and new names, times, raw vs upcast.

Expected positions come from reading the fixture file directly (audit_support's
`fixture_events`: the position of an event is its line number).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from eventstate.audit import iter_history
from eventstate.errors import NotFoundError, UnknownEventTypeError, ValidationError
from eventstate.store import EventStore
from eventstate.timeutil import parse_iso_us
from tests.audit.audit_support import AZURE, MAAS, MANUAL, fixture_events, legacy_store, opened


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    url = legacy_store(tmp_path_factory.mktemp("history"), projected=False)
    with opened(url) as opened_store:
        yield opened_store


def positions(events: Any) -> list[int]:
    return [event.position for event in events]


def where(test: Any) -> list[int]:
    return [e["position"] for e in fixture_events() if test(e)]


def test_the_whole_log_oldest_first(store: EventStore) -> None:
    assert positions(iter_history(store)) == list(range(1, 141))


def test_one_machine_raw_and_upcast(store: EventStore) -> None:
    stream = f"machine:{MAAS}:3"
    raw = list(iter_history(store, stream, raw=True))
    assert positions(raw) == [16, 61, 62, 63, 64]
    assert [(e.type, e.schema) for e in raw] == [
        ("MachineAdded", 1),
        ("MachineProvisioned", 1),
        ("MachineAddressesSet", 1),
        ("MachineAgentToolsSet", 1),
        ("MachineSupportedContainersSet", 1),
    ]
    assert raw[1].data["characteristics"] == "arch=i386 cpu-cores=2 mem=1740M root-disk=8G"
    upcast = list(iter_history(store, stream))
    assert [(e.type, e.schema) for e in upcast] == [
        ("MachineAdded", 6),
        ("MachineProvisioned", 4),
        ("MachineAddressesSet", 3),
        ("MachineAgentBinarySet", 2),
        ("MachineSupportedContainersSet", 2),
    ]
    assert upcast[0].data["base"] == {"os": "ubuntu", "channel": "12.04/stable"}
    assert [e.recorded_at for e in upcast] == [e.recorded_at for e in raw]


def test_a_container_by_its_3_0_id_finds_its_1_x_stream(store: EventStore) -> None:
    events = list(iter_history(store, f"machine:{AZURE}:1/lxd/1"))
    assert positions(events) == [19, 54, 55, 56]
    assert {e.stream for e in events} == {f"machine:{AZURE}:1/lxc/1"}  # stored ids stay


def test_a_unit_and_a_model_stream(store: EventStore) -> None:
    assert positions(iter_history(store, f"unit:{AZURE}:wordpress/0")) == [118, 137]
    assert positions(iter_history(store, f"model:{MANUAL}")) == [5, 6, 125, 126]


def test_a_model_with_everything_in_it(store: EventStore) -> None:
    expected = where(lambda e: MANUAL in e["stream"])
    assert len(expected) == 23
    assert positions(iter_history(store, model=MANUAL)) == expected
    assert positions(iter_history(store, MANUAL)) == expected  # a bare uuid as STREAM
    # A stream and its own model: just the stream.
    assert positions(iter_history(store, f"machine:{MANUAL}:1", model=MANUAL)) == [
        23,
        106,
        107,
        108,
    ]


@pytest.mark.parametrize("name", ["EnvironmentCreated", "ModelCreated"])
def test_a_type_by_its_old_or_new_name(store: EventStore, name: str) -> None:
    upcast = list(iter_history(store, types=[name]))
    assert positions(upcast) == [1, 3, 5, 7, 9]
    assert {e.type for e in upcast} == {"ModelCreated"}
    raw = list(iter_history(store, types=[name], raw=True))
    assert {e.type for e in raw} == {"EnvironmentCreated"}


def test_several_types_in_one_model(store: EventStore) -> None:
    events = iter_history(store, model=AZURE, types=["MachineAgentBinarySet", "UnitDestroyed"])
    expected = where(
        lambda e: AZURE in e["stream"] and e["type"] in ("MachineAgentToolsSet", "UnitDestroyed")
    )
    assert positions(events) == expected and expected


def test_retired_events_are_found_by_their_upcast_type(store: EventStore) -> None:
    # 1.14 config changes holding only deprecated keys retire at 1.18.
    retired = list(iter_history(store, types=["EventRetired"]))
    assert positions(retired) == [116, 120, 125, 129, 134]
    assert {e.data["original_type"] for e in retired} == {"EnvironConfigChanged"}
    assert list(iter_history(store, types=["EventRetired"], raw=True)) == []
    # Their own type's name still selects them too (with the ones that did not retire).
    changed = list(iter_history(store, types=["ModelConfigChanged"]))
    assert positions(changed) == where(lambda e: e["type"] == "EnvironConfigChanged")


def test_since_and_until_are_inclusive(store: EventStore) -> None:
    events = fixture_events()
    t139 = parse_iso_us(events[138]["recorded_at"])
    t2 = parse_iso_us(events[1]["recorded_at"])
    assert positions(iter_history(store, since=t139)) == [139, 140]
    assert positions(iter_history(store, until=t2)) == [1, 2]
    assert positions(iter_history(store, since=t2, until=t2)) == [2]
    window = iter_history(store, f"machine:{MAAS}:3", since=parse_iso_us("2013-08-01T14:00:00Z"))
    assert positions(window) == [62, 63, 64]


def test_history_is_lazy(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = []
    unpack = store.codec.unpack

    def counting(state: bytes) -> Any:
        decoded.append(state)
        return unpack(state)

    monkeypatch.setattr(store.codec, "unpack", counting)
    events = iter_history(store)
    assert decoded == []
    next(events)
    assert len(decoded) == 1  # one event read, one payload decoded


def test_bad_selections_are_refused(store: EventStore) -> None:
    with pytest.raises(UnknownEventTypeError, match="NoSuchType"):
        iter_history(store, types=["NoSuchType"])
    with pytest.raises(ValidationError, match="not in model"):
        iter_history(store, f"machine:{MAAS}:0", model=AZURE)
    with pytest.raises(ValidationError, match="malformed stream id"):
        iter_history(store, "machine:only-a-uuid")
    with pytest.raises(NotFoundError):
        iter_history(store, f"machine:{MAAS}:99")
    with pytest.raises(NotFoundError):
        iter_history(store, model="00000000-0000-0000-0000-000000000000")
