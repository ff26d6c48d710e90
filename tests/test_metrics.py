"""benchmarks/metrics.py: the numbers every benchmark's scorer reports, with hand values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from videotemp_o3.benchmarks.base import Item, Judgement, Policy
from videotemp_o3.benchmarks.metrics import (Report, Table, accuracy, accuracy_table,
                                             duration_bin, grounding, grouped, mean_of)

COUNT_ALL = Policy(unparsed="wrong", missing="wrong")
SCORED_ONLY = Policy(unparsed="exclude", missing="exclude")


def test_accuracy_counts_by_policy():
    js = [Judgement("scored", correct=True), Judgement("scored", correct=False),
          Judgement("unparsed", correct=True), Judgement("missing")]
    assert accuracy(js, COUNT_ALL) == {"acc": 25.0, "correct": 1, "n": 4}  # unparsed is never right
    assert accuracy(js, SCORED_ONLY) == {"acc": 50.0, "correct": 1, "n": 2}
    assert accuracy([], COUNT_ALL) == {"acc": None, "correct": 0, "n": 0}


def test_grounding_recall_and_miou():
    js = [Judgement("scored", iou=0.5), Judgement("scored", iou=0.8), Judgement("scored", iou=0.2),
          Judgement("unparsed", iou=0.9)]  # counted without a span: IoU 0, whatever it carries
    cell = grounding(js, COUNT_ALL)
    assert cell["mIoU"] == pytest.approx(100 * (0.5 + 0.8 + 0.2 + 0.0) / 4)
    # R@t counts IoU >= t by default (the official scorers); strict counts IoU > t.
    assert (cell["R@0.3"], cell["R@0.5"], cell["R@0.7"], cell["n"]) == (50.0, 50.0, 25.0, 4)
    strict = grounding(js, COUNT_ALL, strict=True, thresholds=(0.5,), prefix="IoU>")
    assert strict == {"mIoU": cell["mIoU"], "IoU>0.5": 25.0, "n": 4}
    assert grounding(js, SCORED_ONLY)["n"] == 3
    assert grounding([], COUNT_ALL) == {"mIoU": None, "R@0.3": None, "R@0.5": None,
                                        "R@0.7": None, "n": 0}


def item(uid: str, *labels: str) -> Item:
    return Item(uid=uid, bench="x", video=Path("/v.mp4"), question="q",
                fields={"labels": labels})


def test_grouped_keeps_the_official_order_then_new_labels():
    items = [item("1", "b"), item("2", "new", "a"), item("3", "b")]
    js = {"1": Judgement("scored"), "2": Judgement("unparsed"), "3": Judgement("missing")}
    groups = grouped(items, js, key=lambda it: it.fields["labels"], order=("a", "b", "empty"))
    assert groups == [("a", [js["2"]]), ("b", [js["1"], js["3"]]), ("empty", []),
                      ("new", [js["2"]])]


def test_accuracy_table_layout():
    groups = [("all", [Judgement("scored", correct=True)])]
    table = accuracy_table("by_type", "By type", groups, COUNT_ALL, flag="--return_type")
    assert table == Table("by_type", "By type", ("acc", "correct", "n"),
                          [("all", {"acc": 100.0, "correct": 1, "n": 1})], "--return_type")
    assert accuracy_table("k", "t", groups, COUNT_ALL).flag is None


def test_missing_rows_and_tables_are_named():
    table = Table("dur", "Duration", ("acc",), [("short", {"acc": 1.0})])
    assert table.row("short") == {"acc": 1.0}
    with pytest.raises(KeyError, match=r"table 'dur' has no row 'long'; rows: \['short'\]"):
        table.row("long")
    report = Report("b", "B", {}, [table])
    assert report.table("dur") is table
    with pytest.raises(KeyError, match=r"report has no table 'x'; tables: \['dur'\]"):
        report.table("x")


def test_mean_of_defined_values():
    assert mean_of([10.0, None, 20.0]) == 15.0
    assert mean_of([None, None]) is None and mean_of([]) is None


@pytest.mark.parametrize("seconds,label", [(0.0, "<3min"), (179.99, "<3min"), (180.0, "3-10min"),
                                           (599.9, "3-10min"), (600.0, "10-20min"),
                                           (1199.0, "10-20min"), (1200.0, ">20min"),
                                           (1e9, ">20min")])
def test_duration_bins_are_half_open(seconds, label):
    assert duration_bin(seconds) == label


@pytest.mark.parametrize("seconds", [-1.0, math.nan])
def test_duration_bin_refuses_what_is_not_a_duration(seconds):
    with pytest.raises(ValueError, match="is not a non-negative number"):
        duration_bin(seconds)


def test_report_as_dict_holds_every_table_by_row():
    t1 = Table("overall", "Overall", ("acc",), [("all", {"acc": 50.0})])
    t2 = Table("dur", "Duration", ("acc", "n"), [("short", {"acc": 1.0, "n": 2}),
                                                ("long", {"acc": None, "n": 0})])
    report = Report("mlvu", "MLVU", {"m-avg": 50.0}, [t1, t2], counts={"missing": 1},
                    notes=["a note"], meta={"results": "r.jsonl"}, items=[{"uid": "1", "iou": 0.5}])
    assert report.as_dict() == {
        "bench": "mlvu", "title": "MLVU", "summary": {"m-avg": 50.0}, "counts": {"missing": 1},
        "tables": {"overall": {"all": {"acc": 50.0}},
                   "dur": {"short": {"acc": 1.0, "n": 2}, "long": {"acc": None, "n": 0}}},
        "notes": ["a note"], "meta": {"results": "r.jsonl"}, "items": [{"uid": "1", "iou": 0.5}]}
