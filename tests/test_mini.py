"""The miniature reproduction: the small model size, the driver's data transforms and metrics,
the report, and the shipped agent (models/videotemp-mini) — it loads, and its greedy trajectory
on a fixed synthetic video is well formed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from videotemp_o3 import mini, protocol, synthetic

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "videotemp-mini"


# ---------------------------------------------------------------------------------------------
# The small model
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from videotemp_o3.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("small"), size="small")


def test_small_model_size_and_tokens(small_model):
    from transformers import AutoConfig, AutoTokenizer

    weights = (small_model / "model.safetensors").stat().st_size
    assert weights <= 25 * 10**6                          # ships in the repository
    cfg = AutoConfig.from_pretrained(small_model)
    text = cfg.text_config if hasattr(cfg, "text_config") else cfg
    assert (text.hidden_size, text.num_hidden_layers, cfg.vision_config.depth) == (64, 4, 4)
    assert text.vocab_size == 151665 and cfg.video_token_id == 151656   # Qwen's ids (ms-swift)
    tok = AutoTokenizer.from_pretrained(small_model)
    call = protocol.render_turn("The card seems to be on screen between 372.5 s and 441 s. "
                                "I will look at that segment closely.", segments=[(372.5, 441.0)])
    # The protocol's words are whole tokens; times stay one digit per token.
    assert len(tok(protocol.system_prompt()).input_ids) < 260
    assert len(tok(call).input_ids) < 80
    assert tok.convert_ids_to_tokens(tok("441").input_ids) == ["4", "4", "1"]


@pytest.fixture(scope="module")
def compact_model(tmp_path_factory):
    from videotemp_o3.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("compact"), size="compact")


def test_the_miniature_trains_the_compact_model():
    assert mini.SCALES["full"].model == mini.SCALES["smoke"].model == "compact"


def test_compact_model_size_and_tokens(compact_model):
    from transformers import AutoConfig, AutoTokenizer

    assert (compact_model / "model.safetensors").stat().st_size <= 25 * 10**6   # ships in the repository
    cfg = AutoConfig.from_pretrained(compact_model)
    text = cfg.text_config if hasattr(cfg, "text_config") else cfg
    assert (text.hidden_size, text.num_hidden_layers, cfg.vision_config.depth) == (256, 6, 4)
    assert text.hidden_size // text.num_attention_heads >= 32   # vLLM's kept kernels serve it
    tok = AutoTokenizer.from_pretrained(compact_model)
    # The special tokens right after the BPE: the vocabulary is the tokenizer, no fillers.
    assert text.vocab_size == len(tok) < 1200
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>") == len(tok) - 9
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert tok.convert_tokens_to_ids("<|im_end|>") in (cfg.eos_token_id if isinstance(cfg.eos_token_id, list)
                                                       else [cfg.eos_token_id])
    # The miniature's tokenizer, as the small model's: whole protocol words, one digit per token.
    assert tok.convert_ids_to_tokens(tok("441").input_ids) == ["4", "4", "1"]
    assert len(tok(protocol.system_prompt()).input_ids) < 260


def test_ms_swift_expands_the_compact_video_pad(compact_model, tmp_path):
    """ms-swift's Qwen2.5-VL template hard-codes Qwen's pad ids; through our adapter (loaded by
    sft.sh and rl/plugin.py) it finds the compact model's in its tokenizer and expands each video
    into its visual tokens (tests/test_swift4.py reruns this under ms-swift 4)."""
    import videotemp_o3.training.swift_plugin  # noqa: F401  (what the plug-ins load)
    from sft_helpers import SMALL_VIDEO_ENV, swift_template
    from videotemp_o3.testing.videos import make_indexed_video

    video = make_indexed_video(tmp_path / "v.mp4", frames=40, fps=4.0)
    record = {"messages": [{"role": "user", "content": "<video>Which pattern?"},
                           {"role": "assistant", "content": "<answer>A</answer>"}],
              "videos": [str(video)]}
    with swift_template(compact_model, dict(SMALL_VIDEO_ENV)) as template:
        encoded = template.encode(record)
        pad = template.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    (t, h, w), = encoded["video_grid_thw"].tolist()
    assert encoded["input_ids"].count(pad) == t * h * w // 4 > 1
    assert 151656 not in encoded["input_ids"]


# ---------------------------------------------------------------------------------------------
# Data transforms
# ---------------------------------------------------------------------------------------------

def _record(uid="train_0000_100s", start=40.0, end=46.5, pattern="checkerboard"):
    spec = synthetic.VideoSpec(uid=uid, duration=100.0, start=start, end=end, pattern=pattern,
                               colour="red", slot=1, options=synthetic.PATTERNS)
    return synthetic.record(spec, "train")


def test_sft_annotations_give_one_mcq_and_one_grounding_per_video(tmp_path):
    rec = _record()
    (tmp_path / "data.jsonl").write_text(json.dumps(rec) + "\n")
    (tmp_path / "videos").mkdir()
    (tmp_path / rec["videos"][0]).write_bytes(b"")     # the readers only resolve the path
    anns = mini.sft_annotations(tmp_path)
    assert [a["id"] for a in anns] == [f"{rec['uid']}:mcq", f"{rec['uid']}:grounding"]
    mcq, grounding = anns
    assert mcq["span"] == grounding["span"] == [40.0, 46.5]
    assert mcq["options"] == [f"{letter}. {p}" for letter, p in zip("ABCD", synthetic.PATTERNS)]
    assert mcq["answer"] == "C"
    # The questions eval/run.py asks: the MCQ's stem; for grounding the release's query (the stem
    # and the text of the right option), as the videotemp-g reader makes it.
    assert mcq["question"] == synthetic.QUESTION.format(colour="red")
    assert grounding["query"] == mcq["question"] + "\nAnswer: checkerboard"
    assert mcq["video"] == str((tmp_path / rec["videos"][0]).resolve())
    rl = mini.rl_annotations(tmp_path)
    assert rl[0]["options"] == list(synthetic.PATTERNS) and rl[0]["timestamp"] == [40.0, 46.5]
    assert rl[1]["query"] == grounding["query"] and rl[1]["span"] == [40.0, 46.5]


def test_all_rounds_trains_every_assistant_round():
    record = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                           {"role": "assistant", "content": "a", "loss": False},
                           {"role": "user", "content": "f"},
                           {"role": "assistant", "content": "b", "loss": True}], "videos": ["v"]}
    out = mini.all_rounds(record)
    assert [m.get("loss") for m in out["messages"]] == [None, None, True, None, True]
    assert record["messages"][2]["loss"] is False          # the input is not modified


def test_all_rounds_keeps_a_rejected_call_untrained():
    rejected = protocol.render_turn("Around 12 s.", segments=[(12.0, 12.0)])
    verdict = protocol.validate_call(protocol.parse_turn(rejected).tool_call, 60.0, 0.5)
    assert isinstance(verdict, protocol.RejectedCall)
    imprecise = protocol.render_turn("Somewhere early.", segments=[(2.0, 30.0)])
    record = {"messages": [{"role": "user", "content": "<video>q"},
                           {"role": "assistant", "content": rejected, "loss": False},
                           {"role": "user", "content": protocol.tool_feedback(verdict)},
                           {"role": "assistant", "content": imprecise, "loss": False},
                           {"role": "user", "content": protocol.tool_feedback(
                               [(2.0, 30.0)], ask_final=True, video_tag="<video>")},
                           {"role": "assistant", "content": protocol.render_turn(
                               "It is B.", answer="B"), "loss": True}],
              "videos": ["v", "c"]}
    out = mini.all_rounds(record)
    # The imprecise call is trained in this arm (that is the ablation); the mistake never is.
    assert [m.get("loss") for m in out["messages"]] == [None, False, None, True, None, True]


@pytest.fixture
def red_card_video(tmp_path, monkeypatch):
    """A 90-s synthetic video, red card at 40–46.5 s, under the miniature's ms-swift video budget."""
    for key, value in synthetic.SWIFT_ENV.items():
        monkeypatch.setenv(key, value)
    spec = synthetic.VideoSpec(uid="v", duration=90.0, start=40.0, end=46.5, pattern="plain",
                               colour="red", slot=1, options=synthetic.PATTERNS)
    video = tmp_path / "v.mp4"
    synthetic.render_video(video, spec)
    return video


