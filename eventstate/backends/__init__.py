"""Storage backends: SQLite (default, also `memory://`), MongoDB.

Each backend implements `eventstate.backends.base.Backend`; the shared contract
tests in `tests/contract/` run against every one of them.
"""
