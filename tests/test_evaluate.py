"""eval/run.py: results appended atomically, resume after a kill, missing videos, scores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from videotemp_o3 import protocol
from videotemp_o3.agent import Agent, AgentConfig
from videotemp_o3.benchmarks import get_benchmark
from videotemp_o3.benchmarks.score import score
from videotemp_o3.engines.base import Engine, Generation
from videotemp_o3.evaluate import finished_uids, main, run_items
from videotemp_o3.synthetic import generate
from videotemp_o3.video import FrameBudget

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--overview-frames", "8", "--overview-pixels", "6272", "--clip-pixels", "6272", "--clip-max-frames", "8",
         "--max-new-tokens", "8"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """Four videos, one per duration bin (< 3, 3–10, 10–20, > 20 minutes)."""
    d = tmp_path_factory.mktemp("synth")
    generate(d, durations=(40, 200, 610, 1210), progress=False)
    return d


class InOrder(Engine):
    """Replies from a list, in order (one worker, so the order of the items)."""

    def __init__(self, replies):
        self.replies = list(replies)

    def generate(self, messages, **kw):
        return Generation(self.replies.pop(0), 0, 0, 0, 0.0, 0.0)


def small_agent(engine):
    b = FrameBudget(nframes=4, max_pixels=6272, min_pixels=3136)
    return Agent(engine, AgentConfig(overview_budget=b, clip_budget=FrameBudget(fps=1.0, max_frames=8, max_pixels=6272, min_pixels=3136)))


@pytest.mark.slow
def test_scripted_run_scores_by_hand(synth, tmp_path):
    bench = get_benchmark("videotemp")
    items = bench.load(synth)
    assert [i.duration for i in items] == [40, 200, 610, 1210]
    gold = [i.answer for i in items]
    def wrong(g):
        return "ABCD"[("ABCD".index(g) + 1) % 4]
    # Item 1: clip then the right letter; 2: right; 3: wrong; 4: unparseable.
    s0, e0 = items[0].spans[0]
    replies = [protocol.render_turn("look", segments=[(s0, e0)]), protocol.render_turn("seen", answer=gold[0]),
               protocol.render_turn("sure", answer=gold[1]),
               protocol.render_turn("guess", answer=wrong(gold[2])),
               "<think>no idea</think><answer>maybe</answer>"]
    out = tmp_path / "results.jsonl"
    errors = run_items("videotemp", items, [small_agent(InOrder(replies))], out)
    assert errors == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["uid"] for r in lines] == [i.uid for i in items]
    assert lines[0]["segments"] == [[s0, e0]] and lines[0]["turns"] == 2
    assert (out.parent / "results.trajectories" / f"{items[0].uid}.json").exists()
    report = score("videotemp", out, synth).as_dict()
    # By hand: 2 correct of 4 → 50.0 overall; one item per bin: 100, 100, 0, 0 (the
    # unparseable answer counts as wrong); one unparsed.
    assert report["summary"]["overall"] == pytest.approx(50.0)
    bins = report["tables"]["duration"]
    assert [bins[b]["acc"] for b in ("<3min", "3-10min", "10-20min", ">20min")] == [100.0, 100.0, 0.0, 0.0]
    assert report["counts"]["unparsed"] == 1 and report["counts"]["missing"] == 0


@pytest.mark.slow
def test_real_engine_run_is_recorded_as_generated_and_scored(synth, local_engine, tmp_path):
    # The scripted run above never runs an engine: here the real embedded one (tiny model) does,
    # and each line must hold the engine's own last text and what the protocol reads from it.
    items = get_benchmark("videotemp").load(synth)[:2]
    b = FrameBudget(nframes=4, max_pixels=6272, min_pixels=3136)
    agent = Agent(local_engine, AgentConfig(
        overview_budget=b, clip_budget=FrameBudget(fps=1.0, max_frames=8, max_pixels=6272, min_pixels=3136),
        max_new_tokens=8, max_turns=2))
    out = tmp_path / "results.jsonl"
    assert run_items("videotemp", items, [agent], out) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["uid"] for r in lines] == [i.uid for i in items]
    for line, item in zip(lines, items):
        saved = json.loads((out.parent / "results.trajectories" / f"{item.uid}.json").read_text())
        last = saved["turns"][-1]["text"]
        assert line["raw"] == last and line["turns"] == len(saved["turns"]) >= 1
        assert line["prediction"] == protocol.parse_choice(protocol.parse_turn(last).answer,
                                                           len(item.options))
    report = score("videotemp", out, synth).as_dict()
    assert report["counts"]["unparsed"] == sum(r["prediction"] is None for r in lines)
    bins = report["tables"]["duration"]
    for line, item, name in zip(lines, items, ("<3min", "3-10min")):  # 40 s and 200 s
        assert bins[name]["acc"] == (100.0 if line["prediction"] == item.answer else 0.0)


@pytest.mark.slow
def test_missing_videos_are_listed_then_skipped_on_request(synth, tmp_path, capsys):
    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    recs = [json.loads(line) for line in (synth / "data.jsonl").read_text().splitlines()][:2]
    for r in recs:
        os.symlink(synth / r["videos"][0], data / r["videos"][0])
    recs.append(dict(recs[0], uid="ghost", videos=["videos/ghost.mp4"]))
    (data / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "r.jsonl"
    rc = main(["--bench", "videotemp", "--data-dir", str(data), "--output", str(out), "--no-score"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "ghost.mp4: missing" in err and "--skip-missing-videos" in err
    assert not out.exists()


def test_torn_last_line_is_cut_and_errors_are_retried(tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text('{"uid": "a", "error": null}\n{"uid": "b", "error": "boom"}\n{"uid": "c", "err')
    assert finished_uids(out) == {"a"}
    assert out.read_text().endswith("boom\"}\n")


@pytest.mark.slow
def test_kill_and_resume_loses_and_duplicates_nothing(synth, tiny_model_dir, tmp_path):
    out = tmp_path / "results.jsonl"
    cmd = [sys.executable, str(REPO / "eval" / "run.py"), "--bench", "videotemp-g", "--data-dir", str(synth),
           "--model", str(tiny_model_dir), "--device", "cpu", "--output", str(out), "--no-score", *SMALL]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 1):
        time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = [json.loads(line)["uid"] for line in out.read_text().splitlines()]
    assert 1 <= len(first) < 4, first
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    uids = [json.loads(line)["uid"] for line in out.read_text().splitlines()]
    assert sorted(uids) == sorted(i.uid for i in get_benchmark("videotemp-g").load(synth))  # nothing lost
    assert len(uids) == len(set(uids))  # nothing duplicated
    assert uids[: len(first)] == first  # what was done stayed done
