"""LVBench: ``video_info.meta.jsonl`` as published, overlapping question types.

    uid  types                                        gold  answer text        polish -> judgement
    101  key information retrieval, reasoning         B     "(B) dog"          B  correct
    102  event understanding                          C     "C. bird"          C  correct
    201  summarization, reasoning                     A     "The answer is A"  T  wrong
    202  temporal grounding                           D     (no result)        missing: left out (official)
    203  entity recognition, key information retr.    A     ""                 "" unparsed: wrong

Official: overall 2/4 = 50; KIR 1/2; EU 1/1; Sum 0/1; ER 0/1; Rea 1/2; TG none.
"""

import json
from pathlib import Path

import pytest

from videotemp_o3.benchmarks import BenchmarkDataError, ResultRecord, ScoreOptions, append_result, get_benchmark, score
from videotemp_o3.benchmarks import lvbench


def qa(uid, answer, types, ref="01:05-02:10", stem="What happens first?"):
    return {"uid": uid, "question": f"{stem}\n(A) cat\n(B) dog\n(C) bird\n(D) fish", "answer": answer,
            "question_type": types, "time_reference": ref}


VIDEOS = [
    {"key": "vid_a", "type": "documentary", "video_info": {"duration_minutes": 65.2},
     "qa": [qa(101, "B", ["key information retrieval", "reasoning"]),
            qa(102, "C", ["event understanding"], ref="1:02:03-1:02:33")]},
    {"key": "vid_b", "type": "sports", "video_info": {"duration_minutes": 70.0},
     "qa": [qa(201, "A", ["summarization", "reasoning"], ref=""),
            qa(202, "D", ["temporal grounding"]),
            qa(203, "A", ["entity recognition", "key information retrieval"])]},
]
ANSWERS = {"101": "(B) dog", "102": "C. bird", "201": "The answer is A", "203": ""}


def write_data(root: Path, videos=VIDEOS, name="video_info.meta.jsonl") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text("".join(json.dumps(v) + "\n" for v in videos))
    return root


def write_ours(path: Path) -> Path:
    for uid, text in ANSWERS.items():
        raw = "<think>no answer tag</think>" if text == "" else f"<think>t</think><answer>{text}</answer>"
        append_result(path, ResultRecord(uid, "lvbench", raw, None if text == "" else text))
    return path


def write_release(path: Path) -> Path:
    path.write_text(json.dumps(ANSWERS, indent=4))  # the release's merged {uid: answer}
    return path


def test_items(tmp_path):
    root = write_data(tmp_path / "data")
    items = {it.uid: it for it in get_benchmark("lvbench").load(root)}
    assert all(get_benchmark("lvbench").group_by in it.fields for it in items.values())  # the report groups by it
    assert sorted(items) == ["101", "102", "201", "202", "203"]  # integer uids become strings
    it = items["101"]
    assert it.question == "What happens first?"
    assert it.options == ("A. cat", "B. dog", "C. bird", "D. fish")
    assert it.answer == "B"
    assert it.fields["question_types"] == ("key information retrieval", "reasoning")
    assert it.spans == ((65.0, 130.0),)
    assert items["102"].spans == ((3723.0, 3753.0),)
    assert items["201"].spans == ()  # no time reference: no evidence span, no error
    assert it.video == root / "video_chunks" / "vid_a.mp4"


@pytest.mark.parametrize("fmt", ["ours", "release"])
def test_official_numbers(tmp_path, fmt):
    root = write_data(tmp_path / "data")
    results = write_ours(tmp_path / "r.jsonl") if fmt == "ours" else write_release(tmp_path / "r.json")
    rep = score("lvbench", results, root)
    assert rep.summary["overall"] == pytest.approx(50.0)
    t = rep.table("question_type")
    assert t.row("key information retrieval") == {"acc": pytest.approx(50.0), "correct": 1, "n": 2}
    assert t.row("event understanding") == {"acc": pytest.approx(100.0), "correct": 1, "n": 1}
    assert t.row("summarization") == {"acc": 0.0, "correct": 0, "n": 1}
    assert t.row("entity recognition") == {"acc": 0.0, "correct": 0, "n": 1}
    assert t.row("reasoning") == {"acc": pytest.approx(50.0), "correct": 1, "n": 2}
    assert t.row("temporal grounding") == {"acc": None, "correct": 0, "n": 0}
    assert t.row("overall")["n"] == 4
    assert rep.counts["missing"] == 1 and rep.counts["unparsed"] == 1


def test_count_missing_as_wrong(tmp_path):
    rep = score("lvbench", write_release(tmp_path / "r.json"), write_data(tmp_path / "data"),
                ScoreOptions(count_unparsed_as_wrong=True))
    assert rep.summary["overall"] == pytest.approx(40.0)  # 2/5
    assert rep.table("question_type").row("temporal grounding") == {"acc": 0.0, "correct": 0, "n": 1}


def test_release_sample_file_is_read(tmp_path):
    root = write_data(tmp_path / "data", name="video_info_sample.meta.jsonl")
    assert len(get_benchmark("lvbench").load(root)) == 5


def test_polish_answer_rules():
    assert lvbench.lvbench_letter("(B)") == "B"
    assert lvbench.lvbench_letter("B) dog") == "B"
    assert lvbench.lvbench_letter(" ( C ) bird") == "C"
    assert lvbench.lvbench_letter("C. bird") == "C"
    assert lvbench.lvbench_letter("The answer is A") == "T"
    assert lvbench.lvbench_letter("") == ""


def test_malformed_records(tmp_path):
    bad = [dict(VIDEOS[0], qa=[{"uid": 1, "question": "No options here", "answer": "A",
                                "question_type": ["reasoning"]}])]
    with pytest.raises(BenchmarkDataError, match=r"video_info\.meta\.jsonl:1 qa\[0\]: field 'question': no inline options"):
        get_benchmark("lvbench").load(write_data(tmp_path / "a", bad))

    bad = [VIDEOS[0], dict(VIDEOS[1], qa=[qa(5, "E", ["reasoning"])])]
    with pytest.raises(BenchmarkDataError, match=r"\.jsonl:2 qa\[0\]: field 'answer'"):
        get_benchmark("lvbench").load(write_data(tmp_path / "b", bad))

    bad = [dict(VIDEOS[0], qa="not a list")]
    with pytest.raises(BenchmarkDataError, match=r"\.jsonl:1: field 'qa': expected a list"):
        get_benchmark("lvbench").load(write_data(tmp_path / "c", bad))

    bad = [dict(VIDEOS[0], qa=[dict(qa(7, "A", ["reasoning"]), question="Q?\n(A) x\n(B) y\nAnswer briefly.")])]
    with pytest.raises(BenchmarkDataError, match=r"field 'question': text after the options"):
        get_benchmark("lvbench").load(write_data(tmp_path / "d", bad))

    root = write_data(tmp_path / "e")
    (root / "video_info.meta.jsonl").write_text(json.dumps(VIDEOS[0]) + "\n{not json\n")
    with pytest.raises(BenchmarkDataError, match=r"video_info\.meta\.jsonl:2: invalid JSON"):
        get_benchmark("lvbench").load(root)


def test_video_path_escape_refused(tmp_path):
    bad = [dict(VIDEOS[0], key="../../../tmp/x")]
    with pytest.raises(BenchmarkDataError, match=r"\.jsonl:1: field 'key'.*escapes the data root"):
        get_benchmark("lvbench").load(write_data(tmp_path / "a", bad))
