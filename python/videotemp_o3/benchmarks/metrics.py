"""Metrics shared by the benchmarks, and the report they fill in.

Conventions: every rate is a percentage in [0, 100] (``None`` when nothing counts, printed
``-``); ``n`` is the denominator actually used. Which items enter ``n`` is decided by the
benchmark's :class:`~.base.Policy` (official scorers differ: Video-MME leaves unparsed answers
out, MLVU counts them wrong). IoU comes from :mod:`videotemp_o3.segments` — the one home of
IoU in the project.

Recall thresholds: ``R@t`` counts IoU ≥ t, as the official grounding scorers (Charades-STA
evaluations, NExT-GQA's ``eval_ground.py``) do; ``strict=True`` counts IoU > t, as the
VideoTemp release's own script does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional, Sequence

from .. import protocol, segments
from .base import Item, Judgement, Policy, ScoreOptions

if TYPE_CHECKING:
    from .results import Response

THRESHOLDS = (0.3, 0.5, 0.7)

Cell = dict[str, Any]


@dataclass
class Table:
    """One breakdown: rows of ``(label, {metric: value})`` under the same ``columns``.

    ``flag`` names the ``eval/score.py`` option that prints it (Video-MME keeps its official
    ``--return_*_accuracy`` switches); ``None`` = always printed. ``--json`` has every table.
    ``decimals``: how many decimals the table prints (the scorer it reproduces prints that many).
    """

    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, Cell]]
    flag: Optional[str] = None
    decimals: int = 1

    def row(self, label: str) -> Cell:
        for name, cell in self.rows:
            if name == label:
                return cell
        raise KeyError(f"table {self.key!r} has no row {label!r}; rows: {[r for r, _ in self.rows]}")


@dataclass
class Report:
    """Every number the scorer computes for one benchmark run."""

    bench: str
    title: str
    summary: dict[str, Optional[float]]
    tables: list[Table]
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # files read, options used
    items: list[dict[str, Any]] = field(default_factory=list)  # per-item numbers (score.item_record)

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(f"report has no table {key!r}; tables: {[t.key for t in self.tables]}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "title": self.title,
            "summary": self.summary,
            "counts": self.counts,
            "tables": {t.key: {label: cell for label, cell in t.rows} for t in self.tables},
            "notes": self.notes,
            "meta": self.meta,
            "items": self.items,
        }


def pct(numerator: float, denominator: int) -> Optional[float]:
    return 100.0 * numerator / denominator if denominator else None


def counted(judgements: Iterable[Judgement], policy: Policy) -> list[Judgement]:
    """The judgements that enter the denominator under ``policy``."""
    return [j for j in judgements if policy.counts(j)]


def accuracy(judgements: Iterable[Judgement], policy: Policy) -> Cell:
    """``{"acc": %, "correct": k, "n": n}``; only scored items can be correct."""
    js = counted(judgements, policy)
    k = sum(1 for j in js if j.status == "scored" and j.correct)
    return {"acc": pct(k, len(js)), "correct": k, "n": len(js)}


def passes(value: float, threshold: float, strict: bool) -> bool:
    return value > threshold if strict else value >= threshold


def judge_span(item: Item, response: "Response", options: ScoreOptions) -> Judgement:
    """The judge of a grounding answer: its first two times are the span
    (:func:`videotemp_o3.protocol.parse_span`), scored by its best IoU with the item's spans
    (:func:`videotemp_o3.segments.best_iou`, closed ``[start, end]`` in seconds); an answer
    without two times is unparsed."""
    seg = protocol.parse_span(response.answer)
    if seg is None:
        return Judgement("unparsed")
    span = (seg.start, seg.end)
    return Judgement("scored", span, iou=segments.best_iou(span, item.spans), span=span)


def grounding(judgements: Iterable[Judgement], policy: Policy, *, strict: bool = False,
              thresholds: Sequence[float] = THRESHOLDS, prefix: str = "R@") -> Cell:
    """``{"mIoU": %, "R@0.3": %, …, "n": n}``; counted items without a span score IoU 0."""
    js = counted(judgements, policy)
    ious = [j.iou if j.status == "scored" else 0.0 for j in js]
    cell: Cell = {"mIoU": 100.0 * fmean(ious) if ious else None}
    for t in thresholds:
        cell[f"{prefix}{t:g}"] = pct(sum(passes(x, t, strict) for x in ious), len(ious))
    cell["n"] = len(ious)
    return cell


def grouped(items: Sequence[Item], judgements: Mapping[str, Judgement],
            key: Callable[[Item], Iterable[str]], order: Sequence[str] = ()) -> list[tuple[str, list[Judgement]]]:
    """Judgements grouped by ``key(item)`` (an item may belong to several groups: LVBench's
    question types overlap). Groups follow ``order`` (the official listing, shown even when
    empty), then any other label found in the data, in first-seen order — so nothing is
    silently dropped when the data has a category the official list lacks."""
    groups: dict[str, list[Judgement]] = {label: [] for label in order}
    for it in items:
        for label in key(it):
            groups.setdefault(label, []).append(judgements[it.uid])
    return list(groups.items())


def accuracy_table(key: str, title: str, groups: Sequence[tuple[str, list[Judgement]]],
                   policy: Policy, flag: Optional[str] = None) -> Table:
    return Table(key, title, ("acc", "correct", "n"),
                 [(label, accuracy(js, policy)) for label, js in groups], flag)


def mean_of(values: Iterable[Optional[float]]) -> Optional[float]:
    """Unweighted mean of the defined values (MLVU M-AVG, Video-MMMU overall)."""
    vs = [v for v in values if v is not None]
    return fmean(vs) if vs else None


# VideoTemp-Bench duration bins, half-open in seconds: [0, 180), [180, 600), [600, 1200),
# [1200, ∞). The paper names them "< 3 min", "3–10 min", "10–20 min", "> 20 min".
DURATION_BINS = (("<3min", 0.0, 180.0), ("3-10min", 180.0, 600.0),
                 ("10-20min", 600.0, 1200.0), (">20min", 1200.0, float("inf")))


def duration_bin(seconds: float) -> str:
    for label, lo, hi in DURATION_BINS:
        if lo <= seconds < hi:
            return label
    raise ValueError(f"duration {seconds!r} s is not a non-negative number")
