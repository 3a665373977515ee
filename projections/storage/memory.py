"""The DocumentSet a rebuild folds into: plain dicts keyed by storage keys.

Like `projections.MemoryDocumentSet` (get_* hand out the stored objects), but keyed the
way storage keys documents, so the bulk write at the end of a rebuild takes them in key
order with no per-document key conversion or numeric id sort.
"""

from __future__ import annotations

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

    def count(self) -> int:
        return len(self._machines) + len(self._models) + len(self._units)

    def in_key_order(self, kind: str) -> list[Document]:
        """The documents of `kind` by storage key (what a bulk write wants)."""
        docs = self._kinds[kind]
        return [docs[key] for key in sorted(docs)]

    def release(self, kind: str) -> None:
        """Forget the documents of `kind` (written): frees memory for the next kind."""
        self._kinds[kind].clear()
