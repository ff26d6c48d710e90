"""Video-MME: the published parquet, both results formats, the official scorer's numbers.

Fixture (8 questions) and the responses, with what the official extraction makes of them:

    uid    dur     domain              sub_category        task type             gold  answer text               -> status
    001-1  short   Knowledge           Humanity & History  Temporal Perception   A     "A"                      correct
    001-2  short   Knowledge           Humanity & History  OCR Problems          C     "Best answer: C"         B (quirk) wrong
    002-1  short   Sports Competition  Football            Counting Problem      C     "The answer is C"        correct
    003-1  medium  Film & Television   Animation           Action Reasoning      D     11 words, no capital     unparsed
    003-2  medium  Film & Television   Animation           Temporal Perception   A     (no result)              missing
    004-1  long    Life Record         Travel              Information Synopsis  B     "B. The host walks."     correct
    004-2  long    Life Record         Travel              OCR Problems          C     "the option d"           unparsed
    005-1  long    Multilingual        Multilingual        Object Recognition    D     "A"                      wrong

Official (unparsed and missing left out): overall 3 of {001-1, 001-2, 002-1, 004-1, 005-1}
= 3/5 = 60.0; short 2/3; medium none; long 1/2.
"""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from videotemp_o3.benchmarks import (BenchmarkDataError, ResultRecord, ScoreOptions, append_result,
                                     get_benchmark, score)
from videotemp_o3.benchmarks import videomme
from videotemp_o3.benchmarks.score import main

ROWS = [
    # question_id, duration, domain, sub_category, task_type, answer, videoID
    ("001-1", "short", "Knowledge", "Humanity & History", "Temporal Perception", "A", "vidA"),
    ("001-2", "short", "Knowledge", "Humanity & History", "OCR Problems", "C", "vidA"),
    ("002-1", "short", "Sports Competition", "Football", "Counting Problem", "C", "vidB"),
    ("003-1", "medium", "Film & Television", "Animation", "Action Reasoning", "D", "vidC"),
    ("003-2", "medium", "Film & Television", "Animation", "Temporal Perception", "A", "vidC"),
    ("004-1", "long", "Life Record", "Travel", "Information Synopsis", "B", "vidD"),
    ("004-2", "long", "Life Record", "Travel", "OCR Problems", "C", "vidD"),
    ("005-1", "long", "Multilingual", "Multilingual", "Object Recognition", "D", "vidE"),
]
ANSWERS = {
    "001-1": "A",
    "001-2": "Best answer: C",
    "002-1": "The answer is C",
    "003-1": "i think the man in the video is probably running away from it",
    "004-1": "B. The host walks.",
    "004-2": "the option d",
    "005-1": "A",
}


def write_parquet(root: Path, rows=ROWS, **override) -> Path:
    cols = {k: [] for k in ("video_id", "duration", "domain", "sub_category", "url", "videoID",
                            "question_id", "task_type", "question", "options", "answer")}
    for qid, dur, dom, sub, task, ans, vid in rows:
        cols["video_id"].append(qid.split("-")[0])
        cols["duration"].append(dur)
        cols["domain"].append(dom)
        cols["sub_category"].append(sub)
        cols["url"].append(f"https://www.youtube.com/watch?v={vid}")
        cols["videoID"].append(vid)
        cols["question_id"].append(qid)
        cols["task_type"].append(task)
        cols["question"].append(f"Question {qid}?")
        cols["options"].append([f"{L}. option {L.lower()}" for L in "ABCD"])
        cols["answer"].append(ans)
    cols.update(override)
    path = root / "videomme" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path)
    return path


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    write_parquet(root)
    return root


def write_ours(path: Path) -> Path:
    # A first, wrong attempt at 001-1 followed by the re-run's line: the last line wins.
    append_result(path, ResultRecord("001-1", "videomme", "<answer>D</answer>", "D"))
    for uid, text in ANSWERS.items():
        if uid == "004-1":  # generation stopped at </answer>, which the server dropped
            raw = f"<think>the host is outside</think><answer>{text}"
        elif uid == "004-2":  # no <answer> in raw: the parsed prediction is used
            raw = "I could not decide."
        else:
            raw = f"<think>some reasoning with Capitals A B C D</think>\n<answer>{text}</answer>"
        append_result(path, ResultRecord(uid, "videomme", raw, text, [[1.0, 2.0]], 2, 3.5, None))
    append_result(path, ResultRecord("999-9", "videomme", "<answer>A</answer>", "A"))  # not in the data
    return path


