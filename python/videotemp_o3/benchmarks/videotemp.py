"""VideoTemp-Bench (``Kwai-Keye/VideoTemp-Bench``): two benchmarks over one annotation file.

- ``videotemp``: multiple choice; accuracy per duration bin and overall.
- ``videotemp-g``: temporal grounding of the same questions; the target is ``timestamp``;
  mIoU and R@{0.3, 0.5, 0.7} per duration bin and overall.

Published file, as the release reads it: ``eval/videotemp/data/data.jsonl`` with ``videos``
(list; the first is the video, a path relative to the data root — webdataset keys like
``LongVILA/<id>`` resolve to ``LongVILA/<id>`` or ``LongVILA/<id>.mp4``), ``question`` (the
stem with inline ``"A. …"`` option lines), ``answer`` (letter), ``duration`` (s),
``timestamp`` ([S, E] s). uid: the record's ``uid`` when it has one, else its 0-based line
number in the file (docs/design.md §8).

The grounding query (``--grounding-query``): by default what the release's ``videotemp-g.py``
asks for — the segment holding the answer to the question *and* its correct option, so the
query is the stem followed by the text of the gold option; ``stem`` asks with the stem alone
(numbers from the two are not comparable).

Duration bins (half-open, seconds): [0, 180) "<3min", [180, 600) "3-10min",
[600, 1200) "10-20min", [1200, ∞) ">20min".

Scoring: no official text parser is published, so answers go through the project's own
parsers — :func:`videotemp_o3.protocol.parse_choice` (a hedge such as "B or C" is unparsed)
and :func:`videotemp_o3.protocol.parse_span` (the first two times, as written). Every item
counts (unparsed and missing = wrong / IoU 0).
R@t uses IoU ≥ t; the release's script uses IoU > t (``--strict-threshold``).

The release's output (``eval/videotemp/output/test.jsonl`` and ``test-g.jsonl``): each data
record as read, plus ``response`` and ``conv_history``; no uid, so records are matched to
items by their ``videos`` and ``question``. ``--release`` scores with the release's rules
(:mod:`.release`): MCQ accuracy per duration part, letters A–E else "A"; grounding mIoU,
R@{0.3, 0.5, 0.7} (IoU > t) and Avg per part and in total, two decimals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import protocol
from .base import STRICT_THRESHOLD, Benchmark, Item, Judgement, Policy, ReleaseFormat, ScoreOptions, Setting, Settings
from .files import Record, first_existing, lettered, read_jsonl, resolve_video, split_inline_options
from .metrics import (DURATION_BINS, Report, Table, accuracy, accuracy_table, duration_bin, grounding, grouped,
                      judge_span)
from .release import (RELEASE_NOTE, accuracy_cell, first_letter_or_a, gold_letter, grounding_numbers, jsonl_records,
                      mean, release_iou)
from .results import Response, ResultsDocument

FILES = ("data.jsonl",)
BINS = tuple(label for label, _, _ in DURATION_BINS)

GROUNDING_QUERY = Setting(
    "--grounding-query", "videotemp-g: what the model is asked to find — the question and its correct "
    "option (the release's query, default) or the question stem alone",
    choices=("question+answer", "stem"), default="question+answer")


def _letters(n: int) -> list[str]:
    return [chr(ord("A") + k) for k in range(n)]


def _query(stem: str, opts: list[str], rec: Record) -> str:
    """The release's grounding query: the stem, then the text of the gold option."""
    if not opts:
        rec.fail("question", "no inline options, so the correct option's text (the release's grounding query) "
                             "is unknown; pass --grounding-query stem to ask with the stem alone")
    answer = rec.text("answer").strip()
    if answer not in _letters(len(opts)):
        rec.fail("answer", f"expected one of {_letters(len(opts))}, got {answer!r}")
    return f"{stem}\nAnswer: {opts[ord(answer) - ord('A')]}"


