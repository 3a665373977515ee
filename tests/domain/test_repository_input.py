"""The repository refuses a caller's mistake as one ValidationError line naming it,
before anything is written; the spellings it accepts read back as 3.0 documents."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from eventstate.errors import (
    ConcurrencyConflictError,
    EventStateError,
    NotFoundError,
    ValidationError,
)
from eventstate.repository import Repository
from eventstate.store import EventStore
from projections import service

BASE = "ubuntu@22.04"


@pytest.fixture
def repo(store: EventStore) -> Repository:
    return Repository(store)


@pytest.fixture
def model(repo: Repository) -> str:
    uuid = repo.create_model("prod", provider_type="ec2")
    repo.add_machine(uuid, base=BASE)  # machine 0
    return uuid


def _refused(
    store: EventStore,
    command: Callable[[], Any],
    message: str,
    error: type[EventStateError] = ValidationError,
) -> None:
    """`command` raises exactly `error` with the one-line `message` and writes nothing."""
    head = store.head()
    with pytest.raises(error) as caught:
        command()
    assert type(caught.value) is error
    text = str(caught.value)
    assert "\n" not in text
    assert re.search(message, text), text
    assert store.head() == head


# --- 1: a picked machine id another writer took meanwhile --------------------------------


def test_a_picked_id_taken_meanwhile_is_a_conflict_and_retried(
    repo: Repository, store: EventStore, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = repo._next_machine_id
    picks: list[str] = []

    def stale_listing(*args: Any) -> str:
        # The first listing predates another writer's add of machine 0.
        picks.append("0" if not picks else listed(*args))
        return picks[-1]

    monkeypatch.setattr(repo, "_next_machine_id", stale_listing)
    _refused(
        store,
        lambda: repo.add_machine(model, base=BASE),
        r"^concurrency conflict: machine:\S+:0 version 1 .*picked machine id 0",
        ConcurrencyConflictError,
    )
    picks.clear()
    retrying = repo.retrying()
    assert retrying.add_machine(model, base=BASE) == "1"
    assert picks == ["0", "1"]
    assert retrying.conflicts == 1
    # An id the caller gave is the caller's mistake: refused, not retried.
    _refused(
        store,
        lambda: retrying.add_machine(model, base=BASE, machine_id="0"),
        r"^machine 0 of model \S+ exists already$",
    )
    assert retrying.conflicts == 1


# --- 2: an explicit machine id agrees with parent and container_type ---------------------


def test_a_container_id_implies_its_parent_and_type(
    repo: Repository, store: EventStore, model: str
) -> None:
    assert repo.add_machine(model, base=BASE, machine_id="0/lxd/3") == "0/lxd/3"
    assert repo.add_machine(model, base=BASE, machine_id="0/kvm/1", container_type="kvm") == (
        "0/kvm/1"
    )
    assert (
        repo.add_machine(model, base=BASE, machine_id="0/lxd/4", parent="0", container_type="lxd")
        == "0/lxd/4"
    )
    assert repo.add_machine(model, base=BASE, machine_id="0/lxd/3/kvm/0") == "0/lxd/3/kvm/0"
    for machine_id, parent, container_type in (
        ("0/lxd/3", "0", "lxd"),
        ("0/kvm/1", "0", "kvm"),
        ("0/lxd/4", "0", "lxd"),
        ("0/lxd/3/kvm/0", "0/lxd/3", "kvm"),
    ):
        state = repo.get_machine(model, machine_id)
        assert (state["id"], state["parent"], state["container_type"]) == (
            machine_id,
            parent,
            container_type,
        )
        doc = service.machine(store, model, machine_id)
        assert (doc["parent"], doc["container_type"]) == (parent, container_type)
    assert service.machine(store, model, "0")["containers"] == ["0/kvm/1", "0/lxd/3", "0/lxd/4"]
    # The next picked number follows the ones given.
    assert repo.add_machine(model, base=BASE, parent="0", container_type="lxd") == "0/lxd/5"


def test_an_explicit_machine_id_that_disagrees_is_refused(
    repo: Repository, store: EventStore, model: str
) -> None:
    repo.add_machine(model, base=BASE)  # machine 1
    repo.set_supported_containers(model, "1", ["kvm"])
    repo.set_machine_life(model, "1", "dying")
    cases: list[tuple[dict[str, Any], str, type[EventStateError]]] = [
        (
            {"machine_id": "7", "parent": "0", "container_type": "lxd"},
            r"^machine_id '7' is not a container: it takes no parent or container_type$",
            ValidationError,
        ),
        (
            {"machine_id": "7", "container_type": "lxd"},
            r"^machine_id '7' is not a container",
            ValidationError,
        ),
        (
            {"machine_id": "0/lxd/9", "parent": "0", "container_type": "kvm"},
            r"^machine_id '0/lxd/9' is a container of type lxd, not kvm$",
            ValidationError,
        ),
        (
            {"machine_id": "0/lxd/9", "parent": "1", "container_type": "lxd"},
            r"^machine_id '0/lxd/9' is a container of machine 0, not of 1$",
            ValidationError,
        ),
        (
            {"machine_id": "0/lxd"},
            r"^machine_id '0/lxd' must look like 4 or 0/lxd/3$",
            ValidationError,
        ),
        (
            {"machine_id": "0/lxe/1"},
            r"^machine_id '0/lxe/1' must look like",
            ValidationError,
        ),
        ({"machine_id": "01"}, r"^machine_id '01' must look like", ValidationError),
        ({"machine_id": ""}, r"^machine_id '' must look like", ValidationError),
        # The host checks a parent gets: it exists, is alive, supports the type.
        (
            {"machine_id": "3/lxd/5"},
            r"^machine 3 of model \S+ does not exist$",
            NotFoundError,
        ),
        (
            {"machine_id": "1/kvm/0"},
            r"^cannot add a container to machine 1: it is dying$",
            ValidationError,
        ),
    ]
    for kwargs, message, error in cases:
        _refused(store, lambda kw=kwargs: repo.add_machine(model, base=BASE, **kw), message, error)
    repo.set_supported_containers(model, "0", ["kvm"])
    _refused(
        store,
        lambda: repo.add_machine(model, base=BASE, machine_id="0/lxd/2"),
        r"^machine 0 does not support lxd containers \(supports \['kvm'\]\)$",
    )
    assert [doc["id"] for doc in service.machines(store, model)] == ["0", "1"]


# --- 3: addresses given as maps -------------------------------------------------------------


def test_address_maps_are_checked_like_plain_addresses(
    repo: Repository, store: EventStore, model: str
) -> None:
    cases: list[tuple[Any, str]] = [
        (
            {"value": "not an ip", "type": "ipv4", "scope": "public"},
            r"^address 'not an ip' is neither an IP address nor a valid host name$",
        ),
        (
            {"value": "10.0.0.1", "type": "hostname", "scope": "public"},
            r"^address '10.0.0.1' is of type ipv4, not 'hostname'$",
        ),
        ({"value": "10.0.0.1", "type": "ipv4"}, r"^address '10.0.0.1' has no scope$"),
        (
            {"value": "10.0.0.1", "scope": "public", "origin": "machine"},
            r"^address '10.0.0.1' has no type, unexpected key 'origin'$",
        ),
        (
            {"value": "10.0.0.1", "type": "ipv4", "scope": "galaxy"},
            r"^address '10.0.0.1' has scope 'galaxy', not one of public, local-cloud, "
            r"local-machine, link-local$",
        ),
        (
            {"value": "10.0.0.1", "type": "ipv4", "scope": "public", "space_id": 2},
            r"^address '10.0.0.1' has space_id 2, not a non-empty string$",
        ),
        ({"type": "ipv4", "scope": "public"}, r"^address \{.*\} needs a string value$"),
        ({"value": 1234, "type": "ipv4"}, r"^address \{.*\} needs a string value$"),
        (1234, r"^address 1234 must be a string or a map \{value, type, scope\}$"),
        (None, r"^address None must be a string or a map"),
        ("not an address!", r"^address 'not an address!' is neither an IP address"),
    ]
    for address, message in cases:
        _refused(store, lambda a=address: repo.set_machine_addresses(model, "0", [a]), message)
    _refused(
        store,
        lambda: repo.set_machine_addresses(model, "0", "10.0.0.1"),
        r"^addresses must be a list, not the string '10.0.0.1'$",
    )
    # A provider may set the scope; space_id defaults to the default space.
    repo.set_machine_addresses(
        model,
        "0",
        [
            {"value": "10.0.0.1", "type": "ipv4", "scope": "public"},
            {"value": "fe80::1", "type": "ipv6", "scope": "link-local", "space_id": "2"},
            "db.internal",
        ],
    )
    assert [
        (a["value"], a["type"], a["scope"], a["space_id"])
        for a in repo.get_machine(model, "0")["addresses"]
    ] == [
        ("10.0.0.1", "ipv4", "public", "0"),
        ("fe80::1", "ipv6", "link-local", "2"),
        ("db.internal", "hostname", "local-cloud", "0"),
    ]
    assert service.machine(store, model, "0")["preferred_public_address"] == "10.0.0.1"


def test_no_bad_input_is_blamed_on_a_stored_event(
    repo: Repository, store: EventStore, model: str
) -> None:
    """Payload checks run before an aggregate folds its pending event: a bad value that
    passes the repository's own checks is still a ValidationError, not a CorruptEventError."""
    version = f"machine:{model}:0 version 2"
    _refused(
        store,
        lambda: repo.provision_machine(
            model, "0", instance_id="i-1", nonce="n", hardware={"tags": None}
        ),
        rf"^{version}: MachineProvisioned: field 'instance.hardware.tags' must be a list",
    )
    _refused(
        store,
        lambda: repo.set_machine_addresses(model, "0", ["10.0.0.1"], origin="nowhere"),
        rf"^{version}: MachineAddressesSet: field 'origin' must be one of",
    )
    _refused(
        store,
        lambda: repo.change_model_config(model, {"default-base": 5}),
        r"^model:\S+ version 2: ModelConfigChanged: field 'set\['default-base'\]' must be",
    )
    # An aggregate used directly (as upgrade steps and tests do) checks before it folds,
    # and keeps neither the event nor its effect.
    machine = repo.load_machine(model, "0")
    for addresses, message in (
        ([{"value": "10.0.0.1", "type": "ipv4"}], r"'addresses\[0\]' has missing scope"),
        (None, r"'addresses' must be a list, got None"),
    ):
        with pytest.raises(ValidationError, match=rf"^{version}: MachineAddressesSet: .*{message}"):
            machine.set_addresses(addresses)
        assert machine.pending == []
        assert machine.require()["addresses"] == []


