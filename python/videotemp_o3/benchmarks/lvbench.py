"""LVBench (``zai-org/LVBench``, formerly THUDM): hour-long videos, four-option questions.

Published file: ``video_info.meta.jsonl``, one video per line: ``key, type, video_info, qa:
[{uid, question ("…\\n(A) …\\n(B) …\\n(C) …\\n(D) …"), answer (letter), question_type (list),
time_reference ("MM:SS-MM:SS")}]``; videos ``<key>.mp4`` (the VideoTemp release keeps them
in ``video_chunks/`` and may read a sample file ``video_info_sample.meta.jsonl``).

Official scoring (``lvbench/metrics/compute_accuracy.py`` after ``polish_answer``):
:func:`lvbench_letter`, then exact equality; only uids present in the answers
count (missing predictions are left out); accuracy overall and for every question type a
question is tagged with (the types overlap, so their counts add up to more than the total).

The release's output (``eval/lvbench/output/test.json``) is the ``{uid: answer}`` dict every
benchmark reads. ``--release``: the answer's first character if it is A–E, else "A"; only uids
in the answers count; accuracy per question type (sorted by name) and overall, two decimals.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .base import Benchmark, Item, Judgement, Policy, ReleaseFormat, ResultsError, ScoreOptions, Settings, Span
from .files import Record, first_existing, lettered, read_jsonl, resolve_video, split_inline_options
from .metrics import Report, Table, accuracy, accuracy_table, grouped
from .release import RELEASE_NOTE, accuracy_cell, first_letter_or_a
from .results import Response, ResultsDocument

QUESTION_TYPES = ("key information retrieval", "event understanding", "summarization",
                  "entity recognition", "reasoning", "temporal grounding")
FILES = ("video_info.meta.jsonl", "video_info_sample.meta.jsonl")


def lvbench_letter(text: str) -> str:
    """LVBench's ``polish_answer``: strip; keep what precedes the first ``")"``; if a ``"("``
    remains keep what follows it; keep the first space-separated word; return its first
    character (``""`` if none). The official accuracy is then ``answer == gold`` exactly."""
    s = text.strip().split(")")[0].strip()
    if "(" in s:
        s = s.split("(")[1].strip()
    s = s.split(" ")[0]
    return s[:1]

_CLOCK = r"(\d+(?::\d+){1,2}(?:\.\d+)?)"
_TIME_REFERENCE = re.compile(rf"^\s*{_CLOCK}\s*-\s*{_CLOCK}\s*$")


def _seconds(clock: str) -> float:
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total


def _evidence(value: object) -> tuple[Span, ...]:
    """``"MM:SS-MM:SS"`` (or ``H:MM:SS``) → one span; anything else (absent, free text) → none.
    The span is evidence for analysis only; no metric depends on it, so it never fails a load."""
    m = _TIME_REFERENCE.match(value) if isinstance(value, str) else None
    return ((_seconds(m.group(1)), _seconds(m.group(2))),) if m else ()


def read(root: Path, name: str, settings: Settings) -> list[Item]:
    path = first_existing(root, FILES, name)
    items = []
    for _, video in read_jsonl(path):
        key = video.text("key")
        video_path = resolve_video(root, key, ["video_chunks/{}.mp4", "videos/{}.mp4", "{}.mp4"],
                                   video.where, "key")
        qas = video.require("qa")
        if not isinstance(qas, list):
            video.fail("qa", f"expected a list of questions, got {type(qas).__name__}")
        for i, qa in enumerate(qas):
            if not isinstance(qa, dict):
                video.fail("qa", f"element {i} is {type(qa).__name__}, expected an object")
            rec = Record(qa, f"{video.where} qa[{i}]")
            stem, opts = split_inline_options(rec.text("question"), "paren", rec, "question")
            answer = rec.text("answer").strip()
            letters = [chr(ord("A") + k) for k in range(len(opts))]
            if answer not in letters:
                rec.fail("answer", f"expected one of {letters}, got {answer!r}")
            qtypes = rec.strings("question_type", min_len=1)
            items.append(Item(
                uid=rec.text("uid"), bench=name, video=video_path, question=stem,
                options=lettered(opts), answer=answer, spans=_evidence(qa.get("time_reference")),
                fields={"question_types": tuple(qtypes), "video_type": str(video.get("type", "")),
                        "time_reference": qa.get("time_reference")},
                source=rec.where))
    return items


def judge(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    letter: Optional[str] = lvbench_letter(response.answer) or None
    if letter is None:
        return Judgement("unparsed")
    return Judgement("scored", letter, correct=letter == item.answer)


def report(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy, options: ScoreOptions) -> Report:
    overall = accuracy(js.values(), policy)
    table = accuracy_table("question_type", "Question type",
                           grouped(items, js, lambda it: it.fields["question_types"], QUESTION_TYPES), policy)
    table.rows.append(("overall", overall))
    return Report("lvbench", "LVBench", {"overall": overall["acc"]}, [table],
                  notes=["question types overlap: a question counts in every type it is tagged with"])


def _release_read(doc: ResultsDocument) -> list[Record]:
    """The release's ``{uid: answer}`` (merged, or one pair a line) as records, answers as
    written (the release does not strip them)."""
    if doc.whole and isinstance(doc.value, dict):
        pairs = [(uid, value, f"{doc.path}: key {uid!r}") for uid, value in doc.value.items()]
    elif not doc.whole and all(len(line.value) == 1 for line in doc.lines):
        pairs = [(*next(iter(line.value.items())), line.where) for line in doc.lines]
    else:
        raise ResultsError(f"{doc.path}: expected the release's LVBench output, a {{uid: answer}} JSON object")
    return [Record({"uid": str(uid), "response": value}, where, ResultsError) for uid, value, where in pairs]


def release_score(records, items) -> Report:
    answers = {rec.data["uid"]: rec.data["response"] for rec in records}  # the release merges: last wins
    right: dict[str, int] = {}
    total: dict[str, int] = {}
    correct_all = counted = 0
    for item in items:
        if item.uid not in answers:
            continue
        correct = first_letter_or_a(answers[item.uid], "ABCDE") == item.answer
        for qtype in item.fields["question_types"]:
            total[qtype] = total.get(qtype, 0) + 1
            right[qtype] = right.get(qtype, 0) + correct
        correct_all += correct
        counted += 1
    rows = [(qtype, accuracy_cell(right[qtype], total[qtype])) for qtype in sorted(total)]
    overall = accuracy_cell(correct_all, counted)
    rows.append(("overall", overall))
    table = Table("question_type", "Question type", ("acc", "correct", "n"), rows, decimals=2)
    return Report("lvbench", "LVBench", {"overall": overall["acc"]}, [table],
                  notes=[f"{RELEASE_NOTE}: the answer's first character if it is A–E, else A; "
                         "only uids with an answer count"])


def _render(item: Item, response: Response) -> dict:
    return {"uid": item.uid, "response": response.answer}


BENCHMARK = Benchmark(
    name="lvbench", title="LVBench", task="mcq", data_subdir="eval/lvbench/data",
    files=FILES[:1], read=read, judge=judge, report=report,
    # polish_answer never fails, so an unparsed answer ("" after polishing) is simply wrong.
    policy=Policy(unparsed="wrong", missing="exclude"),
    release=ReleaseFormat(output="eval/lvbench/output/test.json", render=_render, score=release_score,
                          read=_release_read, key=lambda rec: rec.data["uid"], item_key=lambda item: item.uid,
                          needs_items=True, uid_answer=True),
    group_by="question_types", description=__doc__ or "",
)