def read(root: Path, name: str, settings: Settings) -> list[Item]:
    path = first_existing(root, FILES, name)
    grounding_task = name == "videotemp-g"
    stem_only = settings.get("grounding_query") == "stem"
    items = []
    for index, rec in read_jsonl(path):
        videos = rec.strings("videos", min_len=1)
        duration = rec.number("duration")
        if duration < 0:
            rec.fail("duration", f"expected seconds ≥ 0, got {duration}")
        question = rec.text("question")
        # Grounding reads options only for the release's query (which says so when they are missing).
        stem, opts = split_inline_options(question, "dot", rec, "question", required=not grounding_task)
        answer = None
        if not grounding_task:
            answer = rec.text("answer").strip()
            if answer not in _letters(len(opts)):
                rec.fail("answer", f"expected one of {_letters(len(opts))}, got {answer!r}")
        spans = (rec.span("timestamp"),) if (grounding_task or rec.has("timestamp")) else ()
        v = videos[0]
        uid = rec.text("uid") if rec.has("uid") else str(index)
        common: dict[str, Any] = dict(
            uid=uid, bench=name,
            video=resolve_video(root, v, ["{}", "{}.mp4", "videos/{}", "videos/{}.mp4"], rec.where, "videos"),
            spans=spans, duration=duration, source=rec.where,
            fields={"duration_bin": duration_bin(duration), "videos": tuple(videos), "question_text": question})
        if grounding_task:
            query = stem if stem_only else _query(stem, opts, rec)
            items.append(Item(question=query, answer=None, task="grounding", **common))
        else:
            items.append(Item(question=stem, options=lettered(opts), answer=answer, **common))
    return items


