"""Video-MMMU: three track parquets as published (Perception without a question_type column,
Adaptation with images and open questions), MMMU-style parsing, overall = mean of tracks.

    uid                                   gold      answer text                                   -> judgement
    Perception/dev_Biology_3              G         "G."                                          G, correct
    Perception/validation_Chemistry_6     A         ""                                            API Error: left out
    Comprehension/dev_Biology_3           B         "Between A. alpha and B. beta I choose B. beta"  A. and B. seen; B. is last: correct
    Comprehension/validation_Math_1       D         "I believe the vehicle shown is a bus in the end"  no letter; > 5 words; "a bus" = C: wrong
    Comprehension/validation_Math_2       A         (no result)                                    missing: left out
    Adaptation/dev_Biology_3              A         "No idea"                                      No Answer Found: wrong
    Adaptation/validation_Chemistry_13    12.97     "The mass is 12.97 g."                          12.97 found: correct
    Adaptation/validation_Chemistry_19    4         "There are 5 isomers"                           5 != 4: wrong
    Adaptation/validation_Biology_15      ketose    "It is a ketose."                              "ketose" in "a ketose": correct

Official: Perception 1/1 = 100, Comprehension 1/2 = 50, Adaptation 2/4 = 50;
overall = (100 + 50 + 50) / 3 = 66.67; micro 4/7.
"""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from videotemp_o3.benchmarks import BenchmarkDataError, ResultRecord, ScoreOptions, append_result, get_benchmark, score
from videotemp_o3.benchmarks import videommmu

TEN = [f"choice {i}" for i in range(10)]
PNG = b"\x89PNG\r\n\x1a\nfake"