# --- 4: model uuids ---------------------------------------------------------------------------


def test_model_uuids_are_canonical(repo: Repository, store: EventStore) -> None:
    canonical = "5f1c2a34-0c4d-4e8b-9a1f-2b3c4d5e6f70"
    for bad in (
        "not-a-uuid",
        canonical.upper(),
        "{" + canonical + "}",
        canonical.replace("-", ""),
        "urn:uuid:" + canonical,
        "",
    ):
        _refused(
            store,
            lambda u=bad: repo.create_model("m", provider_type="ec2", model_uuid=u),
            rf"^model_uuid {re.escape(repr(bad))} must be a lowercase uuid like ",
        )
    _refused(
        store,
        lambda: repo.create_model("m", provider_type="ec2", model_uuid=5),
        r"^model_uuid 5 must be a lowercase uuid",
    )
    assert repo.create_model("m", provider_type="ec2", model_uuid=canonical) == canonical
    assert repo.get_model(canonical)["model_uuid"] == canonical
    assert service.model(store, canonical)["name"] == "m"


# --- 5: wrong-typed arguments ----------------------------------------------------------------


def test_wrong_typed_arguments_are_named(repo: Repository, store: EventStore, model: str) -> None:
    r, m = repo, model
    cases: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: r.add_machine(m, base=BASE, machine_id=5),
            r"^machine_id must be a string, got 5$",
        ),
        (
            lambda: r.add_machine(m, base=None),
            r"^base must be like 'ubuntu@22.04' or \{os, channel\}, got None$",
        ),
        (
            lambda: r.add_machine(m, base={"os": None, "channel": "22.04/stable"}),
            r"^base os must be a string, got None$",
        ),
        (lambda: r.add_machine(m, base=BASE, jobs=None), r"^jobs must be a list, got None$"),
        (
            lambda: r.add_machine(m, base=BASE, jobs="JobHostUnits"),
            r"^jobs must be a list, not the string 'JobHostUnits'$",
        ),
        (
            lambda: r.add_machine(m, base=BASE, jobs=["JobHostUnits", 3]),
            r"^jobs must be a list of strings, got item 3$",
        ),
        (
            lambda: r.add_machine(m, base=BASE, parent=0, container_type="lxd"),
            r"^parent must be a string, got 0$",
        ),
        (lambda: r.add_machine(m, base=BASE, nonce=None), r"^nonce must be a string, got None$"),
        (lambda: r.change_model_config(m, unset="abc"), r"^unset must be a list, not the string"),
        (lambda: r.change_model_config(m, ["a"]), r"^set must be a map, got \['a'\]$"),
        (
            lambda: r.create_model("m", provider_type="ec2", config=[("a", 1)]),
            r"^config must be a map, got \[\('a', 1\)\]$",
        ),
        (
            lambda: r.create_model("m", provider_type="ec2", config={1: "x"}),
            r"^config keys must be strings, got 1$",
        ),
        (
            lambda: r.create_model("m", provider_type=["ec2"]),
            r"^provider_type must be a string, got \['ec2'\]$",
        ),
        (lambda: r.create_model(None, provider_type="ec2"), r"^name must be a string, got None$"),
        (lambda: r.set_model_agent_version(m, 3), r"^version must be a string, got 3$"),
        (
            lambda: r.provision_machine(m, "0", instance_id="i", nonce="n", hardware=["arch"]),
            r"^hardware must be a map, got \['arch'\]$",
        ),
        (
            lambda: r.provision_machine(m, "0", instance_id="i", nonce="n", keep_instance=1),
            r"^keep_instance must be true or false, got 1$",
        ),
        (
            lambda: r.set_machine_agent_binary(m, "0", version="3.0.0-ubuntu-amd64", size="1"),
            r"^size must be an integer >= 0, got '1'$",
        ),
        (lambda: r.set_machine_life(m, "0", ["dead"]), r"^life must be a string, got \['dead'\]$"),
        (
            lambda: r.destroy_machine(m, "0", force="yes"),
            r"^force must be true or false, got 'yes'$",
        ),
        (
            lambda: r.set_supported_containers(m, "0", "lxd"),
            r"^types must be a list, not the string 'lxd'$",
        ),
        (lambda: r.get_machine(m, 0), r"^machine_id must be a string, got 0$"),
        (lambda: r.get_model(None), r"^model_uuid must be a string, got None$"),
        (lambda: r.assign_unit(m, 7, "0"), r"^unit_name must be a string, got 7$"),
        (lambda: r.assign_unit(m, "foo/7", None), r"^machine_id must be a string, got None$"),
        (lambda: r.destroy_unit(m, None), r"^unit_name must be a string, got None$"),
    ]
    for command, message in cases:
        _refused(store, command, message)
    # The retrying API refuses the same way, without retrying.
    retrying = repo.retrying()
    _refused(store, lambda: retrying.add_machine(m, base=None), r"^base must be like")
    assert retrying.conflicts == 0


