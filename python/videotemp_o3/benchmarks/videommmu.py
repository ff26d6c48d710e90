"""Video-MMMU (``lmms-lab/VideoMMMU``): lecture videos, three tracks of 300 questions.

Published files: ``<Track>/test-00000-of-00001.parquet`` for Perception, Comprehension,
Adaptation, with ``id, question, options (up to 10 texts), answer (letter, or the reference
text of an open question), question_type ("multiple-choice" | "open")`` and, in Adaptation,
``image`` (placed where the question says ``<image 1>``; the marker stays in the text).
The video is ``<id>.mp4``: under ``videos/``, ``video/`` (the release's layout,
``eval/videommmu/data/video/<id>.mp4``), a folder per discipline (lmms-eval's) or the data root.
``--mcq-only`` reads the multiple-choice questions only, as the release evaluates.

uid: ``"<Track>/<id>"``. The same ``id`` names one video's question in each of the three
tracks (``dev_Biology_3`` is in Perception and in Adaptation), so ``id`` alone — what docs/design.md
§8 says — is not unique within the benchmark.

Official scoring (lmms-eval, MMMU-style): :func:`mmmu_choice` for multiple choice,
:func:`mmmu_open_predictions` / :func:`mmmu_open_correct` for open
questions; an empty response ("API Error") is left out, "No Answer Found." is wrong.
Per-track accuracy; overall = the mean of the three tracks. The parsers are below
(:func:`mmmu_choice`, :func:`mmmu_open_predictions`, :func:`mmmu_open_correct`).

The release's output (``eval/videommmu/output/test.jsonl``): multiple-choice questions only,
``{question, gt_answer, task (the track), video_path, image_path, response}``, matched to items
by track and the video file's name (the question id). ``--release``: the answer's first
character if it is A–N, else "A"; accuracy per track and their plain mean ("Average", a track
without questions counting 0), two decimals.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path, PurePosixPath
from typing import Mapping, Optional, Sequence, Union

from .base import Benchmark, BenchmarkDataError, Item, Judgement, Policy, ReleaseFormat, ScoreOptions, Setting, Settings
from .files import Record, lettered, read_parquet, resolve_video
from .metrics import Report, Table, accuracy, accuracy_table, grouped, mean_of
from .release import RELEASE_NOTE, accuracy_cell, first_letter_or_a, gold_letter, jsonl_records
from ..protocol import Task
from .results import Response

TRACKS = ("Perception", "Comprehension", "Adaptation")
FILES = tuple(f"{t}/test-00000-of-00001.parquet" for t in TRACKS)
COLUMNS = ("id", "question", "options", "answer")
MCQ_ONLY = Setting("--mcq-only", "Video-MMMU: read the multiple-choice questions only (the release skips the open ones)")

# lmms-eval unpacks the videos into one folder per MMMU discipline; the subject is the
# middle of the id ("validation_Basic_Medical_Science_12" → "Basic_Medical_Science").
_DISCIPLINE = {
    "Art": ("Art", "Art_Theory", "Design", "Music"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Humanities": ("History", "Literature", "Sociology", "Psychology"),
    "Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                    "Energy_and_Power", "Materials", "Mechanical_Engineering"),
    "Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                 "Pharmacy", "Public_Health"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
}
_DISCIPLINE_OF = {s: d for d, subjects in _DISCIPLINE.items() for s in subjects}


# --- the official (lmms-eval, MMMU-style) parsers ---------------------------------------------

MMMU_NO_ANSWER = "No Answer Found."


def mmmu_choice(response: str, letters: Sequence[str], option_texts: Sequence[str]) -> str:
    """Video-MMMU's multiple-choice parser (lmms-eval ``parse_videommmu_multi_choice_response``).

    Steps, in order: strip the characters ``, . ! ? ; : '`` from both ends (one character kind
    after another) and pad with spaces; candidates are letters written ``"A."`` and ``"A:"``;
    failing those ``"(A)"``; failing those ``"A "``; failing those, if the response has more
    than 5 words, options whose text occurs in it (case-insensitive). Several candidates: the
    one whose pattern occurs last (first of equals). None: :data:`MMMU_NO_ANSWER` (wrong).

    The caller handles the empty response, which lmms-eval marks "API Error" and leaves out.
    """
    r = response
    for ch in ",.!?;:'":
        r = r.strip(ch)
    r = f" {r} "

    by_text = False
    with_period = [c for c in letters if f"{c}." in r]
    with_colon = [c for c in letters if f"{c}:" in r]
    candidates = with_period + with_colon  # a letter may appear twice; harmless for the argmax
    pattern = "{}." if with_period else "{}:"
    if not candidates:
        candidates = [c for c in letters if f"({c})" in r]
        pattern = "({})"
    if not candidates:
        candidates = [c for c in letters if f"{c} " in r]
        pattern = " {} "  # located as " A " (with both spaces), as the original does
    if not candidates and len(r.split()) > 5:
        low = r.lower()
        candidates = [c for c, t in zip(letters, option_texts) if t.lower() in low]
        by_text = True

    if not candidates:
        return MMMU_NO_ANSWER
    if len(candidates) == 1:
        return candidates[0]
    if by_text:
        low = r.lower()
        text_of = dict(zip(letters, option_texts))
        positions = [low.rfind(text_of[c].lower()) for c in candidates]
    else:
        positions = [r.rfind(pattern.format(c)) for c in candidates]
    best = max(range(len(candidates)), key=lambda i: (positions[i], -i))  # first of the maxima
    return candidates[best]


# Numbers as the MMMU open-answer parser finds them: thousands with commas, scientific
# notation, then plain integers/decimals not followed by an exponent or more digits/commas.
_NUM_WITH_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUM_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUM_PLAIN = re.compile(
    r"""-?
        (?: \d+\.\d+      # 12.5
          | \.\d+         # .5
          | \d+\b )       # 12
        (?![eE][+-]?\d+)  # not the mantissa of 1e5
        (?![,\d])         # not the head of 1,000
    """,
    re.VERBOSE,
)

# Phrases after which the answer usually follows ("… the total is 12").
_KEY_INDICATORS = (
    "could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ", "are ",
    "in total ", "total ", "identify ", "recognize ", "calculated as ", "counted as ",
    "measured as ", "observed as ", "concluded as ", "found to be ", "equals ",
    "determined to be ", "number of ", "value is ", "adds up to ", "have ", "has ",
)
_TRIVIAL = {":", ",", ".", "!", "?", ";", "'"}

OpenValue = Union[float, str]


def _numbers(s: str) -> list[str]:
    return _NUM_WITH_COMMAS.findall(s) + _NUM_SCIENTIFIC.findall(s) + _NUM_PLAIN.findall(s)


def _normalise(s: str) -> list[OpenValue]:
    """A number (commas removed) becomes ``round(float, 2)``; other text is lower-cased, and a
    single character becomes ``[" x", "x "]`` so that it only matches as a word edge."""
    s = s.strip()
    try:
        return [round(float(s.replace(",", "")), 2)]
    except ValueError:
        s = s.lower()
        return [" " + s, s + " "] if len(s) == 1 else [s]


def _key_subresponses(response: str) -> list[str]:
    text = response.strip().strip(".").lower()
    # The original splits on r"\.\s(?=[A-Z])|\n" *after* lower-casing, so the sentence split
    # can never match: only line breaks separate sub-responses. Kept.
    parts = text.split("\n")
    keys = []
    for index, part in enumerate(parts):
        indicators = _KEY_INDICATORS + (("=",) if index == len(parts) - 1 else ())
        shortest: Optional[str] = None
        for ind in indicators:
            if ind not in part:
                continue
            tail = part.split(ind)[-1].strip()
            # Same update rule as the original: an empty current value is replaced by any
            # tail; otherwise only a strictly shorter tail replaces it.
            if not shortest or len(tail) < len(shortest):
                shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL:
            keys.append(shortest)
    return keys or [text]


def mmmu_open_predictions(response: str) -> list[OpenValue]:
    """Video-MMMU's open-answer parser: the key sub-responses and every number in them, each
    normalised (numbers as floats rounded to 2 places, text lower-cased); duplicates removed.
    The caller handles the empty response (lmms-eval's "API Error")."""
    keys = _key_subresponses(response)
    raw = list(keys)
    for k in keys:
        raw.extend(_numbers(k))
    out: list[OpenValue] = []
    for r in raw:
        for v in _normalise(r):
            if v not in out:
                out.append(v)
    return out


def mmmu_open_correct(gold: str, predictions: Sequence[OpenValue]) -> bool:
    """Correct if a text prediction contains a normalised gold text, or a numeric prediction
    equals a normalised gold number (after rounding both to 2 places)."""
    golds = _normalise(gold)
    for p in predictions:
        if isinstance(p, str):
            if any(isinstance(g, str) and g in p for g in golds):
                return True
        elif p in golds:
            return True
    return False


# --- reading ----------------------------------------------------------------------------------

def _options(rec: Record) -> list[str]:
    value = rec.require("options")
    if isinstance(value, str):  # MMMU-family files sometimes store the list as its repr
        try:
            value = ast.literal_eval(value) if value.strip() else []
        except (ValueError, SyntaxError):
            rec.fail("options", f"neither a list nor a list literal: {value!r:.60}")
        return Record({"options": value}, rec.where).strings("options")
    return rec.strings("options")


def _image(rec: Record) -> tuple[bytes, ...]:
    value = rec.get("image")
    if value is None:
        return ()
    if isinstance(value, dict):  # the datasets Image feature: {"bytes": …, "path": …}
        value = value.get("bytes")
    if not isinstance(value, (bytes, bytearray)) or not value:
        rec.fail("image", "expected encoded image bytes")
    return (bytes(value),)


def read(root: Path, name: str, settings: Settings) -> list[Item]:
    present = [(t, root / f) for t, f in zip(TRACKS, FILES) if (root / f).is_file()]
    if not present:
        raise BenchmarkDataError(f"{name}: none of {[str(root / f) for f in FILES]} exists")
    items = []
    for track, path in present:
        for rec in read_parquet(path, COLUMNS):
            qid = rec.text("id")
            options = _options(rec)
            qtype = rec.get("question_type")
            # Perception/Comprehension rows may carry no question type; with options they are
            # multiple choice (lmms-eval would send a type-less row to the open-answer scorer,
            # which cannot score a letter answer sensibly).
            task: Task
            if qtype in ("multiple-choice", "perception") or (qtype is None and options):
                task, answer = "mcq", rec.text("answer").strip()
                letters = [chr(ord("A") + i) for i in range(len(options))]
                if answer not in letters:
                    rec.fail("answer", f"expected one of {letters}, got {answer!r}")
            elif qtype == "open" or qtype is None:
                task, answer = "open", rec.text("answer")
            else:
                rec.fail("question_type", f"expected 'multiple-choice' or 'open', got {qtype!r}")
            if task == "open" and settings.get("mcq_only"):
                continue
            subject = "_".join(qid.split("_")[1:-1])
            discipline = _DISCIPLINE_OF.get(subject, "videos")
            items.append(Item(
                uid=f"{track}/{qid}", bench=name,
                video=resolve_video(root, qid, ["videos/{}.mp4", "video/{}.mp4", discipline + "/{}.mp4", "{}.mp4"],
                                    rec.where, "id"),
                question=rec.text("question"),
                options=lettered(options) if task == "mcq" else (),
                answer=answer, task=task,
                fields={"track": track, "subject": subject, "question_type": qtype or task, "id": qid},
                images=_image(rec), source=rec.where))
    return items


def judge(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    text = response.answer
    if text == "":  # lmms-eval's "API Error": left out of the accuracy
        return Judgement("unparsed")
    if item.task == "mcq":
        letter = mmmu_choice(text, item.letters, item.option_texts)
        return Judgement("scored", letter, correct=letter == item.answer)
    preds = mmmu_open_predictions(text)
    return Judgement("scored", preds, correct=mmmu_open_correct(item.answer or "", preds))


def report(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy, options: ScoreOptions) -> Report:
    table = accuracy_table("track", "Track", grouped(items, js, lambda it: [it.fields["track"]], TRACKS), policy)
    overall = mean_of(cell["acc"] for _, cell in table.rows if cell["n"])
    micro = accuracy(js.values(), policy)
    table.rows.append(("overall", {"acc": overall, "correct": None, "n": micro["n"]}))
    table.rows.append(("micro", micro))
    return Report("videommmu", "Video-MMMU", {"overall": overall, "micro": micro["acc"]}, [table],
                  notes=["overall = unweighted mean of the track accuracies"])


# --- the release's output and scorer ----------------------------------------------------------

def _release_key(rec: Record):
    path = rec.data.get("video_path")
    return (rec.data.get("task"), PurePosixPath(str(path).replace("\\", "/")).stem if path else None)


def release_score(records, items) -> Report:
    right = {t: 0 for t in TRACKS}
    total = {t: 0 for t in TRACKS}
    for rec in records:
        track = rec.data["task"]
        if track not in total:
            rec.fail("task", f"expected one of {', '.join(TRACKS)}, got {track!r:.40}")
        total[track] += 1
        right[track] += first_letter_or_a(rec.data.get("response"), "ABCDEFGHIJKLMN") == gold_letter(rec, "gt_answer")
    # The release's order: Adaptation, Comprehension, Perception; an empty track counts 0.
    order = ("Adaptation", "Comprehension", "Perception")
    rows = [(t, accuracy_cell(right[t], total[t], empty=0.0)) for t in order]
    average = sum(cell["acc"] for _, cell in rows) / len(rows)
    rows.append(("Average", {"acc": average, "correct": None, "n": sum(total.values())}))
    table = Table("track", "Track", ("acc", "correct", "n"), rows, decimals=2)
    return Report("videommmu", "Video-MMMU", {"Average": average}, [table],
                  notes=[f"{RELEASE_NOTE}: multiple choice only; the answer's first character if it is A–N, "
                         "else A; Average = plain mean of the three tracks"])


def _render(item: Item, response: Response) -> Optional[dict]:
    if item.task != "mcq":
        return None  # the release never asks the open questions
    return {"task": item.fields["track"], "gt_answer": item.answer, "response": response.answer,
            "video_path": f"video/{item.fields['id']}.mp4"}


BENCHMARK = Benchmark(
    name="videommmu", title="Video-MMMU", task="mcq", data_subdir="eval/videommmu/data",
    files=FILES, read=read, judge=judge, report=report,
    policy=Policy(unparsed="exclude", missing="exclude"), settings=(MCQ_ONLY,),
    release=ReleaseFormat(
        output="eval/videommmu/output/test.jsonl", render=_render, score=release_score,
        read=lambda doc: jsonl_records(doc, ("task", "gt_answer"), "videommmu"),
        key=_release_key, item_key=lambda item: (item.fields["track"], item.fields["id"])),
    group_by="track", description=__doc__ or "",
)
