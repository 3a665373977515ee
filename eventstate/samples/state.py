"""What the builder remembers about the simulated controllers while it writes their log.

Only live things are kept: a dead machine or a destroyed unit is dropped, so memory follows
the number of live machines and units, never the number of events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Lifecycle stages of a machine: each stage is one event its agents write in turn.
ADDED, PROVISIONED, ADDRESSED, TOOLED, DONE = range(5)

# 1.14 job integers: the canonical form kept here; each writer renders its release's shape.
JOB_HOST_UNITS, JOB_MANAGE_ENVIRON, JOB_MANAGE_STATE = 1, 2, 3

BOOTSTRAP_NONCE = "user-admin:bootstrap"


@dataclass(slots=True, eq=False)
class Machine:
    id: str  # as in its stream id: containers made by 1.x servers keep "lxc" forever
    stream: str
    series: str
    ctype: str  # "", "lxc" or "kvm"; a 2.0 server writes lxc as "lxd"
    jobs: tuple[int, ...]
    nonce: str  # what MachineAdded recorded
    constraints: str
    placement: str
    parent: Machine | None = None
    manual: str = ""  # the ssh host of a manually provisioned machine
    private: str = ""  # private IPv4, kept for the machine's life
    version: int = 0
    stage: int = ADDED
    life: int = 0
    arch: str = "amd64"
    supports: tuple[str, ...] = ()
    tools: str = ""  # agent version of the last tools set
    units: int = 0  # live units assigned here
    retiring: bool = False  # chosen for destroy-machine: takes no new units or containers
    children: int = 0  # alive containers
    next_lxc: int = 0  # lxc and lxd share one sequence, so 2.0 ids never clash with old ones
    next_kvm: int = 0

    @property
    def manager(self) -> bool:
        return JOB_MANAGE_ENVIRON in self.jobs or JOB_MANAGE_STATE in self.jobs

    @property
    def modern_id(self) -> str:
        """The id as a 2.0 server names it (`1/lxc/0` -> `1/lxd/0`)."""
        return self.id.replace("/lxc/", "/lxd/")


@dataclass(slots=True, eq=False)
class Unit:
    name: str
    stream: str
    service: str
    machine: Machine


@dataclass(slots=True, eq=False)
class Model:
    index: int
    uuid: str
    name: str
    provider: str
    stream: str
    series: str  # default-series at creation
    config: dict[str, Any]  # full 1.14-style config; writers drop what their release lost
    hosted: bool = False  # created by a 2.0 controller: no bootstrap machine of its own
    target: int = 0  # machines wanted (not dead) by the end of the current era
    version: int = 0
    created: bool = False
    next_id: int = 0
    tops: int = 0  # top-level machines not dead
    changes: int = 0  # config changes so far: picks the next change from the cycle
    alive: list[Machine] = field(default_factory=list)
    pending: list[Machine] = field(default_factory=list)  # alive, lifecycle unfinished
    hosts: list[Machine] = field(default_factory=list)  # alive, can host units
    retiring: list[Machine] = field(default_factory=list)  # alive, losing their units
    dying: list[Machine] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    services: dict[str, int] = field(default_factory=dict)  # next unit number per service