def write_release(path: Path) -> Path:
    path.write_text(json.dumps(ANSWERS))
    return path


def test_items_from_parquet(data):
    items = get_benchmark("videomme").load(data)
    assert [it.uid for it in items] == [r[0] for r in ROWS]
    it = items[0]
    assert it.answer == "A" and it.task == "mcq"
    assert it.options == ("A. option a", "B. option b", "C. option c", "D. option d")
    assert it.option_texts == ("option a", "option b", "option c", "option d")
    assert it.prompt_text == "Question 001-1?\nA. option a\nB. option b\nC. option c\nD. option d"
    assert it.fields == {"duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
                         "task_type": "Temporal Perception", "video_id": "001"}
    # No video on disk: the lmms-eval layout (data/<videoID>.mp4) is the default.
    assert it.video == data / "data" / "vidA.mp4"


def test_video_found_in_other_layout(data):
    (data / "videos").mkdir()
    (data / "videos" / "vidB.mkv").write_bytes(b"\x1a\x45\xdf\xa3")
    items = {it.uid: it for it in get_benchmark("videomme").load(data)}
    assert all(get_benchmark("videomme").group_by in it.fields for it in items.values())  # the report groups by it
    assert items["002-1"].video == data / "videos" / "vidB.mkv"


@pytest.mark.parametrize("writer", [write_ours, write_release])
def test_official_numbers(data, tmp_path, writer):
    results = writer(tmp_path / ("r.jsonl" if writer is write_ours else "r.json"))
    rep = score("videomme", results, data)
    assert rep.summary["overall"] == pytest.approx(60.0)  # 3/5
    dur = rep.table("duration")
    assert dur.row("short") == {"acc": pytest.approx(200 / 3), "correct": 2, "n": 3}
    assert dur.row("medium") == {"acc": None, "correct": 0, "n": 0}  # 003-1 unparsed, 003-2 missing
    assert dur.row("long") == {"acc": pytest.approx(50.0), "correct": 1, "n": 2}
    dom = rep.table("domain")
    assert [label for label, _ in dom.rows] == ["Knowledge", "Film & Television", "Sports Competition",
                                                "Artistic Performance", "Life Record", "Multilingual"]
    assert dom.row("Knowledge")["acc"] == pytest.approx(50.0)
    assert dom.row("Film & Television")["acc"] is None
    assert dom.row("Sports Competition")["acc"] == pytest.approx(100.0)
    assert dom.row("Life Record") == {"acc": pytest.approx(100.0), "correct": 1, "n": 1}  # 004-2 left out
    assert dom.row("Multilingual")["acc"] == pytest.approx(0.0)
    sub = rep.table("sub_category")
    assert len(sub.rows) == 30
    assert sub.row("Humanity & History")["acc"] == pytest.approx(50.0)
    assert sub.row("Football")["acc"] == pytest.approx(100.0)
    assert sub.row("Travel")["acc"] == pytest.approx(100.0)
    assert sub.row("Animation")["n"] == 0
    task = rep.table("task_type")
    assert len(task.rows) == 12
    assert task.row("Temporal Perception") == {"acc": pytest.approx(100.0), "correct": 1, "n": 1}
    assert task.row("OCR Problems") == {"acc": pytest.approx(0.0), "correct": 0, "n": 1}
    assert task.row("Counting Problem")["acc"] == pytest.approx(100.0)
    assert task.row("Action Reasoning")["n"] == 0
    assert task.row("Information Synopsis")["acc"] == pytest.approx(100.0)
    assert task.row("Object Recognition")["acc"] == pytest.approx(0.0)
    assert rep.counts["items"] == 8 and rep.counts["missing"] == 1 and rep.counts["unparsed"] == 2
    assert rep.counts["answered"] == 7


