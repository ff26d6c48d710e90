"""VideoTemp-Bench: one ``data.jsonl``, two benchmarks (``videotemp`` MCQ, ``videotemp-g``
grounding on ``timestamp``), duration bins, thresholds ≥ vs > .

Records (0-based line: uid; line 2 is blank, so the next record's uid is "3"):

    line uid    duration bin       gold  MCQ answer         timestamp    grounding answer                IoU
    0    "0"    120     <3min      B     "B"  correct       [10, 20]     "[10, 20]"                      1
    1    vt-7   180     3-10min    A     "C"  wrong         [100, 200]   "[150, 250]"                    50/150 = 1/3
    3    "3"    700     10-20min   C     "The answer is C"  [300, 400]   "between 300 and 350 seconds"   50/100 = 0.5
    4    "4"    1500    >20min     D     (missing)          [0, 100]     "[0.0, 70.0]"                   70/100 = 0.7
    5    "5"    599.9   3-10min    A     "hmm" unparsed     [50, 150]    "no idea" unparsed              0

MCQ (every item counts): <3min 1/1, 3-10 0/2, 10-20 1/1, >20 0/1, overall 2/5.
Grounding, IoU ≥ t: overall mIoU = (1 + 1/3 + 0.5 + 0.7 + 0) / 5 = 50.67,
R@0.3 = 4/5, R@0.5 = 3/5, R@0.7 = 2/5; strict >: R@0.5 = 2/5, R@0.7 = 1/5.
"""

import json
from pathlib import Path

import pytest

from videotemp_o3.benchmarks import (BenchmarkDataError, ResultRecord, ResultsError, ScoreOptions, append_result,
                                     get_benchmark, score)
from videotemp_o3.benchmarks.metrics import duration_bin


def q(stem):
    return f"{stem}\nA. a cup\nB. a pen\nC. a book\nD. a phone"


RECORDS = [
    {"videos": ["LongVILA/v0"], "question": q("What does the man hold?"), "answer": "B", "duration": 120.0,
     "timestamp": [10.0, 20.0]},
    {"uid": "vt-7", "videos": ["LongVILA/v1"], "question": q("What is on the table?"), "answer": "A",
     "duration": 180.0, "timestamp": [100, 200]},
    None,  # a blank line
    {"videos": ["LongVILA/v2"], "question": q("What does she read?"), "answer": "C", "duration": 700,
     "timestamp": [300, 400]},
    {"videos": ["LongVILA/v3"], "question": q("What rings?"), "answer": "D", "duration": 1500,
     "timestamp": [0, 100]},
    {"videos": ["LongVILA/v4"], "question": q("What is dropped?"), "answer": "A", "duration": 599.9,
     "timestamp": [50, 150]},
]
MCQ = {"0": "B", "vt-7": "C", "3": "The answer is C", "5": "hmm"}
GROUNDING = {"0": "[10, 20]", "vt-7": "[150, 250]", "3": "The event is between 300 and 350 seconds",
             "4": "[0.0, 70.0]", "5": "no idea"}


