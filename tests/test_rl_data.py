"""GRPO data (videotemp_o3.training.rl_data): the builder, the validator, the column contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from videotemp_o3 import protocol
from videotemp_o3.segments import Segment
from videotemp_o3.synthetic import generate
from videotemp_o3.training.rewards import GroundTruth
from videotemp_o3.training.problems import DataError
from videotemp_o3.training.rl_check import (GROUNDING_FILE, QA_FILE, load_rl_file,
                                            validate_file, validate_files)
from videotemp_o3.training.rl_data import build_rl_data

DURATIONS = (20.0, 30.0)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Two generated videos with a coloured square in a known span, and their records."""
    root = tmp_path_factory.mktemp("synthetic")
    data = generate(root, durations=DURATIONS, event_seconds=(3.0, 5.0), progress=False)
    return data, [json.loads(line) for line in data.read_text().splitlines()]


@pytest.fixture(scope="module")
def built(synthetic, tmp_path_factory):
    data, _ = synthetic
    return build_rl_data([data], tmp_path_factory.mktemp("rl") / "data")


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_build_writes_both_files_in_the_release_layout(synthetic, built):
    data, records = synthetic
    assert built.qa.name == QA_FILE and built.grounding.name == GROUNDING_FILE
    assert built.qa.parent == built.grounding.parent
    assert (built.n_qa, built.n_grounding, built.problems) == (2, 2, [])
    assert validate_file(built.qa) == [] and validate_file(built.grounding) == []

    for rec, qa, g in zip(records, rows(built.qa), rows(built.grounding)):
        # The synthetic question has its options inline ("A. red" lines): the builder splits
        # them, and the prompt is the protocol's.
        stem = rec["question"].split("\n")[0]
        options = [line[3:] for line in rec["question"].split("\n")[1:]]
        assert qa["messages"] == [
            {"role": "system", "content": protocol.system_prompt()},
            {"role": "user", "content": "<video>" + protocol.mcq_prompt(
                stem, options, duration=rec["duration"])}]
        assert qa["videos"] == [str((data.parent / rec["videos"][0]).absolute())]
        assert (qa["task"], qa["answer"], qa["options"], qa["timestamp"], qa["duration"],
                qa["uid"]) == ("mcq", rec["answer"], options, rec["timestamp"], rec["duration"],
                               rec["uid"])
        assert g["messages"][1]["content"] == "<video>" + protocol.grounding_prompt(
            rec["query"], duration=rec["duration"])
        assert (g["task"], g["answer"], g["timestamp"]) == (
            "grounding", f"[{rec['timestamp'][0]}, {rec['timestamp'][1]}]", rec["timestamp"])
        assert "options" not in g


def test_rows_give_the_rewards_their_ground_truth(built):
    qa, g = rows(built.qa)[0], rows(built.grounding)[0]
    gt = GroundTruth.from_row(qa)
    assert (gt.task, gt.letter, gt.spans, gt.duration, gt.n_options) == (
        "mcq", qa["answer"], (Segment(*qa["timestamp"]),), qa["duration"], 4)
    gt = GroundTruth.from_row(g)
    assert (gt.task, gt.spans) == ("grounding", (Segment(*g["timestamp"]),))


def test_ms_swift_loads_and_concatenates_both_files(built):
    """The column contract: ms-swift reads each file with `datasets` and concatenates them."""
    from swift.llm import load_dataset

    # remove_unused_columns=False: what `swift rlhf --rlhf_type grpo` sets, so the reward
    # columns reach the reward functions.
    train, _ = load_dataset([str(built.qa), str(built.grounding)], split_dataset_ratio=0,
                            num_proc=1, remove_unused_columns=False)
    assert len(train) == 4
    by_task = {}
    for row in train:
        by_task.setdefault(row["task"], row)
    assert set(by_task) == {"mcq", "grounding"}
    mcq, grounding = by_task["mcq"], by_task["grounding"]
    assert isinstance(mcq["answer"], str) and len(mcq["options"]) == 4
    assert grounding["options"] is None and grounding["answer"].startswith("[")
    assert [m["role"] for m in mcq["messages"]] == ["system", "user"]
    assert len(mcq["videos"]) == 1


# ---------------------------------------------------------------------------------------------
# Validation: every bad record, with file:line and the reason
# ---------------------------------------------------------------------------------------------

def _mutate(row: dict, change) -> dict:
    row = json.loads(json.dumps(row))
    change(row)
    return row


