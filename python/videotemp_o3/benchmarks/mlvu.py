"""MLVU test set (``MLVU/MLVU_Test``): nine multiple-choice tasks on long videos.

Published file: ``test-ground-truth/test_mcq_gt.json``, a JSON list of ``{video, duration,
question, candidates (up to 6 texts), answer (the text of the right candidate),
question_type, question_id ("AR_0")}``; videos under ``video/``. The gold letter is the
position of ``answer`` among ``candidates`` (A–F), as the official ``qa_template`` does.

Official scoring: :func:`~.answers.mlvu_letter`, every question counts (unparsed = wrong;
the online evaluator grades the whole set, so missing = wrong — ``--skip-missing`` for
partial runs). M-AVG = the unweighted mean of the per-task accuracies. ``--lmms-eval`` uses
lmms-eval's extraction instead, the Video-MME rule with ``[ABCD]`` (it cannot read E or F).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from . import answers
from .base import Benchmark, Item, Judgement, Policy, ScoreOptions
from .files import first_existing, lettered, read_json_records, resolve_video
from .metrics import Report, accuracy, accuracy_table, grouped, mean_of
from .results import Response

TASKS = ("topic_reasoning", "anomaly_reco", "needleQA", "ego", "plotQA", "sportsQA", "order",
         "count", "tutorialQA")
FILES = ("test-ground-truth/test_mcq_gt.json",)


def read(root: Path, name: str) -> list[Item]:
    path = first_existing(root, FILES + ("test_mcq_gt.json",), name)
    items = []
    for rec in read_json_records(path):
        candidates = rec.strings("candidates", min_len=2)
        if len(candidates) > 6:
            rec.fail("candidates", f"expected at most 6 candidates (A–F), got {len(candidates)}")
        answer = rec.text("answer", allow_empty=True)
        if answer not in candidates:
            rec.fail("answer", f"{answer!r:.60} is not one of the candidates")
        items.append(Item(
            uid=rec.text("question_id"), bench=name,
            video=resolve_video(root, rec.text("video"), ["video/{}", "videos/{}"], rec.where, "video"),
            question=rec.text("question"), options=lettered(candidates),
            answer=chr(ord("A") + candidates.index(answer)),
            duration=rec.number("duration") if rec.has("duration") else None,
            fields={"task": rec.text("question_type")}, source=rec.where))
    return items


def judge(item: Item, response: Response, options: ScoreOptions) -> Judgement:
    if options.lmms_eval:
        letter = answers.videomme_letter(response.answer)
    else:
        letter = answers.mlvu_letter(response.answer, item.letters)
    if letter is None:
        return Judgement("unparsed")
    return Judgement("scored", letter, correct=letter == item.answer)


def report(items: Sequence[Item], js: Mapping[str, Judgement], policy: Policy, options: ScoreOptions) -> Report:
    groups = grouped(items, js, lambda it: [it.fields["task"]], TASKS)
    table = accuracy_table("task", "Task", groups, policy)
    present = [cell["acc"] for _, cell in table.rows if cell["n"]]
    micro = accuracy(js.values(), policy)
    m_avg = mean_of(present)
    # M-AVG is a mean of rates, so it has no "correct" count of its own.
    table.rows.append(("M-AVG", {"acc": m_avg, "correct": None, "n": micro["n"]}))
    table.rows.append(("micro", micro))
    notes = []
    if len(present) < len(TASKS):
        notes.append(f"M-AVG averages the {len(present)} task(s) with scored items, not all {len(TASKS)}")
    return Report("mlvu", "MLVU (test)", {"M-AVG": m_avg, "micro": micro["acc"]}, [table], notes=notes)


BENCHMARK = Benchmark(
    name="mlvu", title="MLVU (test)", answer_type="mcq", data_subdir="eval/mlvu/data",
    files=FILES, read=read, judge=judge, report=report,
    policy=Policy(unparsed="wrong", missing="wrong"),
    lmms_eval_policy=Policy(unparsed="wrong", missing="wrong"),
    description=__doc__ or "",
)
