"""What every benchmark shares: the registry, the two results formats, path safety, the CLI."""

import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import videotemp_o3.benchmarks as benchmarks
from videotemp_o3.benchmarks import (BENCHMARKS, BenchmarkDataError, BenchmarkError, ResultRecord, ResultsError,
                                     append_result, answer_text, get_benchmark, read_results)
from videotemp_o3.benchmarks.base import REPO_ROOT, Policy, ScoreOptions
from videotemp_o3.benchmarks.files import safe_join
from videotemp_o3.benchmarks.score import main

REPO = Path(__file__).resolve().parents[1]


def test_registry():
    assert list(BENCHMARKS) == ["videotemp", "videotemp-g", "videomme", "mlvu", "videommmu", "lvbench",
                                "nextgqa", "charades"]
    for name, bench in BENCHMARKS.items():
        assert bench.name == name and get_benchmark(name) is bench
        assert bench.task in ("mcq", "grounding", "open")
        assert bench.data_root() == REPO_ROOT / bench.data_subdir
        assert bench.default_results() == REPO_ROOT / "eval" / name / "output" / "results.jsonl"
    assert get_benchmark("videotemp-g").data_subdir == get_benchmark("videotemp").data_subdir == "eval/videotemp/data"
    assert get_benchmark("videomme").data_root("/x/y") == Path("/x/y")
    with pytest.raises(BenchmarkError, match="unknown benchmark 'mvbench'; known: videotemp, videotemp-g"):
        get_benchmark("mvbench")


def test_package_doctest():
    assert doctest.testmod(benchmarks).failed == 0


def test_policy_resolution():
    mme = get_benchmark("videomme")
    assert mme.policy_for(ScoreOptions()) == Policy("exclude", "exclude")
    assert mme.policy_for(ScoreOptions(lmms_eval=True)) == Policy("wrong", "wrong")
    assert mme.policy_for(ScoreOptions(count_unparsed_as_wrong=True, skip_missing=True)) == Policy("wrong", "exclude")
    assert get_benchmark("mlvu").policy_for(ScoreOptions(skip_missing=True)) == Policy("wrong", "exclude")


@pytest.mark.parametrize("raw, prediction, expected", [
    ("<think>A or B</think><answer>B</answer>", "B", "B"),
    ("<think>x</think><answer> C. text </answer>", None, "C. text"),
    ("<think>x</think><answer>first</answer> then <answer>second</answer>", None, "second"),
    ("<think>x</think><answer>[12.5, 30]", None, "[12.5, 30]"),  # stop string dropped by the server
    ("no tags at all", "D", "D"),
    ("no tags at all", [3.0, 7.5], "[3.0, 7.5]"),
    ("no tags at all", None, ""),
    (None, None, ""),
])
def test_answer_text(raw, prediction, expected):
    assert answer_text(raw, prediction) == expected


def test_read_ours(tmp_path):
    path = tmp_path / "r.jsonl"
    append_result(path, ResultRecord("a", "charades", "<answer>[1, 2]</answer>", [1.0, 2.0],
                                     [[0.0, 5.0], [1.0, 3.0]], 2, 3.0, None))
    append_result(path, {"uid": 7, "bench": "charades", "raw": "", "prediction": None,
                         "segments": [{"start_time": 4, "end_time": 6}], "turns": 3, "seconds": 9.0,
                         "error": "CUDA out of memory"})
    with open(path, "a") as f:
        f.write("\n")  # blank lines are skipped
    res = read_results(path, "charades")
    assert res.format == "jsonl" and set(res.responses) == {"a", "7"}
    a = res.responses["a"]
    assert a.answer == "[1, 2]" and a.segments == ((0.0, 5.0), (1.0, 3.0)) and a.error is None
    assert a.source == f"{path}:1"
    seven = res.responses["7"]
    assert seven.answer == "" and seven.segments == ((4.0, 6.0),) and seven.error == "CUDA out of memory"


