"""events.md, "Model stream": one test per rule, including its errors."""

from __future__ import annotations

from typing import Any

import pytest

from eventstate.domain.catalogue import validate_payload
from eventstate.errors import UpcastError
from upcasters import CHAIN, RETIRED_TYPE

MODEL = "model:5f1c2a34-0000-4000-8000-000000000001"


def upcast(
    type_name: str, schema: int, data: dict[str, Any], target: str = "3.0"
) -> tuple[str, int, dict[str, Any]]:
    result = CHAIN.upcaster_for(target)(MODEL, 1, type_name, schema, data, "ec2")
    if target == "3.0":
        validate_payload(result[0], result[2])
    return result


def environment(config: dict[str, Any] | None = None, provider: str = "ec2") -> dict[str, Any]:
    return {
        "uuid": "5f1c2a34-0000-4000-8000-000000000001",
        "name": "prod",
        "provider_type": provider,
        "config": {
            "default-series": "precise",
            "access-key": "AKIA",
            "secret-key": "s3cret",
            "region": "us-east-1",
            "tools-url": "https://x",
            "public-bucket-url": "https://y",
            "firewall-mode": "instance",
        }
        if config is None
        else config,
    }


# --- EnvironmentCreated / ModelCreated ------------------------------------------------------


def test_1_18_deprecated_keys_leave_config() -> None:
    _, schema, data = upcast("EnvironmentCreated", 1, environment(), "1.18")
    assert schema == 2
    assert "tools-url" not in data["config"] and "public-bucket-url" not in data["config"]
    assert data["config"]["firewall-mode"] == "instance"


def test_1_21_adds_owner_and_server_uuid() -> None:
    _, schema, data = upcast("EnvironmentCreated", 2, environment(), "1.21")
    assert schema == 3
    assert data["owner"] == "admin@local"
    assert data["server_uuid"] == data["uuid"]


def test_2_0_becomes_model_created_with_cloud_and_credential() -> None:
    stored = environment()
    stored.update(owner="admin@local", server_uuid="ctrl-uuid")
    type_name, schema, data = upcast("EnvironmentCreated", 3, stored, "2.0")
    assert (type_name, schema) == ("ModelCreated", 4)
    assert data == {
        "model_uuid": "5f1c2a34-0000-4000-8000-000000000001",
        "controller_uuid": "ctrl-uuid",
        "name": "prod",
        "provider_type": "ec2",
        "owner": "admin",
        "type": "iaas",
        "cloud": "aws",
        "cloud_region": "us-east-1",
        "cloud_credential": "aws/admin/default",
        "config": {
            "default-series": "precise",
            "tools-url": "https://x",
            "public-bucket-url": "https://y",
            "firewall-mode": "instance",
        },
    }


def test_2_0_without_credentials_or_region_gives_empty_strings() -> None:
    type_name, _, data = upcast("EnvironmentCreated", 1, environment({}, provider="maas"))
    assert type_name == "ModelCreated"
    assert data["cloud"] == "maas"
    assert data["cloud_region"] == ""
    assert data["cloud_credential"] == ""


def test_2_0_a_password_alone_is_a_credential() -> None:
    _, _, data = upcast("EnvironmentCreated", 1, environment({"password": "x"}, "openstack"))
    assert data["cloud_credential"] == "openstack/admin/default"
    assert data["config"] == {}


def test_2_0_owner_keeps_a_non_local_domain() -> None:
    stored = environment({"access-key": "k"})
    stored.update(owner="bob@external", server_uuid="c")
    _, _, data = upcast("EnvironmentCreated", 3, stored)
    assert data["owner"] == "bob@external"
    assert data["cloud_credential"] == "aws/bob@external/default"


def test_3_0_default_series_becomes_default_base() -> None:
    type_name, schema, data = upcast("EnvironmentCreated", 1, environment())
    assert (type_name, schema) == ("ModelCreated", 5)
    assert data["config"] == {"default-base": "ubuntu@12.04", "firewall-mode": "instance"}
    assert data["controller_uuid"] == data["model_uuid"]


def test_3_0_model_created_centos_base() -> None:
    stored = environment({"default-series": "centos7"})
    _, _, data = upcast("EnvironmentCreated", 1, stored)
    assert data["config"] == {"default-base": "centos@7"}


def test_3_0_unknown_default_series_is_an_error() -> None:
    with pytest.raises(UpcastError, match="unknown series 'warty'"):
        upcast("EnvironmentCreated", 1, environment({"default-series": "warty"}))


def test_region_must_be_a_string() -> None:
    with pytest.raises(UpcastError, match="region must be a string"):
        upcast("EnvironmentCreated", 1, environment({"region": 4}))


def test_model_created_4_written_by_2_0_reaches_5() -> None:
    stored = {
        "model_uuid": "u",
        "controller_uuid": "c",
        "name": "m",
        "provider_type": "lxd",
        "owner": "admin",
        "type": "iaas",
        "cloud": "lxd",
        "cloud_region": "",
        "cloud_credential": "",
        "config": {"default-series": "xenial"},
    }
    type_name, schema, data = upcast("ModelCreated", 4, stored)
    assert (type_name, schema) == ("ModelCreated", 5)
    assert data["config"] == {"default-base": "ubuntu@16.04"}


