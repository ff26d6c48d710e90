"""Time segments and their overlap measures — the one home of IoU in the project.

A segment is a closed interval ``[start, end]`` in seconds of the original video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Tuple, Union

SpanLike = Union["Segment", Sequence[float], Tuple[float, float]]


@dataclass(frozen=True)
class Segment:
    """``[start, end]`` seconds of the original video."""

    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start

    @classmethod
    def of(cls, span: SpanLike) -> "Segment":
        if isinstance(span, Segment):
            return span
        start, end = span[0], span[1]
        return cls(float(start), float(end))

    def as_list(self) -> list[float]:
        return [self.start, self.end]

    def is_valid(self) -> bool:
        return math.isfinite(self.start) and math.isfinite(self.end) and self.start < self.end


def intersection(a: SpanLike, b: SpanLike) -> float:
    a, b = Segment.of(a), Segment.of(b)
    return max(0.0, min(a.end, b.end) - max(a.start, b.start))


def iou(a: SpanLike, b: SpanLike) -> float:
    """Temporal IoU: ``max(0, min(e, e') - max(s, s')) / (max(e, e') - min(s, s'))``.

    This is the form the grounding benchmarks' official scorers use (the union is the hull of
    both spans, which equals the usual union whenever they overlap). Degenerate spans give 0.
    """
    a, b = Segment.of(a), Segment.of(b)
    if not (a.is_valid() and b.is_valid()):
        return 0.0
    union = max(a.end, b.end) - min(a.start, b.start)
    return intersection(a, b) / union if union > 0 else 0.0


def iop(pred: SpanLike, gt: SpanLike) -> float:
    """Intersection over the *predicted* span (NExT-GQA's IoP)."""
    p = Segment.of(pred)
    if not p.is_valid():
        return 0.0
    return intersection(p, gt) / p.length


def best_iou(pred: SpanLike, gts: Iterable[SpanLike]) -> float:
    """IoU against the best-matching ground-truth span (benchmarks with several)."""
    return max((iou(pred, g) for g in gts), default=0.0)


def best_iop(pred: SpanLike, gts: Iterable[SpanLike]) -> float:
    return max((iop(pred, g) for g in gts), default=0.0)


def matched_mean_iou(preds: Sequence[SpanLike], gts: Sequence[SpanLike]) -> float:
    """Mean IoU of ``preds`` matched one-to-one to ``gts``, greedily, in the order of ``preds``.

    Each predicted span in turn takes the not yet matched ground-truth span it overlaps most
    (the first one on a tie); a prediction that overlaps none of the remaining spans is left
    unmatched and counts 0. The sum is divided by the number of *predictions*, so extra
    predictions lower the mean while extra ground-truth spans cost nothing. 0 when either list
    is empty. This is the matching of the VideoTemp-o3 release's rewards (its
    ``rl/video_crop_plugin.py``), used for the grounding accuracy and the tool-call IoU.
    """
    if not preds or not gts:
        return 0.0
    free = [Segment.of(g) for g in gts]
    total = 0.0
    for pred in preds:
        scores = [iou(pred, g) for g in free]
        best = max(range(len(scores)), key=lambda k: (scores[k], -k), default=None)
        if best is not None and scores[best] > 0.0:
            total += scores[best]
            del free[best]
    return total / len(preds)
