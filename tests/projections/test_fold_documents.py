"""The document helpers the fold stands on: ids, stream ids, times, the provider table."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from eventstate.domain.catalogue import CURRENT_SCHEMAS
from eventstate.errors import CorruptEventError, ValidationError
from projections import Fold, MemoryDocumentSet
from projections.documents import (
    MACHINE_KEYS,
    PROVIDER_CAPABILITIES,
    capabilities_for,
    current_machine_id,
    format_timestamp_us,
    machine_sort_key,
    new_machine_document,
    parent_and_container_type,
    parse_machine_stream,
    parse_model_stream,
    parse_unit_stream,
    release_sort_key,
)

U = "0b8c7d6e-0000-4000-8000-00000000000a"


def test_machine_ids_sort_numerically_segment_by_segment() -> None:
    ids = ["10", "0/lxd/10", "2", "0/lxd/2", "0", "0/kvm/1/lxd/0", "0/kvm/1", "1", "0/lxd/2/kvm/0"]
    assert sorted(ids, key=machine_sort_key) == [
        "0",
        "0/kvm/1",
        "0/kvm/1/lxd/0",
        "0/lxd/2",
        "0/lxd/2/kvm/0",
        "0/lxd/10",
        "1",
        "2",
        "10",
    ]


def test_a_malformed_id_still_sorts() -> None:
    assert sorted(["a", "1", "0/x"], key=machine_sort_key) == ["0/x", "1", "a"]


@pytest.mark.parametrize(
    ("machine_id", "parent", "container_type"),
    [("4", None, ""), ("0/lxd/1", "0", "lxd"), ("0/kvm/1/lxd/2", "0/kvm/1", "lxd")],
)
def test_parent_and_container_type(
    machine_id: str, parent: str | None, container_type: str
) -> None:
    assert parent_and_container_type(machine_id) == (parent, container_type)
    doc = new_machine_document(U, machine_id)
    assert (doc["parent"], doc["container_type"]) == (parent, container_type)
    assert tuple(doc) == MACHINE_KEYS


def test_new_documents_do_not_share_their_lists() -> None:
    first, second = new_machine_document(U, "1"), new_machine_document(U, "2")
    for key in ("jobs", "containers", "addresses", "principals", "pending_upgrade_actions"):
        assert first[key] is not second[key]


@pytest.mark.parametrize(
    ("stored", "current"),
    [
        ("0", "0"),
        ("0/lxc/1", "0/lxd/1"),
        ("0/lxc/1/lxc/2", "0/lxd/1/lxd/2"),
        ("0/kvm/3", "0/kvm/3"),
    ],
)
def test_stream_ids_written_by_1x_read_as_3_0_ids(stored: str, current: str) -> None:
    assert current_machine_id(stored) == current
    assert parse_machine_stream(f"machine:{U}:{stored}") == (U, current)


def test_stream_id_parsing() -> None:
    assert parse_model_stream(f"model:{U}") == U
    assert parse_unit_stream(f"unit:{U}:wordpress/0") == (U, "wordpress/0")
    for bad in ("model:", f"machine:{U}", "upgrade:x", f"unit:{U}:"):
        with pytest.raises(ValidationError, match="stream id"):
            parse_machine_stream(bad)
        with pytest.raises(ValidationError, match="stream id"):
            parse_unit_stream(bad)
    with pytest.raises(ValidationError, match="stream id"):
        parse_model_stream(f"machine:{U}:0")


def test_times_are_iso_utc_with_microseconds() -> None:
    assert format_timestamp_us(0) == "1970-01-01T00:00:00.000000+00:00"
    assert format_timestamp_us(1_375_379_801_652_228) == "2013-08-01T17:56:41.652228+00:00"


def test_capabilities_table_and_unknown_providers() -> None:
    assert set(PROVIDER_CAPABILITIES) == {
        "local", "manual", "null", "maas", "ec2", "openstack", "azure", "gce", "joyent", "lxd",
    }  # fmt: skip
    assert (
        capabilities_for("vsphere")
        == capabilities_for(None)
        == {
            "can_start_instances": False,
            "has_firewall": False,
            "needs_local_storage": False,
        }
    )
    assert capabilities_for("lxd") is not capabilities_for("lxd")  # one per model


def test_releases_order_by_number() -> None:
    releases = ["2.0", "1.18", "3.0", "1.16", "2.7", "1.21"]
    assert sorted(releases, key=release_sort_key) == ["1.16", "1.18", "1.21", "2.0", "2.7", "3.0"]


@pytest.fixture
def collector_state() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.usefixtures("collector_state")
@pytest.mark.parametrize("enabled_before", [True, False])
def test_the_collector_is_as_it_was_after_a_batch(enabled_before: bool) -> None:
    if enabled_before:
        gc.enable()
    else:
        gc.disable()
    Fold(MemoryDocumentSet()).apply(f"model:{U}", 1, "AgentVersionSet", {"version": "3"}, 0)
    assert gc.isenabled() is enabled_before
    with pytest.raises(
        CorruptEventError, match="payload cannot be folded"
    ):  # restored after errors
        Fold(MemoryDocumentSet()).apply(f"model:{U}", 1, "AgentVersionSet", {}, 0)
    assert gc.isenabled() is enabled_before


@pytest.mark.usefixtures("collector_state")
def test_pause_gc_can_be_turned_off() -> None:
    gc.enable()
    seen: list[bool] = []

    class Spy(MemoryDocumentSet):
        def put_model(self, doc: dict[str, Any]) -> None:
            seen.append(gc.isenabled())
            super().put_model(doc)

    Fold(Spy(), pause_gc=False).apply(f"model:{U}", 1, "AgentVersionSet", {"version": "3"}, 0)
    Fold(Spy()).apply(f"model:{U}", 1, "AgentVersionSet", {"version": "3"}, 0)
    assert seen == [True, False]


def test_event_types_are_the_3_0_catalogue() -> None:
    assert Fold(MemoryDocumentSet()).event_types == set(CURRENT_SCHEMAS)
