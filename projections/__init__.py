"""Projections: the machine and model documents folded from the upcast event log.

`Fold` folds 3.0-schema events into a `DocumentSet` (documents.md); `MemoryDocumentSet`
keeps them in memory for a rebuild. `FOLD_CODE_MODULES` names the modules whose source
defines the fold, so a projection's code fingerprint can hash them.
"""

from projections.documents import (
    MACHINE_KEYS,
    MODEL_KEYS,
    DocumentSet,
    MemoryDocumentSet,
    machine_sort_key,
)
from projections.fold import Fold

FOLD_CODE_MODULES: tuple[str, ...] = ("projections.documents", "projections.fold")

__all__ = [
    "FOLD_CODE_MODULES",
    "MACHINE_KEYS",
    "MODEL_KEYS",
    "DocumentSet",
    "Fold",
    "MemoryDocumentSet",
    "machine_sort_key",
]
