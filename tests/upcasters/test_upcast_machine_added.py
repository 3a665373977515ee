"""events.md, "MachineAdded": each release's rule, the context rules and the errors."""

from __future__ import annotations

from typing import Any

import pytest

from eventstate.domain.catalogue import validate_payload
from eventstate.errors import UpcastError
from upcasters import CHAIN

MODEL_UUID = "5f1c2a34-0000-4000-8000-000000000002"


def stream(machine_id: str) -> str:
    return f"machine:{MODEL_UUID}:{machine_id}"


def added(machine_id: str = "0", jobs: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "machine_id": machine_id,
        "series": "precise",
        "container_type": "lxc" if "/lxc/" in machine_id else "",
        "nonce": "",
        "jobs": [2, 3, 1] if jobs is None else jobs,
        "constraints": "mem=4G",
        "placement": "",
    }
    data.update(fields)
    return data


def upcast(
    data: dict[str, Any],
    provider: str | None,
    target: str = "3.0",
    schema: int = 1,
    machine_id: str | None = None,
) -> dict[str, Any]:
    machine = machine_id if machine_id is not None else data["machine_id"]
    type_name, _, result = CHAIN.upcaster_for(target)(
        stream(machine), 1, "MachineAdded", schema, data, provider
    )
    assert type_name == "MachineAdded"
    if target == "3.0":
        validate_payload(type_name, result)
    return result


# --- 1.16: the provider-dependent job of machine 0 --------------------------------------------


@pytest.mark.parametrize("provider", ["local", "null", "manual"])
def test_1_16_machine_0_on_local_storage_providers_gets_job_4(provider: str) -> None:
    assert upcast(added(), provider, "1.16")["jobs"] == [2, 3, 1, 4]


@pytest.mark.parametrize("provider", ["ec2", "openstack", "maas", "azure", "joyent", "gce"])
def test_1_16_machine_0_on_other_providers_gets_job_5(provider: str) -> None:
    assert upcast(added(), provider, "1.16")["jobs"] == [2, 3, 1, 5]


def test_1_16_job_already_present_is_not_added_twice() -> None:
    assert upcast(added(jobs=[5, 2, 1]), "ec2", "1.16")["jobs"] == [5, 2, 1]
    assert upcast(added(jobs=[4, 1]), "local", "1.16")["jobs"] == [4, 1]


def test_1_16_other_machines_are_unchanged() -> None:
    data = added("3", jobs=[1])
    assert upcast(data, "ec2", "1.16")["jobs"] == [1]


def test_1_16_other_machines_need_no_provider() -> None:
    assert upcast(added("3", jobs=[1]), None, "1.16")["jobs"] == [1]


def test_1_16_machine_id_comes_from_the_stream() -> None:
    # The context's machine id is the stream's, whatever the payload says.
    data = added("7", jobs=[1])
    assert upcast(data, "ec2", "1.16", machine_id="0")["jobs"] == [1, 5]


def test_machine_0_without_provider_is_an_error() -> None:
    with pytest.raises(UpcastError) as caught:
        upcast(added(), None)
    assert "provider type unknown: model stream has no creation event" in str(caught.value)
    assert caught.value.stream == stream("0")
    assert (caught.value.type_name, caught.value.schema) == ("MachineAdded", 1)


def test_any_machine_without_provider_fails_at_1_21() -> None:
    with pytest.raises(UpcastError, match="provider type unknown"):
        upcast(added("3", jobs=[1]), None, "1.21")


# --- 1.18: integers become names ------------------------------------------------------------


def test_1_18_job_integers_become_names_and_3_is_dropped() -> None:
    data = upcast(added(jobs=[2, 3, 1, 5]), "ec2", "1.18", schema=2)
    assert data["jobs"] == ["JobManageEnviron", "JobHostUnits", "JobManageEnvironFirewall"]
    data = upcast(added(jobs=[4, 1]), "local", "1.18", schema=2)
    assert data["jobs"] == ["JobHostEnvironStorage", "JobHostUnits"]


@pytest.mark.parametrize("job", [0, 6, 7, -1])
def test_1_18_job_integer_outside_the_table_is_an_error(job: int) -> None:
    with pytest.raises(UpcastError, match=f"job {job} is not in the 1.16 job table"):
        upcast(added("2", jobs=[1, job]), "ec2")


@pytest.mark.parametrize("job", ["1", True, 1.0, None])
def test_1_18_job_that_is_not_an_integer_is_an_error(job: Any) -> None:
    with pytest.raises(UpcastError, match="is not an integer"):
        upcast(added("2", jobs=[job]), "ec2")


# --- 1.21: the networking job --------------------------------------------------------------


def names(*jobs: str) -> list[str]:
    return list(jobs)


@pytest.mark.parametrize("provider", ["ec2", "openstack", "azure", "gce", "lxd"])
def test_1_21_adds_job_manage_networking(provider: str) -> None:
    data = added("2", jobs=names("JobHostUnits"))
    assert upcast(data, provider, "1.21", schema=3)["jobs"] == [
        "JobHostUnits",
        "JobManageNetworking",
    ]


@pytest.mark.parametrize("provider", ["maas", "joyent", "manual", "null"])
def test_1_21_not_on_providers_without_networking(provider: str) -> None:
    data = added("2", jobs=names("JobHostUnits"))
    assert upcast(data, provider, "1.21", schema=3)["jobs"] == ["JobHostUnits"]


