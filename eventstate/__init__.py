"""eventstate: an event-sourced state store for infrastructure controllers.

The package root stays import-light on purpose: `upcasters` and `projections`
import `eventstate.releases` and `eventstate.errors`, and the store imports them
back. Import the public API from `eventstate.api`.
"""

__version__ = "0.1.0"