BAD_QA = [  # (id, change to a good row, field, words in the reason)
    ("no_answer", lambda r: r.pop("answer"), "answer", "missing"),
    ("letter_beyond_options", lambda r: r.update(answer="E"), "answer", "expected one of"),
    ("int_seconds", lambda r: r.update(timestamp=[3, 8]), "timestamp", "JSON floats"),
    ("reversed_span", lambda r: r.update(timestamp=[8.0, 3.0]), "timestamp", "not before"),
    ("span_outside", lambda r: r.update(timestamp=[15.0, 25.0]), "timestamp", "not inside"),
    ("one_option", lambda r: r.update(options=["red"]), "options", "options, got 1"),
    ("bad_task", lambda r: r.update(task="caption"), "task", "expected one of"),
    ("two_videos", lambda r: r["videos"].append(r["videos"][0]), "videos", "exactly one"),
    ("missing_video", lambda r: r.update(videos=["/nowhere/v.mp4"]), "videos", "not found"),
    ("no_video_tag", lambda r: r["messages"][1].update(content="What colour?"), "messages",
     "<video> tag"),
    ("assistant_turn", lambda r: r["messages"].append({"role": "assistant", "content": "x"}),
     "messages", "the prompt only"),
    ("zero_duration", lambda r: r.update(duration=0.0), "duration", "positive"),
]


def test_every_bad_record_is_reported_with_file_and_line(built, tmp_path):
    good = rows(built.qa)[0]
    lines = [json.dumps(good)]
    for k, (_, change, _, _) in enumerate(BAD_QA):
        lines.append(json.dumps(_mutate(good, lambda r, c=change, k=k: (c(r), r.update(uid=f"u{k}")))))
    lines.append("{not json")
    lines.append(json.dumps(good))  # a repeated uid
    path = tmp_path / QA_FILE
    path.write_text("\n".join(lines) + "\n")

    problems = validate_file(path)
    by_line = {}
    for p in problems:
        by_line.setdefault(int(p.where.rsplit(":", 1)[1]), []).append(p)
    assert 1 not in by_line  # the good row
    for k, (name, _, field, words) in enumerate(BAD_QA):
        found = by_line.get(k + 2, [])
        assert any(p.field == field and words in p.reason for p in found), (name, found)
        assert all(str(p).startswith(f"{path}:{k + 2}: ") for p in found)
    json_line = len(BAD_QA) + 2
    assert any("invalid JSON" in p.reason for p in by_line[json_line])
    assert any(p.field == "uid" and "repeats" in p.reason and f"{path}:1" in p.reason
               for p in by_line[json_line + 1])

    with pytest.raises(DataError) as err:
        load_rl_file(path)
    assert len(err.value.problems) == len(problems)
    assert f"{path}:2: field 'answer': missing" in str(err.value)


def test_grounding_rows_are_checked_against_their_span(built, tmp_path):
    good = rows(built.grounding)[0]
    s, e = good["timestamp"]
    bad = [
        _mutate(good, lambda r: r.update(answer=f"[{e}, {s}]")),
        _mutate(good, lambda r: r.update(answer=f"[{s + 1}, {e}]")),
        _mutate(good, lambda r: r.update(options=["a", "b"])),
        _mutate(good, lambda r: r.update(task="mcq")),  # in grounding.jsonl
    ]
    path = tmp_path / GROUNDING_FILE
    path.write_text("".join(json.dumps(_mutate(r, lambda x, k=k: x.update(uid=str(k)))) + "\n"
                            for k, r in enumerate(bad)))
    reasons = {int(p.where.rsplit(":", 1)[1]): f"{p.field}: {p.reason}" for p in validate_file(path)}
    assert "S < E" in reasons[1]
    assert "differs from timestamp" in reasons[2]
    assert "options" in reasons[3]
    # Field, the row's task and the file's (not just the field name, which every reason starts with).
    assert reasons[4] == "task: 'mcq' row in grounding.jsonl, which holds 'grounding' rows"


def release_row(ours: dict, **change) -> dict:
    """One of our rows rewritten in the release's format (data_type, solution, timestamp list)."""
    row = {k: v for k, v in ours.items() if k not in ("task", "answer", "uid", "options")}
    row.update(data_type="qa" if ours["task"] == "mcq" else "grounding",
               solution=ours["answer"], timestamp=[ours["timestamp"]])
    row.update(change)
    return row


def test_release_rows_are_read_as_they_are(built, tmp_path):
    qa, g = rows(built.qa)[0], rows(built.grounding)[0]
    s, e = qa["timestamp"]
    good_qa = [release_row(qa), release_row(qa, timestamp=[[int(s), int(e) + 1], [s, e]]),
               release_row(qa, solution=qa["answer"] + ". the red one")]
    good_g = [release_row(g), release_row(g, duration=None, solution=None)]
    (tmp_path / QA_FILE).write_text("".join(json.dumps(r) + "\n" for r in good_qa))
    (tmp_path / GROUNDING_FILE).write_text("".join(json.dumps(r) + "\n" for r in good_g))
    assert validate_files([tmp_path / QA_FILE, tmp_path / GROUNDING_FILE]) == []
    # What the rewards read from them: every span of the list.
    assert GroundTruth.from_row(good_qa[1]).spans == (Segment(int(s), int(e) + 1), Segment(s, e))

    bad = [  # (row, field, words)
        (release_row(qa, timestamp=None), "timestamp", "missing"),
        (release_row(qa, timestamp=[]), "timestamp", "expected [start, end]"),
        (release_row(qa, timestamp=[[e, s]]), "timestamp", "not before"),
        (release_row(qa, data_type="caption"), "data_type", "'qa' or 'grounding'"),
        (release_row(qa, solution="the second one"), "solution", "first letter"),
        (release_row(qa, solution=None), "solution", "missing"),
        (release_row(qa, task="grounding"), "task", "disagrees"),
        (release_row(g, timestamp=[[s, 1e6]]), "timestamp", "not inside"),
    ]
    path = tmp_path / "release_bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r, _, _ in bad))
    by_line = {}
    for p in validate_file(path):
        by_line.setdefault(int(p.where.rsplit(":", 1)[1]), []).append(p)
    for k, (_, field, words) in enumerate(bad, 1):
        assert any(p.field == field and words in p.reason for p in by_line.get(k, [])), (
            k, by_line.get(k))


