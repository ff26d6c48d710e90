"""NExT-GQA: ``test.csv`` + ``gsub_test.json`` as published; QA and grounding together.

    uid    type  gold  answer / segments                         letter  span        IoU      IoP
    100_0  CW    C     "C [2.0, 8.0]"                             C ok    [2, 8]      6/10     6/6 = 1
    100_1  TN    A     "A", clips [10,20] then [35,45]            A ok    [35, 45]    5/15     5/10 = 0.5   (GT [20,30] and [40,50]: best)
    200_3  CH    E     "B", no clips                              B bad   none        0        0
    200_4  TC    B     (no result)                                missing: left out
    300_0  CW    D     "D [15, 15]"                               D ok    a point     0        1 (point inside GT: official rule)
    300_1  TP    A     "no idea", no clips                        unparsed: left out

Official (n = 4): Acc@QA 3/4; Acc@GQA 3/4 (100_1 has IoP exactly 0.5, ≥); mIoP (1+0.5+0+1)/4;
IoP@0.3 3/4; IoP@0.5 3/4; mIoU (0.6 + 1/3)/4; IoU@0.3 2/4; IoU@0.5 1/4.
"""

import csv
import json
from pathlib import Path

import pytest

from videotemp_o3.benchmarks import BenchmarkDataError, ResultRecord, ScoreOptions, append_result, get_benchmark, score

ROWS = [  # video_id, qid, type, gold index, spans
    ("100", 0, "CW", 2, [[0.0, 10.0]]),
    ("100", 1, "TN", 0, [[20.0, 30.0], [40.0, 50.0]]),
    ("200", 3, "CH", 4, [[5.0, 15.0]]),
    ("200", 4, "TC", 1, [[0.0, 4.0]]),
    ("300", 0, "CW", 3, [[10.0, 20.0]]),
    ("300", 1, "TP", 0, [[30.0, 40.0]]),
]


def write_data(root: Path, rows=ROWS, gsub=None, mapping=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "frame_count", "width", "height", "question", "answer", "qid", "type",
                    "a0", "a1", "a2", "a3", "a4"])
        for vid, qid, qtype, gold, _ in rows:
            choices = [f"choice {k} of {vid}_{qid}" for k in range(5)]
            w.writerow([vid, 900, 640, 480, f"why did it happen in {vid}, {qid}", choices[gold], qid, qtype, *choices])
    if gsub is None:
        gsub = {}
        for vid, qid, _, _, spans in rows:
            gsub.setdefault(vid, {"duration": 60, "location": {}, "fps": 29.97})["location"][str(qid)] = spans
    (root / "gsub_test.json").write_text(json.dumps(gsub))
    if mapping:
        (root / "map_vid_vidorID.json").write_text(json.dumps(mapping))
    return root


RESPONSES = {  # uid: (answer text, clips requested)
    "100_0": ("C [2.0, 8.0]", []),
    "100_1": ("A", [[10.0, 20.0], [35.0, 45.0]]),
    "200_3": ("B", []),
    "300_0": ("D [15, 15]", []),
    "300_1": ("no idea", []),
}


def write_ours(path: Path) -> Path:
    for uid, (text, clips) in RESPONSES.items():
        append_result(path, ResultRecord(uid, "nextgqa", f"<think>t</think><answer>{text}</answer>", text,
                                         clips, 1 + len(clips), 5.0))
    return path


def test_items(tmp_path):
    root = write_data(tmp_path / "data", mapping={"100": "1010/100"})
    items = {it.uid: it for it in get_benchmark("nextgqa").load(root)}
    assert all(get_benchmark("nextgqa").group_by in it.fields for it in items.values())  # the report groups by it
    assert list(items) == ["100_0", "100_1", "200_3", "200_4", "300_0", "300_1"]
    it = items["100_1"]
    assert it.answer == "A" and it.options[0] == "A. choice 0 of 100_1" and len(it.options) == 5
    assert it.spans == ((20.0, 30.0), (40.0, 50.0))
    assert it.duration == 60.0 and it.fields == {"type": "TN"}
    assert it.video == root / "NExTVideo" / "1010" / "100.mp4"
    assert items["200_3"].answer == "E"
    assert items["200_3"].video == root / "NExTVideo" / "200.mp4"


