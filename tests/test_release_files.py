"""The release's own output files in ``tests/data/release/`` scored with ``eval/score.py NAME
--release``: every number equals what the release's ``eval/score.py`` rules give.

The expected numbers are computed here, from the rules as docs/design.md §7 states them ("The
release's own output files and scoring rules"), by reading the files with ``json`` alone; nothing
of the project's scorer is imported. The files are made up to hit every rule: empty, null and
absent answers, lower-case letters, a leading space, letters outside the allowed range,
prefixes, reversed and unclamped spans, a one-number answer, a track with no records.

Every benchmark of the registry is covered: one the release scores has a file here (a new one
fails :func:`test_every_benchmark_is_covered` until it gets its own), one it does not score
refuses ``--release``. Last, the release's training rows: RL (``tests/data/release/rl/``),
validated and scored by the release's rewards, and SFT (``tests/data/release/sft/``), masked as
the release trains them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from videotemp_o3.benchmarks import BENCHMARKS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "release"

# benchmark -> (the release's output file, extra eval/score.py arguments)
RELEASE_FILES = {
    "videotemp": ("videotemp/test.jsonl", []),
    "videotemp-g": ("videotemp/test-g.jsonl", []),
    "videomme": ("videomme/test.json", ["--return_categories_accuracy", "--return_sub_categories_accuracy",
                                        "--return_task_types_accuracy"]),
    "lvbench": ("lvbench/test.json", ["--data-dir", str(DATA / "lvbench" / "data")]),
    "mlvu": ("mlvu/test.jsonl", []),
    "videommmu": ("videommmu/test.jsonl", []),
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def score_cli(name: str, path: Path, extra=(), as_json: bool = True) -> "dict | str":
    run = subprocess.run([sys.executable, str(REPO / "eval" / "score.py"), name, "--input_file", str(path),
                          "--release", *extra, *(["--json"] if as_json else [])],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout) if as_json else run.stdout


# --- the rules (docs/design.md §7), written out -------------------------------------------------

def letter_or_a(response, allowed: str) -> str:
    return response[0] if isinstance(response, str) and response and response[0] in allowed else "A"


def part(duration: float) -> str:
    return "<3min" if duration < 180 else "3-10min" if duration < 600 else "10-20min" if duration < 1200 \
        else ">20min"


PARTS = ("<3min", "3-10min", "10-20min", ">20min")


def pct(right: int, total: int) -> float:
    return 100.0 * right / total


def videotemp_expected(records):
    right, total = defaultdict(int), defaultdict(int)
    for r in records:
        p = part(r["duration"])
        total[p] += 1
        right[p] += letter_or_a(r["response"], "ABCDE") == r["answer"][0]
    table = {p: pct(right[p], total[p]) for p in PARTS}
    table["overall"] = pct(sum(right.values()), sum(total.values()))
    return table


def grounding_iou(response: str, gt) -> "float | None":
    numbers = re.findall(r"-?\d+\.?\d*", response)
    if len(numbers) < 2:
        return None
    s, e = float(numbers[0]), float(numbers[1])
    inter = max(0.0, min(e, gt[1]) - max(s, gt[0]))
    union = max(0.0, max(e, gt[1]) - min(s, gt[0]))
    return inter / union


def videotemp_g_expected(records):
    ious = defaultdict(list)
    errors = 0
    for r in records:
        iou = grounding_iou(r["response"], r["timestamp"])
        errors += iou is None
        for key in (part(r["duration"]), "overall"):
            ious[key].append(0.0 if iou is None else iou)
    table = {}
    for key in (*PARTS, "overall"):
        values = ious[key]
        cell = {"mIoU": 100 * sum(values) / len(values)}
        for t in (0.3, 0.5, 0.7):
            cell[f"R@{t}"] = 100 * sum(v > t for v in values) / len(values)
        cell["Avg"] = (cell["mIoU"] + cell["R@0.3"] + cell["R@0.5"] + cell["R@0.7"]) / 4
        table[key] = cell
    return table, errors


MME_PREFIXES = ("The best answer is", "The correct answer is", "The answer is", "The answer", "The best option is",
                "The correct option is", "Best answer:", "Best option:", "Answer:", "Option:", "The correct answer",
                "The correct option")


def videomme_letter(response: str) -> "str | None":
    s = response.strip()
    for prefix in MME_PREFIXES:
        s = s.replace(prefix, "")
    if len(s.split()) > 10 and not any(c in "ABCD" for c in s):
        return None
    if not s or s[0] not in "ABCD":
        return None
    return next(c for c in s if c in "ABCD")


def videomme_expected(videos):
    durations = sorted({v["duration"] for v in videos})
    tally = defaultdict(lambda: [0, 0])  # (group, label, column) -> [right, answered]
    left_out = 0
    for v in videos:
        for q in v["questions"]:
            letter = videomme_letter(q["response"])
            if letter is None:
                left_out += 1
                continue
            for column in (v["duration"], "overall"):
                for group, label in (("all", None), ("domain", v["domain"]), ("sub_category", v["sub_category"]),
                                     ("task_type", q["task_type"])):
                    tally[group, label, column][0] += letter == q["answer"]
                    tally[group, label, column][1] += 1
    return durations, tally, left_out


def lvbench_expected(meta, answers):
    right, total = defaultdict(int), defaultdict(int)
    all_right = all_total = 0
    for video in meta:
        for qa in video["qa"]:
            if str(qa["uid"]) not in answers:
                continue
            correct = letter_or_a(answers[str(qa["uid"])], "ABCDE") == qa["answer"]
            for qtype in qa["question_type"]:
                total[qtype] += 1
                right[qtype] += correct
            all_right += correct
            all_total += 1
    table = {t: pct(right[t], total[t]) for t in sorted(total)}
    table["overall"] = pct(all_right, all_total)
    return table


def mlvu_expected(records):
    right = sum(1 for r in records if r.get("response") and r["response"][0] == r["gt_answer"][0])
    return pct(right, len(records)), right, len(records)


TRACKS = ("Adaptation", "Comprehension", "Perception")


def videommmu_expected(records):
    right, total = defaultdict(int), defaultdict(int)
    for r in records:
        total[r["task"]] += 1
        right[r["task"]] += letter_or_a(r.get("response"), "ABCDEFGHIJKLMN") == r["gt_answer"][0]
    table = {t: pct(right[t], total[t]) if total[t] else 0.0 for t in TRACKS}
    table["Average"] = sum(table.values()) / len(TRACKS)
    return table


# --- the files, scored ---------------------------------------------------------------------------

def test_every_benchmark_is_covered():
    scored = {name for name, bench in BENCHMARKS.items() if bench.release is not None}
    assert scored == set(RELEASE_FILES)
    for name, (path, _) in RELEASE_FILES.items():
        assert (DATA / path).is_file(), name


@pytest.mark.parametrize("name", sorted(n for n, b in BENCHMARKS.items() if b.release is None))
def test_benchmarks_the_release_does_not_score_refuse_release(name, tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text("")
    run = subprocess.run([sys.executable, str(REPO / "eval" / "score.py"), name, "--input_file", str(results),
                          "--release"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and f"the release does not evaluate {name}" in run.stderr


def test_videotemp():
    path = DATA / RELEASE_FILES["videotemp"][0]
    expected = videotemp_expected(read_jsonl(path))
    report = score_cli("videotemp", path)
    table = report["tables"]["duration"]
    assert {k: table[k]["acc"] for k in expected} == pytest.approx(expected)
    assert report["summary"]["overall"] == pytest.approx(expected["overall"])
    text = score_cli("videotemp", path, as_json=False)
    for key, value in expected.items():  # printed as the release prints them: two decimals
        assert re.search(rf"^\s+{re.escape(key)}\s+{value:.2f}\s", text, re.M), key


def test_videotemp_g():
    path = DATA / RELEASE_FILES["videotemp-g"][0]
    expected, errors = videotemp_g_expected(read_jsonl(path))
    report = score_cli("videotemp-g", path)
    table = report["tables"]["duration"]
    for key, cell in expected.items():
        assert {k: table[key][k] for k in cell} == pytest.approx(cell), key
    assert errors and any(f"parse errors (no two numbers in the answer): {errors}" in n for n in report["notes"])
    text = score_cli("videotemp-g", path, as_json=False)
    for key, cell in expected.items():
        numbers = r"\s+".join(f"{cell[k]:.2f}" for k in ("mIoU", "R@0.3", "R@0.5", "R@0.7", "Avg"))
        assert re.search(rf"^\s+{re.escape(key)}\s+{numbers}\s", text, re.M), key


def test_videomme():
    path = DATA / RELEASE_FILES["videomme"][0]
    durations, tally, left_out = videomme_expected(json.loads(path.read_text()))
    report = score_cli("videomme", path, RELEASE_FILES["videomme"][1])
    columns = [*durations, "overall"]
    duration = report["tables"]["duration"]
    assert list(duration) == columns
    for column in columns:
        right, answered = tally["all", None, column]
        assert (duration[column]["correct"], duration[column]["n"]) == (right, answered)
        assert duration[column]["acc"] == pytest.approx(pct(right, answered))
    for group in ("domain", "sub_category", "task_type"):
        table = report["tables"][group]
        for label, row in table.items():
            for column in columns:
                right, answered = tally.get((group, label, column), (0, 0))
                assert row[column] == (pytest.approx(pct(right, answered)) if answered else None), (group, label)
        labels_answered = {label for g, label, _ in tally if g == group}
        assert labels_answered <= set(table)
    total = sum(len(v["questions"]) for v in json.loads(path.read_text()))
    assert any(f"{left_out} of {total} answer(s) left out" in n for n in report["notes"])
    text = score_cli("videomme", path, as_json=False)
    right, answered = tally["all", None, "overall"]
    assert f"overall: {pct(right, answered):.1f}" in text  # one decimal, as the release prints


def test_lvbench():
    path = DATA / RELEASE_FILES["lvbench"][0]
    meta = read_jsonl(DATA / "lvbench" / "data" / "video_info.meta.jsonl")
    expected = lvbench_expected(meta, json.loads(path.read_text()))
    report = score_cli("lvbench", path, RELEASE_FILES["lvbench"][1])
    table = report["tables"]["question_type"]
    assert list(table) == list(expected)  # types sorted by name, then overall
    assert {k: table[k]["acc"] for k in expected} == pytest.approx(expected)


def test_mlvu():
    path = DATA / RELEASE_FILES["mlvu"][0]
    acc, right, n = mlvu_expected(read_jsonl(path))
    report = score_cli("mlvu", path)
    assert report["tables"]["overall"]["overall"] == {"acc": pytest.approx(acc), "correct": right, "n": n}
    assert f"{acc:.2f}" in score_cli("mlvu", path, as_json=False)


@pytest.mark.parametrize("file", ["test.jsonl", "perception_only.jsonl"])
def test_videommmu(file):
    path = DATA / "videommmu" / file
    expected = videommmu_expected(read_jsonl(path))
    report = score_cli("videommmu", path)
    table = report["tables"]["track"]
    assert {k: table[k]["acc"] for k in expected} == pytest.approx(expected)
    assert report["summary"]["Average"] == pytest.approx(expected["Average"])


def test_the_files_exercise_the_rules():
    """The data files hold the cases the rules differ on (so a scorer that skips a rule fails)."""
    vt = read_jsonl(DATA / "videotemp" / "test.jsonl")
    responses = [r["response"] for r in vt]
    assert None in responses and "" in responses and any(r and r[0] == " " for r in responses)
    assert any(r and r[0].islower() for r in responses) and any(r and r[0] in "FZ" for r in responses)
    g = read_jsonl(DATA / "videotemp" / "test-g.jsonl")
    ious = [grounding_iou(r["response"], r["timestamp"]) for r in g]
    assert None in ious and 0.5 in ious and 0.7 not in ious  # a parse error; IoU exactly at a threshold
    assert any(re.search(r"\d-\d", r["response"]) for r in g)  # "30-60": 30 and -60
    mme = json.loads((DATA / "videomme" / "test.json").read_text())
    letters = [videomme_letter(q["response"]) for v in mme for q in v["questions"]]
    assert letters.count(None) >= 5 and {"A", "B", "C", "D"} <= set(letters)
    mmmu = read_jsonl(DATA / "videommmu" / "perception_only.jsonl")
    assert {r["task"] for r in mmmu} == {"Perception"}


# --- the release's RL rows ------------------------------------------------------------------------

def test_release_rl_rows_are_validated_and_scored():
    """Rows in the release's format (data_type, solution, a list of timestamp spans) pass the
    validator and get every reward; a row the rewards cannot score is named by file:line."""
    from videotemp_o3.training.rewards import GroundTruth, Rollout, reward_breakdown

    rl = DATA / "rl"
    run = subprocess.run([sys.executable, "-m", "videotemp_o3.training.rl_data", "validate", "--no-video-check",
                          str(rl / "qa.jsonl"), str(rl / "grounding.jsonl")], capture_output=True, text=True)
    assert run.returncode == 0 and "0 problem(s)" in run.stdout, run.stderr
    run = subprocess.run([sys.executable, "-m", "videotemp_o3.training.rl_data", "validate", "--no-video-check",
                          str(rl / "bad_qa.jsonl")], capture_output=True, text=True)
    assert run.returncode == 1
    assert f"{rl / 'bad_qa.jsonl'}:1: field 'timestamp': missing" in run.stderr
    assert f"{rl / 'bad_qa.jsonl'}:2: field 'solution'" in run.stderr

    # Second row: two evidence spans [40, 55] and [610, 630], solution "A. red". One call with two
    # clips: [40, 60] takes [40, 55] (15/20), [600, 640] takes [610, 630] (20/40); mean 0.625,
    # normalised (0.625 - 0.2) / 0.6; a right answer above 0.1 keeps it.
    row = read_jsonl(rl / "qa.jsonl")[1]
    call = ('<think>t</think><tool_call>{"name": "get_video_clip_frame", "arguments": '
            '[{"start_time": 40, "end_time": 60}, {"start_time": 600, "end_time": 640}]}</tool_call>')
    rewards = reward_breakdown(Rollout([call, "<think>t</think><answer>A</answer>"]), GroundTruth.from_row(row))
    assert rewards == pytest.approx({"accuracy": 1.0, "iou": (0.625 - 0.2) / 0.6, "format": 1.0})


def test_release_sft_records_get_the_releases_masking(tmp_path):
    """Records as the release's sft/data files hold them (no per-message loss): the masking
    sft.sh applies by default trains the last two assistant rounds, as its last_two_rounds."""
    source = DATA / "sft" / "wi_tool_call" / "longvila.jsonl"
    run = subprocess.run([sys.executable, "-m", "videotemp_o3.training.masking", "--fill-missing", str(tmp_path),
                          "--policy", "last_two_rounds", str(source)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    (prepared,) = run.stdout.split()
    records = read_jsonl(Path(prepared))
    assert [[m.get("loss") for m in r["messages"] if m["role"] == "assistant"] for r in records] == \
        [[False, True, True]] * len(read_jsonl(source))
    assert all("loss" not in m for r in records for m in r["messages"] if m["role"] != "assistant")
