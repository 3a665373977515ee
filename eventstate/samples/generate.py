"""Generation of legacy logs: eras, budgets, interleaving and time (see builder.py).

The log is shared out in advance: each model gets a number of events per release era,
weighted by the machines it adds then, so the total is exact. During an era the models'
stories are interleaved at random and each event gets the next time of a clock that
spreads the era's events over its dates.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from eventstate.samples import values
from eventstate.samples.state import Model
from eventstate.samples.story import ModelStory, Raw, Shared
from eventstate.samples.writers import WRITERS
from eventstate.timeutil import format_us, to_us

FORMAT = "eventstate-jsonl"
FORMAT_VERSION = 1
RELEASES = ("1.14", "2.0")

# Providers of new models, in turn, by the release that created them.
_PROVIDERS_1X = ("ec2", "local", "openstack", "maas", "azure", "manual", "null", "joyent")
_PROVIDERS_20 = ("lxd", "ec2", "openstack", "maas", "azure", "manual")
_PURPOSES = ("prod", "staging", "lab", "dev", "ci", "qa", "web", "data")

# Events per new machine and per carried-over machine, used to share out the budget.
_PER_NEW_MACHINE = 7.0
_PER_OLD_MACHINE = 1.5


def _us(year: int, month: int, day: int, hour: int = 0) -> int:
    return to_us(datetime(year, month, day, hour, tzinfo=UTC))


@dataclass(frozen=True)
class Era:
    """The servers of one release writing to the store between two dates."""

    release: str
    start_us: int
    end_us: int
    new_models: float  # share of the models created during this era


_ERAS: dict[str, tuple[Era, ...]] = {
    "1.14": (Era("1.14", _us(2013, 9, 16, 8), _us(2013, 12, 13), 1.0),),
    "2.0": (
        Era("1.14", _us(2013, 9, 16, 8), _us(2014, 4, 25), 0.6),
        Era("1.18", _us(2014, 5, 5, 9), _us(2016, 9, 30), 0.2),
        Era("2.0", _us(2016, 10, 20, 9), _us(2018, 3, 31), 0.2),
    ),
}


# --- public API ---------------------------------------------------------------------------


def build_legacy_log(
    *,
    seed: int = 0,
    models: int = 5,
    machines_per_model: int = 8,
    release: str = "1.14",
    events: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the interchange header, then every event in position order.

    With `events=N` the log holds exactly N events and `models` / `machines_per_model` are
    chosen from N (a few hundred models and tens of thousands of machines for 1M events).
    The same arguments always give the same records.
    """
    if release not in _ERAS:
        raise ValueError(f"release must be one of {', '.join(RELEASES)}, not {release!r}")
    if events is not None:
        if events < 1:
            raise ValueError(f"events must be at least 1, not {events}")
        models, machines_per_model = scale_for(events)
    if models < 1 or machines_per_model < 1:
        raise ValueError("models and machines_per_model must be at least 1")
    eras = _ERAS[release]
    return _generate(values.SampleRandom(seed), eras, models, machines_per_model, events, release)


def scale_for(events: int) -> tuple[int, int]:
    """(models, machines per model) for a log of about `events` events (~25 per machine)."""
    models = max(2, round(math.sqrt(events) / 3))
    return models, max(2, round(events / models / 25))


def write_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> int:
    """Write one orjson line per record; return the number of events (header excluded).

    The file appears complete or not at all: it is written beside the target and renamed.
    """
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    count = 0
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    try:
        with open(partial, "wb", buffering=1 << 20) as out:
            write = out.write
            for record in records:
                write(dumps(record, option=option))
                count += 1
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return max(count - 1, 0)


# --- generation ---------------------------------------------------------------------------


def _generate(
    rng: values.SampleRandom,
    eras: Sequence[Era],
    models: int,
    machines_per_model: int,
    events: int | None,
    release: str,
) -> Iterator[dict[str, Any]]:
    yield {"format": FORMAT, "format_version": FORMAT_VERSION, "release": release}
    born = _creation_eras(models, eras)
    quotas = [_quotas(era_born, machines_per_model, len(eras)) for era_born in born]
    budgets = _budgets(born, quotas, len(eras), events)
    world = [_new_model(rng, i, born, eras) for i in range(models)]
    shared = Shared(rng)
    clock = _Clock(rng, eras[0].start_us)
    for e, era in enumerate(eras):
        writer = WRITERS[era.release](rng)
        stories: list[Iterator[Raw]] = []
        left: list[int] = []
        for model, quota, budget in zip(world, quotas, budgets[e], strict=True):
            if budget:
                model.target = quota[e]
                stories.append(ModelStory(model, writer, shared).events())
                left.append(budget)
        clock.begin(era.start_us, era.end_us, sum(left))
        yield from _interleave(rng, clock, stories, left)


