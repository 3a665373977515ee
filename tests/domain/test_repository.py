"""The repository API: commands, invariants, read-back, conflicts and retries."""

from __future__ import annotations

import pytest

from eventstate.errors import ConcurrencyConflictError, NotFoundError, ValidationError
from eventstate.repository import Repository
from eventstate.store import EventStore


@pytest.fixture
def repo(store: EventStore) -> Repository:
    return Repository(store)


def _model(repo: Repository) -> str:
    return repo.create_model(
        "prod",
        provider_type="ec2",
        cloud_region="us-east-1",
        config={"default-base": "ubuntu@22.04"},
    )


def test_model_lifecycle(repo: Repository) -> None:
    uuid = _model(repo)
    repo.change_model_config(uuid, {"logging-config": "<root>=DEBUG"}, ["default-base"])
    repo.set_model_agent_version(uuid, "3.0.2")
    state = repo.get_model(uuid)
    assert state["name"] == "prod"
    assert state["cloud"] == "aws"
    assert state["cloud_region"] == "us-east-1"
    assert state["config"] == {"logging-config": "<root>=DEBUG"}
    assert state["agent_version"] == "3.0.2"


def test_credentials_never_enter_config(repo: Repository) -> None:
    with pytest.raises(ValidationError, match="credentials"):
        repo.create_model("m", provider_type="ec2", config={"secret-key": "x"})
    uuid = _model(repo)
    with pytest.raises(ValidationError, match="credentials"):
        repo.change_model_config(uuid, {"password": "x"})


def test_machines_and_containers(repo: Repository) -> None:
    uuid = _model(repo)
    assert (
        repo.add_machine(uuid, base="ubuntu@22.04", jobs=["JobManageModel", "JobHostUnits"]) == "0"
    )
    assert repo.add_machine(uuid, base="ubuntu@22.04") == "1"
    repo.set_supported_containers(uuid, "1", ["lxd"])
    assert (
        repo.add_machine(uuid, base="ubuntu@22.04", parent="1", container_type="lxd") == "1/lxd/0"
    )
    assert (
        repo.add_machine(uuid, base="ubuntu@22.04", parent="1", container_type="lxd") == "1/lxd/1"
    )
    with pytest.raises(ValidationError, match="does not support kvm"):
        repo.add_machine(uuid, base="ubuntu@22.04", parent="1", container_type="kvm")
    repo.provision_machine(
        uuid,
        "1",
        instance_id="i-1",
        nonce="machine-1:n",
        hardware={"arch": "amd64", "mem_mib": 2048},
    )
    repo.set_machine_addresses(uuid, "1", ["10.0.0.5", "54.1.2.3"])
    repo.set_machine_agent_binary(uuid, "1", version="3.0.2-ubuntu-amd64")
    machine = repo.get_machine(uuid, "1")
    assert machine["instance"]["instance_id"] == "i-1"
    assert machine["instance"]["hardware"]["mem_mib"] == 2048
    assert [(a["value"], a["scope"]) for a in machine["addresses"]] == [
        ("10.0.0.5", "local-cloud"),
        ("54.1.2.3", "public"),
    ]
    assert machine["agent_version"] == "3.0.2"
    assert machine["base"] == {"os": "ubuntu", "channel": "22.04/stable"}
    container = repo.get_machine(uuid, "1/lxd/0")
    assert container["container_type"] == "lxd"
    assert container["parent"] == "1"


def test_life_never_goes_backwards_and_controllers_stay(repo: Repository) -> None:
    uuid = _model(repo)
    repo.add_machine(uuid, base="ubuntu@22.04", jobs=["JobManageModel"])
    repo.add_machine(uuid, base="ubuntu@22.04")
    with pytest.raises(ValidationError, match="cannot be destroyed"):
        repo.set_machine_life(uuid, "0", "dying")
    repo.set_machine_life(uuid, "1", "dead")
    with pytest.raises(ValidationError, match="never goes backwards"):
        repo.set_machine_life(uuid, "1", "dying")
    assert repo.get_machine(uuid, "1")["life"] == "dead"
    version = repo.load_machine(uuid, "1").version
    repo.set_machine_life(uuid, "1", "dead")  # already there: no event
    assert repo.load_machine(uuid, "1").version == version


