"""MLVU test set (``MLVU/MLVU_Test``): nine multiple-choice tasks on long videos.

Published file: ``test-ground-truth/test_mcq_gt.json``, a JSON list of ``{video, duration,
question, candidates (up to 6 texts), answer (the text of the right candidate),
question_type, question_id ("AR_0")}``; videos under ``video/``. The gold letter is the
position of ``answer`` among ``candidates`` (A–F), as the official ``qa_template`` does.

Official scoring: :func:`mlvu_letter`, every question counts (unparsed = wrong;
the online evaluator grades the whole set, so missing = wrong — ``--skip-missing`` for
partial runs). M-AVG = the unweighted mean of the per-task accuracies. ``--lmms-eval`` uses
lmms-eval's extraction instead, the Video-MME rule with ``[ABCD]`` (it cannot read E or F).

The release's output (``eval/mlvu/output/test.jsonl``): each annotation record plus
``response`` and ``gt_answer`` (the gold letter). ``--release``: the answer's first character
against the gold letter, an empty answer wrong, every line counted; overall accuracy only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Optional, Sequence

from .base import LMMS_EVAL, Benchmark, Item, Judgement, Policy, ReleaseFormat, ScoreOptions, Settings
from .files import first_existing, lettered, read_json_records, resolve_video
from .metrics import Report, Table, accuracy, accuracy_table, grouped, mean_of
from .release import RELEASE_NOTE, accuracy_cell, gold_letter, jsonl_records, text_of
from .results import Response
from .videomme import videomme_letter

TASKS = ("topic_reasoning", "anomaly_reco", "needleQA", "ego", "plotQA", "sportsQA", "order",
         "count", "tutorialQA")
FILES = ("test-ground-truth/test_mcq_gt.json",)


def mlvu_letter(text: str, letters: Sequence[str] = "ABCDEF") -> Optional[str]:
    """MLVU's check: the prediction is cut at its first ``")"`` and the rest must be the letter.

    The official prompt ends with ``"Best option: ("`` so the model continues ``"B) text"``.
    Our protocol has no such prefill, so the same answer arrives as ``"B"``, ``"(B)"``,
    ``"B)"`` or ``"B. text"``: after the cut we also drop a leading ``"("`` and accept a
    letter followed by a non-alphanumeric character. Case is significant, as in the official
    equality test. Six candidates: letters A–F. ``None`` = unparsed (scored wrong).
    """
    s = text.strip()
    if ")" in s:
        s = s[: s.index(")")]
    s = s.strip().lstrip("(").strip()
    m = re.match(r"([A-Z])(?![A-Za-z0-9])", s)
    if m and m.group(1) in letters:
        return m.group(1)
    return None


def read(root: Path, name: str, settings: Settings) -> list[Item]:
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
        letter = videomme_letter(response.answer)
    else:
        letter = mlvu_letter(response.answer, item.letters)
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


def release_score(records, items) -> Report:
    correct = 0
    for rec in records:
        response = text_of(rec.data.get("response"))
        correct += bool(response) and response[0] == gold_letter(rec, "gt_answer")
    cell = accuracy_cell(correct, len(records))
    table = Table("overall", "MLVU", ("acc", "correct", "n"), [("overall", cell)], decimals=2)
    return Report("mlvu", "MLVU (test)", {"accuracy": cell["acc"]}, [table],
                  notes=[f"{RELEASE_NOTE}: the answer's first character, an empty answer wrong; overall only"])


def _render(item: Item, response: Response) -> dict:
    return {"question_id": item.uid, "gt_answer": item.answer, "response": response.answer}


BENCHMARK = Benchmark(
    name="mlvu", title="MLVU (test)", task="mcq", data_subdir="eval/mlvu/data",
    files=FILES, read=read, judge=judge, report=report,
    policy=Policy(unparsed="wrong", missing="wrong"),
    lmms_eval_policy=Policy(unparsed="wrong", missing="wrong"), settings=(LMMS_EVAL,),
    release=ReleaseFormat(
        output="eval/mlvu/output/test.jsonl", render=_render, score=release_score,
        read=lambda doc: jsonl_records(doc, ("gt_answer",), "mlvu"),
        key=lambda rec: str(rec.data.get("question_id")), item_key=lambda item: item.uid),
    group_by="task", description=__doc__ or "",
)