def test_1_21_not_on_machine_0_of_local_but_on_other_local_machines() -> None:
    zero = added("0", jobs=names("JobManageEnviron", "JobHostEnvironStorage"))
    assert "JobManageNetworking" not in upcast(zero, "local", "1.21", schema=3)["jobs"]
    other = added("1", jobs=names("JobHostUnits"))
    assert "JobManageNetworking" in upcast(other, "local", "1.21", schema=3)["jobs"]


def test_1_21_not_on_manual_nonces() -> None:
    data = added("4", jobs=names("JobHostUnits"), nonce="manual:10.0.0.4")
    assert upcast(data, "ec2", "1.21", schema=3)["jobs"] == ["JobHostUnits"]


def test_1_21_not_twice() -> None:
    data = added("4", jobs=names("JobManageNetworking", "JobHostUnits"))
    assert upcast(data, "ec2", "1.21", schema=3)["jobs"] == [
        "JobManageNetworking",
        "JobHostUnits",
    ]


def test_1_21_nonce_must_be_a_string_when_it_decides() -> None:
    with pytest.raises(UpcastError, match="no string 'nonce'"):
        upcast(added("4", jobs=["JobHostUnits"], nonce=7), "ec2", "1.21", schema=3)


# --- 2.0: model jobs, lxd --------------------------------------------------------------------


def test_2_0_jobs_renamed_dropped_and_sorted() -> None:
    jobs = names(
        "JobManageEnviron",
        "JobHostUnits",
        "JobManageEnvironFirewall",
        "JobHostEnvironStorage",
        "JobManageNetworking",
    )
    data = upcast(added(jobs=jobs), "ec2", "2.0", schema=4)
    assert data["jobs"] == ["JobHostUnits", "JobManageModel"]


def test_2_0_container_type_and_machine_id_become_lxd() -> None:
    data = upcast(added("0/lxc/1", jobs=["JobHostUnits"]), "ec2", "2.0", schema=4)
    assert data["container_type"] == "lxd"
    assert data["machine_id"] == "0/lxd/1"


def test_2_0_nested_containers_and_kvm() -> None:
    data = upcast(
        added("0/kvm/1/lxc/2", jobs=["JobHostUnits"], container_type="lxc"),
        "ec2",
        "2.0",
        schema=4,
    )
    assert data["machine_id"] == "0/kvm/1/lxd/2"
    kvm = upcast(added("3/kvm/0", jobs=["JobHostUnits"], container_type="kvm"), "ec2", "2.0", 4)
    assert (kvm["container_type"], kvm["machine_id"]) == ("kvm", "3/kvm/0")


def test_2_0_unknown_job_name_is_an_error() -> None:
    with pytest.raises(UpcastError, match=r"'JobFly' is not a 1.21 job name"):
        upcast(added(jobs=["JobFly"]), "ec2", "2.0", schema=4)


def test_2_0_unknown_container_type_is_an_error() -> None:
    with pytest.raises(UpcastError, match="unknown container type 'docker'"):
        upcast(added("2", jobs=["JobHostUnits"], container_type="docker"), "ec2", "2.0", 4)


# --- 3.0: series -> base ----------------------------------------------------------------------

SERIES_TABLE = {
    "precise": ("ubuntu", "12.04/stable"),
    "trusty": ("ubuntu", "14.04/stable"),
    "xenial": ("ubuntu", "16.04/stable"),
    "bionic": ("ubuntu", "18.04/stable"),
    "focal": ("ubuntu", "20.04/stable"),
    "jammy": ("ubuntu", "22.04/stable"),
    "noble": ("ubuntu", "24.04/stable"),
    "centos7": ("centos", "7/stable"),
}


@pytest.mark.parametrize(("series", "base"), sorted(SERIES_TABLE.items()))
def test_3_0_series_becomes_base(series: str, base: tuple[str, str]) -> None:
    data = upcast(added("1", jobs=["JobHostUnits"], series=series), "ec2", schema=5)
    assert data["base"] == {"os": base[0], "channel": base[1]}
    assert "series" not in data


@pytest.mark.parametrize("series", ["quantal", "win2012", "", "Precise", "centos8"])
def test_3_0_any_other_series_is_an_error(series: str) -> None:
    with pytest.raises(UpcastError, match="unknown series"):
        upcast(added("1", jobs=["JobHostUnits"], series=series), "ec2", schema=5)


# --- the whole chain -------------------------------------------------------------------------


def test_1_14_controller_reads_as_a_3_0_controller() -> None:
    assert upcast(added(), "ec2") == {
        "machine_id": "0",
        "base": {"os": "ubuntu", "channel": "12.04/stable"},
        "container_type": "",
        "nonce": "",
        "jobs": ["JobHostUnits", "JobManageModel"],
        "constraints": "mem=4G",
        "placement": "",
    }


def test_1_14_container_reads_as_an_lxd_container() -> None:
    data = upcast(added("1/lxc/1", jobs=[1], series="trusty"), "maas")
    assert data["machine_id"] == "1/lxd/1"
    assert data["container_type"] == "lxd"
    assert data["jobs"] == ["JobHostUnits"]


def test_untouched_fields_are_checked_too() -> None:
    with pytest.raises(UpcastError, match="field 'constraints'"):
        upcast(added("1", jobs=[1], constraints=None), "ec2")
    with pytest.raises(UpcastError, match="unexpected colour"):
        upcast(added("1", jobs=[1], colour="blue"), "ec2")


def test_missing_key_is_an_upcast_error() -> None:
    data = added("1", jobs=[1])
    del data["series"]
    with pytest.raises(UpcastError, match="KeyError: 'series'"):
        upcast(data, "ec2")