def write_data(root: Path) -> Path:
    (root / "Perception").mkdir(parents=True)
    (root / "Comprehension").mkdir()
    (root / "Adaptation").mkdir()
    pq.write_table(pa.table({
        "id": ["dev_Biology_3", "validation_Chemistry_6"],
        "question": ["How many carbon atoms?", "What is the boiling point?"],
        "options": [TEN, ["50 C", "30 C", "60 C", "45 C"]],
        "answer": ["G", "A"],
    }), root / "Perception" / "test-00000-of-00001.parquet")
    pq.write_table(pa.table({
        "id": ["dev_Biology_3", "validation_Math_1", "validation_Math_2"],
        "question": ["Which sugar?", "Which vehicle appears last?", "Which number?"],
        "options": [["alpha", "beta", "gamma", "delta"], ["the red car", "the blue car", "a bus", "a bike"],
                    ["1", "2", "3", "4"]],
        "answer": ["B", "D", "A"],
        "question_type": ["multiple-choice"] * 3,
    }), root / "Comprehension" / "test-00000-of-00001.parquet")
    image = pa.array([{"bytes": PNG, "path": f"img{i}.png"} for i in range(4)],
                     type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    pq.write_table(pa.table({
        "id": ["dev_Biology_3", "validation_Chemistry_13", "validation_Chemistry_19", "validation_Biology_15"],
        "question": ["<image 1> What kind of sugar is this?", "<image 1> What mass was dissolved?",
                     "How many optical isomers? <image 1>", "<image 1> Aldose or ketose?"],
        "options": [["aldose", "ketose", "glucose"], [], [], []],
        "answer": ["A", "12.97", "4", "ketose"],
        "question_type": ["multiple-choice", "open", "open", "open"],
        "image": image,
    }), root / "Adaptation" / "test-00000-of-00001.parquet")
    return root


ANSWERS = {
    "Perception/dev_Biology_3": "G.",
    "Perception/validation_Chemistry_6": "",
    "Comprehension/dev_Biology_3": "Between A. alpha and B. beta I choose B. beta",
    "Comprehension/validation_Math_1": "I believe the vehicle shown is a bus in the end",
    "Adaptation/dev_Biology_3": "No idea",
    "Adaptation/validation_Chemistry_13": "The mass is 12.97 g.",
    "Adaptation/validation_Chemistry_19": "There are 5 isomers",
    "Adaptation/validation_Biology_15": "It is a ketose.",
}


def write_ours(path: Path) -> Path:
    for uid, text in ANSWERS.items():
        append_result(path, ResultRecord(uid, "videommmu", f"<think>t</think><answer>{text}</answer>", text))
    return path


def write_release(path: Path) -> Path:
    path.write_text(json.dumps(ANSWERS))
    return path


def test_items(tmp_path):
    root = write_data(tmp_path / "data")
    (root / "Science").mkdir()
    (root / "Science" / "dev_Biology_3.mp4").write_bytes(b"\0")  # lmms-eval's discipline folders
    items = {it.uid: it for it in get_benchmark("videommmu").load(root)}
    assert all(get_benchmark("videommmu").group_by in it.fields for it in items.values())  # the report groups by it
    assert len(items) == 9  # the same id in three tracks stays three questions
    p = items["Perception/dev_Biology_3"]
    assert p.task == "mcq" and p.answer == "G" and p.letters[-1] == "J"
    assert p.options[6] == "G. choice 6"
    assert p.fields == {"track": "Perception", "subject": "Biology", "question_type": "mcq", "id": "dev_Biology_3"}
    assert p.video == root / "Science" / "dev_Biology_3.mp4"
    assert items["Comprehension/validation_Math_1"].video == root / "videos" / "validation_Math_1.mp4"
    a = items["Adaptation/validation_Chemistry_13"]
    assert a.task == "open" and a.answer == "12.97" and a.options == ()
    assert a.images == (PNG,)
    assert a.prompt_text == "<image 1> What mass was dissolved?"  # the marker stays for the protocol
    assert items["Adaptation/dev_Biology_3"].prompt_text == (
        "<image 1> What kind of sugar is this?\nA. aldose\nB. ketose\nC. glucose")


@pytest.mark.parametrize("fmt", ["ours", "release"])
def test_official_numbers(tmp_path, fmt):
    root = write_data(tmp_path / "data")
    results = write_ours(tmp_path / "r.jsonl") if fmt == "ours" else write_release(tmp_path / "r.json")
    rep = score("videommmu", results, root)
    t = rep.table("track")
    assert t.row("Perception") == {"acc": pytest.approx(100.0), "correct": 1, "n": 1}
    assert t.row("Comprehension") == {"acc": pytest.approx(50.0), "correct": 1, "n": 2}
    assert t.row("Adaptation") == {"acc": pytest.approx(50.0), "correct": 2, "n": 4}
    assert rep.summary["overall"] == pytest.approx(200 / 3)
    assert rep.summary["micro"] == pytest.approx(400 / 7)
    assert rep.counts["unparsed"] == 1 and rep.counts["missing"] == 1


def test_count_unparsed_as_wrong(tmp_path):
    rep = score("videommmu", write_release(tmp_path / "r.json"), write_data(tmp_path / "data"),
                ScoreOptions(count_unparsed_as_wrong=True))
    t = rep.table("track")
    assert t.row("Perception")["acc"] == pytest.approx(50.0)  # 1/2
    assert t.row("Comprehension")["acc"] == pytest.approx(100 / 3)  # 1/3
    assert rep.summary["overall"] == pytest.approx((50 + 100 / 3 + 50) / 3)
    assert rep.summary["micro"] == pytest.approx(400 / 9)


def test_choice_parser_rules():
    L, T = "ABCD", ["alpha", "beta", "gamma", "delta"]
    assert videommmu.mmmu_choice("B", L, T) == "B"
    assert videommmu.mmmu_choice("(C)", L, T) == "C"
    assert videommmu.mmmu_choice("The answer is (B), not (A) as I first thought", L, T) == "A"  # last "(X)"
    assert videommmu.mmmu_choice("A: alpha; later D: delta", L, T) == "D"
    assert videommmu.mmmu_choice("C. gamma", L, T) == "C"
    # "A." wins over "(B)": period/colon candidates are looked for first.
    assert videommmu.mmmu_choice("(B) or maybe A. alpha", L, T) == "A"
    assert videommmu.mmmu_choice("gamma", L, T) == videommmu.MMMU_NO_ANSWER  # text fallback needs > 5 words
    assert videommmu.mmmu_choice("well I am quite sure it is gamma", L, T) == "C"
    assert videommmu.mmmu_choice("it could be alpha but gamma fits better overall", L, T) == "C"  # last text
    assert videommmu.mmmu_choice("E", L, T) == videommmu.MMMU_NO_ANSWER


def test_open_parser_rules():
    preds = videommmu.mmmu_open_predictions("So the total is 1,000 apples")
    assert 1000.0 in preds
    assert videommmu.mmmu_open_correct("1000", preds)
    assert videommmu.mmmu_open_correct("6.02e23", videommmu.mmmu_open_predictions("N = 6.02e23"))
    assert videommmu.mmmu_open_correct("3.5", videommmu.mmmu_open_predictions("x = 3.50"))  # rounded to 2
    assert not videommmu.mmmu_open_correct("3.5", videommmu.mmmu_open_predictions("x = 3.56"))
    # A one-letter gold matches only at a word edge (" x" / "x "), not inside a word.
    assert not videommmu.mmmu_open_correct("b", videommmu.mmmu_open_predictions("the answer is about"))
    assert videommmu.mmmu_open_correct("b", videommmu.mmmu_open_predictions("the point is b here"))
    # Only lines are split (the sentence split never fires after lower-casing); the first line
    # has no indicator, the second gives "7" — as text and as number, both normalised to 7.0.
    assert videommmu.mmmu_open_predictions("first line\nthe value is 7") == [7.0]
    assert videommmu.mmmu_open_predictions("It is red. The value is blue") == ["blue"]


def test_options_stored_as_a_list_literal(tmp_path):
    root = tmp_path / "lit"
    (root / "Perception").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["dev_Math_1"], "question": ["q"], "options": ["['x', 'y']"],
                             "answer": ["B"]}), root / "Perception" / "test-00000-of-00001.parquet")
    (item,) = get_benchmark("videommmu").load(root)
    assert item.options == ("A. x", "B. y")


def test_malformed_records(tmp_path):
    root = tmp_path / "bad"
    (root / "Comprehension").mkdir(parents=True)
    path = root / "Comprehension" / "test-00000-of-00001.parquet"
    pq.write_table(pa.table({"id": ["dev_Math_1", "dev_Math_2"], "question": ["q", "q"],
                             "options": [["x", "y"], ["x", "y"]], "answer": ["B", "C"],
                             "question_type": ["multiple-choice"] * 2}), path)
    with pytest.raises(BenchmarkDataError, match=r"Comprehension/test-00000-of-00001\.parquet row 1: field 'answer'"):
        get_benchmark("videommmu").load(root)
    pq.write_table(pa.table({"id": ["../../dev_Math_1"], "question": ["q"], "options": [["x", "y"]],
                             "answer": ["B"], "question_type": ["multiple-choice"]}), path)
    with pytest.raises(BenchmarkDataError, match=r"row 0: field 'id'.*escapes the data root"):
        get_benchmark("videommmu").load(root)
    with pytest.raises(BenchmarkDataError, match="none of"):
        get_benchmark("videommmu").load(tmp_path)  # a data root with no track file
