"""The DocumentSet a rebuild (and verify's fresh fold) folds into: plain dicts keyed by
storage keys.

Like `projections.MemoryDocumentSet` (get_* hand out the stored objects), but keyed the
way storage keys documents, so the bulk write at the end of a rebuild takes them in key
order with no per-document key conversion or numeric id sort, and verify compares them
with the stored copy one dict lookup per document.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from projections.documents import Document
from projections.storage.base import MACHINE, MODEL, UNIT, machine_key, unit_key


class BulkDocuments:
    __slots__ = ("_kinds", "_machines", "_models", "_units")

    def __init__(self) -> None:
        self._machines: dict[str, Document] = {}
        self._models: dict[str, Document] = {}
        self._units: dict[str, Document] = {}
        self._kinds = {MACHINE: self._machines, MODEL: self._models, UNIT: self._units}

    def get_machine(self, model_uuid: str, machine_id: str) -> Document | None:
        return self._machines.get(machine_key(model_uuid, machine_id))

    def put_machine(self, doc: Document) -> None:
        self._machines[machine_key(doc["model_uuid"], doc["id"])] = doc

    def get_model(self, model_uuid: str) -> Document | None:
        return self._models.get(model_uuid)

    def put_model(self, doc: Document) -> None:
        self._models[doc["model_uuid"]] = doc

    def get_unit(self, model_uuid: str, unit_name: str) -> Document | None:
        return self._units.get(unit_key(model_uuid, unit_name))

    def put_unit(self, doc: Document) -> None:
        self._units[unit_key(doc["model_uuid"], doc["unit"])] = doc

    @property
    def by_kind(self) -> Mapping[str, dict[str, Document]]:
        """kind -> storage key -> document (the objects themselves)."""
        return self._kinds

    def models(self) -> list[Document]:
        """Model documents by uuid."""
        return [self._models[uuid] for uuid in sorted(self._models)]

    def count(self) -> int:
        return len(self._machines) + len(self._models) + len(self._units)

    def drain(self) -> Iterator[tuple[str, Document]]:
        """Every document as (kind, document), by kind then storage key (the order a
        bulk write fills its B-tree in); each kind is forgotten once it is handed out,
        so its memory goes before the next kind is serialised."""
        for kind in (MODEL, MACHINE, UNIT):
            docs = self._kinds[kind]
            for key in sorted(docs):
                yield kind, docs[key]
            docs.clear()