def test_read_release_formats(tmp_path):
    merged = tmp_path / "test.json"
    merged.write_text(json.dumps({"1": "A", "2": [3, 4], "3": None, "4": 12.5}, indent=4))
    res = read_results(merged, "lvbench")
    assert res.format == "release"
    assert {u: r.answer for u, r in res.responses.items()} == {"1": "A", "2": "[3, 4]", "3": "", "4": "12.5"}

    lines = tmp_path / "test.jsonl"  # the release's per-line pairs, before its merge step
    lines.write_text('{"1": "A"}\n{"2": "B"}\n{"1": "C"}\n')
    res = read_results(lines)
    assert res.format == "release" and res.responses["1"].answer == "C" and res.duplicates == 1


@pytest.mark.parametrize("content, message", [
    ('{"uid": "a", "raw": ""}\n{broken\n', r"r\.jsonl:2: invalid JSON"),
    ('{"uid": "a"}\n[1, 2]\n', r"r\.jsonl:2: expected a JSON object"),
    ('{"uid": "a"}\n{"x": 1, "y": 2}\n', r"r\.jsonl:2: result record has no 'uid'"),
    ('{"x": 1, "y": 2}\n{"uid": "a"}\n', r"r\.jsonl:1: not a results record: ours carry 'uid'"),
    ('{"raw": "<answer>A</answer>", "prediction": "A"}', r"r\.jsonl:1: result record has no 'uid'"),
    ('{"uid": true}\n', r"r\.jsonl:1: field 'uid'"),
    ('{"uid": "a", "segments": [[1]]}\n', r"r\.jsonl:1: field 'segments': element 0"),
    ('{"uid": "a", "bench": "mlvu"}\n', r"r\.jsonl:1: this result is for benchmark 'mlvu', not 'lvbench'"),
])
def test_malformed_results_name_the_line(tmp_path, content, message):
    path = tmp_path / "r.jsonl"
    path.write_text(content)
    with pytest.raises(ResultsError, match=message):
        read_results(path, "lvbench")


def test_missing_results_file(tmp_path):
    with pytest.raises(ResultsError, match="results file not found"):
        read_results(tmp_path / "nope.jsonl")


def test_append_is_whole_lines(tmp_path):
    path = tmp_path / "deep" / "r.jsonl"
    for i in range(3):
        append_result(path, ResultRecord(str(i), "videomme", "ü", "A"))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["uid"] for line in lines] == ["0", "1", "2"]
    assert json.loads(lines[0]) == {"uid": "0", "bench": "videomme", "raw": "ü", "prediction": "A",
                                    "segments": [], "turns": 0, "seconds": 0.0, "error": None, "calls": []}


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x.mp4", "a/../../x.mp4", "..", "C:/videos/x.mp4", "a\\..\\..\\x"])
def test_safe_join_refuses_escapes(tmp_path, rel):
    with pytest.raises(BenchmarkDataError, match=r"f\.json:3: field 'video'.*(absolute|escapes)"):
        safe_join(tmp_path, rel, "f.json:3", "video")


def test_safe_join_allows_symlinked_folders(tmp_path):
    outside = tmp_path / "big_disk"
    outside.mkdir()
    root = tmp_path / "data"
    root.mkdir()
    os.symlink(outside, root / "videos")
    assert safe_join(root, "videos/a.mp4", "w", "f") == root / "videos" / "a.mp4"
    assert safe_join(root, "videos/../a.mp4", "w", "f") == root / "a.mp4"


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["videomme", "--data-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "error: videomme: data directory" in err and "--data-dir" in err
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "charades_sta_test.txt").write_text("V 0 1##x\n")
    assert main(["charades", "--data-dir", str(tmp_path / "data"), "--input_file", str(tmp_path / "r.jsonl")]) == 2
    assert "results file not found" in capsys.readouterr().err


