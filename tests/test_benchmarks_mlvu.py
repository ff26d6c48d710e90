"""MLVU test: ``test-ground-truth/test_mcq_gt.json`` as published, M-AVG by hand.

    uid      task             gold  answer text          official (cut at ")")   lmms-eval ([ABCD] regex)
    AR_0     anomaly_reco     B     "B"                  correct                 correct
    AR_1     anomaly_reco     A     "(A) fighting"       correct                 correct
    AR_2     anomaly_reco     C     "The answer is C"    unparsed -> wrong       correct
    TR_0     topic_reasoning  F     "F"                  correct                 unparsed -> wrong
    TR_1     topic_reasoning  E     "E) cooking"         correct                 unparsed -> wrong
    count_0  count            A     (no result)          missing -> wrong        wrong
    count_1  count            B     "b"                  unparsed -> wrong       wrong

Official: anomaly_reco 2/3, topic_reasoning 2/2, count 0/2;
M-AVG = (66.67 + 100 + 0) / 3 = 55.56; micro = 4/7 = 57.14.
"""

import json
from pathlib import Path

import pytest

from videotemp_o3.benchmarks import BenchmarkDataError, ResultRecord, ScoreOptions, append_result, get_benchmark, score
from videotemp_o3.benchmarks import mlvu

SIX = ["cooking", "sports", "a lecture", "travel", "music", "news"]
RECORDS = [
    {"video": "AR_video_1.mp4", "duration": 300.5, "question": "What anomaly happens?",
     "candidates": ["fighting", "stealing", "arson", "normal"], "answer": "stealing",
     "question_type": "anomaly_reco", "question_id": "AR_0"},
    {"video": "AR_video_2.mp4", "duration": 200, "question": "What anomaly happens?",
     "candidates": ["fighting", "stealing", "arson", "normal"], "answer": "fighting",
     "question_type": "anomaly_reco", "question_id": "AR_1"},
    {"video": "AR_video_3.mp4", "duration": 200, "question": "What anomaly happens?",
     "candidates": ["fighting", "stealing", "arson", "normal"], "answer": "arson",
     "question_type": "anomaly_reco", "question_id": "AR_2"},
    {"video": "TR_video_1.mp4", "duration": 900, "question": "What is the topic?",
     "candidates": SIX, "answer": "news", "question_type": "topic_reasoning", "question_id": "TR_0"},
    {"video": "TR_video_2.mp4", "duration": 900, "question": "What is the topic?",
     "candidates": SIX, "answer": "music", "question_type": "topic_reasoning", "question_id": "TR_1"},
    {"video": "count_1.mp4", "duration": 600, "question": "How many times?",
     "candidates": ["1", "2", "3", "4"], "answer": "1", "question_type": "count", "question_id": "count_0"},
    {"video": "count_2.mp4", "duration": 600, "question": "How many times?",
     "candidates": ["1", "2", "3", "4"], "answer": "2", "question_type": "count", "question_id": "count_1"},
]
ANSWERS = {"AR_0": "B", "AR_1": "(A) fighting", "AR_2": "The answer is C", "TR_0": "F",
           "TR_1": "E) cooking", "count_1": "b"}


def write_data(root: Path, records=RECORDS) -> Path:
    path = root / "test-ground-truth" / "test_mcq_gt.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1))
    return root


def write_ours(path: Path) -> Path:
    for uid, text in ANSWERS.items():
        append_result(path, ResultRecord(uid, "mlvu", f"<think>...</think><answer>{text}</answer>", text))
    return path


def write_release(path: Path) -> Path:
    path.write_text(json.dumps(ANSWERS))
    return path


def test_items(tmp_path):
    items = get_benchmark("mlvu").load(write_data(tmp_path / "data"))
    assert all(get_benchmark("mlvu").group_by in it.fields for it in items)  # the report groups by it
    assert [it.uid for it in items] == [r["question_id"] for r in RECORDS]
    ar0 = items[0]
    assert ar0.answer == "B"  # "stealing" is the second candidate
    assert ar0.options == ("A. fighting", "B. stealing", "C. arson", "D. normal")
    assert ar0.fields == {"task": "anomaly_reco"}
    assert ar0.duration == 300.5
    assert ar0.video == tmp_path / "data" / "video" / "AR_video_1.mp4"
    assert items[3].answer == "F" and items[3].letters == tuple("ABCDEF")


