"""The upgrade (operations.md, "Upgrade"): lease, preflight, release steps, switch.

- `lease.py`: the store-wide upgrade lease, renewed in the background.
- `steps.py`: the steps each release adds; `environ.py`: the environ-upgrader plug-ins.
- `runner.py`: `run_upgrade`, the whole process; `history.py`: past runs.
"""
