"""How verify sizes each share's span of positions, so that the shares finish together.

A share folds the events of its partition (fixed: the backend's partition of the
models) and checks the order and hashes of its span (free to choose: any split of the
positions into consecutive spans is valid). Folding an event costs several times more
than hashing a row; every share but the first starts late (a spawned process imports
the code first), and the first one frees its fold before verify can return (a worker
is ended instead). So the spans even out the rest: a share with a larger partition, or
a later start, gets a shorter span, possibly an empty one.

The costs are estimates in microseconds (legacy 1.14 events, a 2020s CPU); only their
ratios and the start-up's share of the whole pass matter, and a poor estimate only makes
one share wait for another at the end, never changes what is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

FOLD_US: Final = 10.0  # an event of the share's partition: read, decode, upcast, fold
HASH_US: Final = 2.0  # a row of the share's span: read, order and hash checks
START_US: Final = 250_000.0  # a worker process's start-up, after the pass's first share
FREE_US: Final = 0.45  # freeing the fold of an event, in the first share only


def split_spans(upto: int, sizes: Sequence[int] | None) -> list[tuple[int, int]]:
    """Consecutive spans (low, high) covering positions 1..upto, one per partition,
    given about how many events each partition holds (None: as many each). An empty
    span has low > high."""
    shares = len(sizes) if sizes else 1
    total = sum(sizes) if sizes else 0
    if not sizes or total <= 0:
        partition = [upto / shares] * shares
    else:
        partition = [upto * size / total for size in sizes]  # the sizes count the whole log
    fixed = [(FOLD_US + FREE_US) * partition[0]]
    fixed += [START_US + FOLD_US * events for events in partition[1:]]
    lengths = _fill(fixed, HASH_US, upto)
    spans: list[tuple[int, int]] = []
    low, done = 1, 0.0
    for length in lengths:
        done += length
        high = min(upto, round(done))
        spans.append((low, high))
        low = high + 1
    last_low = spans[-1][0]
    spans[-1] = (last_low, upto)  # rounding never leaves a position out
    return spans


def _fill(fixed: list[float], per_row: float, rows: int) -> list[float]:
    """Rows per share so that fixed[k] + per_row * rows_k is the same for every share
    that gets any (water filling): the shares with the most fixed work get none."""
    active = list(range(len(fixed)))
    while True:
        finish = (per_row * rows + sum(fixed[k] for k in active)) / len(active)
        kept = [k for k in active if fixed[k] <= finish]
        if kept == active:
            break
        active = kept
    return [
        max(0.0, (finish - fixed[k]) / per_row) if k in active else 0.0 for k in range(len(fixed))
    ]
