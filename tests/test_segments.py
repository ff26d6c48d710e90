"""Segments and their overlap measures; every expected value worked out by hand."""

from __future__ import annotations

import math

import pytest

from videotemp_o3.segments import Segment, best_iop, best_iou, intersection, iop, iou

NAN, INF = math.nan, math.inf


def test_segment_of_and_its_parts():
    seg = Segment(2.0, 5.5)
    assert Segment.of(seg) is seg
    assert Segment.of((2, 5.5)) == seg and Segment.of([2, 5.5, 9]) == seg
    assert isinstance(Segment.of((2, 5)).start, float)
    assert seg.length == 3.5 and seg.as_list() == [2.0, 5.5]


@pytest.mark.parametrize("span,valid", [
    ((0, 1), True), ((-3, -1), True), ((5, 5), False), ((5, 4), False),
    ((NAN, 4), False), ((1, NAN), False), ((0, INF), False), ((-INF, 0), False),
])
def test_is_valid(span, valid):
    assert Segment.of(span).is_valid() is valid


@pytest.mark.parametrize("a,b,expected", [
    ((0, 10), (5, 15), 5.0), ((0, 10), (2, 3), 1.0), ((0, 10), (10, 20), 0.0),
    ((0, 10), (12, 20), 0.0), ((12, 20), (0, 10), 0.0), ((8, 2), (0, 10), 0.0),
])
def test_intersection(a, b, expected):
    assert intersection(a, b) == expected


@pytest.mark.parametrize("a,b,expected", [
    ((0, 10), (5, 15), 5 / 15),
    ((0, 10), (0, 10), 1.0),
    ((0, 10), (2, 3), 1 / 10),
    ((0, 10), (12, 20), 0.0),          # apart: 0, not a negative overlap
    ((0, 0.5), (0.25, 0.75), 0.25 / 0.75),  # spans shorter than a second
    ((0, 10), (10, 20), 0.0),
    # Degenerate spans score 0 whatever the other span is.
    ((10, 0), (0, 10), 0.0), ((5, 5), (0, 10), 0.0), ((0, 10), (5, 5), 0.0),
    ((NAN, 5), (0, 10), 0.0), ((0, 10), (0, NAN), 0.0), ((0, INF), (0, 10), 0.0),
])
def test_iou(a, b, expected):
    assert iou(a, b) == pytest.approx(expected, abs=0) and iou(b, a) == iou(a, b)


@pytest.mark.parametrize("pred,gt,expected", [
    ((2, 4), (3, 10), 0.5), ((3, 4), (0, 10), 1.0), ((0, 10), (3, 4), 0.1), ((0, 1), (2, 3), 0.0),
    ((4, 2), (0, 10), 0.0), ((5, 5), (0, 10), 0.0), ((NAN, 1), (0, 10), 0.0),
])
def test_iop(pred, gt, expected):
    assert iop(pred, gt) == expected


def test_best_of_several_truths():
    truths = [(0, 2), (10, 20), (14, 16)]
    assert best_iou((10, 20), truths) == 1.0
    assert best_iou((14, 17), truths) == pytest.approx(2 / 3)
    assert best_iop((14, 16), truths) == 1.0 and best_iop((1, 5), truths) == 0.25
    # No truth at all: nothing matches (not an error, not a perfect score).
    assert best_iou((0, 1), []) == 0.0 and best_iop((0, 1), []) == 0.0


def test_matched_mean_iou_leaves_a_miss_unmatched():
    from videotemp_o3.segments import matched_mean_iou

    # The first prediction overlaps nothing: it must not use up the one truth the second finds.
    assert matched_mean_iou([(0, 1), (10, 20)], [(10, 20)]) == 0.5
    assert matched_mean_iou([(10, 20), (10, 20)], [(10, 20)]) == 0.5  # one-to-one
    assert matched_mean_iou([], [(0, 1)]) == 0.0 and matched_mean_iou([(0, 1)], []) == 0.0
