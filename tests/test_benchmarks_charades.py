"""Charades-STA: ``charades_sta_test.txt`` lines ``VID S E##sentence``; R1@t and mIoU.

    line uid  GT          answer                        IoU
    0    "0"  [0, 6.9]    "[0.0, 6.9]"                  1
    1    "1"  [15, 25]    "from 15 to 20 s"             5/10 = 0.5
    2    (blank)
    3    "3"  [2, 12]     "[4, 10]"                     6/10 = 0.6
    4    "4"  [10, 20]    (missing)                     0

R1@0.3 = 3/4, R1@0.5 = 3/4 (≥) or 2/4 (>), R1@0.7 = 1/4, mIoU = (1 + 0.5 + 0.6 + 0) / 4 = 52.5.
"""

import json
from pathlib import Path

import pytest

from videotemp_o3.benchmarks import BenchmarkDataError, ResultRecord, ScoreOptions, append_result, get_benchmark, score

LINES = ["AO8RW 0.0 6.9##a person is putting a book on a shelf.",
         "Y6R7T 15.0 25.0##person sitting down in a chair.",
         "",
         "KV5DU 2.0 12.0##a person opens a door.",
         "ZZZZZ 10.0 20.0##person laughs."]
ANSWERS = {"0": "[0.0, 6.9]", "1": "from 15 to 20 s", "3": "[4, 10]"}


def write_data(root: Path, lines=LINES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "charades_sta_test.txt").write_text("\n".join(lines) + "\n")
    return root


def test_items(tmp_path):
    items = get_benchmark("charades").load(write_data(tmp_path / "data"))
    assert [it.uid for it in items] == ["0", "1", "3", "4"]
    it = items[0]
    assert it.question == "a person is putting a book on a shelf."
    assert it.task == "grounding" and it.spans == ((0.0, 6.9),)
    assert it.video == tmp_path / "data" / "Charades_v1_480" / "AO8RW.mp4"


@pytest.mark.parametrize("fmt", ["ours", "release"])
def test_numbers(tmp_path, fmt):
    root = write_data(tmp_path / "data")
    if fmt == "ours":
        results = tmp_path / "r.jsonl"
        for uid, text in ANSWERS.items():
            append_result(results, ResultRecord(uid, "charades", f"<answer>{text}</answer>", None))
    else:
        results = tmp_path / "r.json"
        results.write_text(json.dumps(ANSWERS))
    rep = score("charades", results, root)
    cell = rep.table("overall").row("overall")
    assert cell == {"mIoU": pytest.approx(52.5), "R1@0.3": 75.0, "R1@0.5": 75.0, "R1@0.7": 25.0, "n": 4}
    assert rep.summary["mIoU"] == pytest.approx(52.5)
    strict = score("charades", results, root, ScoreOptions(strict_threshold=True)).table("overall").row("overall")
    assert strict["R1@0.5"] == 50.0 and strict["R1@0.3"] == 75.0


def test_span_answer_from_prediction(tmp_path):
    # No <answer> in raw: the parsed [S, E] prediction is scored.
    root = write_data(tmp_path / "data", LINES[:1])
    results = tmp_path / "r.jsonl"
    append_result(results, ResultRecord("0", "charades", "turn limit reached", [0.0, 6.9]))
    assert score("charades", results, root).summary["mIoU"] == pytest.approx(100.0)


@pytest.mark.parametrize("line, problem", [
    ("AO8RW 0.0##a person", "expected 'VID START END##sentence'"),
    ("AO8RW 0.0 6.9 a person", "expected 'VID START END##sentence'"),
    ("AO8RW zero 6.9##a person", "START/END must be seconds"),
    ("AO8RW 0 inf##a person", "START/END: expected finite seconds"),
    ("AO8RW 56.1 43.3##a person", "START/END: start 56.1 s is after end 43.3 s"),  # reversed: IoU 0 forever
])
def test_malformed_lines(tmp_path, line, problem):
    root = write_data(tmp_path / "data", LINES[:1] + [line])
    with pytest.raises(BenchmarkDataError, match=rf"charades_sta_test\.txt:2: {problem}"):
        get_benchmark("charades").load(root)


def test_video_path_escape_refused(tmp_path):
    root = write_data(tmp_path / "data", ["../../etc 0 1##x"])
    with pytest.raises(BenchmarkDataError, match=r"charades_sta_test\.txt:1: field 'VID'.*escapes the data root"):
        get_benchmark("charades").load(root)
