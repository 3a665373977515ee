"""Importing the compiled (mypyc) build of a hot module, only while it matches its source.

setup.py compiles `COMPILED_MODULES` to C when it can and writes, beside each compiled
module, the sha256 of the source it was compiled from (`<name>.source-sha256`). Python
would import a compiled module in preference to its `.py` even after the source was
edited, so `load` checks the digest first: a compiled module runs only while its source
is exactly what was compiled; otherwise (an edited source, a build without a compiler,
or EVENTSTATE_PURE_PYTHON=1) the source itself is imported, under the same name. A
build shipped without its source is all there is, and is imported as it is.
Either way the behaviour is the same; only the speed differs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType
from typing import Final

# Keep in step with setup.py.
COMPILED_MODULES: Final = ("upcasters.express",)
DIGEST_SUFFIX: Final = ".source-sha256"
PURE_PYTHON_VARIABLE: Final = "EVENTSTATE_PURE_PYTHON"

log = logging.getLogger(__name__)


def load(name: str) -> ModuleType:
    """The module `name`: its compiled build when that is current, else its source."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ImportError(f"no module named {name}")
    built = Path(spec.origin)
    if not _is_extension(built):
        return importlib.import_module(name)
    source = source_path(name, built)
    if not source.is_file():
        return importlib.import_module(name)  # shipped without its source: all there is
    why_not = _why_not_compiled(built, source)
    if why_not is None:
        return importlib.import_module(name)
    log.debug("%s: %s; importing %s", name, why_not, source)
    return _import_source(name, source)


def is_compiled(module: ModuleType) -> bool:
    """Whether `module` runs as compiled C (not from its source)."""
    return _is_extension(Path(module.__file__ or ""))


def source_path(name: str, origin: Path) -> Path:
    """The `.py` file a module named `name`, loaded from `origin`, was built from."""
    return origin.with_name(name.rpartition(".")[2] + ".py")


def source_text(module: ModuleType) -> str:
    """The source of `module`, compiled or not (the chain fingerprint hashes it)."""
    origin = Path(module.__file__ or "")
    return source_path(module.__name__, origin).read_text(encoding="utf-8")


def _is_extension(path: Path) -> bool:
    return any(path.name.endswith(suffix) for suffix in EXTENSION_SUFFIXES)


def _why_not_compiled(built: Path, source: Path) -> str | None:
    if os.environ.get(PURE_PYTHON_VARIABLE) == "1":
        return f"{PURE_PYTHON_VARIABLE}=1"
    stamp = built.with_name(source.stem + DIGEST_SUFFIX)
    try:
        compiled_from = stamp.read_text(encoding="ascii").strip()
        current = hashlib.sha256(source.read_bytes()).hexdigest()
    except OSError as exc:
        return f"cannot compare the build with its source ({exc.strerror}: {exc.filename})"
    if compiled_from != current:
        return "the source changed after it was compiled (pip install -e . compiles it again)"
    return None


def _import_source(name: str, source: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {name} from {source}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