def test_model_created_with_both_series_and_base_is_an_error() -> None:
    stored = environment({"default-series": "trusty", "default-base": "ubuntu@14.04"})
    with pytest.raises(UpcastError, match="both default-series and default-base"):
        upcast("EnvironmentCreated", 1, stored)


# --- EnvironConfigChanged / ModelConfigChanged -----------------------------------------------


def test_1_18_deprecated_keys_leave_set_and_unset() -> None:
    stored = {"set": {"tools-url": "x", "logging-config": "a"}, "unset": ["tools-url", "b"]}
    _, schema, data = upcast("EnvironConfigChanged", 1, stored, "1.18")
    assert schema == 2
    assert data == {"set": {"logging-config": "a"}, "unset": ["b"]}


def test_1_18_a_change_of_only_deprecated_keys_is_retired() -> None:
    stored = {"set": {"tools-url": "x"}, "unset": ["shared-storage-port"]}
    type_name, schema, data = upcast("EnvironConfigChanged", 1, stored, "1.18")
    assert (type_name, schema) == (RETIRED_TYPE, 1)
    assert data["original_type"] == "EnvironConfigChanged"
    assert "deprecated" in data["reason"]


def test_retired_stays_retired_up_to_3_0() -> None:
    stored = {"set": {"default-instance-type": "m1.small"}, "unset": []}
    type_name, _, data = upcast("EnvironConfigChanged", 1, stored)
    assert type_name == RETIRED_TYPE
    assert set(data) == {"original_type", "reason"}


def test_2_0_renamed_and_credentials_dropped() -> None:
    stored = {"set": {"access-key": "k", "image-stream": "released"}, "unset": ["password"]}
    type_name, schema, data = upcast("EnvironConfigChanged", 2, stored, "2.0")
    assert (type_name, schema) == ("ModelConfigChanged", 3)
    assert data == {"set": {"image-stream": "released"}, "unset": []}


def test_2_0_a_change_of_only_credentials_is_retired() -> None:
    stored = {"set": {"secret-key": "s3cr3t-value"}, "unset": ["access-key"]}
    type_name, _, data = upcast("EnvironConfigChanged", 2, stored, "2.0")
    assert type_name == RETIRED_TYPE
    assert "credential" in data["reason"]
    # Secrets never reach a projection: not even in the retirement record.
    assert "s3cr3t-value" not in str(data)


def test_3_0_default_series_becomes_default_base_in_set_and_unset() -> None:
    stored = {"set": {"default-series": "jammy"}, "unset": ["default-series", "x"]}
    type_name, schema, data = upcast("ModelConfigChanged", 3, stored)
    assert (type_name, schema) == ("ModelConfigChanged", 4)
    assert data == {"set": {"default-base": "ubuntu@22.04"}, "unset": ["default-base", "x"]}


def test_3_0_unset_of_both_names_keeps_one_default_base() -> None:
    stored = {"set": {}, "unset": ["default-series", "default-base"]}
    _, _, data = upcast("ModelConfigChanged", 3, stored)
    assert data["unset"] == ["default-base"]


def test_3_0_unknown_series_in_a_change_is_an_error() -> None:
    with pytest.raises(UpcastError, match="unknown series"):
        upcast("ModelConfigChanged", 3, {"set": {"default-series": "hoary"}, "unset": []})


def test_config_change_needs_a_map_and_a_list() -> None:
    with pytest.raises(UpcastError, match="set must be a map"):
        upcast("EnvironConfigChanged", 1, {"set": [], "unset": []})
    with pytest.raises(UpcastError, match="unset must be a list"):
        upcast("EnvironConfigChanged", 1, {"set": {"a": 1}, "unset": "a"})


# --- AgentVersionSet, ModelEnvironVersionSet ----------------------------------------------------


@pytest.mark.parametrize("target", ["1.14", "1.16", "1.18", "1.21", "2.0", "2.7", "3.0"])
def test_agent_version_set_passes_every_release_untouched(target: str) -> None:
    data = {"version": "1.14.1"}
    result = CHAIN.upcaster_for(target)(MODEL, 2, "AgentVersionSet", 1, data, None)
    assert result == ("AgentVersionSet", 1, {"version": "1.14.1"})
    assert result[2] is data


def test_model_environ_version_set_is_new_in_2_0() -> None:
    data = {"from_version": 0, "to_version": 1, "operations": ["create-profiles"]}
    assert CHAIN.upcast(MODEL, 3, "ModelEnvironVersionSet", 1, data, "lxd")[2] is data
    assert CHAIN.release_of("ModelEnvironVersionSet", 1) == "2.0"
    with pytest.raises(UpcastError, match=r"newer than the target release 1.21"):
        CHAIN.upcaster_for("1.21")(MODEL, 3, "ModelEnvironVersionSet", 1, data, "lxd")