def write_data(root: Path, records=RECORDS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.jsonl").write_text("".join((json.dumps(r) if r else "") + "\n" for r in records))
    return root


def write_ours(path: Path, bench: str, answers: dict) -> Path:
    for uid, text in answers.items():
        pred = text if bench == "videotemp" else None
        append_result(path, ResultRecord(uid, bench, f"<think>..</think><answer>{text}</answer>", pred,
                                         [[0.0, 30.0]], 2, 10.0))
    return path


def write_release(path: Path, answers: dict) -> Path:
    path.write_text(json.dumps(answers))
    return path


def test_items_both_benchmarks(tmp_path):
    root = write_data(tmp_path / "data")
    (root / "LongVILA").mkdir()
    (root / "LongVILA" / "v1.mp4").write_bytes(b"\0")
    mcq = get_benchmark("videotemp").load(root)
    assert all(get_benchmark("videotemp").group_by in it.fields for it in mcq)  # the report groups by it
    assert [it.uid for it in mcq] == ["0", "vt-7", "3", "4", "5"]
    it = mcq[0]
    assert it.question == "What does the man hold?" and it.answer == "B"
    assert it.options == ("A. a cup", "B. a pen", "C. a book", "D. a phone")
    assert it.fields["duration_bin"] == "<3min" and it.spans == ((10.0, 20.0),)
    assert it.video == root / "LongVILA" / "v0"  # a webdataset key: no file, no guess beyond the key
    assert mcq[1].video == root / "LongVILA" / "v1.mp4"
    assert [m.fields["duration_bin"] for m in mcq] == ["<3min", "3-10min", "10-20min", ">20min", "3-10min"]

    g = get_benchmark("videotemp-g").load(root)
    assert [x.uid for x in g] == ["0", "vt-7", "3", "4", "5"]
    assert g[0].task == "grounding" and g[0].answer is None and g[0].options == ()
    # The release's query: the stem and the text of the correct option (B. a pen).
    assert g[0].prompt_text == "What does the man hold?\nAnswer: a pen"
    stem_only = get_benchmark("videotemp-g").load(root, {"grounding_query": "stem"})
    assert stem_only[0].prompt_text == "What does the man hold?"
    assert g[3].spans == ((0.0, 100.0),)


def test_duration_bin_edges():
    assert [duration_bin(s) for s in (0, 179.99, 180, 599.99, 600, 1199.9, 1200, 7200)] == [
        "<3min", "<3min", "3-10min", "3-10min", "10-20min", "10-20min", ">20min", ">20min"]


@pytest.mark.parametrize("fmt", ["ours", "release"])
def test_mcq_numbers(tmp_path, fmt):
    root = write_data(tmp_path / "data")
    results = (write_ours(tmp_path / "r.jsonl", "videotemp", MCQ) if fmt == "ours"
               else write_release(tmp_path / "r.json", MCQ))
    rep = score("videotemp", results, root)
    t = rep.table("duration")
    assert t.row("<3min") == {"acc": pytest.approx(100.0), "correct": 1, "n": 1}
    assert t.row("3-10min") == {"acc": 0.0, "correct": 0, "n": 2}
    assert t.row("10-20min") == {"acc": pytest.approx(100.0), "correct": 1, "n": 1}
    assert t.row(">20min") == {"acc": 0.0, "correct": 0, "n": 1}  # missing counts wrong
    assert rep.summary["overall"] == pytest.approx(40.0)

    rep = score("videotemp", results, root, ScoreOptions(skip_missing=True))
    assert rep.table("duration").row(">20min")["n"] == 0
    assert rep.summary["overall"] == pytest.approx(50.0)


@pytest.mark.parametrize("fmt", ["ours", "release"])
def test_grounding_numbers(tmp_path, fmt):
    root = write_data(tmp_path / "data")
    results = (write_ours(tmp_path / "r.jsonl", "videotemp-g", GROUNDING) if fmt == "ours"
               else write_release(tmp_path / "r.json", GROUNDING))
    rep = score("videotemp-g", results, root)
    t = rep.table("duration")
    assert t.row("<3min") == {"mIoU": pytest.approx(100.0), "R@0.3": 100.0, "R@0.5": 100.0, "R@0.7": 100.0, "n": 1}
    assert t.row("3-10min") == {"mIoU": pytest.approx(100 / 6), "R@0.3": 50.0, "R@0.5": 0.0, "R@0.7": 0.0, "n": 2}
    assert t.row("10-20min") == {"mIoU": pytest.approx(50.0), "R@0.3": 100.0, "R@0.5": 100.0, "R@0.7": 0.0, "n": 1}
    assert t.row(">20min") == {"mIoU": pytest.approx(70.0), "R@0.3": 100.0, "R@0.5": 100.0, "R@0.7": 100.0, "n": 1}
    overall = t.row("overall")
    assert overall["mIoU"] == pytest.approx(100 * (1 + 1 / 3 + 0.5 + 0.7) / 5)
    assert (overall["R@0.3"], overall["R@0.5"], overall["R@0.7"], overall["n"]) == (80.0, 60.0, 40.0, 5)
    assert rep.summary == {"mIoU": overall["mIoU"], "R@0.3": 80.0, "R@0.5": 60.0, "R@0.7": 40.0}

    strict = score("videotemp-g", results, root, ScoreOptions(strict_threshold=True)).table("duration")
    assert strict.row("10-20min")["R@0.5"] == 0.0  # IoU exactly 0.5 is not > 0.5
    assert strict.row(">20min")["R@0.7"] == 0.0
    assert (strict.row("overall")["R@0.3"], strict.row("overall")["R@0.5"], strict.row("overall")["R@0.7"]) == (
        80.0, 40.0, 20.0)


def test_results_of_the_other_benchmark_are_refused(tmp_path):
    root = write_data(tmp_path / "data")
    results = write_ours(tmp_path / "r.jsonl", "videotemp", MCQ)
    with pytest.raises(ResultsError, match=r"r\.jsonl:1: this result is for benchmark 'videotemp', not 'videotemp-g'"):
        score("videotemp-g", results, root)


def test_malformed_records(tmp_path):
    bad = [RECORDS[0], dict(RECORDS[1], duration="long")]
    with pytest.raises(BenchmarkDataError, match=r"data\.jsonl:2: field 'duration': expected a number"):
        get_benchmark("videotemp").load(write_data(tmp_path / "a", bad))

    bad = [{k: v for k, v in RECORDS[0].items() if k != "timestamp"}]
    assert get_benchmark("videotemp").load(write_data(tmp_path / "b", bad))[0].spans == ()
    with pytest.raises(BenchmarkDataError, match=r"data\.jsonl:1: field 'timestamp': missing"):
        get_benchmark("videotemp-g").load(tmp_path / "b")

    bad = [dict(RECORDS[0], timestamp=[10, "x"])]
    with pytest.raises(BenchmarkDataError, match=r"field 'timestamp': expected \[start, end\]"):
        get_benchmark("videotemp-g").load(write_data(tmp_path / "c", bad))

    bad = [dict(RECORDS[0], question="What does the man hold? A cup or a pen?")]
    with pytest.raises(BenchmarkDataError, match=r"data\.jsonl:1: field 'question': no inline options"):
        get_benchmark("videotemp").load(write_data(tmp_path / "d", bad))
    # The release's grounding query needs the options; asking with the stem alone does not.
    with pytest.raises(BenchmarkDataError, match=r"data\.jsonl:1: field 'question': no inline options.*--grounding-query stem"):
        get_benchmark("videotemp-g").load(tmp_path / "d")
    stem_only = get_benchmark("videotemp-g").load(tmp_path / "d", {"grounding_query": "stem"})
    assert stem_only[0].question == "What does the man hold? A cup or a pen?"

    bad = [RECORDS[0], dict(RECORDS[1], uid="0")]
    with pytest.raises(BenchmarkDataError, match=r"data\.jsonl:2.*uid '0' repeats the uid of .*data\.jsonl:1"):
        get_benchmark("videotemp").load(write_data(tmp_path / "e", bad))


@pytest.mark.parametrize("video", ["/abs/video.mp4", "../outside/video", "LongVILA/../../x"])
def test_video_path_escape_refused(tmp_path, video):
    bad = [dict(RECORDS[0], videos=[video])]
    with pytest.raises(BenchmarkDataError, match=r"data\.jsonl:1: field 'videos'.*(absolute|escapes the data root)"):
        get_benchmark("videotemp").load(write_data(tmp_path / "a", bad))
