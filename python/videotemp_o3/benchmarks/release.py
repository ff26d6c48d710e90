"""What the VideoTemp-o3 release's ``eval/score.py`` does in more than one benchmark, so that
``eval/score.py NAME --release`` prints the numbers the release prints.

The release scores its own output files (one record per question, carrying ``response``: the
text inside ``<answer>``, or the whole last reply when there is none). Its rules, as read in its
``eval/score.py`` — kept here quirks included, since the point is equal numbers:

- Letter answers (VideoTemp-Bench, LVBench, Video-MMMU): the response's first character if it
  is an allowed letter, else ``"A"`` (an empty or unreadable answer is a guess of A);
  correct when it equals the first character of the gold answer. :func:`first_letter_or_a`.
- Grounding (VideoTemp-Bench): the first two numbers of the response (``-?\\d+\\.?\\d*``, so
  ``"24-30"`` reads as 24 and −30), no clamp to the video, no reordering; IoU =
  ``max(0, min(e) − max(s)) / max(0, max(e) − min(s))`` (0/0 is NaN, as NumPy gives it); fewer
  than two numbers: IoU 0. R@t counts IoU > t; "Avg" = mean of mIoU and the three R@.
  :func:`grounding_numbers`, :func:`release_iou`.
- Duration parts (VideoTemp-Bench): < 3, < 10, < 20 minutes, else the fourth — the project's
  bins (:data:`~.metrics.DURATION_BINS`).

Where the release divides by zero (an empty part of the grounding table, an empty file) it
crashes; here that number is ``None`` (printed ``-``) and a note says so.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Optional, Sequence

from .base import ResultsError
from .files import Record
from .metrics import Cell
from .results import ResultsDocument

RELEASE_NOTE = "the release's eval/score.py rules (--release)"
_NUMBER = re.compile(r"-?\d+\.?\d*")


def jsonl_records(doc: ResultsDocument, required: Sequence[str], what: str,
                  present: Sequence[str] = ()) -> list[Record]:
    """The release's JSON-lines output as records, each checked for the fields its scorer
    reads (a missing one would be a ``KeyError`` there; here, file:line and the field).
    ``required`` fields must hold a value; ``present`` ones must exist but may be null (the
    release's scorer reads a null answer as an empty one)."""
    if doc.whole:
        raise ResultsError(f"{doc.path}: expected JSON lines, as the release's {what} script writes them, "
                           "got one JSON value for the whole file")
    out = []
    for line in doc.lines:
        rec = Record(line.value, line.where, ResultsError)
        for name in required:
            rec.require(name)
        for name in present:
            if name not in rec.data:
                rec.fail(name, f"missing (the record has {sorted(rec.data)[:12]})")
        out.append(rec)
    return out


def text_of(value: Any) -> str:
    """A response as the release's scorer sees it (``None`` and non-text as empty)."""
    return value if isinstance(value, str) else ""


def first_letter_or_a(response: Any, allowed: str) -> str:
    """The release's letter: the first character if it is in ``allowed``, else ``"A"``."""
    text = text_of(response)
    return text[0] if text and text[0] in allowed else "A"


def gold_letter(rec: Record, name: str) -> str:
    """The first character of a gold answer field (what the release compares with)."""
    value = rec.require(name)
    if not isinstance(value, str) or not value:
        rec.fail(name, f"expected the gold answer letter, got {value!r:.40}")
    return value[0]


def grounding_numbers(response: Any) -> Optional[tuple[float, float]]:
    """The first two numbers of the response, as written; ``None`` with fewer than two."""
    found = _NUMBER.findall(text_of(response))
    return (float(found[0]), float(found[1])) if len(found) >= 2 else None


def release_iou(pred: tuple[float, float], gt: tuple[float, float]) -> float:
    """IoU without clamping or reordering; 0/0 is NaN (see the module docstring)."""
    inter = max(0.0, min(pred[1], gt[1]) - max(pred[0], gt[0]))
    union = max(0.0, max(pred[1], gt[1]) - min(pred[0], gt[0]))
    if union == 0:
        return math.nan
    return inter / union


def accuracy_cell(correct: int, total: int, empty: Optional[float] = None) -> Cell:
    """``{"acc": %, "correct": k, "n": n}``; ``empty`` is what the release prints for n = 0."""
    return {"acc": 100.0 * correct / total if total else empty, "correct": correct, "n": total}


def mean(values: Iterable[float]) -> Optional[float]:
    vs = list(values)
    return sum(vs) / len(vs) if vs else None