def test_official_numbers(tmp_path):
    rep = score("nextgqa", write_ours(tmp_path / "r.jsonl"), write_data(tmp_path / "data"))
    o = rep.table("type").row("overall")
    assert o["n"] == 4
    assert o["Acc@QA"] == pytest.approx(75.0)
    assert o["Acc@GQA"] == pytest.approx(75.0)
    assert o["mIoP"] == pytest.approx(62.5)
    assert (o["IoP@0.3"], o["IoP@0.5"]) == (75.0, 75.0)
    assert o["mIoU"] == pytest.approx(100 * (0.6 + 1 / 3) / 4)
    assert (o["IoU@0.3"], o["IoU@0.5"]) == (50.0, 25.0)
    t = rep.table("type")
    cw = t.row("CW")
    assert cw["n"] == 2 and cw["Acc@QA"] == 100.0 and cw["Acc@GQA"] == 100.0 and cw["mIoP"] == 100.0
    assert cw["mIoU"] == pytest.approx(30.0) and (cw["IoU@0.3"], cw["IoU@0.5"]) == (50.0, 50.0)
    tn = t.row("TN")
    assert (tn["Acc@GQA"], tn["mIoP"], tn["IoP@0.5"], tn["IoU@0.3"], tn["IoU@0.5"]) == (100.0, 50.0, 100.0, 100.0, 0.0)
    assert tn["mIoU"] == pytest.approx(100 / 3)
    assert t.row("CH") == {"Acc@QA": 0.0, "Acc@GQA": 0.0, "mIoP": 0.0, "IoP@0.3": 0.0, "IoP@0.5": 0.0,
                           "mIoU": 0.0, "IoU@0.3": 0.0, "IoU@0.5": 0.0, "n": 1}
    assert t.row("TC")["n"] == 0 and t.row("TC")["Acc@QA"] is None
    assert rep.counts["missing"] == 1 and rep.counts["unparsed"] == 1
    assert any("1 answered question(s) gave no span" in n for n in rep.notes)


def test_strict_and_counting(tmp_path):
    root = write_data(tmp_path / "data")
    results = write_ours(tmp_path / "r.jsonl")
    o = score("nextgqa", results, root, ScoreOptions(strict_threshold=True)).table("type").row("overall")
    assert o["Acc@GQA"] == pytest.approx(50.0)  # 100_1's IoP 0.5 is not > 0.5
    assert o["IoP@0.5"] == pytest.approx(50.0)
    o = score("nextgqa", results, root, ScoreOptions(count_unparsed_as_wrong=True)).table("type").row("overall")
    assert o["n"] == 6 and o["Acc@QA"] == pytest.approx(50.0) and o["mIoP"] == pytest.approx(250 / 6)


def test_release_format_has_no_clips(tmp_path):
    # The release's {uid: answer} carries no tool calls: 100_1 keeps its letter but has no span.
    path = tmp_path / "r.json"
    path.write_text(json.dumps({uid: text for uid, (text, _) in RESPONSES.items()}))
    o = score("nextgqa", path, write_data(tmp_path / "data")).table("type").row("overall")
    assert o["n"] == 4 and o["Acc@QA"] == pytest.approx(75.0)
    assert o["Acc@GQA"] == pytest.approx(50.0) and o["mIoP"] == pytest.approx(50.0)
    assert o["mIoU"] == pytest.approx(15.0) and (o["IoU@0.3"], o["IoU@0.5"]) == (25.0, 25.0)


def test_malformed_records(tmp_path):
    rows = [("100", 0, "CW", 2, [[0.0, 10.0]])]
    root = write_data(tmp_path / "a", rows)
    text = (root / "test.csv").read_text().replace("choice 2 of 100_0,0", "not a choice,0", 1)
    (root / "test.csv").write_text(text)
    with pytest.raises(BenchmarkDataError, match=r"test\.csv:2: field 'answer'.*not one of a0\.\.a4"):
        get_benchmark("nextgqa").load(root)

    root = write_data(tmp_path / "b", rows, gsub={"100": {"duration": 60, "location": {"7": [[0, 1]]}}})
    with pytest.raises(BenchmarkDataError, match=r"gsub_test\.json: video '100': field 'location\.0': missing"):
        get_benchmark("nextgqa").load(root)

    root = write_data(tmp_path / "c", rows, gsub={"100": {"duration": 60, "location": {"0": [[0, "x"]]}}})
    with pytest.raises(BenchmarkDataError, match=r"field 'location\.0': expected \[start, end\]"):
        get_benchmark("nextgqa").load(root)

    root = write_data(tmp_path / "d", rows)
    (root / "gsub_test.json").unlink()
    with pytest.raises(BenchmarkDataError, match=r"d/gsub_test\.json not found"):
        get_benchmark("nextgqa").load(root)


def test_video_path_escape_refused(tmp_path):
    root = write_data(tmp_path / "a", ROWS[:1], mapping={"100": "../../100"})
    with pytest.raises(BenchmarkDataError, match=r"test\.csv:2: field 'video_id'.*escapes the data root"):
        get_benchmark("nextgqa").load(root)
