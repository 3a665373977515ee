"""Sample legacy event logs: the builder and the bundled 1.14 sample.

`LEGACY_SAMPLE` is the log `eventstate quickstart` imports (written by
`eventstate.samples.builder`, see its docstring for the command).
"""

from __future__ import annotations

from pathlib import Path

from eventstate.samples.generate import build_legacy_log, scale_for, write_jsonl

LEGACY_SAMPLE = Path(__file__).with_name("legacy-1.14.jsonl")

__all__ = ["LEGACY_SAMPLE", "build_legacy_log", "scale_for", "write_jsonl"]
