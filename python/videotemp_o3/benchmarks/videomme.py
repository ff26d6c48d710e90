"""Video-MME (``lmms-lab/Video-MME``): 2700 four-option questions on 900 videos.

Published file: ``videomme/test-00000-of-00001.parquet`` with string columns ``video_id,
duration (short|medium|long), domain, sub_category, url, videoID, question_id, task_type,
question, options (list "A. …"), answer (letter)``; the video is ``<videoID>.mp4``
(lmms-eval unpacks the video zips into ``data/``).

Official scorer (``evaluation/eval_your_results.py``): :func:`videomme_letter`;
unparsed answers are left out of every denominator (lmms-eval counts them wrong:
``--count-unparsed-as-wrong`` or ``--lmms-eval``); missing predictions are skipped as its
``skip_missing`` does. Accuracy overall, per duration, per domain (6), sub-category (30) and
task type (12), printed ``%.1f``. The extraction (:func:`videomme_letter`) keeps the official
scorer's quirks; MLVU's ``--lmms-eval`` reuses it.

The release's output (``eval/videomme/data/videomme/output/test.json``): a JSON list of videos
(``video_id, duration, domain, sub_category``) each with its ``questions`` (``question_id,
task_type, answer, response``). ``--release`` scores with the release's own extraction
(:func:`release_letter`: its longer prefix list, and an answer that does not then start with
A–D is left out) per duration type found in the file, then over all, ``%.1f``; the
``--return_*_accuracy`` tables have one column per duration type and "overall".
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import re
from typing import Optional

from .base import LMMS_EVAL, Benchmark, Item, Judgement, Policy, ReleaseFormat, ResultsError, ScoreOptions, Setting, Settings
from .files import Record, first_existing, read_parquet, resolve_video
from .metrics import Report, Table, accuracy, accuracy_table, grouped
from .release import RELEASE_NOTE, accuracy_cell, text_of
from .results import Response, ResultsDocument

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

# The official list has two missing commas, so Python joins neighbouring literals: "The best
# option is" + "The correct option is" and "Best answer:" + "Best option:" are single strings
# there, and neither half is ever stripped on its own. We keep the effective list: with the
# intended list, "Best answer: C" would give C, while the official scorer gives B (the B of
# "Best") — and comparable numbers need the official behaviour.
VIDEOMME_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
)


def videomme_letter(text: str, letters: Sequence[str] = "ABCD") -> Optional[str]:
    """Video-MME's extraction: strip the answer prefixes (every occurrence), then a response of
    more than 10 words with no option letter anywhere is unparsed, else the first capital
    option letter anywhere in the text (``"Because B"`` → ``B``). ``None`` = unparsed.

    ``letters`` generalises the official ``[ABCD]``.
    """
    s = text.strip()
    for prefix in VIDEOMME_PREFIXES:
        s = s.replace(prefix, "")
    pattern = "[" + "".join(letters) + "]"
    found = re.search(pattern, s)
    if found is None:  # covers the "> 10 words without a letter" rule and the empty answer
        return None
    return found.group(0)


FILES = ("videomme/test-00000-of-00001.parquet",)
COLUMNS = ("duration", "domain", "sub_category", "videoID", "question_id", "task_type",
           "question", "options", "answer")
# Where the videos may sit: lmms-eval unpacks them into data/; lmms-eval also accepts .MP4
# and .mkv for the few videos published that way.
VIDEO_PATTERNS = tuple(f"{d}{{}}{ext}" for d in ("data/", "videos/", "video/", "")
                       for ext in (".mp4", ".MP4", ".mkv"))


def read(root: Path, name: str, settings: Settings) -> list[Item]:
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
    letter = videomme_letter(response.answer)
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


# --- the release's output and scorer ----------------------------------------------------------

# The release's own prefix list (its eval/score.py), longer than the official one and without
# the official list's joined literals.
RELEASE_PREFIXES = (
    "The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
    "The correct option is", "Best answer:", "Best option:", "Answer:", "Option:", "The correct answer",
    "The correct option",
)


def release_letter(text: str) -> Optional[str]:
    """The release's Video-MME extraction: strip, remove every prefix (the text is not
    stripped again, so "The answer is B" leaves " B"), a reply of more than 10 words with no
    A–D is unreadable, and so is one that does not start with A–D; else the first A–D.
    ``None``: left out of every count."""
    s = text.strip()
    for prefix in RELEASE_PREFIXES:
        s = s.replace(prefix, "")
    if len(s.split()) > 10 and not re.search("[ABCD]", s):
        return None
    if s and s[0] not in "ABCD":
        return None
    found = re.search("[ABCD]", s)
    return found.group(0) if found else None


_QUESTION_FIELDS = ("question_id", "task_type", "answer", "response")
_VIDEO_FIELDS = ("duration", "domain", "sub_category")


def _release_read(doc: ResultsDocument) -> list[Record]:
    if not doc.whole or not isinstance(doc.value, list):
        raise ResultsError(f"{doc.path}: expected the release's Video-MME output, a JSON list of videos with "
                           "'questions' (its videomme.py writes it after the run)")
    records = []
    for i, video in enumerate(doc.value):
        where = f"{doc.path}[{i}]"
        if not isinstance(video, dict):
            raise ResultsError(f"{where}: expected a video object, got {type(video).__name__}")
        vrec = Record(video, where, ResultsError)
        shared = {k: vrec.text(k) for k in _VIDEO_FIELDS}
        questions = vrec.require("questions")
        if not isinstance(questions, list):
            vrec.fail("questions", f"expected a list, got {type(questions).__name__}")
        for j, q in enumerate(questions):
            qwhere = f"{where} questions[{j}]"
            if not isinstance(q, dict):
                raise ResultsError(f"{qwhere}: expected a question object, got {type(q).__name__}")
            rec = Record({**shared, **q}, qwhere, ResultsError)
            for k in _QUESTION_FIELDS:
                rec.require(k)
            records.append(rec)
    return records


def _render(item: Item, response: Response) -> dict:
    return {"question_id": item.uid, "answer": item.answer, "response": response.answer,
            **{k: item.fields[k] for k in ("duration", "domain", "sub_category", "task_type")}}


def release_score(records, items) -> Report:
    """The release's numbers: accuracy over the answers it can read, per duration type found
    in the file (sorted, as its default), then over all; per domain, sub-category and task
    type in each of those columns."""
    durations = sorted({str(r.data["duration"]) for r in records})
    columns = (*durations, "overall")
    groups = {"domain": DOMAINS, "sub_category": SUB_CATEGORIES, "task_type": TASK_TYPES}
    # (group, label) -> column -> [correct, answered]; label None is the group's total.
    tally: dict[tuple[str, Optional[str]], dict[str, list[int]]] = {}

    def count(group: str, label: Optional[str], column: str, right: bool) -> None:
        cell = tally.setdefault((group, label), {c: [0, 0] for c in columns})[column]
        cell[0] += right
        cell[1] += 1

    for rec in records:
        letter = release_letter(text_of(rec.data["response"]))
        if letter is None:
            continue
        right = letter == rec.data["answer"]
        for column in (str(rec.data["duration"]), "overall"):
            count("all", None, column, right)
            for group in groups:
                count(group, str(rec.data[group]), column, right)

    empty = {c: [0, 0] for c in columns}
    total = tally.get(("all", None), empty)
    rows = [(c, accuracy_cell(*total[c])) for c in columns]
    tables = [Table("duration", "Video duration (answered questions only)", ("acc", "correct", "n"), rows)]
    titles = {"domain": "Video domain", "sub_category": "Video sub-category", "task_type": "Task type"}
    flags = {"domain": "return_categories_accuracy", "sub_category": "return_sub_categories_accuracy",
             "task_type": "return_task_types_accuracy"}
    for group, order in groups.items():
        found = [label for g, label in tally if g == group and label is not None and label not in order]
        table_rows = [(label, {c: accuracy_cell(*tally.get((group, label), empty)[c])["acc"] for c in columns})
                      for label in (*order, *found)]
        tables.append(Table(group, f"{titles[group]} (one column per duration)", columns, table_rows,
                            flag=flags[group]))
    left_out = len(records) - total["overall"][1]
    notes = [f"{RELEASE_NOTE}: its prefix list; an answer not starting with A–D is left out",
             f"{left_out} of {len(records)} answer(s) left out as unreadable"]
    return Report("videomme", "Video-MME", {"overall": rows[-1][1]["acc"]}, tables, notes=notes)


TABLE_SETTINGS = (
    Setting("--return_categories_accuracy", "Video-MME: accuracy per domain", scope="score"),
    Setting("--return_sub_categories_accuracy", "Video-MME: accuracy per sub-category", scope="score"),
    Setting("--return_task_types_accuracy", "Video-MME: accuracy per task type", scope="score"),
)


BENCHMARK = Benchmark(
    name="videomme", title="Video-MME", task="mcq", data_subdir="eval/videomme/data",
    files=FILES, read=read, judge=judge, report=report,
    policy=Policy(unparsed="exclude", missing="exclude"),
    lmms_eval_policy=Policy(unparsed="wrong", missing="wrong"),
    settings=(*TABLE_SETTINGS, LMMS_EVAL),
    release=ReleaseFormat(
        output="eval/videomme/data/videomme/output/test.json", render=_render, score=release_score,
        read=_release_read, key=lambda rec: str(rec.data["question_id"]), item_key=lambda item: item.uid),
    group_by="duration", description=__doc__ or "",
)