@pytest.mark.parametrize("fmt", ["ours", "release"])
def test_official_numbers(tmp_path, fmt):
    root = write_data(tmp_path / "data")
    results = write_ours(tmp_path / "r.jsonl") if fmt == "ours" else write_release(tmp_path / "r.json")
    rep = score("mlvu", results, root)
    t = rep.table("task")
    assert t.row("anomaly_reco") == {"acc": pytest.approx(200 / 3), "correct": 2, "n": 3}
    assert t.row("topic_reasoning") == {"acc": pytest.approx(100.0), "correct": 2, "n": 2}
    assert t.row("count") == {"acc": 0.0, "correct": 0, "n": 2}  # the missing count_0 is wrong
    assert t.row("ego")["n"] == 0 and t.row("ego")["acc"] is None
    m_avg = (200 / 3 + 100 + 0) / 3
    assert rep.summary["M-AVG"] == pytest.approx(m_avg)
    assert t.row("M-AVG")["acc"] == pytest.approx(m_avg)
    assert rep.summary["micro"] == pytest.approx(400 / 7)
    assert rep.counts["missing"] == 1 and rep.counts["unparsed"] == 2
    assert any("3 task(s)" in n for n in rep.notes)


def test_lmms_eval_and_skip_missing(tmp_path):
    root = write_data(tmp_path / "data")
    results = write_release(tmp_path / "r.json")
    rep = score("mlvu", results, root, ScoreOptions(lmms_eval=True))
    t = rep.table("task")
    assert t.row("anomaly_reco")["acc"] == pytest.approx(100.0)  # "The answer is C" -> C
    assert t.row("topic_reasoning")["acc"] == pytest.approx(0.0)  # E and F cannot be read
    assert rep.summary["M-AVG"] == pytest.approx(100 / 3)
    assert rep.summary["micro"] == pytest.approx(300 / 7)

    rep = score("mlvu", results, root, ScoreOptions(skip_missing=True))
    assert rep.table("task").row("count") == {"acc": 0.0, "correct": 0, "n": 1}
    assert rep.summary["M-AVG"] == pytest.approx((200 / 3 + 100 + 0) / 3)
    assert rep.summary["micro"] == pytest.approx(400 / 6)


def test_extraction_rules():
    letters = tuple("ABCDEF")
    assert mlvu.mlvu_letter("F", letters) == "F"
    assert mlvu.mlvu_letter("(F)", letters) == "F"
    assert mlvu.mlvu_letter("F) news", letters) == "F"
    assert mlvu.mlvu_letter("F. news", letters) == "F"
    assert mlvu.mlvu_letter(" E ", letters) == "E"
    assert mlvu.mlvu_letter("Option F", letters) is None  # the official check wants the letter itself
    assert mlvu.mlvu_letter("f", letters) is None  # case matters in the official equality
    assert mlvu.mlvu_letter("G", letters) is None
    assert mlvu.mlvu_letter("D", tuple("ABCD")) == "D"
    assert mlvu.mlvu_letter("", letters) is None


def test_malformed_records(tmp_path):
    bad = [dict(RECORDS[0]), dict(RECORDS[1])]
    bad[1]["answer"] = "swimming"
    root = write_data(tmp_path / "a", bad)
    with pytest.raises(BenchmarkDataError, match=r"test_mcq_gt\.json\[1\]: field 'answer'.*not one of the candidates"):
        get_benchmark("mlvu").load(root)

    bad = [dict(RECORDS[3], candidates=SIX + ["seventh"])]
    with pytest.raises(BenchmarkDataError, match=r"\[0\]: field 'candidates': expected at most 6"):
        get_benchmark("mlvu").load(write_data(tmp_path / "b", bad))

    bad = [{k: v for k, v in RECORDS[0].items() if k != "question_id"}]
    with pytest.raises(BenchmarkDataError, match=r"\[0\]: field 'question_id': missing"):
        get_benchmark("mlvu").load(write_data(tmp_path / "c", bad))


def test_video_path_escape_refused(tmp_path):
    bad = [dict(RECORDS[0], video="../../outside.mp4")]
    with pytest.raises(BenchmarkDataError, match=r"\[0\]: field 'video'.*escapes the data root"):
        get_benchmark("mlvu").load(write_data(tmp_path / "d", bad))
    bad = [dict(RECORDS[0], video="/etc/passwd")]
    with pytest.raises(BenchmarkDataError, match=r"\[0\]: field 'video'.*absolute"):
        get_benchmark("mlvu").load(write_data(tmp_path / "e", bad))