# --- 7: 1.x container spellings --------------------------------------------------------------


def test_1_x_container_spellings_are_accepted(store: EventStore) -> None:
    from eventstate.interchange import import_jsonl
    from eventstate.upgrade.runner import run_upgrade
    from tests.golden import FIXTURES

    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    run_upgrade(store)
    repo = Repository(store)
    uuid = "73f778aa-f6fa-4db8-a56a-bd72fb710734"
    legacy = f"machine:{uuid}:1/lxc/1"
    assert repo.get_machine(uuid, "1/lxc/1") == repo.get_machine(uuid, "1/lxd/1")
    assert repo.get_machine(uuid, "1/lxc/1")["id"] == "1/lxd/1"
    head = store.read_stream(legacy)[-1].version
    repo.set_machine_addresses(uuid, "1/lxc/1", ["10.0.3.8"])
    repo.assign_unit(uuid, "foo/7", "1/lxc/1")
    assert store.read_stream(legacy)[-1].version == head + 1  # same old stream
    assert store.read_stream(f"machine:{uuid}:1/lxd/1") == []
    assert store.read_stream(f"unit:{uuid}:foo/7")[-1].data["machine_id"] == "1/lxd/1"
    doc = service.machine(store, uuid, "1/lxc/1")
    assert doc["principals"] == ["foo/7"]
    assert doc["addresses"][0]["value"] == "10.0.3.8"
    # A container given in the 1.x spelling is added under its 3.0 id.
    maas = "db5b5fab-8f4d-4e27-9da1-494c73cf256d"
    assert repo.add_machine(maas, base=BASE, machine_id="0/lxc/5") == "0/lxd/5"
    assert repo.add_machine(maas, base=BASE, parent="0", container_type="lxd") == "0/lxd/6"
    _refused(
        store,
        lambda: repo.add_machine(maas, base=BASE, machine_id="0/lxd/0"),
        rf"^machine 0/lxd/0 of model {maas} exists already$",  # the 1.x 0/lxc/0
    )
    assert service.machine(store, maas, "0/lxd/5")["parent"] == "0"
