"""The fixture logs, read through the projection read API, give the expected documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventstate.errors import NotFoundError
from eventstate.interchange import import_jsonl
from eventstate.store import EventStore
from projections import service
from projections.documents import MACHINE_KEYS, MODEL_KEYS
from tests.projections.test_runner_support import (
    FIXTURE_NAMES,
    FIXTURES,
    comparable,
    expected_documents,
    open_file_store,
)


@pytest.fixture(params=FIXTURE_NAMES)
def imported(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, EventStore]:
    store = open_file_store(tmp_path / "store.db")
    request.addfinalizer(store.close)
    import_jsonl(store, FIXTURES / f"{request.param}.jsonl")
    return request.param, store


def test_machines_and_models_are_the_expected_documents(imported: tuple[str, EventStore]) -> None:
    name, store = imported
    expected = expected_documents(name)
    assert comparable(service.machines(store)) == comparable(expected["machines"])
    assert service.models(store) == expected["models"]


def test_a_store_at_an_older_release_reads_in_the_3_0_shape(
    imported: tuple[str, EventStore],
) -> None:
    name, store = imported
    assert store.meta().release == name.split("-")[1]  # still 1.14 / 2.0: never upgraded
    for doc in service.machines(store):
        assert list(doc) == list(MACHINE_KEYS)
        assert "lxc" not in doc["id"] and doc["container_type"] in ("", "lxd", "kvm")
    for doc in service.models(store):
        assert list(doc) == list(MODEL_KEYS)
        assert not {"access-key", "secret-key", "password"} & set(doc["config"])


def test_one_model_and_one_machine(imported: tuple[str, EventStore]) -> None:
    name, store = imported
    expected = expected_documents(name)["machines"]
    uuid = expected[-1]["model_uuid"]
    of_model = [doc for doc in expected if doc["model_uuid"] == uuid]
    assert comparable(service.machines(store, uuid)) == comparable(of_model)
    for doc in of_model:
        assert comparable([service.machine(store, uuid, doc["id"])]) == comparable([doc])


def test_a_machine_is_found_by_its_1_x_container_id(imported: tuple[str, EventStore]) -> None:
    _, store = imported
    containers = [doc for doc in service.machines(store) if doc["container_type"] == "lxd"]
    assert containers, "the fixtures have lxc containers"
    doc = containers[0]
    old_id = doc["id"].replace("lxd", "lxc")
    assert service.machine(store, doc["model_uuid"], old_id) == doc


def test_unknown_machine_and_model_are_not_found(imported: tuple[str, EventStore]) -> None:
    _, store = imported
    uuid = service.models(store)[0]["model_uuid"]
    with pytest.raises(NotFoundError, match="machine 999 not found"):
        service.machine(store, uuid, "999")
    with pytest.raises(NotFoundError, match="model nope not found"):
        service.machines(store, "nope")
    with pytest.raises(NotFoundError, match="model nope not found"):
        service.machine(store, "nope", "0")


def test_another_process_reading_the_same_file_sees_the_same_documents(
    imported: tuple[str, EventStore],
) -> None:
    _name, store = imported
    first = service.machines(store)
    other = open_file_store(Path(store.backend.path))  # type: ignore[attr-defined]
    try:
        assert service.machines(other) == first
        assert service.models(other) == service.models(store)
    finally:
        other.close()