def test_unknown_jobs_and_bad_input_are_refused(repo: Repository, store: EventStore) -> None:
    uuid = _model(repo)
    before = store.head()
    with pytest.raises(ValidationError, match="JobManageEnviron"):
        repo.add_machine(uuid, base="ubuntu@22.04", jobs=["JobManageEnviron"])
    with pytest.raises(ValidationError):
        repo.add_machine(uuid, base="plan9@4")
    with pytest.raises(ValidationError, match="neither an IP"):
        repo.add_machine(uuid, base="ubuntu@22.04")
        repo.set_machine_addresses(uuid, "0", ["not an address!"])
    with pytest.raises(NotFoundError):
        repo.add_machine("no-such-model", base="ubuntu@22.04")
    with pytest.raises(NotFoundError):
        repo.set_machine_life(uuid, "99", "dying")
    assert store.head() == before + 1  # only the machine added inside the block


def test_units(repo: Repository) -> None:
    uuid = _model(repo)
    repo.add_machine(uuid, base="ubuntu@22.04")
    repo.assign_unit(uuid, "wordpress/0", "0")
    with pytest.raises(ValidationError, match="assigned to machine 0 already"):
        repo.assign_unit(uuid, "wordpress/0", "0")
    repo.destroy_unit(uuid, "wordpress/0")
    with pytest.raises(ValidationError, match="destroyed already"):
        repo.destroy_unit(uuid, "wordpress/0")
    with pytest.raises(NotFoundError):
        repo.destroy_unit(uuid, "mysql/0")
    repo.set_machine_life(uuid, "0", "dying")
    with pytest.raises(ValidationError, match="it is dying"):
        repo.assign_unit(uuid, "mysql/0", "0")


def test_stale_aggregate_conflicts_and_retrying_redecides(repo: Repository) -> None:
    uuid = _model(repo)
    repo.add_machine(uuid, base="ubuntu@22.04")
    stale = repo.load_machine(uuid, "0")
    repo.set_supported_containers(uuid, "0", ["lxd"])
    stale.set_supported_containers(["kvm"])
    with pytest.raises(ConcurrencyConflictError, match="version 2"):
        repo.save(stale)

    # A command whose first attempt loses a race is reloaded and decided again.
    retrying = repo.retrying()
    attempts = []

    def racing(r: Repository) -> None:
        machine = r.load_machine(uuid, "0")
        if not attempts:
            repo.set_machine_addresses(uuid, "0", ["10.0.0.1"])  # another writer wins
        attempts.append(machine.version)
        machine.set_supported_containers(["kvm", "lxd"])
        r.save(machine)

    retrying.run(racing)
    assert attempts == [2, 3]
    assert retrying.conflicts == 1
    state = repo.get_machine(uuid, "0")
    assert state["supported_containers"] == ["kvm", "lxd"]
    assert state["addresses"][0]["value"] == "10.0.0.1"


def test_legacy_containers_keep_their_streams(store: EventStore) -> None:
    """A 1.x container `1/lxc/1` reads as `1/lxd/1`; commands on it extend its old stream
    and a new container on the same host does not take its number."""
    from eventstate.interchange import import_jsonl
    from eventstate.upgrade.runner import run_upgrade
    from tests.golden import FIXTURES

    import_jsonl(store, FIXTURES / "legacy-1.14.jsonl")
    run_upgrade(store)
    repo = Repository(store)
    uuid = "73f778aa-f6fa-4db8-a56a-bd72fb710734"
    legacy = f"machine:{uuid}:1/lxc/1"
    head = store.read_stream(legacy)[-1].version
    repo.set_machine_addresses(uuid, "1/lxd/1", ["10.0.3.7"])
    assert store.read_stream(legacy)[-1].version == head + 1
    assert store.read_stream(f"machine:{uuid}:1/lxd/1") == []
    # host 0 of the maas model holds the 1.x container 0/lxc/0
    maas = "db5b5fab-8f4d-4e27-9da1-494c73cf256d"
    assert store.read_stream(f"machine:{maas}:0/lxc/0")
    assert (
        repo.add_machine(maas, base="ubuntu@22.04", parent="0", container_type="lxd") == "0/lxd/1"
    )


def test_cached_aggregates_see_other_writers(store: EventStore) -> None:
    """A server's cached aggregate is brought up to date with what others appended."""
    mine, theirs = Repository(store), Repository(store)
    uuid = _model(mine)
    mine.add_machine(uuid, base="ubuntu@22.04")
    mine.set_supported_containers(uuid, "0", ["lxd"])  # cached in `mine` at version 2
    theirs.set_machine_addresses(uuid, "0", ["10.1.1.1"])  # version 3, behind mine's back
    mine.set_machine_life(uuid, "0", "dying")  # loads from cache + fast-forward: version 4
    state = mine.get_machine(uuid, "0")
    assert state["addresses"][0]["value"] == "10.1.1.1"
    assert state["life"] == "dying"
    assert [e.version for e in store.read_stream(f"machine:{uuid}:0")] == [1, 2, 3, 4]
