"""Video-MMMU (``lmms-lab/VideoMMMU``): lecture videos, three tracks of 300 questions.

Published files: ``<Track>/test-00000-of-00001.parquet`` for Perception, Comprehension,
Adaptation, with ``id, question, options (up to 10 texts), answer (letter, or the reference
text of an open question), question_type ("multiple-choice" | "open")`` and, in Adaptation,
``image`` (placed where the question says ``<image 1>``; the marker stays in the text).
The video is ``<id>.mp4``.

uid: ``"<Track>/<id>"``. The same ``id`` names one video's question in each of the three
tracks (``dev_Biology_3`` is in Perception and in Adaptation), so ``id`` alone — what docs/design.md
§8 says — is not unique within the benchmark.

Official scoring (lmms-eval, MMMU-style): :func:`~.answers.mmmu_choice` for multiple choice,
:func:`~.answers.mmmu_open_predictions` / :func:`~.answers.mmmu_open_correct` for open
questions; an empty response ("API Error") is left out, "No Answer Found." is wrong.
Per-track accuracy; overall = the mean of the three tracks.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Mapping, Sequence

from . import answers
from .base import Benchmark, BenchmarkDataError, Item, Judgement, Policy, ScoreOptions
from .files import Record, lettered, read_parquet, resolve_video
from .metrics import Report, accuracy, accuracy_table, grouped, mean_of
from .results import Response

TRACKS = ("Perception", "Comprehension", "Adaptation")
FILES = tuple(f"{t}/test-00000-of-00001.parquet" for t in TRACKS)
COLUMNS = ("id", "question", "options", "answer")

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


def read(root: Path, name: str) -> list[Item]:
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
            if qtype in ("multiple-choice", "perception") or (qtype is None and options):
                answer_type, answer = "mcq", rec.text("answer").strip()
                letters = [chr(ord("A") + i) for i in range(len(options))]
                if answer not in letters:
                    rec.fail("answer", f"expected one of {letters}, got {answer!r}")
            elif qtype == "open" or qtype is None:
                answer_type, answer = "open", rec.text("answer")
            else:
                rec.fail("question_type", f"expected 'multiple-choice' or 'open', got {qtype!r}")
            subject = "_".join(qid.split("_")[1:-1])
            discipline = _DISCIPLINE_OF.get(subject, "videos")
            items.append(Item(
                uid=f"{track}/{qid}", bench=name,
                video=resolve_video(root, qid, ["videos/{}.mp4", discipline + "/{}.mp4", "{}.mp4"],
                                    rec.where, "id"),
                question=rec.text("question"),
                options=lettered(options) if answer_type == "mcq" else (),
                answer=answer, answer_type=answer_type,
                fields={"track": track, "subject": subject, "question_type": qtype or answer_type},
                images=_image(rec), source=rec.where))
    return items


def judge(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    text = response.answer
    if text == "":  # lmms-eval's "API Error": left out of the accuracy
        return Judgement("unparsed")
    if item.answer_type == "mcq":
        letter = answers.mmmu_choice(text, item.letters, item.option_texts)
        return Judgement("scored", letter, correct=letter == item.answer)
    preds = answers.mmmu_open_predictions(text)
    return Judgement("scored", preds, correct=answers.mmmu_open_correct(item.answer or "", preds))


def report(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy, options: ScoreOptions) -> Report:
    table = accuracy_table("track", "Track", grouped(items, js, lambda it: [it.fields["track"]], TRACKS), policy)
    overall = mean_of(cell["acc"] for _, cell in table.rows if cell["n"])
    micro = accuracy(js.values(), policy)
    table.rows.append(("overall", {"acc": overall, "correct": None, "n": micro["n"]}))
    table.rows.append(("micro", micro))
    return Report("videommmu", "Video-MMMU", {"overall": overall, "micro": micro["acc"]}, [table],
                  notes=["overall = unweighted mean of the track accuracies"])


BENCHMARK = Benchmark(
    name="videommmu", title="Video-MMMU", answer_type="mcq", data_subdir="eval/videommmu/data",
    files=FILES, read=read, judge=judge, report=report,
    policy=Policy(unparsed="exclude", missing="exclude"),
    description=__doc__ or "",
)