def test_miniature_sft_command_builds_recovery_turns(tmp_path, red_card_video):
    from videotemp_o3.training.sft_data import calls_not_carried_out

    video = red_card_video
    rows = [{"video": str(video), "query": f"the red card {k}", "span": [40.0, 46.5]}
            for k in range(12)]
    ann = tmp_path / "ann.jsonl"
    ann.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "sft.jsonl"
    done = subprocess.run([*mini.sft_build_command(sys.executable, ann, 0, tmp_path / "clips"),
                           "-o", str(out)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    recovering = [r for r in records if calls_not_carried_out(r["messages"])]
    # About SFT_RECOVERY of them (0.3 of 12: 3.6 expected), the rest as before.
    assert 1 <= len(recovering) <= 8
    for r in recovering:
        assert [m["loss"] for m in r["messages"] if m["role"] == "assistant"] == [False, True, True]
        assert [m["loss"] for m in mini.all_rounds(r)["messages"]
                if m["role"] == "assistant"] == [False, True, True]
    check = subprocess.run([sys.executable, "-m", "videotemp_o3.training.sft_data", "validate",
                            str(out)], capture_output=True, text=True, cwd=REPO)
    assert check.returncode == 0, check.stdout[-3000:]


def test_overview_file_holds_the_frames_ms_swift_samples(tmp_path, red_card_video):
    from videotemp_o3.video import VideoReader

    src = red_card_video
    _, path = mini._overview_file((str(src), str(tmp_path / "ov")))
    agent_view = VideoReader(src).overview(synthetic.overview_budget())
    stored = VideoReader(path)
    frames = stored.frames_at_indices(range(stored.num_frames)).frames
    assert frames.shape == agent_view.frames.shape == (32, 56, 112, 3)
    assert (frames == agent_view.frames).all()                       # lossless, same frames
    assert stored.metadata.avg_fps == pytest.approx(agent_view.sample_fps)  # same temporal positions
    assert mini.with_overview({"videos": [str(src), "c.mkv"]}, {str(src): path})["videos"] == [path, "c.mkv"]


# ---------------------------------------------------------------------------------------------
# Metrics and report
# ---------------------------------------------------------------------------------------------

def _write_traj(folder: Path, uid: str, turns: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{uid}.json").write_text(json.dumps({"video": "v.mp4", "turns": turns}))


def test_trajectory_metrics_by_hand(tmp_path):
    call = protocol.render_turn("look", segments=[(10, 20)])
    answer = protocol.render_turn("seen", answer="B")
    traj = tmp_path / "videotemp.part0.trajectories"
    # q1: call [10, 20] then answer, well formed; truth [15, 25] -> IoU 5/15.
    _write_traj(traj, "q1", [{"text": call, "clips": [{"segment": [10, 20]}]}, {"text": answer}])
    # q2: answers at once without thinking: not well formed, no call.
    _write_traj(traj, "q2", [{"text": "<answer>B</answer>"}])
    # q3: two calls (the second with two clips: the hull [30, 50] counts), then an answer.
    _write_traj(traj, "q3", [{"text": call, "clips": [{"segment": [0, 5]}]},
                             {"text": call, "clips": [{"segment": [30, 35]}, {"segment": [45, 50]}]},
                             {"text": answer}])
    m = mini.trajectory_metrics(tmp_path, "videotemp", {"q1": (15, 25), "q2": (0, 1), "q3": (30, 50)})
    assert m["n"] == 3 and m["n_calls"] == 2
    assert m["tool_call_rate"] == pytest.approx(2 / 3)
    assert m["mean_turns"] == pytest.approx(2.0)
    assert m["well_formed_rate"] == pytest.approx(2 / 3)
    assert m["last_call_iou"] == pytest.approx((5 / 15 + 1.0) / 2)
    # q1 and q3 open with the same call [10, 20]; none was rejected.
    assert (m["first_turn_calls"], m["first_calls_rejected"], m["distinct_first_spans"]) == (2, 0, 1)
    # A rejected first call (no clip came back) with another span.
    _write_traj(traj, "q4", [{"text": protocol.render_turn("look", segments=[(30, 31)])}, {"text": answer}])
    m = mini.trajectory_metrics(tmp_path, "videotemp", {})
    assert (m["first_turn_calls"], m["first_calls_rejected"], m["distinct_first_spans"]) == (3, 1, 2)


def _score(acc=None, miou=None, r5=None, n=4):
    rows = {b: {"acc": acc, "mIoU": miou, "R@0.5": r5, "n": 1} for b in ("<3min", "3-10min", "10-20min", ">20min")}
    rows["overall"] = {"acc": acc, "mIoU": miou, "R@0.5": r5, "n": n}
    return {"tables": {"duration": rows}}


def _stage(acc, miou):
    traj = {"n": 4, "tool_call_rate": 1.0, "mean_turns": 3.0, "well_formed_rate": 0.5,
            "last_call_iou": 0.4, "n_calls": 4}
    # The scorer reports percent; the miniature's rows hold fractions.
    return {"videotemp": {"score": _score(acc=100 * acc), "trajectories": traj},
            "videotemp-g": {"score": _score(miou=100 * miou, r5=100 * miou), "trajectories": traj}}


def test_table_best_choice_and_plot(tmp_path):
    scores = {"random_init": {"test": _stage(0.0, 0.0)},
              "sft_unified": {"test": _stage(0.5, 0.3), "val": _stage(0.6, 0.2)},
              "grpo_penalty": {"test": _stage(0.75, 0.35), "val": _stage(0.5, 0.2)}}
    rows = mini.table_rows(scores)
    assert [r["stage"] for r in rows] == ["random_init", "sft_unified", "grpo_penalty"]
    assert rows[1]["mcq_accuracy"] == 0.5 and rows[1]["miou"] == 0.3 and rows[1]["questions_n"] == 8
    text = mini.format_table(rows)
    assert "| SFT, unified masking | 50.0 (n=4) | 30.0 (n=4) |" in text
    best, by = mini.choose_best(scores)           # validation decides, not the test split
    assert best == "sft_unified" and by["sft_unified"] == pytest.approx(0.4)
    assert mini.plot(scores, tmp_path / "p.png").stat().st_size > 10_000


def _row(stage, acc, miou, n=64):
    return {"stage": stage, "title": mini.STAGE_TITLES[stage], "mcq_accuracy": acc, "mcq_n": n,
            "miou": miou, "r_at_0_5": miou, "grounding_n": n, "tool_call_rate": 1.0, "mean_turns": 2.0,
            "well_formed_rate": 1.0, "last_call_iou": 0.5, "calls_n": n, "questions_n": 2 * n}


def test_findings_verdicts_follow_the_differences_and_their_noise():
    rows = [_row("single_pass", 0.25, 0.10), _row("sft_all_rounds", 0.50, 0.20),
            _row("sft_unified", 0.52, 0.40), _row("grpo_no_penalty", 0.60, 0.45),
            _row("grpo_penalty", 0.60, 0.30)]
    by = {f["worse"]: f for f in mini.findings(rows)}
    # masking: +20 points of mIoU at n=64 is beyond 2 SE (0.5/8 each: 2 SE = 17.7 points)
    assert by["sft_all_rounds"]["verdict"] == "holds" and by["sft_all_rounds"]["diff_points"] == 20.0
    assert by["sft_all_rounds"]["two_se_points"] == pytest.approx(17.7, abs=0.1)
    # penalty: -15 points, inside the noise of 64 questions
    assert by["grpo_no_penalty"]["verdict"] == "not distinguishable"
    assert by["grpo_no_penalty"]["diff_points"] == -15.0
    # tool vs single pass on MCQ accuracy: 60 vs 25 % is far beyond the binomial noise
    assert by["single_pass"]["verdict"] == "holds"
    reversed_ = mini.findings([_row("grpo_penalty", 0.1, 0.1), _row("single_pass", 0.9, 0.1)])
    assert [f["verdict"] for f in reversed_] == ["not measured", "not measured", "reversed"]


def test_publish_writes_the_readme_section_from_results(tmp_path):
    rows = [_row(s, 0.25 + 0.05 * k, 0.1 * k) for k, s in enumerate(mini.STAGES)]
    info = {"command": "DEVICE=cuda MINI_SCALE=full SEED=0 bash scripts/reproduce_mini.sh",
            "device_name": "NVIDIA H100 80GB HBM3", "gpus": 2, "seed": 0, "git_commit": "0123456789abcdef",
            "total_seconds": 512.3, "budget_s": 540, "table": rows, "best_stage": "grpo_penalty",
            "stage_seconds": {"data (splits, SFT and RL data)": 61.2},
            "time_limits_s": {"sft": 140.0, "grpo": 100.0},
            "oracle": {"questions": 32, "overview": {"mcq_accuracy": 0.19, "grounding_miou": 0.71},
                       "clip": {"mcq_accuracy": 1.0, "grounding_miou": 0.82}}}
    results = tmp_path / "results"
    results.mkdir()
    (results / "results.json").write_text(json.dumps(info))
    (results / "table.md").write_text(mini.format_table(rows))
    (results / "plot.png").write_bytes(b"png")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{mini.README_START}\npending\n{mini.README_END}\nafter\n")
    mini.publish(results, readme, tmp_path / "docs" / "mini")
    text = readme.read_text()
    assert "pending" not in text and text.startswith("# x\n\nbefore\n") and text.endswith("after\n")
    assert "NVIDIA H100 80GB HBM3 × 2" in text and "`DEVICE=cuda MINI_SCALE=full SEED=0" in text
    assert "512 s from nothing (budget 540 s). Test split: 64 MCQ and 64 grounding questions" in text
    assert "| + GRPO, penalty-aware IoU reward | 50.0 (n=64) | 50.0 (n=64) |" in text
    assert "![MCQ accuracy and grounding mIoU by video length, per stage](docs/mini/plot.png)" in text
    assert "data (splits, SFT and RL data) 61 s" in text and "MCQ 19.0 % from the overview vs 100.0 %" in text
    assert text.count(mini.README_START) == 1 and text.count(mini.README_END) == 1
    assert (tmp_path / "docs" / "mini" / "results.json").read_text() == json.dumps(info)
    mini.publish(results, readme, tmp_path / "docs" / "mini")   # again: the same section, once
    assert readme.read_text() == text
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "results.json").write_text(json.dumps({"error": "RuntimeError: sft:sft_unified failed"}))
    with pytest.raises(RuntimeError, match="the run failed"):
        mini.publish(failed, readme, tmp_path / "docs" / "mini")


def test_training_limit_keeps_the_budget_marks():
    assert mini.training_limit(140, None, 500) == 140               # no mark: its own limit
    assert mini.training_limit(140, 300, 60) == 140                 # on time
    assert mini.training_limit(140, 300, 155) == 100                # late data: cut to the mark
    assert mini.training_limit(140, 300, 290) == mini.MIN_TRAINING_S


def test_runner_deals_gpu_jobs_over_the_gpus(tmp_path):
    runner = mini.Runner(tmp_path / "logs", gpus=["0", "1"])
    env = dict(os.environ)
    cmd = [sys.executable, "-c", "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES'))"]
    jobs = [mini.Job(f"j{k}", cmd, env, tmp_path / f"j{k}.log", gpu=k != 1) for k in range(4)]
    runner.run(jobs, label="gpus")
    seen = [(tmp_path / f"j{k}.log").read_text().strip() for k in range(4)]
    assert seen[0] == "0" and seen[2] == "1" and seen[3] == "0"
    assert seen[1] == str(os.environ.get("CUDA_VISIBLE_DEVICES"))  # not a GPU job: untouched


def test_runner_tolerates_a_failed_job_when_asked(tmp_path):
    runner = mini.Runner(tmp_path / "logs")
    ok = mini.Job("ok", [sys.executable, "-c", "print('done')"], dict(os.environ), tmp_path / "ok.log")
    bad = mini.Job("bad", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ), tmp_path / "bad.log")
    assert runner.run([ok, bad], label="w", tolerate=True) == [bad]
    assert runner.failed == [bad] and bad.returncode == 3 and (tmp_path / "ok.log").read_text() == "done\n"
    with pytest.raises(RuntimeError, match="bad failed \\(exit 3\\)"):
        mini.Runner(tmp_path / "logs2").run([bad], label="w")


def test_describe_trajectory_shows_call_clip_and_answer_against_truth():
    from videotemp_o3.agent import ClipRecord, Trajectory, TurnRecord

    rec = _record(start=40.0, end=46.5)
    # Serialised by the agent itself (Trajectory.to_json), as eval/run.py saves it.
    traj = Trajectory(video="/x/train_0000_100s.mp4",
                      question={"text": "the red card is on screen", "task": "grounding", "options": []},
                      overview={"frames": 32, "size": [56, 112], "duration": 100.0},
                      turns=[TurnRecord(1, protocol.render_turn("x", segments=[(38, 48)]), "tool_call", [],
                                        clips=[ClipRecord([38.0, 48.0], [38.0, 48.0], 8, [112, 224], 0.8,
                                                          38.0, 47.5, 0)]),
                             TurnRecord(2, "<think>y</think><answer>[40, 46]</answer>", "answer", [])],
                      prediction=[40.0, 46.0]).to_json()
    text = mini.describe_trajectory(traj, rec)
    assert text.startswith("video train_0000_100s.mp4 (100 s); grounding question: the red card is on screen")
    assert "clip 38.0-48.0 s: 8 frames of 112x224; IoU with the truth 0.65" in text
    assert "answer [40.0, 46.0] vs truth [40.0, 46.5]: IoU 0.92" in text


def test_runner_deadline_stops_only_evaluations(tmp_path):
    import time

    runner = mini.Runner(tmp_path / "logs", deadline=time.time() + 1.0)
    slow_eval = mini.Job("eval", ["sleep", "30"], dict(os.environ), tmp_path / "e.log", stoppable=True)
    training = mini.Job("train", ["bash", "-c", "sleep 2; echo saved"], dict(os.environ), tmp_path / "t.log")
    started = time.time()
    runner.run([slow_eval, training], label="test")
    assert time.time() - started < 20
    assert runner.stopped == ["eval"]
    assert training.returncode == 0 and (tmp_path / "t.log").read_text().strip() == "saved"
    failing = mini.Job("bad", ["bash", "-c", "echo boom; exit 3"], dict(os.environ), tmp_path / "b.log")
    with pytest.raises(RuntimeError, match=r"(?s)bad failed \(exit 3\).*boom"):
        mini.Runner(tmp_path / "logs").run([failing], label="test")


def test_plugin_time_limit_and_no_penalty_reward(monkeypatch):
    pytest.importorskip("swift")
    import importlib.util
    import time

    from transformers import TrainerControl, TrainerState
    from swift.plugin import callback
    from swift.plugin.orm import orms

    monkeypatch.setenv("VIDEOTEMP_MINI_TIME_LIMIT_S", "0.2")
    monkeypatch.setattr(callback, "extra_callbacks", [])
    import videotemp_o3.training.swift_plugin  # noqa: F401  (the release rewards)
    spec = importlib.util.spec_from_file_location("mini_plugin_under_test", mini.PLUGIN)
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    (limit,) = callback.extra_callbacks
    state, control = TrainerState(global_step=3, max_steps=100), TrainerControl()
    limit.on_step_begin(None, state, control)
    limit.on_step_end(None, state, control)
    assert not control.should_training_stop              # within the limit
    time.sleep(0.3)
    limit.on_step_end(None, state, control)
    assert control.should_training_stop and control.should_save
    reward = orms["iou_reward_no_penalty"](max_turns=3)
    assert reward.config.iou_penalty == 0.0 and reward.config.max_turns == 3
    assert orms["iou_reward"](max_turns=3).config.iou_penalty == 0.1
    from types import SimpleNamespace

    by_args = orms["iou_reward_no_penalty"](args=SimpleNamespace(max_turns=4))   # ms-swift 4's way
    assert by_args.config.iou_penalty == 0.0 and by_args.config.max_turns == 4


def test_pack_and_ship_round_trip(tmp_path, small_model):
    best = mini.copy_checkpoint(small_model, tmp_path / "best" / "videotemp-mini")
    manifest = {"made_by": "bash scripts/reproduce_mini.sh", "seed": 0, "scale": "full",
                "stage": "grpo_penalty", "title": mini.STAGE_TITLES["grpo_penalty"]}
    (best / "MANIFEST.json").write_text(json.dumps(manifest))
    work = tmp_path / "work"
    (work / "logs").mkdir(parents=True)
    (work / "logs" / "x.log").write_text("log")
    results = tmp_path / "results"
    results.mkdir()
    packed = mini.pack(results, work, best)
    assert all(p.stat().st_size <= 15 * 2**20 for p in packed)
    shipped = mini.ship(results, tmp_path / "models" / "videotemp-mini")
    assert (shipped / "model.safetensors").read_bytes() == (small_model / "model.safetensors").read_bytes()
    assert json.loads((shipped / "MANIFEST.json").read_text())["stage"] == "grpo_penalty"
    assert "bash scripts/reproduce_mini.sh" in (shipped / "README.md").read_text()
    assert not (shipped / "optimizer.pt").exists()


# ---------------------------------------------------------------------------------------------
# The shipped agent
# ---------------------------------------------------------------------------------------------

needs_shipped = pytest.mark.skipif(not (SHIPPED / "model.safetensors").is_file(),
                                   reason="models/videotemp-mini is not in this checkout")


def test_published_results_come_with_the_shipped_agent():
    """Once a run is published (docs/mini), its agent is in the repository, committed: the
    shipped-agent tests below may then no longer skip (tests/conftest.py allows their skip only
    before anything was published)."""
    if not (mini.PUBLISHED / "results.json").is_file():
        assert not (SHIPPED / "model.safetensors").is_file() or (SHIPPED / "MANIFEST.json").is_file()
        return
    assert (SHIPPED / "model.safetensors").is_file() and (SHIPPED / "MANIFEST.json").is_file()
    assert mini.README_START in (REPO / "README.md").read_text()
    assert "pending the GPU run" not in (REPO / "README.md").read_text()
    if (REPO / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", str(SHIPPED / "model.safetensors")], cwd=REPO)
        assert ignored.returncode == 1, ".gitignore hides models/videotemp-mini"


def test_a_shipped_checkpoint_runs_with_the_flags_of_its_evaluation(tmp_path):
    """The main job runs the shipped agent as its evaluation did (MANIFEST.json's agent_flags):
    one trained with the timed overview must get it; an older manifest gets the plain flags."""
    import argparse

    from videotemp_o3 import flags

    def parsed(argv):
        p = argparse.ArgumentParser()
        flags.add_agent_args(p)
        return flags.agent_config(p.parse_args(argv))

    timed = mini.eval_flags(mini.replace(mini.SCALES["full"], overview_times=True), "sft_unified")
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"stage": "sft_unified", "agent_flags": timed}))
    assert mini.agent_flags(tmp_path) == timed and parsed(timed).overview_times
    out = subprocess.run([sys.executable, "-m", "videotemp_o3.mini", "flags", str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and out.stdout.split() == timed

    (tmp_path / "MANIFEST.json").write_text(json.dumps({"stage": "sft_all_rounds"}))
    plain = parsed(mini.agent_flags(tmp_path))
    assert not plain.overview_times and plain.max_turns == protocol.DEFAULT_MAX_TURNS
    assert plain.overview_budget.max_frames == synthetic.OVERVIEW_FRAMES and plain.temperature == 0.0
    assert plain.overview_budget.max_pixels == synthetic.OVERVIEW_PIXELS

    (tmp_path / "MANIFEST.json").write_text(json.dumps({"agent_flags": "--overview-times"}))
    bad = subprocess.run([sys.executable, "-m", "videotemp_o3.mini", "flags", str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "agent_flags" in bad.stderr


@needs_shipped
def test_shipped_checkpoint_loads_with_its_manifest():
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    manifest = json.loads((SHIPPED / "MANIFEST.json").read_text())
    assert manifest["seed"] is not None and "reproduce_mini.sh" in manifest["made_by"]
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) <= 25 * 10**6
    from safetensors import safe_open

    with safe_open(str(SHIPPED / "model.safetensors"), "pt") as f:
        assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"BF16"}
    AutoProcessor.from_pretrained(SHIPPED)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(SHIPPED)
    assert model.config.text_config.hidden_size == 64


@needs_shipped
def test_shipped_agent_greedy_trajectory_is_well_formed(tmp_path):
    from videotemp_o3.agent import Agent, AgentConfig, Question
    from videotemp_o3.engines.local import LocalEngine

    data = synthetic.generate(tmp_path, durations=(150,), seed=0, progress=False)
    rec = json.loads(data.read_text().splitlines()[0])
    spec = synthetic.spec_of(rec)
    config = AgentConfig(overview_budget=synthetic.overview_budget(), clip_budget=synthetic.clip_budget(),
                         max_new_tokens=160, temperature=0.0,
                         overview_times="--overview-times" in mini.agent_flags(SHIPPED))
    with LocalEngine(SHIPPED, device="cpu") as engine:
        traj = Agent(engine, config).run(tmp_path / rec["videos"][0],
                                         Question(synthetic.QUESTION.format(colour=spec.colour), "mcq",
                                                  list(spec.options)))
    assert traj.error is None
    turns = [protocol.parse_turn(t.text) for t in traj.turns]
    assert 1 <= len(turns) <= protocol.DEFAULT_MAX_TURNS
    assert all(t.well_formed for t in turns), [t.text for t in traj.turns]
    assert turns[-1].action == "answer" and traj.prediction in tuple("ABCD")
    assert all(t.action == "tool_call" for t in turns[:-1])
    assert any(t.clips for t in traj.turns)                  # it looked closer before answering


# ---------------------------------------------------------------------------------------------
# The whole driver, at smoke scale on CPU (many CPU minutes: opt-in)
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("VIDEOTEMP_MINI_SMOKE"),
                    reason="set VIDEOTEMP_MINI_SMOKE=1 to run the whole miniature at smoke scale on CPU")
def test_reproduce_mini_smoke_on_cpu(tmp_path):
    env = dict(os.environ, DEVICE="cpu", MINI_SCALE="smoke", WORK=str(tmp_path / "work"),
               RESULTS=str(tmp_path / "results"), PYTHON=sys.executable)
    run = subprocess.run(["bash", "scripts/reproduce_mini.sh"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=7200)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert [r["stage"] for r in results["table"]] == list(mini.STAGES)
    assert all(r["questions_n"] == 8 for r in results["table"])
    assert results["best_stage"] in mini.TOOL_STAGES
    names = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert len(names) <= 8 and "plot.png" in names and "table.md" in names
