"""Build: pure Python, plus the hot upcaster module compiled to C with mypyc.

`upcasters/express.py` (the fused 1.x -> 3.0 shortcuts every old event goes through) is
compiled when a C compiler is there; the build carries on pure Python when it is not, or
when EVENTSTATE_PURE_PYTHON=1. Next to each compiled module the build writes the sha256
of the source it was compiled from: `upcasters.native` imports the compiled module only
while the source still has that digest, so an edited source is never shadowed by a
stale build (re-run `pip install -e .` to compile it again).

Configuration lives in pyproject.toml; this file only adds the compiled modules.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
# Keep in step with upcasters/native.py COMPILED_MODULES.
COMPILED_MODULES = ("upcasters.express",)
DIGEST_SUFFIX = ".source-sha256"


def _source(module: str) -> Path:
    return HERE / (module.replace(".", "/") + ".py")


def _compiled_extensions() -> list[Any]:
    if os.environ.get("EVENTSTATE_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify

        # Its own mypy settings: the build environment has mypy but not the project's
        # dependencies (pyproject's strict settings would refuse their missing types).
        extensions: list[Any] = mypycify(
            [
                "--config-file=",
                "--ignore-missing-imports",
                "--python-version=3.11",
                *(str(_source(m).relative_to(HERE)) for m in COMPILED_MODULES),
            ],
            opt_level="3",
        )
    except Exception as exc:  # mypyc missing or refusing: the pure-Python package works
        print(f"eventstate: not compiling the upcasters ({exc}); pure Python", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True  # no C compiler: setuptools skips it, pure Python
    return extensions


class BuildWithDigests(build_ext):
    """build_ext that records, beside each compiled module, its source's digest."""

    def run(self) -> None:
        super().run()
        for extension in self.extensions:
            if extension.name not in COMPILED_MODULES:
                continue  # mypyc's shared runtime library
            built = Path(self.get_ext_fullpath(extension.name))
            if not built.exists():
                continue  # an optional extension that did not build
            digest = hashlib.sha256(_source(extension.name).read_bytes()).hexdigest()
            stem = extension.name.rpartition(".")[2]
            built.with_name(stem + DIGEST_SUFFIX).write_text(digest + "\n")


setup(ext_modules=_compiled_extensions(), cmdclass={"build_ext": BuildWithDigests})