def judge_mcq(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    letter = protocol.parse_choice(response.answer, len(item.options))
    if letter is None:
        return Judgement("unparsed")
    return Judgement("scored", letter, correct=letter == item.answer)


def _by_bin(items: Sequence[Item], js: Mapping[str, Judgement]):
    return grouped(items, js, lambda it: [it.fields["duration_bin"]], BINS)


def report_mcq(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy, options: ScoreOptions) -> Report:
    overall = accuracy(js.values(), policy)
    table = accuracy_table("duration", "Video duration", _by_bin(items, js), policy)
    table.rows.append(("overall", overall))
    return Report("videotemp", "VideoTemp-Bench (MCQ)", {"overall": overall["acc"]}, [table])


def report_grounding(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy,
                     options: ScoreOptions) -> Report:
    strict = options.strict_threshold
    rows = [(label, grounding(group, policy, strict=strict)) for label, group in _by_bin(items, js)]
    overall = grounding(js.values(), policy, strict=strict)
    rows.append(("overall", overall))
    table = Table("duration", "Video duration", ("mIoU", "R@0.3", "R@0.5", "R@0.7", "n"), rows)
    note = "R@t counts IoU > t (strict, as the release)" if strict else "R@t counts IoU ≥ t"
    return Report("videotemp-g", "VideoTemp-Bench (grounding)", {k: overall[k] for k in table.columns[:-1]},
                  [table], notes=[note])


# --- the release's output and scorer ----------------------------------------------------------

def _release_records(doc: ResultsDocument, required: tuple[str, ...], present: tuple[str, ...] = ()) -> list[Record]:
    records = jsonl_records(doc, ("duration", *required), "videotemp", present)
    for rec in records:
        rec.number("duration")
    return records


def _release_key(rec: Record):
    videos = rec.data.get("videos")
    first = videos[0] if isinstance(videos, list) and videos else None
    return (first, rec.data.get("question"))


def _item_key(item: Item):
    return (item.fields["videos"][0], item.fields["question_text"])


def _part(rec: Record) -> str:
    return duration_bin(rec.number("duration"))


def release_score_mcq(records, items) -> Report:
    total = {b: 0 for b in BINS}
    correct = {b: 0 for b in BINS}
    for rec in records:
        part = _part(rec)
        total[part] += 1
        correct[part] += first_letter_or_a(rec.data["response"], "ABCDE") == gold_letter(rec, "answer")
    rows = [(b, accuracy_cell(correct[b], total[b], empty=0.0)) for b in BINS]
    overall = accuracy_cell(sum(correct.values()), sum(total.values()))
    rows.append(("overall", overall))
    table = Table("duration", "Video duration", ("acc", "correct", "n"), rows, decimals=2)
    notes = [f"{RELEASE_NOTE}: the answer's first character if it is A–E, else A"]
    return Report("videotemp", "VideoTemp-Bench (MCQ)", {"overall": overall["acc"]}, [table], notes=notes)


def release_score_grounding(records, items) -> Report:
    ious: dict[str, list[float]] = {b: [] for b in (*BINS, "overall")}
    unparsed = 0
    for rec in records:
        gt = rec.span("timestamp")
        pred = grounding_numbers(rec.data["response"])
        unparsed += pred is None
        iou = 0.0 if pred is None else release_iou(pred, gt)
        ious[_part(rec)].append(iou)
        ious["overall"].append(iou)
    rows = []
    for label, values in ious.items():
        miou = mean(values)
        cell: dict[str, Any] = {"mIoU": None if miou is None else 100.0 * miou}
        for t in (0.3, 0.5, 0.7):
            cell[f"R@{t:g}"] = 100.0 * sum(v > t for v in values) / len(values) if values else None
        cell["Avg"] = None if not values else mean([cell["mIoU"], cell["R@0.3"], cell["R@0.5"], cell["R@0.7"]])
        cell["n"] = len(values)
        rows.append((label, cell))
    table = Table("duration", "Video duration", ("mIoU", "R@0.3", "R@0.5", "R@0.7", "Avg", "n"), rows, decimals=2)
    notes = [f"{RELEASE_NOTE}: the first two numbers of the answer, no clamp; R@t counts IoU > t; "
             "Avg = mean of mIoU and the three R@"]
    if unparsed:
        notes.append(f"parse errors (no two numbers in the answer): {unparsed}")
    if any(not ious[b] for b in BINS):
        notes.append("an empty duration part prints '-' (the release's script divides by zero there)")
    overall = dict(rows[-1][1])
    return Report("videotemp-g", "VideoTemp-Bench (grounding)", {k: overall[k] for k in table.columns[:-1]},
                  [table], notes=notes)


def _render_mcq(item: Item, response: Response) -> dict:
    return {"duration": item.duration, "answer": item.answer, "response": response.answer,
            "timestamp": list(item.spans[0]) if item.spans else None}


def _render_grounding(item: Item, response: Response) -> dict:
    return {"duration": item.duration, "timestamp": list(item.spans[0]), "response": response.answer}


_DATA = "eval/videotemp/data"
_POLICY = Policy(unparsed="wrong", missing="wrong")

MCQ = Benchmark(
    name="videotemp", title="VideoTemp-Bench (MCQ)", task="mcq", data_subdir=_DATA,
    files=FILES, read=read, judge=judge_mcq, report=report_mcq, policy=_POLICY,
    release=ReleaseFormat(
        output="eval/videotemp/output/test.jsonl", render=_render_mcq, score=release_score_mcq,
        read=lambda doc: _release_records(doc, ("answer",), present=("response",)), key=_release_key, item_key=_item_key),
    group_by="duration_bin", description=__doc__ or "")
GROUNDING = Benchmark(
    name="videotemp-g", title="VideoTemp-Bench (grounding)", task="grounding", data_subdir=_DATA,
    files=FILES, read=read, judge=judge_span, report=report_grounding, policy=_POLICY,
    settings=(GROUNDING_QUERY, STRICT_THRESHOLD),
    release=ReleaseFormat(
        output="eval/videotemp/output/test-g.jsonl", render=_render_grounding, score=release_score_grounding,
        read=lambda doc: _release_records(doc, ("timestamp", "response")), key=_release_key, item_key=_item_key),
    group_by="duration_bin", description=__doc__ or "")
