"""Audit tooling: what happened (history), what a machine looked like then (as-of),
whether the log is whole and untampered (verify), and credential redaction for all
of their output. docs/audit.md explains the hash chain and every check.
"""

from eventstate.audit.asof import machine_as_of
from eventstate.audit.history import iter_history, type_family
from eventstate.audit.redact import REDACTED, is_credential_key, redact, redact_text
from eventstate.audit.report import ERROR, WARNING, Problem, VerifyReport
from eventstate.audit.verify import verify

__all__ = [
    "ERROR",
    "REDACTED",
    "WARNING",
    "Problem",
    "VerifyReport",
    "is_credential_key",
    "iter_history",
    "machine_as_of",
    "redact",
    "redact_text",
    "type_family",
    "verify",
]
