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

Duration bins (half-open, seconds): [0, 180) "<3min", [180, 600) "3-10min",
[600, 1200) "10-20min", [1200, ∞) ">20min".

Scoring: no official text parser is published, so answers go through the project's own
parsers — :func:`videotemp_o3.protocol.parse_choice` (a hedge such as "B or C" is unparsed)
and :func:`videotemp_o3.protocol.parse_span` (the first two times, as written). Every item
counts (unparsed and missing = wrong / IoU 0).
R@t uses IoU ≥ t; the release's script uses IoU > t (``--strict-threshold``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from .. import protocol, segments
from .base import Benchmark, Item, Judgement, Policy, ScoreOptions
from .files import first_existing, lettered, read_jsonl, resolve_video, split_inline_options
from .metrics import DURATION_BINS, Report, Table, accuracy, accuracy_table, duration_bin, grounding, grouped
from .results import Response

FILES = ("data.jsonl",)
BINS = tuple(label for label, _, _ in DURATION_BINS)


def read(root: Path, name: str) -> list[Item]:
    path = first_existing(root, FILES, name)
    grounding_task = name == "videotemp-g"
    items = []
    for index, rec in read_jsonl(path):
        videos = rec.strings("videos", min_len=1)
        duration = rec.number("duration")
        if duration < 0:
            rec.fail("duration", f"expected seconds ≥ 0, got {duration}")
        # Grounding needs only the stem, so a record without options is fine there.
        stem, opts = split_inline_options(rec.text("question"), "dot", rec, "question",
                                          required=not grounding_task)
        answer = None
        if not grounding_task:
            answer = rec.text("answer").strip()
            letters = [chr(ord("A") + k) for k in range(len(opts))]
            if answer not in letters:
                rec.fail("answer", f"expected one of {letters}, got {answer!r}")
        spans = (rec.span("timestamp"),) if (grounding_task or rec.has("timestamp")) else ()
        v = videos[0]
        uid = rec.text("uid") if rec.has("uid") else str(index)
        common = dict(
            uid=uid, bench=name,
            video=resolve_video(root, v, ["{}", "{}.mp4", "videos/{}", "videos/{}.mp4"], rec.where, "videos"),
            spans=spans, duration=duration, source=rec.where,
            fields={"duration_bin": duration_bin(duration), "videos": tuple(videos)})
        if grounding_task:
            # The grounding query is the question stem; the options would give the answer away.
            items.append(Item(question=stem, answer=None, answer_type="grounding", **common))
        else:
            items.append(Item(question=stem, options=lettered(opts), answer=answer, **common))
    return items


def judge_mcq(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    letter = protocol.parse_choice(response.answer, len(item.options))
    if letter is None:
        return Judgement("unparsed")
    return Judgement("scored", letter, correct=letter == item.answer)


def judge_grounding(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    seg = protocol.parse_span(response.answer)
    if seg is None:
        return Judgement("unparsed")
    span = (seg.start, seg.end)
    return Judgement("scored", span, iou=segments.best_iou(span, item.spans), span=span)


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


_DATA = "eval/videotemp/data"
_POLICY = Policy(unparsed="wrong", missing="wrong")

MCQ = Benchmark(
    name="videotemp", title="VideoTemp-Bench (MCQ)", answer_type="mcq", data_subdir=_DATA,
    files=FILES, read=read, judge=judge_mcq, report=report_mcq, policy=_POLICY, description=__doc__ or "")
GROUNDING = Benchmark(
    name="videotemp-g", title="VideoTemp-Bench (grounding)", answer_type="grounding", data_subdir=_DATA,
    files=FILES, read=read, judge=judge_grounding, report=report_grounding, policy=_POLICY,
    description=__doc__ or "")