def test_timestamp_shapes_must_agree_across_the_files_of_a_run(built, tmp_path):
    # Ours writes one span per row, the release a list of spans: ms-swift cannot concatenate
    # the two, so using both together is refused with both places named.
    g = rows(built.grounding)[0]
    (tmp_path / GROUNDING_FILE).write_text(json.dumps(release_row(g)) + "\n")
    problems = validate_files([built.qa, tmp_path / GROUNDING_FILE])
    assert len(problems) == 1, problems
    assert problems[0].where == f"{tmp_path / GROUNDING_FILE}:1"
    assert "a list of spans" in problems[0].reason and f"{built.qa}:1" in problems[0].reason


def test_builder_skips_bad_annotations_and_says_where(synthetic, tmp_path):
    data, records = synthetic
    video = str(data.parent / records[0]["videos"][0])
    good = {"video": video, "question": "What colour is the square?",
            "options": ["red", "green", "blue"], "answer": "green", "timestamp": [3, 8],
            "query": "the square", "span": [3, 8], "uid": "ok"}
    bad = [
        {**good, "video": str(tmp_path / "missing.mp4"), "uid": "b1"},
        {**good, "answer": "purple", "uid": "b2", "query": None},
        {**good, "timestamp": [15, 25], "span": [15, 25], "uid": "b3"},
        {**good, "duration": 99.0, "uid": "b4"},
        {"video": video, "uid": "b5"},
    ]
    ann = tmp_path / "annotations.jsonl"
    ann.write_text("".join(json.dumps(r) + "\n" for r in [good, *bad]))
    report = build_rl_data([ann], tmp_path / "out")
    assert (report.n_qa, report.n_grounding) == (1, 1)
    qa = rows(report.qa)[0]
    assert qa["answer"] == "B"  # the text of an option names its letter
    assert qa["timestamp"] == [3.0, 8.0]  # whole seconds written as floats
    reasons = {}
    for p in report.problems:
        reasons.setdefault(int(p.where.rsplit(":", 1)[1]), []).append(str(p))
    assert "video not found" in " ".join(reasons[2])
    assert "expected one of" in " ".join(reasons[3])
    assert "not inside the video" in " ".join(reasons[4])
    assert "lasts 20.000 s" in " ".join(reasons[5])
    assert "neither a question" in " ".join(reasons[6])


def test_build_command_skips_repeated_uids_and_non_utf8_lines(synthetic, tmp_path, capsys):
    from videotemp_o3.training.rl_data import main as rl_main

    data, records = synthetic
    video = str(data.parent / records[0]["videos"][0])
    first = {"video": video, "question": "What colour is the square?", "options": ["red", "green"],
             "answer": "A", "timestamp": [3, 8], "uid": "same"}
    query = {"video": video, "query": "the square", "span": [3, 8], "uid": "same"}  # other file: fine
    ann = tmp_path / "annotations.jsonl"
    ann.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in (first, query, {**first, "answer": "B"}))
                    + b'{"uid": "caf\xe9"}\n')
    assert rl_main(["build", str(ann), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and ".tmp" not in err
    assert f"skipped: {ann}:3: field 'uid': 'same' repeats {ann}:1" in err
    assert f"skipped: {ann}:4: not UTF-8 text (byte 0xe9" in err
    assert [r["answer"] for r in rows(tmp_path / "out" / QA_FILE)] == ["A"]  # the first one kept
    assert [r["uid"] for r in rows(tmp_path / "out" / GROUNDING_FILE)] == ["same"]


def test_command_line(built, tmp_path):
    ok = subprocess.run([sys.executable, "-m", "videotemp_o3.training.rl_data", "validate",
                         str(built.qa), str(built.grounding)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "0 problem(s)" in ok.stdout
    bad = tmp_path / QA_FILE
    bad.write_text(json.dumps({**rows(built.qa)[0], "answer": "Z"}) + "\n")
    out = subprocess.run([sys.executable, "-m", "videotemp_o3.training.rl_data", "validate",
                          str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    assert f"{bad}:1: field 'answer'" in out.stderr
