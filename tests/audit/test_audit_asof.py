"""`machine_as_of`: a machine document as it was at a time or a stream version.

The expected documents are computed by hand from the fixture's lines (positions are
line numbers of tests/fixtures/legacy-1.14.jsonl) and the upcaster rules of events.md,
not with the fold: they check the fold of an as-of prefix, so they must not come from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eventstate.audit import machine_as_of
from eventstate.errors import NotFoundError, ValidationError
from eventstate.store import EventStore
from eventstate.timeutil import to_us
from tests.audit.audit_support import AZURE, MAAS, MANUAL, legacy_store, opened


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    url = legacy_store(tmp_path_factory.mktemp("asof"), projected=False)
    with opened(url) as opened_store:
        yield opened_store


def at(text: str) -> int:
    return to_us(datetime.fromisoformat(text).replace(tzinfo=UTC))


PRECISE = {"os": "ubuntu", "channel": "12.04/stable"}


# maas model (env0), machine 0 at 15:30, after MachineProvisioned (line 78, 15:24:13)
# and before its addresses (line 79, 15:31:01). 1.14 jobs [2, 3, 1]: 1.16 adds 5 on a
# maas machine 0; 1.18 names them and drops 3; maas gets no JobManageNetworking at 1.21;
# 2.0 turns ManageEnviron into JobManageModel and drops the firewall job.
MAAS_0_AT_1530: dict[str, Any] = {
    "model_uuid": MAAS,
    "id": "0",
    "life": "alive",
    "jobs": ["JobHostUnits", "JobManageModel"],
    "is_controller": True,
    "base": PRECISE,
    "container_type": "",
    "parent": None,
    "containers": ["0/lxd/0"],  # line 12, MachineAdded of 0/lxc/0
    "nonce": "machine-0:b77336df-a9e1-474e-8895-526bedf218f0",
    "is_manual": False,
    "instance": {
        "instance_id": "i-a20bcd9c",
        "display_name": "",
        "keep_instance": False,
        # "arch=i386 cpu-cores=1 mem=1740M root-disk=8192M"
        "hardware": {
            "arch": "i386",
            "cpu_cores": 1,
            "cpu_power": None,
            "mem_mib": 1740,
            "root_disk_mib": 8192,
            "tags": [],
            "availability_zone": None,
        },
    },
    "addresses": [],
    "preferred_public_address": None,
    "preferred_private_address": None,
    "agent_version": None,
    "agent_binary": None,
    "supported_containers": None,
    "principals": [],
    "clean": True,
    "constraints": "mem=4G",
    "placement": "zone=us-east-1a",
    "pending_upgrade_actions": [],
    "stream_version": 2,
    "updated_at": "2013-08-01T15:24:13.213555+00:00",
}

# maas model, machine 2 at 18:30: all five of its events (lines 15, 74-77) and unit
# wordpress/0 assigned to it at 18:03:03 (line 115), destroyed only at 19:59:16.
MAAS_2_AT_1830: dict[str, Any] = {
    "model_uuid": MAAS,
    "id": "2",
    "life": "alive",
    "jobs": ["JobHostUnits"],
    "is_controller": False,
    "base": PRECISE,
    "container_type": "",
    "parent": None,
    "containers": [],
    "nonce": "machine-2:4230d4e8-1933-45a3-82c2-7e4b602c595b",
    "is_manual": False,
    "instance": {
        "instance_id": "i-f7963e48",
        "display_name": "",
        "keep_instance": False,
        # "arch=i386 cpu-cores=4 mem=7680M cpu-power=100"
        "hardware": {
            "arch": "i386",
            "cpu_cores": 4,
            "cpu_power": 100,
            "mem_mib": 7680,
            "root_disk_mib": None,
            "tags": [],
            "availability_zone": None,
        },
    },
    "addresses": [
        {
            "value": "10.0.51.164",
            "type": "ipv4",
            "scope": "local-cloud",
            "space_id": "0",
            "origin": "provider",
        },
        {
            "value": "ec2-54-81-1-2.compute-1.amazonaws.com",
            "type": "hostname",
            "scope": "public",
            "space_id": "0",
            "origin": "provider",
        },
    ],
    "preferred_public_address": "ec2-54-81-1-2.compute-1.amazonaws.com",
    "preferred_private_address": "10.0.51.164",
    "agent_version": "1.14.1",
    "agent_binary": "1.14.1-ubuntu-amd64",  # tools 1.14.1-precise-amd64
    "supported_containers": ["kvm", "lxd"],  # ["lxc", "kvm"] at 1.14
    "principals": ["wordpress/0"],
    "clean": False,
    "constraints": "",
    "placement": "",
    "pending_upgrade_actions": [],
    "stream_version": 5,
    "updated_at": "2013-08-01T15:21:31.784892+00:00",
}

# azure model (env1), container 1/lxc/1 at its stream version 3 (line 55): added
# (line 19), provisioned (line 54), addresses (line 55). Azure gets JobManageNetworking
# at 1.21, which 2.0 drops again. Its unit comes later (line 118).
AZURE_1_LXD_1_V3: dict[str, Any] = {
    "model_uuid": AZURE,
    "id": "1/lxd/1",
    "life": "alive",
    "jobs": ["JobHostUnits"],
    "is_controller": False,
    "base": PRECISE,
    "container_type": "lxd",
    "parent": "1",
    "containers": [],
    "nonce": "machine-1-lxc-1:9ea901ac-3e95-4df7-9af8-06efb93e081b",
    "is_manual": False,
    "instance": {
        "instance_id": "i-da1757a5",
        "display_name": "",
        "keep_instance": False,
        # "arch=arm64 cpu-cores=1 mem=2048": a size without suffix is in M
        "hardware": {
            "arch": "arm64",
            "cpu_cores": 1,
            "cpu_power": None,
            "mem_mib": 2048,
            "root_disk_mib": None,
            "tags": [],
            "availability_zone": None,
        },
    },
    "addresses": [
        {
            "value": "fe80::1",
            "type": "ipv6",
            "scope": "link-local",
            "space_id": "0",
            "origin": "provider",
        },
        {
            "value": "10.0.128.184",
            "type": "ipv4",
            "scope": "local-cloud",
            "space_id": "0",
            "origin": "provider",
        },
    ],
    "preferred_public_address": None,
    "preferred_private_address": "10.0.128.184",
    "agent_version": None,
    "agent_binary": None,
    "supported_containers": None,
    "principals": [],
    "clean": True,
    "constraints": "",
    "placement": "",
    "pending_upgrade_actions": [],
    "stream_version": 3,
    "updated_at": "2013-08-01T13:36:21.583089+00:00",
}


def test_a_controller_machine_between_two_of_its_events(store: EventStore) -> None:
    assert machine_as_of(store, MAAS, "0", at_us=at("2013-08-01T15:30:00")) == MAAS_0_AT_1530


def test_a_machine_with_a_unit_assigned_then_destroyed(store: EventStore) -> None:
    assert machine_as_of(store, MAAS, "2", at_us=at("2013-08-01T18:30:00")) == MAAS_2_AT_1830
    # 19:59:16 (line 136): the unit is destroyed; the machine stays unclean.
    after = machine_as_of(store, MAAS, "2", at_us=at("2013-08-01T20:00:00"))
    assert after == {**MAAS_2_AT_1830, "principals": []}
    # Before 18:03:03 (line 115) the unit was not there yet.
    before = machine_as_of(store, MAAS, "2", at_us=at("2013-08-01T18:00:00"))
    assert before == {**MAAS_2_AT_1830, "principals": [], "clean": True}


def test_a_container_by_stream_version(store: EventStore) -> None:
    assert machine_as_of(store, AZURE, "1/lxd/1", version=3) == AZURE_1_LXD_1_V3
    # The 1.x spelling of the id finds the same machine.
    assert machine_as_of(store, AZURE, "1/lxc/1", version=3) == AZURE_1_LXD_1_V3
    # At version 4 (line 56) the agent binary arrives, nothing else changes.
    v4 = machine_as_of(store, AZURE, "1/lxd/1", version=4)
    assert v4 == {
        **AZURE_1_LXD_1_V3,
        "agent_version": "1.14.1",
        "agent_binary": "1.14.1-ubuntu-amd64",
        "stream_version": 4,
        "updated_at": "2013-08-01T13:38:41.827049+00:00",
    }


def test_a_version_is_the_log_up_to_that_event_other_streams_included(
    store: EventStore,
) -> None:
    # Azure machine 1's version 1 is line 18; its container's MachineAdded is line 19.
    v1 = machine_as_of(store, AZURE, "1", version=1)
    assert (v1["stream_version"], v1["containers"]) == (1, [])
    later = machine_as_of(store, AZURE, "1", at_us=at("2013-08-01T10:20:00"))
    assert (later["stream_version"], later["containers"]) == (1, ["1/lxd/1"])


def test_machine_zero_of_a_manual_model_is_manual_from_its_first_event(
    store: EventStore,
) -> None:
    # 1.16 gives machine 0 of a manual model job 4 (HostEnvironStorage), 2.0 drops it.
    doc = machine_as_of(store, MANUAL, "0", version=1)
    assert (doc["is_manual"], doc["jobs"], doc["instance"]) == (
        True,
        ["JobHostUnits", "JobManageModel"],
        None,
    )


def test_now_is_the_whole_history(store: EventStore) -> None:
    doc = machine_as_of(store, MAAS, "1")
    assert (doc["life"], doc["stream_version"]) == ("dying", 6)  # line 140


def test_what_did_not_exist_is_not_found(store: EventStore) -> None:
    with pytest.raises(NotFoundError, match="did not exist yet"):
        machine_as_of(store, MAAS, "0", at_us=at("2013-08-01T09:00:00"))
    with pytest.raises(NotFoundError, match="no version 7"):
        machine_as_of(store, MAAS, "0", version=7)
    with pytest.raises(NotFoundError, match="not found"):
        machine_as_of(store, MAAS, "42")
    with pytest.raises(NotFoundError, match="not found"):
        machine_as_of(store, "no-such-model", "0")


def test_a_time_and_a_version_together_are_refused(store: EventStore) -> None:
    with pytest.raises(ValidationError):
        machine_as_of(store, MAAS, "0", at_us=0, version=1)
    with pytest.raises(ValidationError):
        machine_as_of(store, MAAS, "0", version=0)


def test_as_of_reads_the_log_not_the_projection(tmp_path: Path) -> None:
    url = legacy_store(tmp_path, projected=False)
    with opened(url) as fresh:
        machine_as_of(fresh, MAAS, "0", version=1)
        from projections.runner import copy_key
        from projections.storage import storage_for

        assert storage_for(fresh).live_copy(copy_key(fresh)) is None
