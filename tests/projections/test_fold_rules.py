"""One rule of documents.md per test: every key of the machine and model documents."""

from __future__ import annotations

from typing import Any

import pytest

from eventstate.errors import UnknownEventTypeError, ValidationError
from projections import FOLD_CODE_MODULES, MACHINE_KEYS, MODEL_KEYS, Fold, MemoryDocumentSet
from projections.fold import EventTuple
from tests.projections.fold_support import LogBuilder, iso

M = "11111111-1111-1111-1111-111111111111"
M2 = "22222222-2222-2222-2222-222222222222"


def fold(events: list[EventTuple]) -> MemoryDocumentSet:
    docs = MemoryDocumentSet()
    assert Fold(docs).apply_many(events) == len(events)
    return docs


def machine(docs: MemoryDocumentSet, machine_id: str, uuid: str = M) -> dict[str, Any]:
    doc = docs.get_machine(uuid, machine_id)
    assert doc is not None, f"no document for machine {machine_id}"
    return doc


def model(docs: MemoryDocumentSet, uuid: str = M) -> dict[str, Any]:
    doc = docs.get_model(uuid)
    assert doc is not None
    return doc


@pytest.fixture
def log() -> LogBuilder:
    builder = LogBuilder()
    builder.model_created(M, "ec2")
    return builder


# --- document shape --------------------------------------------------------------------


def test_documents_hold_exactly_the_documented_keys(log: LogBuilder) -> None:
    log.machine_added(M, "0")
    log.machine_added(M, "0/lxd/0")
    log.unit_assigned(M, "mysql/0", "0/lxd/0")
    docs = fold(log.events)
    for doc in docs.machines():
        assert sorted(doc) == sorted(MACHINE_KEYS)
    assert sorted(model(docs)) == sorted(MODEL_KEYS)


def test_a_new_machine_has_the_defaults_of_an_unprovisioned_machine(log: LogBuilder) -> None:
    added = log.machine_added(M, "4", constraints="mem=4G", placement="zone=a")
    doc = machine(fold(log.events), "4")
    assert doc == {
        "model_uuid": M,
        "id": "4",
        "life": "alive",
        "jobs": ["JobHostUnits"],
        "is_controller": False,
        "base": {"os": "ubuntu", "channel": "22.04/stable"},
        "container_type": "",
        "parent": None,
        "containers": [],
        "nonce": "",
        "is_manual": False,
        "instance": None,
        "addresses": [],
        "preferred_public_address": None,
        "preferred_private_address": None,
        "agent_version": None,
        "agent_binary": None,
        "supported_containers": None,
        "principals": [],
        "clean": True,
        "constraints": "mem=4G",
        "placement": "zone=a",
        "pending_upgrade_actions": [],
        "stream_version": 1,
        "updated_at": iso(added[5]),
    }


def test_fold_code_modules_import() -> None:
    import importlib

    for name in FOLD_CODE_MODULES:
        assert importlib.import_module(name).__file__


# --- machine keys ----------------------------------------------------------------------


