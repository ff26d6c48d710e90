"""NExT-GQA (``doc-doc/NExT-GQA``): grounded video QA — answer, and show where.

Published files: ``test.csv`` (``video_id, frame_count, width, height, question, answer
(text), qid, type, a0..a4``), ``gsub_test.json`` (``{video_id: {duration, fps, location:
{qid: [[s, e], …]}}}``) and, optionally, ``map_vid_vidorID.json`` (``video_id`` → its path
under the NExT-QA video folder). The gold letter is the position of ``answer`` among
``a0..a4``. uid: ``"<video_id>_<qid>"``, the key the official scorer uses.

The official code has no text parser. The answer is an option letter
(:func:`videotemp_o3.protocol.parse_choice`, over A–E) optionally followed by a bracketed
``[S, E]``, which is the grounding span; without one, the span is the last clip the agent
requested.

Official scoring (``eval_ground.py``): IoU and IoP (intersection over the *predicted* span)
are each the best over the GT spans; a zero-length prediction has IoU 0 and IoP 1 when it
lies inside a GT span. Acc@GQA = correct answer and IoP ≥ 0.5. Only questions with a
prediction count. Thresholds ≥ (``--strict-threshold`` for >).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .. import protocol, segments
from .base import STRICT_THRESHOLD, Benchmark, BenchmarkDataError, Item, Judgement, Policy, ScoreOptions, Settings, Span
from .files import Record, lettered, read_csv, read_json, resolve_video
from .metrics import Cell, Report, Table, counted, grouped, passes, pct
from .results import Response

FILES = ("test.csv", "gsub_test.json")
COLUMNS = ("video_id", "question", "answer", "qid", "type", "a0", "a1", "a2", "a3", "a4")
TYPES = ("CW", "CH", "TC", "TN", "TP")
COLUMNS_OUT = ("Acc@QA", "Acc@GQA", "mIoP", "IoP@0.3", "IoP@0.5", "mIoU", "IoU@0.3", "IoU@0.5", "n")

_BRACKETED = re.compile(r"\[([^\[\]]*)\]")


def read(root: Path, name: str, settings: Settings) -> list[Item]:
    for f in FILES:
        if not (root / f).is_file():
            raise BenchmarkDataError(f"{name}: {root / f} not found (NExT-GQA needs {' and '.join(FILES)})")
    gsub = read_json(root / "gsub_test.json")
    if not isinstance(gsub, dict):
        raise BenchmarkDataError(f"{root / 'gsub_test.json'}: expected an object keyed by video_id")
    mapping = read_json(root / "map_vid_vidorID.json") if (root / "map_vid_vidorID.json").is_file() else {}
    items = []
    for rec in read_csv(root / "test.csv", COLUMNS):
        vid, qid = rec.text("video_id"), rec.text("qid")
        choices = [rec.text(f"a{i}", allow_empty=True) for i in range(5)]
        answer = rec.text("answer", allow_empty=True)
        if answer not in choices:
            rec.fail("answer", f"{answer!r:.60} is not one of a0..a4")
        video = gsub.get(vid)
        where = f"{root / 'gsub_test.json'}: video {vid!r}"
        if not isinstance(video, dict) or not isinstance(video.get("location"), dict):
            raise BenchmarkDataError(f"{rec.where}: video_id {vid!r} has no 'location' in {root / 'gsub_test.json'}")
        vrec = Record(video, where)
        locs = video["location"].get(qid)
        if not isinstance(locs, list) or not locs:
            vrec.fail(f"location.{qid}", "missing or empty: every test question needs its GT spans")
        spans = tuple(vrec.span(f"location.{qid}", loc) for loc in locs)
        rel = str(mapping.get(vid, vid))
        items.append(Item(
            uid=f"{vid}_{qid}", bench=name,
            video=resolve_video(root, rel, ["NExTVideo/{}.mp4", "videos/{}.mp4", "{}.mp4"],
                                rec.where, "video_id"),
            question=rec.text("question"), options=lettered(choices),
            answer=chr(ord("A") + choices.index(answer)), spans=spans,
            duration=vrec.number("duration") if vrec.has("duration") else None,
            fields={"type": rec.text("type")}, source=rec.where))
    return items


def _split(response: Response) -> tuple[str, Optional[Span]]:
    """``"C [2.0, 8.0]"`` → ``("C", (2.0, 8.0))``; the letter part without the bracket."""
    m = _BRACKETED.search(response.answer)
    seg = protocol.parse_span(m.group(1)) if m else None
    text = (response.answer[:m.start()] + response.answer[m.end():]).strip() if m else response.answer
    span = (seg.start, seg.end) if seg else None
    if span is None and response.segments:
        span = response.segments[-1]
    return text, span


def _iop(span: Span, gts: Sequence[Span]) -> float:
    if span[0] == span[1]:  # official special case: a point inside a GT span has IoP 1
        return 1.0 if any(g[0] <= span[0] <= g[1] for g in gts) else 0.0
    return segments.best_iop(span, gts)


def judge(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    text, span = _split(response)
    letter = protocol.parse_choice(text, len(item.options))
    if letter is None and span is None:
        return Judgement("unparsed")
    return Judgement("scored", letter, correct=letter == item.answer,
                     iou=segments.best_iou(span, item.spans) if span else 0.0,
                     iop=_iop(span, item.spans) if span else 0.0, span=span)


def metrics(judgements: Sequence[Judgement], policy: Policy, strict: bool) -> Cell:
    js = counted(judgements, policy)
    n = len(js)
    scored = [j for j in js if j.status == "scored"]  # the others count with 0 everywhere
    cell: Cell = {
        "Acc@QA": pct(sum(j.correct for j in scored), n),
        "Acc@GQA": pct(sum(j.correct and passes(j.iop, 0.5, strict) for j in scored), n),
        "mIoP": pct(sum(j.iop for j in scored), n),
        "IoP@0.3": pct(sum(passes(j.iop, 0.3, strict) for j in scored), n),
        "IoP@0.5": pct(sum(passes(j.iop, 0.5, strict) for j in scored), n),
        "mIoU": pct(sum(j.iou for j in scored), n),
        "IoU@0.3": pct(sum(passes(j.iou, 0.3, strict) for j in scored), n),
        "IoU@0.5": pct(sum(passes(j.iou, 0.5, strict) for j in scored), n),
        "n": n,
    }
    return cell


def report(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy, options: ScoreOptions) -> Report:
    strict = options.strict_threshold
    overall = metrics(list(js.values()), policy, strict)
    rows = [(label, metrics(group, policy, strict))
            for label, group in grouped(items, js, lambda it: [it.fields["type"]], TYPES)]
    rows.append(("overall", overall))
    no_span = sum(1 for j in js.values() if j.status == "scored" and j.span is None)
    notes = ["thresholds use > (strict)" if strict else "thresholds use ≥ (official)"]
    if no_span:
        notes.append(f"{no_span} answered question(s) gave no span: IoU and IoP 0")
    return Report("nextgqa", "NExT-GQA", {k: overall[k] for k in COLUMNS_OUT[:-1]},
                  [Table("type", "Question type", COLUMNS_OUT, rows)], notes=notes)


BENCHMARK = Benchmark(
    name="nextgqa", title="NExT-GQA", task="mcq", data_subdir="eval/nextgqa/data",
    files=FILES, read=read, judge=judge, report=report,
    policy=Policy(unparsed="exclude", missing="exclude"), settings=(STRICT_THRESHOLD,),
    group_by="type", description=__doc__ or "",
)
