"""One model's history during one release era, told one event at a time.

A `ModelStory` is an endless generator: it creates the model (or records the agents'
upgrade when the model already exists), bootstraps machine 0, then at each step picks one
thing that could happen next, weighted by what is possible: advance a machine through its
lifecycle (provisioned, addresses, tools, supported containers), add a machine, container
or manual machine, assign or destroy a unit, change the config, re-address a machine,
upgrade a machine's tools, or let a machine die. The builder decides how many events to
take from each story, so the log's size is exact.

The choices keep the data valid for the upcasters: life only moves forward and never for a
manager machine, units go to alive machines that host units, a container's host is alive,
and machine and unit names are never reused.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

from eventstate.samples import values
from eventstate.samples.state import (
    ADDED,
    ADDRESSED,
    BOOTSTRAP_NONCE,
    DONE,
    JOB_HOST_UNITS,
    JOB_MANAGE_ENVIRON,
    JOB_MANAGE_STATE,
    PROVISIONED,
    TOOLED,
    Machine,
    Model,
    Unit,
)
from eventstate.samples.writers import Payload, Tools, Writer114

# (stream, version, type name, schema, payload): an event before it gets its time.
Raw = tuple[str, int, str, int, dict[str, Any]]
Action = Callable[[], Raw | None]

_NO_NESTING = ("local", "lxd")  # providers whose machines are containers already
_MANUAL_PROVIDERS = ("manual", "null")
_SUPPORTS = (("lxc",), ("lxc", "kvm"), ("kvm", "lxc"), ("lxc", "lxc"))
_CONSTRAINTS = ("", "", "", "mem=4G", "cpu-cores=2 mem=8G", "root-disk=20G", "arch=amd64")


class Shared:
    """What every story of one build shares: the generator, the controller, tool tarballs."""

    def __init__(self, rng: values.SampleRandom) -> None:
        self.rng = rng
        self.controller_uuid = ""
        self._tools: dict[str, Tools] = {}

    def tools(self, writer: Writer114, series: str, arch: str) -> Tools:
        # One tarball per version/series/arch: every machine gets the same url, size and hash.
        version = f"{writer.agent}-{series}-{arch}"
        found = self._tools.get(version)
        if found is None:
            size = self.rng.randrange(5_000_000, 9_000_000)
            found = (
                version,
                f"{writer.tools_base}/juju-{version}.tgz",
                size,
                values.hex_string(self.rng, 64),
            )
            self._tools[version] = found
        return found


class ModelStory:
    def __init__(self, model: Model, writer: Writer114, shared: Shared) -> None:
        self.model = model
        self.writer = writer
        self.shared = shared
        self.rng = shared.rng
        self._actions: tuple[Action, ...] = (
            self._change_config,
            self._progress,
            self._add_machine,
            self._add_container,
            self._assign_unit,
            self._destroy_unit,
            self._readdress,
            self._upgrade_tools,
            self._retire,
            self._bury,
        )

    def events(self) -> Iterator[Raw]:
        model = self.model
        if not model.created:
            yield self._create()
            yield self._model_event(self.writer.agent_version())
            if not model.hosted:
                yield self._bootstrap()
        else:
            yield self._model_event(self.writer.agent_version())  # the agents were upgraded
        while True:
            yield self._step()

    # --- choosing ------------------------------------------------------------------

    def _step(self) -> Raw:
        for _ in range(3):
            event = self._draw()()
            if event is not None:
                return event
        return self._change_config()

    def _draw(self) -> Action:
        """A possible action, weighted; an action may still find nothing to act on."""
        model = self.model
        room = len(model.alive) + len(model.dying) < model.target
        alive = bool(model.alive)
        # One weight per entry of self._actions (0 when impossible); C-level sums keep
        # this cheap, as it runs once per event.
        weights = (
            3.0,
            30.0 if model.pending else 0.0,
            # About a third of the machines end up as containers.
            12.0 if room and model.tops * 3 < model.target * 2 else 0.0,
            6.0 if room else 0.0,
            7.0 if model.hosts and len(model.units) < 2 * len(model.hosts) + 2 else 0.0,
            3.0 if model.units else 0.0,
            4.0 if alive else 0.0,
            4.0 if alive else 0.0,
            # A decommission under way goes on until the machine is dying.
            (8.0 if model.retiring else 0.8) if alive else 0.0,
            3.0 if model.dying else 0.0,
        )
        bounds = list(accumulate(weights))
        return self._actions[bisect_right(bounds, self.rng.random() * bounds[-1])]

    # --- model stream --------------------------------------------------------------

    def _model_event(self, payload: Payload) -> Raw:
        model = self.model
        model.version += 1
        return model.stream, model.version, payload[0], payload[1], payload[2]

    def _create(self) -> Raw:
        model = self.model
        model.created = True
        if not self.shared.controller_uuid:
            self.shared.controller_uuid = model.uuid  # the first model is the controller's
        return self._model_event(self.writer.model_created(model, self.shared.controller_uuid))

    def _change_config(self) -> Raw:
        model = self.model
        series = self._series()
        while True:  # the logging-config change survives every release's filter
            index = model.index * 3 + model.changes
            model.changes += 1
            payload = self.writer.config_changed(*values.config_change(self.rng, index, series))
            if payload is not None:
                return self._model_event(payload)

    # --- adding machines -----------------------------------------------------------

    def _machine_event(self, machine: Machine, payload: Payload) -> Raw:
        machine.version += 1
        return machine.stream, machine.version, payload[0], payload[1], payload[2]

    def _register(self, machine: Machine) -> Raw:
        model = self.model
        model.alive.append(machine)
        model.pending.append(machine)
        if JOB_HOST_UNITS in machine.jobs:
            model.hosts.append(machine)
        if machine.parent is not None:
            machine.parent.children += 1
        return self._machine_event(machine, self.writer.machine_added(model, machine))

    def _top_level(self, series: str, jobs: tuple[int, ...], nonce: str) -> Machine:
        model = self.model
        machine_id = str(model.next_id)
        model.next_id += 1
        return Machine(
            id=machine_id,
            stream=f"machine:{model.uuid}:{machine_id}",
            series=series,
            ctype="",
            jobs=jobs,
            nonce=nonce,
            constraints=self.rng.choice(_CONSTRAINTS),
            placement=self._placement(),
        )

    def _series(self) -> str:
        writer = self.writer
        return self.rng.variant(f"series-{writer.release}", writer.series, writer.series_weights)

    def _placement(self) -> str:
        model = self.model
        if model.provider == "ec2" and self.rng.random() < 0.2:
            return f"zone={self._zone()}"
        return ""

    def _zone(self) -> str:
        region = self.model.config.get("region", "us-east-1")
        return f"{region}{self.rng.choice(values.ZONES['ec2'])}"

    def _bootstrap(self) -> Raw:
        """Machine 0 of a 1.x environment: the state server, which never dies."""
        model = self.model
        jobs: tuple[int, ...] = (JOB_MANAGE_ENVIRON, JOB_MANAGE_STATE)
        if model.provider != "local":  # the local provider's host runs no units
            jobs += (JOB_HOST_UNITS,)
        machine = self._top_level(model.series, jobs, BOOTSTRAP_NONCE)
        machine.placement = ""
        model.tops += 1
        if model.provider in _MANUAL_PROVIDERS:
            machine.manual = machine.private = str(model.config["bootstrap-host"])
        return self._register(machine)

    def _add_machine(self) -> Raw:
        model = self.model
        model.tops += 1
        manual_share = 0.12 if model.provider not in _NO_NESTING else 0.0
        if model.provider in _MANUAL_PROVIDERS or self.rng.random() < manual_share:
            return self._add_manual()
        return self._register(self._top_level(self._series(), (JOB_HOST_UNITS,), ""))

    def _add_manual(self) -> Raw:
        host, private = values.manual_host(self.rng)
        writer = self.writer
        feature = f"manual-series-{writer.release}"
        series = self.rng.variant(feature, writer.manual_series, writer.manual_weights)
        machine = self._top_level(series, (JOB_HOST_UNITS,), f"manual:{host}")
        machine.placement = f"ssh:ubuntu@{host}"
        machine.manual, machine.private = host, private
        return self._register(machine)

    def _container_host(self) -> Machine | None:
        alive = self.model.alive
        for _ in range(6 if alive else 0):
            host = alive[int(self.rng.random() * len(alive))]
            if host.parent is None and host.stage == DONE and host.supports and not host.retiring:
                return host
        return None

    def _add_container(self) -> Raw | None:
        host = self._container_host()
        if host is None:
            return None
        ctype = host.supports[0]
        if "kvm" in host.supports:
            ctype = self.rng.variant("container-type", ("kvm", "lxc"), (25, 75))
        if ctype == "kvm":
            number, word = host.next_kvm, "kvm"
            host.next_kvm += 1
        else:
            number, word = host.next_lxc, self.writer.container_word
            host.next_lxc += 1
        machine_id = f"{host.id}/{word}/{number}"
        machine = Machine(
            id=machine_id,
            stream=f"machine:{self.model.uuid}:{machine_id}",
            series=host.series,
            ctype=ctype,
            jobs=(JOB_HOST_UNITS,),
            nonce="",
            constraints="",
            placement="",
            parent=host,
        )
        return self._register(machine)

    # --- a machine's lifecycle -----------------------------------------------------

    def _progress(self) -> Raw:
        pending = self.model.pending
        # Agents work side by side: advance one of the oldest few pending machines.
        machine = pending[int(self.rng.random() * min(3, len(pending)))]
        stage = machine.stage
        if stage == ADDED:
            return self._provision(machine)
        if stage == PROVISIONED:
            machine.stage = ADDRESSED
            return self._address(machine)
        if stage == ADDRESSED:
            machine.stage = TOOLED
            return self._set_tools(machine)
        machine.stage = DONE
        pending.remove(machine)
        machine.supports = self._supported(machine)
        return self._machine_event(machine, self.writer.containers(machine.supports))

    def _provision(self, machine: Machine) -> Raw:
        model, rng = self.model, self.rng
        machine.stage = PROVISIONED
        instance, nonce, kind = self._instance(machine)
        hw = values.hardware(rng, kind)
        machine.arch = hw.arch or "amd64"
        zone = None
        if not machine.ctype and not machine.manual and model.provider in values.ZONES:
            zone = (
                self._zone()
                if model.provider == "ec2"
                else rng.choice(values.ZONES[model.provider])
            )
        return self._machine_event(machine, self.writer.provisioned(instance, nonce, hw, zone))

    def _instance(self, machine: Machine) -> tuple[str, str, str]:
        """(instance id, nonce, hardware kind) as the provisioner recorded them."""
        model = self.model
        if machine.manual:
            return f"manual:{machine.manual}", machine.nonce, "manual"
        if machine.parent is not None:
            # The container provisioner on the host picks the nonce.
            nonce = f"machine-{machine.parent.id}:{values.uuid4(self.rng)}"
            return "juju-machine-" + machine.id.replace("/", "-"), nonce, machine.ctype
        nonce = machine.nonce or f"machine-0:{values.uuid4(self.rng)}"
        if model.provider == "local" and machine.id == "0":
            return "localhost", nonce, "local"
        kind = "local" if model.provider in _NO_NESTING else model.provider
        return values.instance_id(self.rng, model.provider, model.name, machine.id), nonce, kind

    def _address(self, machine: Machine) -> Raw:
        model, rng = self.model, self.rng
        if not machine.private:
            pool = {"lxc": "local", "kvm": "openstack"}.get(machine.ctype, model.provider)
            machine.private = values.private_ipv4(rng, pool)
        if model.provider == "local" and machine.id == "0":
            return self._machine_event(machine, self.writer.addresses(values.LOCAL_HOST_ADDRESSES))
        name = "node-" + machine.id.replace("/", "-")
        found = values.addresses(rng, model.provider, machine.private, bool(machine.ctype), name)
        if machine.manual and machine.manual != machine.private:
            found.append(values.Address(machine.manual, "hostname", "public"))
        return self._machine_event(machine, self.writer.addresses(found))

    def _set_tools(self, machine: Machine) -> Raw:
        machine.tools = self.writer.agent
        tools = self.shared.tools(self.writer, machine.series, machine.arch)
        return self._machine_event(machine, self.writer.tools(tools))

    def _supported(self, machine: Machine) -> tuple[str, ...]:
        provider = self.model.provider
        if machine.ctype or provider in _NO_NESTING or machine.series == "centos7":
            return ()
        if provider == "maas":
            return ("lxc", "kvm")
        if machine.manual:
            return ("lxc",)
        # Listed the other way round, or twice: 2.0 sorts and de-duplicates.
        return self.rng.variant("supports", _SUPPORTS, (65, 20, 10, 5))

    def _readdress(self) -> Raw | None:
        alive = self.model.alive
        machine = alive[int(self.rng.random() * len(alive))]
        if machine.stage < ADDRESSED:
            return None
        return self._address(machine)

    def _upgrade_tools(self) -> Raw | None:
        alive = self.model.alive
        machine = alive[int(self.rng.random() * len(alive))]
        if machine.stage < TOOLED or machine.tools == self.writer.agent:
            return None
        return self._set_tools(machine)

    def _retire(self) -> Raw | None:
        """`juju destroy-machine`: pick a machine without containers, remove its units one
        by one, then mark it dying. Manager machines and machine 0 are never picked."""
        model = self.model
        if not model.retiring:
            machine = model.alive[int(self.rng.random() * len(model.alive))]
            if machine.manager or machine.id == "0" or machine.children:
                return None
            machine.retiring = True
            model.retiring.append(machine)
            model.hosts.remove(machine)  # every machine but a manager hosts units
        machine = model.retiring[0]
        if machine.units:
            return self._destroy_unit(next(u for u in model.units if u.machine is machine))
        return self._kill(model.retiring.pop(0))

    def _kill(self, machine: Machine) -> Raw:
        model = self.model
        model.alive.remove(machine)
        if machine.stage < DONE:
            model.pending.remove(machine)
        model.dying.append(machine)
        if machine.parent is not None:
            machine.parent.children -= 1
        machine.life = 1
        return self._machine_event(machine, self.writer.life(1))

    def _bury(self) -> Raw:
        model = self.model
        machine = model.dying.pop(0)
        machine.life = 2
        if machine.parent is None:
            model.tops -= 1
        return self._machine_event(machine, self.writer.life(2))

    # --- units ---------------------------------------------------------------------

    def _assign_unit(self) -> Raw:
        model, rng = self.model, self.rng
        machine = model.hosts[int(rng.random() * len(model.hosts))]
        # A few services get most units, as in real deployments.
        r = rng.random()
        service = values.SERVICES[int(r * r * len(values.SERVICES))]
        number = model.services.get(service, 0)
        model.services[service] = number + 1
        name = f"{service}/{number}"
        unit = Unit(name, f"unit:{model.uuid}:{name}", service, machine)
        machine.units += 1
        model.units.append(unit)
        payload = self.writer.unit_assigned(unit)
        return unit.stream, 1, payload[0], payload[1], payload[2]

    def _destroy_unit(self, unit: Unit | None = None) -> Raw:
        units = self.model.units
        i = units.index(unit) if unit is not None else int(self.rng.random() * len(units))
        unit = units[i]
        units[i] = units[-1]
        units.pop()
        unit.machine.units -= 1
        payload = self.writer.unit_destroyed(unit)
        return unit.stream, 2, payload[0], payload[1], payload[2]