def test_eval_script_runs_as_a_program(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "charades_sta_test.txt").write_text("V 0 10##x\n")
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"0": "[0, 5]"}))
    proc = subprocess.run([sys.executable, str(REPO / "eval" / "score.py"), "charades", "--data-dir", str(data),
                           "--input_file", str(results), "--json"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["mIoU"] == pytest.approx(50.0)
    assert "reading results from" in proc.stderr


TOY_MODULE = '''
"""A benchmark kept outside the package: this file is all it takes."""
from videotemp_o3.benchmarks.base import Benchmark, Item, Judgement, Policy, Setting
from videotemp_o3.benchmarks.files import first_existing, read_jsonl, resolve_video
from videotemp_o3.benchmarks.metrics import Report, accuracy, accuracy_table


def read(root, name, settings):
    items = []
    for index, rec in read_jsonl(first_existing(root, ("toy.jsonl",), name)):
        if settings.get("odd_only") and index % 2 == 0:
            continue
        items.append(Item(uid=rec.text("id"), bench=name, video=resolve_video(root, rec.text("video"), ["{}"],
                          rec.where, "video"), question=rec.text("q"), options=("A. yes", "B. no"),
                          answer=rec.text("a"), source=rec.where))
    return items


def judge(item, response, options):
    letter = response.answer[:1] or None
    return Judgement("unparsed") if letter is None else Judgement("scored", letter, correct=letter == item.answer)


def report(items, js, policy, options):
    overall = accuracy(js.values(), policy)
    table = accuracy_table("all", "All", [("all", list(js.values()))], policy)
    return Report("toy", "Toy", {"overall": overall["acc"]}, [table])


TOY = Benchmark(name="toy", title="Toy", task="mcq", data_subdir="eval/toy/data", files=("toy.jsonl",),
                read=read, judge=judge, report=report, policy=Policy("wrong", "wrong"),
                settings=(Setting("--odd-only", "toy: odd lines only"),))
'''


def test_a_benchmark_is_one_module(tmp_path):
    """Registered by its module alone (lmms-eval style): found, scored, run-able, its switch known."""
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "toy.py").write_text(TOY_MODULE)
    data = tmp_path / "data"
    data.mkdir()
    (data / "toy.jsonl").write_text("".join(json.dumps({"id": f"t{i}", "video": "v.mp4", "q": "?", "a": "A"}) + "\n"
                                            for i in range(4)))
    results = tmp_path / "r.jsonl"
    for uid, letter in (("t0", "A"), ("t1", "B"), ("t3", "A")):
        append_result(results, ResultRecord(uid, "toy", f"<answer>{letter}</answer>", letter))
    env = {**os.environ, "VIDEOTEMP_BENCHMARKS_PATH": str(tmp_path / "benchmarks"), "PYTHONPATH": ""}
    score = [sys.executable, str(REPO / "eval" / "score.py"), "toy", "--data-dir", str(data),
             "--input_file", str(results), "--json"]
    proc = subprocess.run(score, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["summary"]["overall"] == pytest.approx(50.0)  # t0 ✓ t1 ✗ t2 missing t3 ✓
    proc = subprocess.run([*score, "--odd-only"], capture_output=True, text=True, env=env)
    assert json.loads(proc.stdout)["summary"]["overall"] == pytest.approx(50.0)  # t1 ✗ t3 ✓
    run_help = subprocess.run([sys.executable, str(REPO / "eval" / "run.py"), "--help"], capture_output=True,
                              text=True, env=env)
    assert "toy" in run_help.stdout and "--odd-only" in run_help.stdout
    # Two modules defining one name: an error naming both.
    (tmp_path / "benchmarks" / "toy2.py").write_text(TOY_MODULE)
    proc = subprocess.run(score, capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert "benchmark 'toy' is defined twice: in" in proc.stderr and "toy2.py" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_registry_knows_no_benchmark_by_name():
    """The registry module lists no benchmark: removing one module removes the benchmark."""
    source = (REPO / "python" / "videotemp_o3" / "benchmarks" / "registry.py").read_text()
    code = source.split('"""', 2)[2]  # past the module docstring
    for name in ("videomme", "lvbench", "charades", "nextgqa", "mlvu"):
        assert f"import {name}" not in code and f"{name}." not in code