def test_id_of_a_stream_written_by_1x_is_the_3_0_id(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.machine_added(M, "1/lxd/2", stream_machine_id="1/lxc/2")
    log.addresses_set(M, "1/lxc/2", [("10.0.0.1", "ipv4", "local-cloud")])
    docs = fold(log.events)
    container = machine(docs, "1/lxd/2")
    assert container["preferred_private_address"] == "10.0.0.1"
    assert container["stream_version"] == 2
    assert machine(docs, "1")["containers"] == ["1/lxd/2"]
    assert docs.get_machine(M, "1/lxc/2") is None


def test_jobs_are_sorted_and_a_manage_job_makes_a_controller(log: LogBuilder) -> None:
    log.machine_added(M, "0", jobs=["JobManageModel", "JobHostUnits"])
    log.machine_added(M, "1", jobs=["JobHostUnits"])
    docs = fold(log.events)
    assert machine(docs, "0")["jobs"] == ["JobHostUnits", "JobManageModel"]
    assert machine(docs, "0")["is_controller"] is True
    assert machine(docs, "1")["is_controller"] is False


def test_container_type_and_parent_come_from_the_id(log: LogBuilder) -> None:
    log.machine_added(M, "0")
    log.machine_added(M, "0/kvm/1")
    log.machine_added(M, "0/kvm/1/lxd/0")
    docs = fold(log.events)
    assert (machine(docs, "0")["container_type"], machine(docs, "0")["parent"]) == ("", None)
    assert (machine(docs, "0/kvm/1")["container_type"], machine(docs, "0/kvm/1")["parent"]) == (
        "kvm",
        "0",
    )
    nested = machine(docs, "0/kvm/1/lxd/0")
    assert (nested["container_type"], nested["parent"]) == ("lxd", "0/kvm/1")
    assert machine(docs, "0/kvm/1")["containers"] == ["0/kvm/1/lxd/0"]


def test_containers_sort_numerically(log: LogBuilder) -> None:
    log.machine_added(M, "0")
    for number in (10, 2, 1):
        log.machine_added(M, f"0/lxd/{number}")
    log.machine_added(M, "0/kvm/3")
    docs = fold(log.events)
    assert machine(docs, "0")["containers"] == ["0/kvm/3", "0/lxd/1", "0/lxd/2", "0/lxd/10"]


def test_containers_of_the_parent_do_not_change_its_stream_version(log: LogBuilder) -> None:
    parent = log.machine_added(M, "0")
    log.machine_added(M, "0/lxd/0")
    doc = machine(fold(log.events), "0")
    assert (doc["stream_version"], doc["updated_at"]) == (1, iso(parent[5]))


def test_a_dead_container_stays_in_its_parents_containers(log: LogBuilder) -> None:
    log.machine_added(M, "0")
    log.machine_added(M, "0/lxd/0")
    log.life_changed(M, "0/lxd/0", "dying")
    log.life_changed(M, "0/lxd/0", "dead")
    docs = fold(log.events)
    assert machine(docs, "0")["containers"] == ["0/lxd/0"]
    assert machine(docs, "0/lxd/0")["life"] == "dead"


def test_a_container_before_its_parent_makes_a_stub_that_the_parent_fills(
    log: LogBuilder,
) -> None:
    log.machine_added(M, "3/lxd/0")
    stub = machine(fold(log.events), "3")
    assert stub["containers"] == ["3/lxd/0"]
    assert (stub["stream_version"], stub["updated_at"]) == (0, None)
    assert model(fold(log.events))["machine_count"] == 1  # a stub is not a machine yet

    added = log.machine_added(M, "3", constraints="mem=8G")
    docs = fold(log.events)
    parent = machine(docs, "3")
    assert parent["containers"] == ["3/lxd/0"]
    assert parent["constraints"] == "mem=8G"
    assert (parent["stream_version"], parent["updated_at"]) == (1, iso(added[5]))
    assert model(docs)["machine_count"] == 2


def test_nonce_is_the_provisioned_one(log: LogBuilder) -> None:
    log.machine_added(M, "1", nonce="added-nonce")
    assert machine(fold(log.events), "1")["nonce"] == "added-nonce"
    log.machine_provisioned(M, "1", nonce="machine-1:abc")
    assert machine(fold(log.events), "1")["nonce"] == "machine-1:abc"
    log.machine_added(M, "1", nonce="added-again")  # a repeated MachineAdded
    assert machine(fold(log.events), "1")["nonce"] == "machine-1:abc"


@pytest.mark.parametrize(
    ("provider_type", "machine_id", "nonce", "expected"),
    [
        ("ec2", "1", "manual:10.0.0.1", True),
        ("ec2", "1", "machine-1:x", False),
        ("ec2", "0", "", False),
        ("manual", "0", "", True),
        ("null", "0", "machine-0:x", True),
        ("manual", "1", "", False),
        ("null", "0/lxd/0", "", False),
    ],
)
def test_is_manual(provider_type: str, machine_id: str, nonce: str, expected: bool) -> None:
    log = LogBuilder()
    log.model_created(M, provider_type)
    if "/" in machine_id:
        log.machine_added(M, machine_id.split("/")[0])
    log.machine_added(M, machine_id, nonce=nonce)
    assert machine(fold(log.events), machine_id)["is_manual"] is expected


def test_is_manual_follows_the_provisioned_nonce(log: LogBuilder) -> None:
    log.machine_added(M, "1", nonce="manual:10.0.0.1")
    log.machine_provisioned(M, "1", nonce="machine-1:abc")
    assert machine(fold(log.events), "1")["is_manual"] is False


def test_machine_zero_before_its_manual_model_is_manual_once_the_model_arrives() -> None:
    log = LogBuilder()
    log.machine_added(M, "0")
    assert machine(fold(log.events), "0")["is_manual"] is False
    log.model_created(M, "manual")
    docs = fold(log.events)
    assert machine(docs, "0")["is_manual"] is True
    assert model(docs)["machine_count"] == 1
    assert model(docs)["name"] == "default"


def test_instance_is_null_until_provisioned(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    assert machine(fold(log.events), "1")["instance"] is None
    provisioned = log.machine_provisioned(M, "1", instance_id="i-42")
    instance = provisioned[6]["instance"]
    assert machine(fold(log.events), "1")["instance"] == {
        "instance_id": "i-42",
        "display_name": "",
        "keep_instance": False,
        "hardware": instance["hardware"],
    }


def test_addresses_are_the_last_set_with_origin_on_each(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.addresses_set(M, "1", [("10.0.0.1", "ipv4", "local-cloud")])
    log.addresses_set(
        M,
        "1",
        [
            ("fe80::1", "ipv6", "link-local"),
            ("10.0.0.2", "ipv4", "local-cloud"),
            ("54.0.0.1", "ipv4", "public"),
            ("10.0.0.3", "ipv4", "local-cloud"),
            ("host.example.com", "hostname", "public"),
        ],
    )
    doc = machine(fold(log.events), "1")
    assert [a["value"] for a in doc["addresses"]] == [
        "fe80::1",
        "10.0.0.2",
        "54.0.0.1",
        "10.0.0.3",
        "host.example.com",
    ]
    assert doc["addresses"][0] == {
        "value": "fe80::1",
        "type": "ipv6",
        "scope": "link-local",
        "origin": "provider",
        "space_id": "0",
    }
    assert doc["preferred_public_address"] == "54.0.0.1"
    assert doc["preferred_private_address"] == "10.0.0.2"


def test_preferred_addresses_are_null_without_a_matching_scope(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.addresses_set(M, "1", [("127.0.0.1", "ipv4", "local-machine")])
    doc = machine(fold(log.events), "1")
    assert doc["preferred_public_address"] is None
    assert doc["preferred_private_address"] is None


@pytest.mark.parametrize(
    ("binary", "version"),
    [
        ("3.0.0-ubuntu-amd64", "3.0.0"),
        ("1.14.1-centos-arm64", "1.14.1"),
        ("2.9-rc1-ubuntu-amd64", "2.9-rc1"),
    ],
)
def test_agent_version_is_the_number_of_the_last_binary(
    log: LogBuilder, binary: str, version: str
) -> None:
    log.machine_added(M, "1")
    log.agent_binary_set(M, "1", "1.0.0-ubuntu-amd64")
    log.agent_binary_set(M, "1", binary)
    doc = machine(fold(log.events), "1")
    assert (doc["agent_binary"], doc["agent_version"]) == (binary, version)


def test_life_moves_forward_only(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.life_changed(M, "1", "dying")
    assert machine(fold(log.events), "1")["life"] == "dying"
    back = log.life_changed(M, "1", "alive")
    doc = machine(fold(log.events), "1")
    assert doc["life"] == "dying"
    assert doc["stream_version"] == back[2]


def test_unknown_life_is_refused(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.add(f"machine:{M}:1", "MachineLifeChanged", {"life": "zombie", "force": False})
    with pytest.raises(ValidationError, match=f"machine 1 of model {M} at version 2"):
        fold(log.events)


def test_supported_containers_null_until_set_then_sorted_unique(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.machine_added(M, "2")
    log.supported_containers_set(M, "1", ["lxd", "kvm", "lxd"])
    log.supported_containers_set(M, "2", [])
    log.machine_added(M, "3")
    docs = fold(log.events)
    assert machine(docs, "1")["supported_containers"] == ["kvm", "lxd"]
    assert machine(docs, "2")["supported_containers"] == []
    assert machine(docs, "3")["supported_containers"] is None


def test_principals_and_clean(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.machine_added(M, "2")
    log.unit_assigned(M, "wordpress/1", "1")
    log.unit_assigned(M, "mysql/0", "1")
    log.unit_assigned(M, "wordpress/0", "1")
    log.unit_assigned(M, "haproxy/0", "2")
    log.unit_destroyed(M, "wordpress/1")
    log.unit_destroyed(M, "haproxy/0")
    docs = fold(log.events)
    assert machine(docs, "1")["principals"] == ["mysql/0", "wordpress/0"]
    assert machine(docs, "1")["clean"] is False
    assert machine(docs, "2")["principals"] == []
    assert machine(docs, "2")["clean"] is False  # a unit was ever assigned


def test_principals_sort_as_plain_strings(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    for unit in ("wordpress/2", "wordpress/10", "haproxy/0"):
        log.unit_assigned(M, unit, "1")
    assert machine(fold(log.events), "1")["principals"] == [
        "haproxy/0",
        "wordpress/10",
        "wordpress/2",
    ]


def test_unit_events_do_not_advance_the_machine_stream_version(log: LogBuilder) -> None:
    added = log.machine_added(M, "1")
    log.unit_assigned(M, "mysql/0", "1")
    log.unit_destroyed(M, "mysql/0")
    doc = machine(fold(log.events), "1")
    assert (doc["stream_version"], doc["updated_at"]) == (1, iso(added[5]))


def test_a_unit_assigned_again_moves_to_the_new_machine(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.machine_added(M, "2")
    log.unit_assigned(M, "mysql/0", "1")
    log.unit_assigned(M, "mysql/0", "2")
    docs = fold(log.events)
    assert machine(docs, "1")["principals"] == []
    assert machine(docs, "2")["principals"] == ["mysql/0"]


def test_a_unit_on_a_machine_never_added_makes_a_stub(log: LogBuilder) -> None:
    log.unit_assigned(M, "mysql/0", "7")
    docs = fold(log.events)
    stub = machine(docs, "7")
    assert (stub["principals"], stub["clean"], stub["stream_version"]) == (["mysql/0"], False, 0)
    assert model(docs)["machine_count"] == 0


def test_a_dying_machine_keeps_taking_units(log: LogBuilder) -> None:
    log.machine_added(M, "5")
    log.life_changed(M, "5", "dying")
    log.unit_assigned(M, "postgresql/0", "5")
    assert machine(fold(log.events), "5")["principals"] == ["postgresql/0"]


def test_pending_upgrade_actions_by_release_until_completed(log: LogBuilder) -> None:
    log.machine_added(M, "0")
    log.upgrade_actions_requested(M, "0", "2.0", packages=["b"])
    log.upgrade_actions_requested(M, "0", "1.18", apt_sources=["cloud-tools"])
    log.upgrade_actions_requested(M, "0", "1.16", packages=["cpu-checker"])
    doc = machine(fold(log.events), "0")
    assert doc["pending_upgrade_actions"] == [
        {"release": "1.16", "packages": ["cpu-checker"], "apt_sources": []},
        {"release": "1.18", "packages": [], "apt_sources": ["cloud-tools"]},
        {"release": "2.0", "packages": ["b"], "apt_sources": []},
    ]
    log.upgrade_actions_completed(M, "0", "1.18")
    log.upgrade_actions_requested(M, "0", "2.0", packages=["c"])  # replaces the first
    last = log.upgrade_actions_completed(M, "0", "3.0")  # nothing pending: no change
    doc = machine(fold(log.events), "0")
    assert doc["pending_upgrade_actions"] == [
        {"release": "1.16", "packages": ["cpu-checker"], "apt_sources": []},
        {"release": "2.0", "packages": ["c"], "apt_sources": []},
    ]
    assert doc["stream_version"] == last[2]


def test_stream_version_and_updated_at_are_the_last_own_event(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.addresses_set(M, "1", [])
    last = log.agent_binary_set(M, "1", "3.0.0-ubuntu-amd64")
    log.machine_added(M, "2")
    doc = machine(fold(log.events), "1")
    assert doc["stream_version"] == 3
    assert doc["updated_at"] == iso(last[5])


def test_updated_at_is_iso_utc_with_microseconds() -> None:
    log = LogBuilder(start_us=1_375_379_801_652_228)
    log.machine_added(M, "0")
    assert machine(fold(log.events), "0")["updated_at"] == "2013-08-01T17:56:41.652228+00:00"
    log = LogBuilder(start_us=1_375_379_801_000_000)
    log.machine_added(M, "0")
    assert machine(fold(log.events), "0")["updated_at"] == "2013-08-01T17:56:41.000000+00:00"


def test_event_retired_advances_version_and_time_only(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.addresses_set(M, "1", [("10.0.0.1", "ipv4", "local-cloud")])
    before = {k: v for k, v in machine(fold(log.events), "1").items()}
    retired = log.retired(f"machine:{M}:1", "MachineAddressesSet")
    after = machine(fold(log.events), "1")
    assert (after["stream_version"], after["updated_at"]) == (3, iso(retired[5]))
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"stream_version", "updated_at"}


def test_event_retired_creates_no_document(log: LogBuilder) -> None:
    log.retired(f"machine:{M}:9", "MachineAdded")
    log.retired(f"model:{M2}")
    log.retired(f"unit:{M}:mysql/0", "UnitDestroyed")
    docs = fold(log.events)
    assert docs.machines() == []
    assert [m["model_uuid"] for m in docs.models()] == [M]


def test_event_retired_leaves_a_stub_a_stub(log: LogBuilder) -> None:
    log.machine_added(M, "4/lxd/0")
    log.retired(f"machine:{M}:4", "MachineAdded")
    docs = fold(log.events)
    assert machine(docs, "4")["stream_version"] == 0
    assert model(docs)["machine_count"] == 1


# --- model keys ------------------------------------------------------------------------


def test_model_fields_come_from_model_created() -> None:
    log = LogBuilder()
    log.model_created(
        M,
        "openstack",
        name="prod",
        config={"name": "prod", "password": "s3cret", "firewall-mode": "instance"},
        cloud_region="RegionOne",
    )
    assert model(fold(log.events)) == {
        "model_uuid": M,
        "name": "prod",
        "owner": "admin",
        "type": "iaas",
        "provider_type": "openstack",
        "cloud": "openstack",
        "cloud_region": "RegionOne",
        "cloud_credential": "openstack/admin/default",
        "config": {"name": "prod", "firewall-mode": "instance"},
        "agent_version": None,
        "environ_version": 0,
        "capabilities": {
            "can_start_instances": True,
            "has_firewall": True,
            "needs_local_storage": False,
        },
        "machine_count": 0,
    }


def test_config_changes_apply_in_order_and_never_hold_credentials(log: LogBuilder) -> None:
    log.model_config_changed(M, {"logging-config": "<root>=DEBUG", "image-stream": "daily"})
    log.model_config_changed(M, {"image-stream": "released", "secret-key": "x"}, ["name"])
    log.model_config_changed(M, {"a": 1}, ["a", "missing"])  # set, then unset
    config = model(fold(log.events))["config"]
    assert config == {
        "type": "ec2",
        "default-base": "ubuntu@22.04",
        "logging-config": "<root>=DEBUG",
        "image-stream": "released",
    }


def test_config_changes_do_not_touch_the_event_payload(log: LogBuilder) -> None:
    created = log.model_created(M2, "lxd")
    original = dict(created[6]["config"])
    log.model_config_changed(M2, {"x": 1}, ["name"])
    fold(log.events)
    assert created[6]["config"] == original


def test_agent_and_environ_versions(log: LogBuilder) -> None:
    assert model(fold(log.events))["agent_version"] is None
    log.agent_version_set(M, "1.14.1")
    log.agent_version_set(M, "2.0.0")
    log.environ_version_set(M, 1)
    doc = model(fold(log.events))
    assert (doc["agent_version"], doc["environ_version"]) == ("2.0.0", 1)


@pytest.mark.parametrize(
    ("provider_type", "capabilities"),
    [
        ("local", (True, False, True)),
        ("manual", (False, False, True)),
        ("null", (False, False, True)),
        ("maas", (True, False, False)),
        ("ec2", (True, True, False)),
        ("openstack", (True, True, False)),
        ("azure", (True, True, False)),
        ("gce", (True, True, False)),
        ("joyent", (True, True, False)),
        ("lxd", (True, True, False)),
        ("vsphere", (False, False, False)),
    ],
)
def test_capabilities_by_provider(provider_type: str, capabilities: tuple[bool, ...]) -> None:
    log = LogBuilder()
    log.model_created(M, provider_type)
    got = model(fold(log.events))["capabilities"]
    assert (
        got["can_start_instances"],
        got["has_firewall"],
        got["needs_local_storage"],
    ) == capabilities


def test_provider_type_is_the_first_recorded(log: LogBuilder) -> None:
    log.model_created(M, "maas", name="renamed")
    doc = model(fold(log.events))
    assert (doc["provider_type"], doc["name"]) == ("ec2", "renamed")
    assert doc["capabilities"]["has_firewall"] is True


def test_machine_count_counts_machines_not_dead(log: LogBuilder) -> None:
    log.machine_added(M, "0")
    log.machine_added(M, "1")
    log.machine_added(M, "1/lxd/0")
    log.machine_added(M, "2")
    log.life_changed(M, "1", "dying")
    assert model(fold(log.events))["machine_count"] == 4
    log.life_changed(M, "2", "dead")
    log.life_changed(M, "2", "dead")  # dead twice counts once
    log.life_changed(M, "1/lxd/0", "dead")
    assert model(fold(log.events))["machine_count"] == 2


def test_machine_events_before_the_model_make_a_stub_model() -> None:
    log = LogBuilder()
    log.machine_added(M, "1")
    log.machine_added(M, "2")
    stub = model(fold(log.events))
    assert stub["machine_count"] == 2
    assert stub["name"] is None and stub["provider_type"] is None
    assert stub["capabilities"] == {
        "can_start_instances": False,
        "has_firewall": False,
        "needs_local_storage": False,
    }
    log.model_created(M, "azure", name="late")
    doc = model(fold(log.events))
    assert (doc["name"], doc["provider_type"], doc["machine_count"]) == ("late", "azure", 2)
    assert doc["capabilities"]["can_start_instances"] is True


def test_machine_events_before_machine_added_count_the_machine_once(log: LogBuilder) -> None:
    log.addresses_set(M, "1", [("10.0.0.1", "ipv4", "local-cloud")])
    log.machine_added(M, "1")
    docs = fold(log.events)
    assert model(docs)["machine_count"] == 1
    assert machine(docs, "1")["preferred_private_address"] == "10.0.0.1"


def test_models_are_separate(log: LogBuilder) -> None:
    log.model_created(M2, "lxd")
    log.machine_added(M, "0")
    log.machine_added(M2, "0")
    log.machine_added(M2, "1")
    docs = fold(log.events)
    assert (model(docs)["machine_count"], model(docs, M2)["machine_count"]) == (1, 2)


# --- the fold's contract ---------------------------------------------------------------


def test_upgrade_streams_fold_to_no_document(log: LogBuilder) -> None:
    for type_name in ("UpgradeStarted", "UpgradeStepApplied", "UpgradeCompleted"):
        log.add("upgrade:u-1", type_name, {"release": "3.0"})
    docs = fold(log.events)
    assert docs.machines() == []
    assert len(docs.models()) == 1


def test_unknown_type_names_stream_and_version(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.add(f"machine:{M}:1", "MachineTeleported", {})
    with pytest.raises(UnknownEventTypeError, match=rf"MachineTeleported.*machine:{M}:1 version 2"):
        fold(log.events)
    with pytest.raises(UnknownEventTypeError, match=f"model:{M} version 9"):
        Fold(MemoryDocumentSet()).apply(f"model:{M}", 9, "Nope", {}, 0)


def test_an_unknown_type_stops_the_batch_after_writing_what_came_before(log: LogBuilder) -> None:
    log.machine_added(M, "1")
    log.add(f"machine:{M}:1", "MachineTeleported", {})
    docs = MemoryDocumentSet()
    with pytest.raises(UnknownEventTypeError):
        Fold(docs).apply_many(log.events)
    assert machine(docs, "1")["updated_at"] == iso(log.events[1][5])


@pytest.mark.parametrize(
    ("stream", "type_name"),
    [
        (f"model:{M}", "MachineAdded"),
        (f"machine:{M}:1", "ModelCreated"),
        (f"machine:{M}:1", "UnitDestroyed"),
        ("machine:nope", "MachineLifeChanged"),
    ],
)
def test_a_type_on_the_wrong_kind_of_stream_is_refused(stream: str, type_name: str) -> None:
    with pytest.raises(ValidationError, match="stream id"):
        Fold(MemoryDocumentSet()).apply(stream, 1, type_name, {}, 0)


def test_apply_one_by_one_equals_apply_many(log: LogBuilder) -> None:
    log.machine_added(M, "0", jobs=["JobManageModel"])
    log.machine_added(M, "0/lxd/0")
    log.machine_provisioned(M, "0")
    log.unit_assigned(M, "a/0", "0/lxd/0")
    log.life_changed(M, "0/lxd/0", "dead")
    batch = fold(log.events)
    single = MemoryDocumentSet()
    fold_one = Fold(single)
    for _pos, stream, version, type_name, _schema, at_us, data in log.events:
        fold_one.apply(stream, version, type_name, data, at_us)
    assert single.machines() == batch.machines()
    assert single.models() == batch.models()


def test_memory_document_set_sorts_by_model_then_numeric_id() -> None:
    log = LogBuilder()
    for uuid in (M2, M):
        log.model_created(uuid)
        for machine_id in ("10", "2", "0/lxd/10", "0", "0/lxd/2", "1"):
            log.machine_added(uuid, machine_id)
    docs = fold(log.events)
    assert [(d["model_uuid"], d["id"]) for d in docs.machines()] == [
        (uuid, machine_id)
        for uuid in (M, M2)
        for machine_id in ("0", "0/lxd/2", "0/lxd/10", "1", "2", "10")
    ]
    assert [d["model_uuid"] for d in docs.models()] == [M, M2]
