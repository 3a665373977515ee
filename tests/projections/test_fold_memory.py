"""The fold's memory: equal values of fields it never changes in place are one object
(and sharing them changes no document); a Fold and what it reaches go as soon as it is
dropped, also while the cyclic collector is paused (as rebuilds and verify do)."""

from __future__ import annotations

import gc
import weakref

import orjson

from projections.documents import MemoryDocumentSet
from projections.fold import Fold, SharedValues
from tests.projections.fold_support import LogBuilder, SerializingDocumentSet

M = "6a1e8f6a-0000-4000-8000-00000000000a"


def test_values_that_encode_alike_are_one_object() -> None:
    shared = SharedValues()
    first = {"os": "ubuntu", "channel": "22.04/stable", "tags": ["a"]}
    assert shared.of(dict(first)) is shared.of(first) is not None
    assert shared.of(first) == first
    # Equal in Python, but not in a document: kept apart.
    assert shared.of({"n": True})["n"] is True
    assert shared.of({"n": 1})["n"] == 1 and shared.of({"n": 1}) is not shared.of({"n": True})
    assert shared.of({"n": 1.0}) is not shared.of({"n": 1})
    assert shared.of({"b": 1, "a": 2}) is not shared.of({"a": 2, "b": 1})  # key order
    assert shared.of({"n": float("nan")}) is not shared.of({"n": None})
    assert shared.of("lxd") is shared.of("".join(["l", "xd"]))
    odd = {"set": {1, 2}}  # nothing a payload holds: kept as it is
    assert shared.of(odd) is odd and shared.of({"set": {1, 2}}) is not odd


def _log() -> LogBuilder:
    log = LogBuilder()
    log.model_created(M, "ec2")
    for machine in ("0", "1", "2"):
        log.machine_added(M, machine, constraints="mem=4G", jobs=["JobHostUnits"])
        log.machine_provisioned(M, machine, instance_id=f"i-{machine}")
        log.agent_binary_set(M, machine, "3.0.1-ubuntu-amd64")
        log.supported_containers_set(M, machine, ["lxd"])
    log.agent_binary_set(M, "2", "3.0.2-ubuntu-amd64")
    return log


def test_documents_share_their_equal_values_and_encode_as_before() -> None:
    log = _log()
    docs = MemoryDocumentSet()
    Fold(docs).apply_many(log.events)
    machines = docs.machines()
    for field in ("base", "jobs", "constraints", "supported_containers", "agent_binary"):
        assert len({id(doc[field]) for doc in machines[:2]}) == 1, field
    assert machines[0]["instance"]["hardware"] is machines[1]["instance"]["hardware"]
    assert machines[0]["instance"] is not machines[1]["instance"]  # its own instance id
    assert [doc["agent_version"] for doc in machines] == ["3.0.1", "3.0.1", "3.0.2"]
    # One event at a time through storage-like copies: no sharing, the same documents.
    stored = SerializingDocumentSet()
    for event in log.events:
        Fold(stored).apply_many([event])
    assert [orjson.dumps(doc) for doc in stored.machines()] == [
        orjson.dumps(doc) for doc in machines
    ]


def test_a_dropped_fold_frees_its_documents_at_once() -> None:
    collecting = gc.isenabled()
    gc.disable()
    try:
        docs = MemoryDocumentSet()
        fold = Fold(docs)
        fold.apply_many(_log().events)
        gone = weakref.ref(fold), weakref.ref(docs)
        del fold, docs
        assert [ref() for ref in gone] == [None, None]  # no reference cycle kept them
    finally:
        if collecting:
            gc.enable()
