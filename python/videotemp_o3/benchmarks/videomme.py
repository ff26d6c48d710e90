"""Video-MME (``lmms-lab/Video-MME``): 2700 four-option questions on 900 videos.

Published file: ``videomme/test-00000-of-00001.parquet`` with string columns ``video_id,
duration (short|medium|long), domain, sub_category, url, videoID, question_id, task_type,
question, options (list "A. …"), answer (letter)``; the video is ``<videoID>.mp4``
(lmms-eval unpacks the video zips into ``data/``).

Official scorer (``evaluation/eval_your_results.py``): :func:`~.answers.videomme_letter`;
unparsed answers are left out of every denominator (lmms-eval counts them wrong:
``--count-unparsed-as-wrong`` or ``--lmms-eval``); missing predictions are skipped as its
``skip_missing`` does. Accuracy overall, per duration, per domain (6), sub-category (30) and
task type (12), printed ``%.1f``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from . import answers
from .base import Benchmark, Item, Judgement, Policy, ScoreOptions
from .files import first_existing, read_parquet, resolve_video
from .metrics import Report, accuracy, accuracy_table, grouped
from .results import Response

DURATIONS = ("short", "medium", "long")
DOMAINS = ("Knowledge", "Film & Television", "Sports Competition", "Artistic Performance",
           "Life Record", "Multilingual")
SUB_CATEGORIES = (
    "Humanity & History", "Literature & Art", "Biology & Medicine", "Finance & Commerce",
    "Astronomy", "Geography", "Law", "Life Tip", "Technology", "Animation", "Movie & TV Show",
    "Documentary", "News Report", "Esports", "Basketball", "Football", "Athletics",
    "Other Sports", "Stage Play", "Magic Show", "Variety Show", "Acrobatics", "Handicraft",
    "Food", "Fashion", "Daily Life", "Travel", "Pet & Animal", "Exercise", "Multilingual")
TASK_TYPES = (
    "Temporal Perception", "Spatial Perception", "Attribute Perception", "Action Recognition",
    "Object Recognition", "OCR Problems", "Counting Problem", "Temporal Reasoning",
    "Spatial Reasoning", "Action Reasoning", "Object Reasoning", "Information Synopsis")

FILES = ("videomme/test-00000-of-00001.parquet",)
COLUMNS = ("duration", "domain", "sub_category", "videoID", "question_id", "task_type",
           "question", "options", "answer")
# Where the videos may sit: lmms-eval unpacks them into data/; lmms-eval also accepts .MP4
# and .mkv for the few videos published that way.
VIDEO_PATTERNS = tuple(f"{d}{{}}{ext}" for d in ("data/", "videos/", "video/", "")
                       for ext in (".mp4", ".MP4", ".mkv"))


def read(root: Path, name: str) -> list[Item]:
    path = first_existing(root, FILES + ("test-00000-of-00001.parquet",), name)
    items = []
    for rec in read_parquet(path, COLUMNS):
        duration = rec.text("duration")
        if duration not in DURATIONS:
            rec.fail("duration", f"expected one of {DURATIONS}, got {duration!r}")
        options = rec.strings("options", min_len=2)
        letters = [chr(ord("A") + i) for i in range(len(options))]
        for letter, opt in zip(letters, options):
            if not opt.startswith(f"{letter}."):
                rec.fail("options", f"option {opt!r:.40} does not start with {letter + '.'!r}")
        answer = rec.text("answer").strip()
        if answer not in letters:
            rec.fail("answer", f"expected one of {letters}, got {answer!r}")
        items.append(Item(
            uid=rec.text("question_id"), bench=name,
            video=resolve_video(root, rec.text("videoID"), VIDEO_PATTERNS, rec.where, "videoID"),
            question=rec.text("question"), options=tuple(options), answer=answer,
            fields={"duration": duration, "domain": rec.text("domain"),
                    "sub_category": rec.text("sub_category"), "task_type": rec.text("task_type"),
                    "video_id": str(rec.get("video_id", ""))},
            source=rec.where))
    return items


def judge(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    letter = answers.videomme_letter(response.answer)
    if letter is None:
        return Judgement("unparsed")
    return Judgement("scored", letter, correct=letter == item.answer)


def report(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy, options: ScoreOptions) -> Report:
    def by(field: str, order: Sequence[str]):
        return grouped(items, js, lambda it: [it.fields[field]], order)

    overall = accuracy(js.values(), policy)
    tables = [
        accuracy_table("duration", "Video duration", by("duration", DURATIONS), policy),
        accuracy_table("domain", "Video domain", by("domain", DOMAINS), policy,
                       flag="return_categories_accuracy"),
        accuracy_table("sub_category", "Video sub-category", by("sub_category", SUB_CATEGORIES), policy,
                       flag="return_sub_categories_accuracy"),
        accuracy_table("task_type", "Task type", by("task_type", TASK_TYPES), policy,
                       flag="return_task_types_accuracy"),
    ]
    tables[0].rows.append(("overall", overall))
    return Report("videomme", "Video-MME", {"overall": overall["acc"]}, tables)


BENCHMARK = Benchmark(
    name="videomme", title="Video-MME", answer_type="mcq", data_subdir="eval/videomme/data",
    files=FILES, read=read, judge=judge, report=report,
    policy=Policy(unparsed="exclude", missing="exclude"),
    lmms_eval_policy=Policy(unparsed="wrong", missing="wrong"),
    description=__doc__ or "",
)