def test_ours_counts_duplicates_and_extra(data, tmp_path):
    rep = score("videomme", write_ours(tmp_path / "r.jsonl"), data)
    assert rep.counts["duplicates"] == 1 and rep.counts["extra"] == 1
    assert rep.meta["results_format"] == "jsonl"


def test_count_unparsed_as_wrong(data, tmp_path):
    results = write_release(tmp_path / "r.json")
    for opts in (ScoreOptions(count_unparsed_as_wrong=True), ScoreOptions(lmms_eval=True)):
        rep = score("videomme", results, data, opts)
        assert rep.summary["overall"] == pytest.approx(37.5)  # 3/8
        assert rep.table("duration").row("medium") == {"acc": 0.0, "correct": 0, "n": 2}
        assert rep.table("duration").row("long")["acc"] == pytest.approx(100 / 3)
        assert rep.table("task_type").row("Temporal Perception")["acc"] == pytest.approx(50.0)
        assert rep.table("task_type").row("OCR Problems") == {"acc": 0.0, "correct": 0, "n": 2}
    rep = score("videomme", results, data, ScoreOptions(count_unparsed_as_wrong=True, skip_missing=True))
    assert rep.summary["overall"] == pytest.approx(300 / 7)


def test_extraction_rules():
    # The effective official prefix list: "Best answer:" alone is not stripped, so the B of
    # "Best" is the first capital letter.
    assert videomme.videomme_letter("Best answer: C") == "B"
    assert videomme.videomme_letter("The best answer is D") == "D"
    assert videomme.videomme_letter("The answer is C") == "C"
    assert videomme.videomme_letter("Because the man runs, it is D") == "B"
    assert videomme.videomme_letter("the option d") is None
    assert videomme.videomme_letter("") is None
    long = "this response has more than ten words and not a single capital option letter"
    assert videomme.videomme_letter(long) is None
    assert videomme.videomme_letter("E") is None  # only A-D


def test_cli_text_json_plot(data, tmp_path, capsys):
    results = write_release(tmp_path / "r.json")
    assert main(["videomme", "--input_file", str(results), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "overall: 60.0" in out
    assert "short" in out and "66.7" in out
    assert "Task type" not in out and "Video domain" not in out  # off unless asked, as officially

    assert main(["videomme", "--input_file", str(results), "--data-dir", str(data),
                 "--return_task_types_accuracy", "--return_categories_accuracy"]) == 0
    out = capsys.readouterr().out
    assert "Task type" in out and "Video domain" in out and "Video sub-category" not in out

    png = tmp_path / "plot.png"
    assert main(["videomme", "--input_file", str(results), "--data-dir", str(data), "--json",
                 "--plot", str(png), "--return_sub_categories_accuracy"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["summary"]["overall"] == pytest.approx(60.0)
    assert obj["tables"]["task_type"]["OCR Problems"]["n"] == 1  # --json carries every table
    assert obj["counts"]["missing"] == 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_malformed_records_name_file_and_field(tmp_path):
    root = tmp_path / "bad"
    path = write_parquet(root, answer=["A", "E"] + [r[5] for r in ROWS[2:]])
    with pytest.raises(BenchmarkDataError, match=r"test-00000-of-00001\.parquet row 1: field 'answer'"):
        get_benchmark("videomme").load(root)

    write_parquet(root, duration=["short", "tiny"] + [r[1] for r in ROWS[2:]])
    with pytest.raises(BenchmarkDataError, match=r"row 1: field 'duration'.*tiny"):
        get_benchmark("videomme").load(root)

    pq.write_table(pa.table({"question_id": ["x"], "question": ["q"]}), path)
    with pytest.raises(BenchmarkDataError, match=r"missing column\(s\).*'duration'"):
        get_benchmark("videomme").load(root)


def test_video_path_escape_refused(tmp_path):
    root = tmp_path / "esc"
    write_parquet(root, videoID=["../../etc/passwd"] + [r[6] for r in ROWS[1:]])
    with pytest.raises(BenchmarkDataError, match=r"row 0: field 'videoID'.*escapes the data root"):
        get_benchmark("videomme").load(root)
