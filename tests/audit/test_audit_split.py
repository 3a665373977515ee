"""split_spans: consecutive spans that cover the positions once, longer for the shares
with less other work."""

from __future__ import annotations

import itertools

import pytest

from eventstate.audit.split import split_spans


def lengths(spans: list[tuple[int, int]]) -> list[int]:
    return [high - low + 1 for low, high in spans]


@pytest.mark.parametrize(
    ("upto", "sizes"),
    [
        (1_000_000, [519_520, 480_480]),
        (200_000, [89_933, 110_067]),
        (1_000_000, None),
        (1_000_000, [1, 1, 1, 1]),
        (1_000_000, [0, 0, 0]),
        (140, [70, 70]),
        (1, [5, 5, 5]),
        (0, [3, 4]),
        (7, [10, 0, 0, 10]),
    ],
)
def test_the_spans_cover_every_position_once_in_order(upto: int, sizes: list[int] | None) -> None:
    spans = split_spans(upto, sizes)
    assert len(spans) == (len(sizes) if sizes else 1)
    assert spans[0][0] == 1 and spans[-1][1] == upto
    for (_low, high), (next_low, _next_high) in itertools.pairwise(spans):
        assert next_low == high + 1  # an empty span has low == high + 1
    assert all(length >= 0 for length in lengths(spans))
    assert sum(lengths(spans)) == upto


def test_the_first_share_starts_first_so_it_hashes_more() -> None:
    first, second = lengths(split_spans(1_000_000, [500_000, 500_000]))
    assert first > second > 0


def test_a_larger_partition_gets_a_shorter_span() -> None:
    spans = lengths(split_spans(4_000_000, [1_000_000, 1_500_000, 1_000_000, 500_000]))
    assert spans[1] < spans[2] < spans[3]


def test_a_share_with_far_more_to_fold_gets_no_span() -> None:
    spans = split_spans(1_000_000, [100_000, 900_000])
    assert lengths(spans) == [1_000_000, 0]
