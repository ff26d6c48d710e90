"""The release's own output files, read by ``eval/score.py`` (detected) and scored two ways: with
each benchmark's official scorer (default) and with the release's ``eval/score.py`` rules
(``--release``), whose numbers below are worked out by hand from those rules:

- letters (VideoTemp-Bench A–E, LVBench A–E, Video-MMMU A–N): the first character if allowed,
  else "A" (an empty answer guesses A);
- MLVU: first character, an empty answer wrong, overall only;
- Video-MME: the release's prefix list, and an answer not starting with A–D is left out;
- grounding: the first two numbers as written, no clamp, R@t counts IoU > t, Avg = mean of
  mIoU and the three R@.
"""

import json
from pathlib import Path

import pytest

from test_benchmarks_videomme import ROWS as MME_ROWS
from test_benchmarks_videomme import write_parquet as write_videomme
from test_benchmarks_videommmu import write_data as write_videommmu
from videotemp_o3.benchmarks import ResultRecord, ResultsError, append_result, get_benchmark, score
from videotemp_o3.benchmarks.score import main


def q(stem):
    return f"{stem}\nA. a cup\nB. a pen\nC. a book\nD. a phone"


def jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run_json(capsys, argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def run_table(capsys, argv) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


# --- VideoTemp-Bench (MCQ) ------------------------------------------------------------------------

# duration, gold, response → the release's letter
VT_MCQ = [
    (100, "B", "B"),                 # <3min    B        right
    (200, "A", ""),                  # 3-10min  empty→A  right (a guess of A)
    (300, "C", "The answer is C"),   # 3-10min  T→A      wrong
    (700, "D", "D. a phone"),        # 10-20min D        right
    (1300, "A", "F"),                # >20min   F→A      right (F is not A–E)
    (50, "C", " C"),                 # <3min    ' '→A    wrong (not stripped)
]


def vt_data(root: Path, rows) -> list[dict]:
    records = [{"videos": [f"LongVILA/v{i}"], "question": q(f"Question {i}?"), "answer": gold, "duration": d,
                "timestamp": ts} for i, (d, gold, ts) in enumerate(rows)]
    jsonl(root / "data.jsonl", records)
    return records


def test_videotemp_release_file(tmp_path, capsys):
    data = vt_data(tmp_path / "data", [(d, g, [1, 2]) for d, g, _ in VT_MCQ])
    # The release's output: each data record as read, plus response and conv_history, in
    # completion order (here reversed), and no uid.
    out = jsonl(tmp_path / "test.jsonl", [dict(rec, response=r, conv_history=["..."])
                                          for rec, (_, _, r) in reversed(list(zip(data, VT_MCQ)))])
    report = run_json(capsys, ["videotemp", "--input_file", str(out), "--release"])
    table = report["tables"]["duration"]
    # By hand: <3min 1/2, 3-10min 1/2, 10-20min 1/1, >20min 1/1, overall 4/6.
    assert [table[b]["acc"] for b in ("<3min", "3-10min", "10-20min", ">20min")] == [50.0, 50.0, 100.0, 100.0]
    assert (table["overall"]["correct"], table["overall"]["n"]) == (4, 6)
    assert report["summary"]["overall"] == pytest.approx(400 / 6)
    text = run_table(capsys, ["videotemp", "--input_file", str(out), "--release"])
    assert "66.67" in text and "records 6" in text  # printed with the release's two decimals

    # The same file with the official scorer (detected, matched to the items by video and question):
    # our parser reads "The answer is C" and " C", and neither "" nor "F" (4 options).
    official = score("videotemp", out, tmp_path / "data").as_dict()
    assert official["meta"]["results_format"] == "release"
    assert official["counts"]["answered"] == 6 and official["counts"]["unparsed"] == 2
    assert [official["tables"]["duration"][b]["acc"] for b in ("<3min", "3-10min", "10-20min", ">20min")] \
        == [100.0, 50.0, 100.0, 0.0]


# --- VideoTemp-Bench (grounding) ------------------------------------------------------------------

# duration, gold span, response → the release's IoU
VT_G = [
    (100, [10, 20], "The event happens in the 10.00 - 20.00 seconds."),  # <3min    1
    (200, [100, 200], "150-250"),                                        # 3-10min  [150, -250] → 0
    (700, [300, 400], "[250, 350]"),                                     # 10-20min 50/150
    (1300, [0, 100], "no idea"),                                         # >20min   no numbers → 0
    (50, [10, 30], "[-10, 20]"),                                         # <3min    no clamp: 10/40
    (400, [0, 10], "0 5"),                                               # 3-10min  0.5, not > 0.5
]
# By hand, per part: (mIoU, R@0.3, R@0.5, R@0.7, Avg)
VT_G_EXPECTED = {
    "<3min": (62.5, 50.0, 50.0, 50.0, 53.125),
    "3-10min": (25.0, 50.0, 0.0, 0.0, 18.75),
    "10-20min": (100 / 3, 100.0, 0.0, 0.0, (100 / 3 + 100) / 4),
    ">20min": (0.0, 0.0, 0.0, 0.0, 0.0),
    "overall": (100 * (1 + 0 + 1 / 3 + 0 + 0.25 + 0.5) / 6, 50.0, 100 / 6, 100 / 6,
                (100 * (1 + 1 / 3 + 0.25 + 0.5) / 6 + 50 + 100 / 6 + 100 / 6) / 4),
}


def check_grounding(table):
    for part, expected in VT_G_EXPECTED.items():
        got = tuple(table[part][k] for k in ("mIoU", "R@0.3", "R@0.5", "R@0.7", "Avg"))
        assert got == pytest.approx(expected), part


def test_videotemp_g_release_file(tmp_path, capsys):
    data = vt_data(tmp_path / "data", [(d, "B", ts) for d, ts, _ in VT_G])
    out = jsonl(tmp_path / "test-g.jsonl", [dict(rec, response=r) for rec, (_, _, r) in zip(data, VT_G)])
    report = run_json(capsys, ["videotemp-g", "--input_file", str(out), "--release"])
    check_grounding(report["tables"]["duration"])
    assert any("parse errors (no two numbers in the answer): 1" in n for n in report["notes"])
    text = run_table(capsys, ["videotemp-g", "--input_file", str(out), "--release"])
    assert "53.12" in text and "29.51" in text  # <3min Avg and overall Avg, as the release prints them


def test_release_rules_on_our_results(tmp_path, capsys):
    """--release on our own results file: the same answers give the same numbers."""
    root = tmp_path / "data"
    vt_data(root, [(d, "B", ts) for d, ts, _ in VT_G])
    ours = tmp_path / "results.jsonl"
    for uid, (_, _, text) in enumerate(VT_G):
        append_result(ours, ResultRecord(str(uid), "videotemp-g", f"<think>t</think><answer>{text}</answer>", None))
    report = run_json(capsys, ["videotemp-g", "--input_file", str(ours), "--data-dir", str(root), "--release"])
    assert report["meta"]["results_format"] == "jsonl"
    check_grounding(report["tables"]["duration"])


# --- Video-MME --------------------------------------------------------------------------------------

# question_id → (response, how the release reads it)
MME_RESPONSES = {
    "001-1": "A",                  # A, right (gold A)
    "001-2": "The answer is C",    # " C" after the prefix: does not start with A–D → left out
    "002-1": "C, the count is 3",  # C, right
    "003-1": "",                   # empty → left out
    "003-2": "Correct is A",       # starts with C → the first A–D is that C: wrong (gold A)
    "004-1": "Answer: B",          # " B" → left out
    "004-2": "D",                  # wrong (gold C)
    "005-1": "E",                  # not A–D → left out
}


def mme_release_file(path: Path) -> Path:
    videos: dict[str, dict] = {}
    for qid, dur, dom, sub, task, ans, vid in MME_ROWS:
        video = videos.setdefault(qid.split("-")[0], {
            "video_id": qid.split("-")[0], "video_path": f"lmms-lab/Video-MME/data/{vid}.mp4", "duration": dur,
            "domain": dom, "sub_category": sub, "questions": []})
        video["questions"].append({"question_id": qid, "task_type": task, "question": f"Question {qid}?",
                                   "options": [], "answer": ans, "response": MME_RESPONSES[qid],
                                   "conv_history": []})
    path.write_text(json.dumps(list(videos.values()), indent=4))
    return path


def test_videomme_release_file(tmp_path, capsys):
    out = mme_release_file(tmp_path / "test.json")
    report = run_json(capsys, ["videomme", "--input_file", str(out), "--release", "--return_task_types_accuracy"])
    # Answered: 001-1 ✓ (short), 002-1 ✓ (short), 003-2 ✗ (medium), 004-2 ✗ (long); 4 left out.
    # Duration types as found in the file, sorted: long, medium, short.
    duration = report["tables"]["duration"]
    assert list(duration) == ["long", "medium", "short", "overall"]
    assert [(duration[d]["correct"], duration[d]["n"]) for d in duration] == [(0, 1), (0, 1), (2, 2), (2, 4)]
    assert report["summary"]["overall"] == 50.0
    tasks = report["tables"]["task_type"]
    assert tasks["Temporal Perception"]["overall"] == 50.0  # 001-1 ✓, 003-2 ✗
    assert tasks["Counting Problem"] == {"long": None, "medium": None, "short": 100.0, "overall": 100.0}
    assert tasks["OCR Problems"]["overall"] == 0.0  # 001-2 left out, 004-2 ✗
    assert tasks["Action Reasoning"]["overall"] is None  # its only answer was empty
    assert any("4 of 8 answer(s) left out" in n for n in report["notes"])
    text = run_table(capsys, ["videomme", "--input_file", str(out), "--release"])
    assert "Task type" not in text  # printed only with --return_task_types_accuracy, as the release

    # The official scorer on the same file (matched by question_id): its prefixes and its rule
    # (the first capital A–D anywhere) read 001-2 as C ✓ and "Answer: B" as the A of "Answer" ✗;
    # E and "" are unparsed: 001-1 ✓, 001-2 ✓, 002-1 ✓, 003-2 ✗, 004-1 ✗, 004-2 ✗.
    root = tmp_path / "data"
    write_videomme(root)
    official = score("videomme", out, root).as_dict()
    assert official["meta"]["results_format"] == "release"
    assert (official["tables"]["duration"]["overall"]["correct"], official["tables"]["duration"]["overall"]["n"]) \
        == (3, 6)


# --- LVBench ----------------------------------------------------------------------------------------

def lvbench_data(root: Path) -> Path:
    def qa(uid, answer, types):
        return {"uid": uid, "question": "What?\n(A) a\n(B) b\n(C) c\n(D) d", "answer": answer,
                "question_type": types, "time_reference": "00:10-00:20"}
    video = {"key": "k1", "type": "documentary", "video_info": {},
             "qa": [qa(1, "A", ["reasoning"]), qa(2, "B", ["reasoning", "summarization"]),
                    qa(3, "C", ["summarization"]), qa(4, "A", ["event understanding"]),
                    qa(5, "D", ["reasoning"])]}
    return jsonl(root / "video_info.meta.jsonl", [video]).parent


def test_lvbench_release_file(tmp_path, capsys):
    root = lvbench_data(tmp_path / "data")
    out = tmp_path / "test.json"  # the release's merged {uid: answer}; uid 5 unanswered, 99 not in the data
    out.write_text(json.dumps({"1": "A", "2": "(B) dog", "3": "", "4": "Z", "99": "A"}, indent=4))
    report = run_json(capsys, ["lvbench", "--input_file", str(out), "--data-dir", str(root), "--release"])
    table = report["tables"]["question_type"]
    # 1 A ✓; 2 "(" → A ✗; 3 "" → A ✗; 4 Z → A ✓; 5 not answered: not counted. Types sorted by name.
    assert list(table) == ["event understanding", "reasoning", "summarization", "overall"]
    assert [(table[t]["correct"], table[t]["n"]) for t in table] == [(1, 1), (1, 2), (0, 2), (2, 4)]
    assert report["summary"]["overall"] == 50.0


# --- MLVU ---------------------------------------------------------------------------------------------

def test_mlvu_release_file(tmp_path, capsys):
    records = [("AR_0", "A", "A"), ("AR_1", "B", ""), ("AR_2", "C", "C) plot"), ("AR_3", "D", "d"),
               ("AR_4", "A", "(A)"), ("AR_5", "B", None)]
    out = jsonl(tmp_path / "test.jsonl", [
        {"video": f"v{i}.mp4", "question_id": qid, "gt_answer": gt, "candidates": ["x", "y", "z", "w"],
         **({} if r is None else {"response": r})} for i, (qid, gt, r) in enumerate(records)])
    report = run_json(capsys, ["mlvu", "--input_file", str(out), "--release"])
    # First character against the gold letter; "" and no response are wrong: A ✓, C ✓ of 6.
    assert report["tables"]["overall"]["overall"] == {"acc": pytest.approx(100 / 3), "correct": 2, "n": 6}
    assert "33.33" in run_table(capsys, ["mlvu", "--input_file", str(out), "--release"])


# --- Video-MMMU -----------------------------------------------------------------------------------------

MMMU_RELEASE = [  # (task, id, gold, response)
    ("Perception", "dev_Biology_3", "G", "G"),                  # ✓
    ("Perception", "validation_Chemistry_6", "A", ""),          # "" → A ✓
    ("Comprehension", "dev_Biology_3", "B", "Z"),               # Z → A ✗
    ("Comprehension", "validation_Math_1", "D", "D. a bike"),   # ✓
    ("Comprehension", "validation_Math_2", "A", "N"),           # N is A–N: ✗
    ("Adaptation", "dev_Biology_3", "A", "The answer is A"),    # T → A ✓ (by luck)
]


def test_videommmu_release_file(tmp_path, capsys):
    out = jsonl(tmp_path / "test.jsonl", [
        {"question": "…", "gt_answer": gold, "task": task, "video_path": f"eval/videommmu/data/video/{vid}.mp4",
         "image_path": None, "response": r} for task, vid, gold, r in MMMU_RELEASE])
    report = run_json(capsys, ["videommmu", "--input_file", str(out), "--release"])
    table = report["tables"]["track"]
    assert [(table[t]["correct"], table[t]["n"]) for t in ("Adaptation", "Comprehension", "Perception")] \
        == [(1, 1), (1, 3), (2, 2)]
    assert report["summary"]["Average"] == pytest.approx((100 + 100 / 3 + 100) / 3)

    # Officially, matched by track and video name; the open questions have no answer in the file.
    root = write_videommmu(tmp_path / "data")
    official = score("videommmu", out, root).as_dict()
    assert official["counts"]["answered"] == 6 and official["counts"]["extra"] == 0
    # --mcq-only: the release's question set; nothing is missing then but the one left out of the file.
    mcq = score("videommmu", out, root, settings={"mcq_only": True}).as_dict()
    assert mcq["counts"]["items"] == 6 and mcq["counts"]["missing"] == 0


def test_videommmu_release_video_layout(tmp_path):
    root = write_videommmu(tmp_path / "data")
    (root / "video").mkdir()
    (root / "video" / "dev_Biology_3.mp4").write_bytes(b"")
    items = {it.uid: it for it in get_benchmark("videommmu").load(root, {"mcq_only": True})}
    assert items["Perception/dev_Biology_3"].video == root / "video" / "dev_Biology_3.mp4"
    assert all(it.task == "mcq" for it in items.values()) and len(items) == 6


# --- formats and flags ------------------------------------------------------------------------------------

def test_input_format_flag_insists(tmp_path, capsys):
    out = jsonl(tmp_path / "test.jsonl", [{"question_id": "AR_0", "gt_answer": "A", "response": "A"}])
    assert main(["mlvu", "--input_file", str(out), "--release", "--input-format", "ours"]) == 2
    assert "holds the release's records" in capsys.readouterr().err
    ours = tmp_path / "ours.jsonl"
    append_result(ours, ResultRecord("AR_0", "mlvu", "<answer>A</answer>", "A"))
    with pytest.raises(ResultsError, match="holds our result records"):
        score("mlvu", ours, tmp_path, input_format="release")


def test_release_flag_needs_a_release_scorer(capsys):
    with pytest.raises(SystemExit) as info:
        main(["charades", "--release"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the release does not evaluate charades" in err


def test_null_answers_as_the_release_reads_them(tmp_path, capsys):
    # MCQ: the release's `not response` reads null as empty, a guess of A; grounding: the
    # release's number search cannot read null (it stops there), so the record is refused.
    rows = [(100, "A", [1, 2]), (100, "B", [1, 2])]
    data = vt_data(tmp_path / "data", rows)
    out = jsonl(tmp_path / "test.jsonl", [dict(data[0], response=None), dict(data[1], response=None)])
    report = run_json(capsys, ["videotemp", "--input_file", str(out), "--release"])
    assert (report["tables"]["duration"]["overall"]["correct"], report["tables"]["duration"]["overall"]["n"]) \
        == (1, 2)
    assert main(["videotemp-g", "--input_file", str(out), "--release"]) == 2
    assert f"{out}:1: field 'response': is null" in capsys.readouterr().err
    del data[0]["answer"]
    out = jsonl(tmp_path / "test.jsonl", [dict(data[0], response="A")])
    assert main(["videotemp", "--input_file", str(out), "--release"]) == 2
    assert f"{out}:1: field 'answer': missing" in capsys.readouterr().err