def _interleave(
    rng: random.Random, clock: _Clock, stories: list[Iterator[Raw]], left: list[int]
) -> Iterator[dict[str, Any]]:
    """Take `left[k]` events from story k, picking a story at random for each event, as
    the servers of many models wrote to one store; each event gets the clock's next time."""
    while stories:
        k = int(rng.random() * len(stories))
        stream, version, type_name, schema, data = next(stories[k])
        yield {
            "stream": stream,
            "version": version,
            "type": type_name,
            "schema": schema,
            "recorded_at": clock.tick(),
            "data": data,
        }
        left[k] -= 1
        if not left[k]:  # this story is told: drop it in O(1)
            stories[k], left[k] = stories[-1], left[-1]
            stories.pop()
            left.pop()


class _Clock:
    """Strictly increasing event times that fill an era's dates: minutes apart mostly,
    now and then hours or days; evenly random when events are dense. The mean gap is
    recomputed from the time and events left, so an era ends close to its end date."""

    _SHORT_US = 2_000_000, 120_000_000  # a short gap: 2 s to 2 min
    _SHORT_SHARE = 0.85

    def __init__(self, rng: random.Random, start_us: int) -> None:
        self.rng = rng
        self.now = start_us
        self.end = start_us
        self.left = 0
        self._hour = -1
        self._prefix = ""

    def begin(self, start_us: int, end_us: int, count: int) -> None:
        self.now = max(self.now, start_us)
        self.end = end_us
        self.left = count

    def tick(self) -> str:
        """The next time, as the interchange format writes it."""
        us = self._advance()
        # Formatting is cached per hour: consecutive events mostly share it.
        hour, rest = divmod(us, 3_600_000_000)
        if hour != self._hour:
            self._hour = hour
            self._prefix = format_us(hour * 3_600_000_000)[:14]  # 'YYYY-MM-DDTHH:'
        minute, rest = divmod(rest, 60_000_000)
        second, micro = divmod(rest, 1_000_000)
        return f"{self._prefix}{minute:02d}:{second:02d}.{micro:06d}+00:00"

    def _advance(self) -> int:
        mean = (self.end - self.now) // (self.left + 1)
        self.left -= 1
        r = self.rng.random()
        low, high = self._SHORT_US
        if mean <= 5 * high:
            self.now += 1 + int(r * 2 * max(mean, 0))
        elif r < self._SHORT_SHARE:
            self.now += low + int(r / self._SHORT_SHARE * (high - low))
        else:
            # Long gaps make up the rest of the mean, but never jump past the era's end.
            long = (mean - self._SHORT_SHARE * (low + high) / 2) / (1 - self._SHORT_SHARE)
            self.now += 1 + int(min(self.rng.random() * 2 * long, (self.end - self.now) / 2))
        return self.now


def _creation_eras(models: int, eras: Sequence[Era]) -> list[int]:
    """Era index in which each model is created, oldest models first."""
    born: list[int] = []
    share = 0.0
    for e, era in enumerate(eras):
        share += era.new_models
        upto = models if e == len(eras) - 1 else math.ceil(share * models)
        born.extend([e] * (upto - len(born)))
    return born


def _quotas(born: int, machines: int, eras: int) -> list[int]:
    """Machines a model should have by the end of each era: growing to `machines`."""
    quotas = []
    for e in range(eras):
        if e < born:
            quotas.append(0)
        elif e == eras - 1:
            quotas.append(machines)
        else:
            quotas.append(max(1, round(machines * math.sqrt((e - born + 1) / (eras - born)))))
    return quotas


def _budgets(
    born: list[int], quotas: list[list[int]], eras: int, events: int | None
) -> list[list[int]]:
    """Events per era per model: shared by weight (new machines cost more), summing to
    `events` exactly, or to the natural size when `events` is None."""
    weights = [[0.0] * len(born) for _ in range(eras)]
    for i, era_born in enumerate(born):
        for e in range(era_born, eras):
            before = quotas[i][e - 1] if e > era_born else 0
            added = quotas[i][e] - before
            weights[e][i] = (
                (4.0 if e == era_born else 2.0)
                + _PER_NEW_MACHINE * added
                + _PER_OLD_MACHINE * before
            )
    flat = [w for row in weights for w in row]
    total = round(sum(flat)) if events is None else events
    shares = _largest_remainder(flat, total)
    return [shares[e * len(born) : (e + 1) * len(born)] for e in range(eras)]


def _largest_remainder(weights: list[float], total: int) -> list[int]:
    whole = sum(weights)
    exact = [w * total / whole for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: shares[i] - exact[i])
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _new_model(rng: values.SampleRandom, index: int, born: list[int], eras: Sequence[Era]) -> Model:
    # Providers go round in turn among the models each release created.
    turn = index - born.index(born[index])
    hosted = eras[born[index]].release == "2.0"  # made by a 2.0 controller: no machine 0 of its own
    providers = _PROVIDERS_20 if hosted else _PROVIDERS_1X
    provider = providers[turn % len(providers)]
    name = f"{_PURPOSES[index % len(_PURPOSES)]}-{provider}"
    if index >= len(_PURPOSES):
        name += f"-{index}"
    uuid = values.uuid4(rng)
    series = "xenial" if hosted else ("precise" if rng.random() < 0.7 else "trusty")
    return Model(
        index=index,
        uuid=uuid,
        name=name,
        provider=provider,
        stream=f"model:{uuid}",
        series=series,
        config=values.model_config(rng, provider, name, series),
        hosted=hosted,
    )
