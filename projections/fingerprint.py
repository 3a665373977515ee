"""The code fingerprint of a projection copy (operations.md, "Projections").

Documents are a function of the log *and* of the code that reads it: the release, the
upcaster chain (which turns stored events into 3.0 ones) and the fold. A copy is built
and read only by code with the same fingerprint, so old and new code can serve the same
store side by side, each from its own copy, and any change to the fold or the chain
(even a bug fix) gets a fresh copy built from position 0 instead of a silently mixed one.
"""

from __future__ import annotations

import hashlib
import importlib
from functools import lru_cache
from importlib.abc import InspectLoader

from eventstate.errors import EventStateError
from eventstate.releases import CODE_RELEASE
from projections import FOLD_CODE_MODULES

# The layout of stored documents (projections.storage): a copy written in another
# layout must not be read as this one, so it goes into the fingerprint too.
STORAGE_FORMAT = "documents-orjson-1"

# How many hex digits of a fingerprint people see (status, copy names).
SHORT = 12


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 (hex) of the code release, the upcaster chain's fingerprint, the source
    of every module in FOLD_CODE_MODULES and the storage format."""
    from upcasters import CHAIN

    parts = [b"eventstate-projection", CODE_RELEASE.encode(), CHAIN.fingerprint().encode()]
    parts.append(STORAGE_FORMAT.encode())
    for name in sorted(FOLD_CODE_MODULES):
        parts += [name.encode(), module_source(name)]
    digest = hashlib.sha256()
    for part in parts:
        # Length-prefixed, so that no two different part lists hash alike.
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def module_source(name: str) -> bytes:
    """A module's source text, through its loader (works for zip installs too)."""
    module = importlib.import_module(name)
    spec = module.__spec__
    loader = None if spec is None else spec.loader
    source = loader.get_source(name) if isinstance(loader, InspectLoader) else None
    if source is None:
        raise EventStateError(
            f"cannot fingerprint the projection code: no source for module {name}"
        )
    return source.encode()


def short(fingerprint: str) -> str:
    return fingerprint[:SHORT]
