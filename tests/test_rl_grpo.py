"""rl/rollout.sh and rl/grpo.sh, and a real CPU GRPO run through ms-swift with our scheduler.

The script tests replace the `swift` command with a recorder (SWIFT=...) to check what the
scripts pass; the CPU run at the end uses the real ms-swift, the real tiny model, real videos.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from videotemp_o3.synthetic import generate
from videotemp_o3.training.rl_data import build_rl_data
from videotemp_o3.budgets import TRAINING_VIDEO_ENV

REPO = Path(__file__).resolve().parents[1]
REWARD_FUNCS = ["acc_reward", "iou_reward", "format_reward"]  # the release's, the default

RECORDER = """#!{python}
import json, os, sys
with open({out!r}, "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, f)
"""


def clean_env(**extra) -> dict:
    """The environment with none of the scripts' knobs set, plus ``extra``."""
    knobs = ("MODEL", "MODEL_TYPE", "DATASETS", "OUTPUT_DIR", "MAX_TURNS", "VIDEO_MAX_PIXELS",
             "VIDEO_MIN_PIXELS", "FPS_MAX_FRAMES", "FPS_MIN_FRAMES", "VIDEOTEMP_CLIP_DIR",
             "ROLLOUT_HOST", "ROLLOUT_PORT", "USE_VLLM", "CUDA_VISIBLE_DEVICES",
             "NPROC_PER_NODE", "SWIFT", "EXTRA_ARGS", "DEEPSPEED", "REWARDS", "VALIDATE",
             "LOSS_SCALE", "RL_DATA", "PROMPT_PROFILE", "TEMPLATE")
    env = {k: v for k, v in os.environ.items() if k not in knobs and not k.startswith("VIDEOTEMP_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def recorder(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "swift_call.json"
    script = tmp_path / "swift"
    script.write_text(RECORDER.format(python=sys.executable, out=str(out)))
    script.chmod(0o755)
    return script, out


def arg(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def placeholder_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """(a model folder, an RL data folder with one empty row per file) for the script tests,
    whose ms-swift is the recorder."""
    model, data = tmp_path / "model", tmp_path / "data"
    model.mkdir()
    data.mkdir()
    for name in ("qa.jsonl", "grounding.jsonl"):
        (data / name).write_text("{}\n")
    return model, data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_training_frame_budget_is_the_same_as_sft(tmp_path):
    """rl/env.sh's defaults equal the SFT path's (budgets.TRAINING_VIDEO_ENV)."""
    names = sorted(TRAINING_VIDEO_ENV)
    out = subprocess.run(["bash", "-c", f"source rl/env.sh; echo {' '.join('$' + n for n in names)}"],
                         cwd=REPO, env=clean_env(), capture_output=True, text=True, check=True)
    assert dict(zip(names, out.stdout.split())) == TRAINING_VIDEO_ENV


def test_rollout_script_serves_our_scheduler_on_two_gpus(tmp_path):
    swift, out = recorder(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    subprocess.run(["bash", "rl/rollout.sh"], cwd=REPO, check=True, capture_output=True,
                   env=clean_env(SWIFT=swift, MODEL=model, OUTPUT_DIR=tmp_path / "out"))
    call = json.loads(out.read_text())
    argv, env = call["argv"], call["env"]
    assert argv[0] == "rollout"
    assert arg(argv, "--external_plugins") == str(REPO / "rl" / "plugin.py")
    assert arg(argv, "--multi_turn_scheduler") == "videotemp_clips"
    assert arg(argv, "--max_turns") == "3"
    assert arg(argv, "--template") == "qwen2_5_vl"  # named: ms-swift 4 cannot infer it
    assert arg(argv, "--vllm_use_async_engine") == "true"
    assert arg(argv, "--vllm_data_parallel_size") == "2"
    assert arg(argv, "--vllm_max_model_len") == "40960"
    # The overview and up to 3 clips on each of the 2 turns that may call the tool.
    assert json.loads(arg(argv, "--vllm_limit_mm_per_prompt")) == {"image": 0, "video": 7}
    assert arg(argv, "--port") == "8000"
    assert env["CUDA_VISIBLE_DEVICES"] == "6,7"
    assert (env["VIDEO_MIN_PIXELS"], env["VIDEO_MAX_PIXELS"], env["FPS_MAX_FRAMES"]) == ("50176", "50176", "512")
    assert env["VIDEOTEMP_CLIP_DIR"] == str(tmp_path / "out" / "clips")


def test_rollout_script_takes_gpus_and_port_from_the_environment(tmp_path):
    swift, out = recorder(tmp_path)
    subprocess.run(["bash", "rl/rollout.sh"], cwd=REPO, check=True, capture_output=True,
                   env=clean_env(SWIFT=swift, MODEL="Qwen/Qwen2.5-VL-7B-Instruct",
                                 ROLLOUT_DEVICES="4,5,6,7", ROLLOUT_TP=2, ROLLOUT_PORT=8123,
                                 MAX_TURNS=2, OUTPUT_DIR=tmp_path / "out"))
    argv = json.loads(out.read_text())["argv"]
    assert (arg(argv, "--vllm_data_parallel_size"), arg(argv, "--vllm_tensor_parallel_size"),
            arg(argv, "--port"), arg(argv, "--max_turns")) == ("2", "2", "8123", "2")
    assert json.loads(arg(argv, "--vllm_limit_mm_per_prompt"))["video"] == 4


def test_rollout_script_passes_a_prompt_profile_to_the_environment(tmp_path):
    swift, out = recorder(tmp_path)
    profile = tmp_path / "profiles" / "mine.json"
    profile.parent.mkdir()
    profile.write_text("{}")
    env = dict(SWIFT=swift, MODEL="Qwen/Qwen2.5-VL-7B-Instruct", OUTPUT_DIR=tmp_path / "out")
    run = subprocess.run(["bash", "rl/rollout.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(**env, PROMPT_PROFILE=profile))
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text())["env"]["VIDEOTEMP_PROMPT_PROFILE"] == str(profile)
    assert f"prompt profile: {profile}" in run.stderr
    run = subprocess.run(["bash", "rl/rollout.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(**env, PROMPT_PROFILE=tmp_path / "absent.json"))
    assert run.returncode == 2 and "prompt profile not found" in run.stderr


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/health/"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}' if ok else b"")

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_grpo_script_waits_for_the_rollout_server_then_trains_on_six_gpus(tmp_path):
    swift, out = recorder(tmp_path)
    model, data = placeholder_inputs(tmp_path)
    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), _Health)
    # The server comes up a few seconds after the trainer starts waiting, as vLLM does.
    threading.Timer(3.0, server.serve_forever).start()
    try:
        started = time.monotonic()
        run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                             env=clean_env(SWIFT=swift, MODEL=model, RL_DATA=data,
                                           ROLLOUT_PORT=port, OUTPUT_DIR=tmp_path / "out",
                                           VALIDATE=0))
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started >= 3.0
    assert "rollout server is up" in run.stderr
    call = json.loads(out.read_text())
    argv, env = call["argv"], call["env"]
    assert argv[:3] == ["rlhf", "--rlhf_type", "grpo"]
    assert (arg(argv, "--use_vllm"), arg(argv, "--vllm_mode"), arg(argv, "--vllm_server_host"),
            arg(argv, "--vllm_server_port")) == ("true", "server", "127.0.0.1", str(port))
    assert (env["CUDA_VISIBLE_DEVICES"], env["NPROC_PER_NODE"]) == ("0,1,2,3,4,5", "6")
    assert (arg(argv, "--num_generations"), arg(argv, "--learning_rate"),
            arg(argv, "--max_turns"), arg(argv, "--deepspeed")) == ("8", "5e-6", "3", "zero3")
    funcs = argv[argv.index("--reward_funcs") + 1:argv.index("--reward_funcs") + 4]
    assert funcs == REWARD_FUNCS
    # The release's loss: no --loss_scale in server mode, so ms-swift trains the last round only.
    assert "--loss_scale" not in argv
    assert "loss scale: release: no --loss_scale" in run.stderr
    assert argv[argv.index("--dataset") + 1:argv.index("--dataset") + 3] == [
        str(data / "qa.jsonl"), str(data / "grounding.jsonl")]
    assert "--multi_turn_scheduler" not in argv  # the server runs it
    assert (env["VIDEO_MIN_PIXELS"], env["VIDEO_MAX_PIXELS"]) == ("50176", "50176")
    assert arg(argv, "--freeze_vit") == "true" and arg(argv, "--freeze_aligner") == "false"
    assert (env["VIDEO_MIN_PIXELS"], env["VIDEO_MAX_PIXELS"], env["FPS_MAX_FRAMES"]) == ("50176", "50176", "512")
    assert arg(argv, "--freeze_vit") == "true" and arg(argv, "--freeze_aligner") == "false"


@pytest.mark.slow
def test_grpo_script_fails_clearly_when_the_server_never_answers(tmp_path):
    swift, out = recorder(tmp_path)
    model, data = placeholder_inputs(tmp_path)
    run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(SWIFT=swift, MODEL=model, RL_DATA=data,
                                       ROLLOUT_PORT=free_port(), ROLLOUT_WAIT_S=2,
                                       OUTPUT_DIR=tmp_path / "out", VALIDATE=0))
    assert run.returncode == 3
    assert "did not answer within 2s" in run.stderr
    assert "bash rl/rollout.sh" in run.stderr
    assert not out.exists()  # training never started


def test_grpo_script_chooses_the_reward_set_and_validates_the_data_first(tmp_path):
    swift, out = recorder(tmp_path)
    model, data = placeholder_inputs(tmp_path)
    env = dict(SWIFT=swift, MODEL=model, RL_DATA=data, USE_VLLM="false",
               OUTPUT_DIR=tmp_path / "out")
    run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(**env))
    assert run.returncode == 2 and not out.exists()  # training never started
    assert f"{data / 'qa.jsonl'}:1: field 'videos': missing" in run.stderr
    assert "fix them or set VALIDATE=0" in run.stderr
    run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(**env, VALIDATE=0, REWARDS="videotemp"))
    assert run.returncode == 0, run.stderr
    argv = json.loads(out.read_text())["argv"]
    assert argv[argv.index("--reward_funcs") + 1:argv.index("--reward_funcs") + 4] == [
        "videotemp_accuracy", "videotemp_iou", "videotemp_format"]
    assert arg(argv, "--freeze_aligner") == "false"  # the release trains the merger
    # Colocate mode: ms-swift would train every round (the scheduler runs in the trainer), so
    # the release's choice is passed explicitly; our former choice is one variable away.
    assert arg(argv, "--loss_scale") == "last_round"
    run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(**env, VALIDATE=0, LOSS_SCALE="default"))
    assert run.returncode == 0, run.stderr
    assert arg(json.loads(out.read_text())["argv"], "--loss_scale") == "default"
    assert "loss scale: --loss_scale default" in run.stderr
    run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(**env, VALIDATE=0, REWARDS="mine"))
    assert run.returncode == 2 and "REWARDS must be release or videotemp" in run.stderr


def test_grpo_script_names_missing_inputs(tmp_path):
    run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(MODEL=tmp_path / "no-model", USE_VLLM="false"))
    assert run.returncode == 2 and f"model not found: {tmp_path / 'no-model'}" in run.stderr
    model = tmp_path / "model"
    model.mkdir()
    run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                         env=clean_env(MODEL=model, USE_VLLM="false", RL_DATA=tmp_path))
    assert run.returncode == 2 and f"dataset not found: {tmp_path / 'qa.jsonl'}" in run.stderr


# ---------------------------------------------------------------------------------------------
# The CPU run: GRPO in ms-swift's colocate mode without vLLM, our scheduler and rewards
# ---------------------------------------------------------------------------------------------

# Tiny frames and few of them: the run must stay small on two CPU cores.
CPU_VIDEO_ENV = {"VIDEO_MIN_PIXELS": "3136", "VIDEO_MAX_PIXELS": "3136", "FPS_MAX_FRAMES": "4",
                 "FPS_MIN_FRAMES": "2", "VIDEOTEMP_CLIP_MIN_FRAMES": "2",
                 "VIDEOTEMP_CLIP_MAX_FRAMES": "4"}


def run_cpu_grpo(model: Path, data: Path, out: Path, **extra) -> tuple[list[dict], str]:
    settings = dict(USE_VLLM="false", MODEL=model, MODEL_TYPE="qwen2_5_vl", RL_DATA=data,
                    OUTPUT_DIR=out, MAX_STEPS=2, NUM_GENERATIONS=2, PER_DEVICE_BATCH_SIZE=2,
                    GRAD_ACCUM=1, MAX_COMPLETION_LENGTH=48, MAX_LENGTH=4096, SAVE_STEPS=1000,
                    **CPU_VIDEO_ENV)
    env = clean_env(**{**settings, **extra})
    run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    logs = sorted((out / "grpo").glob("v*/logging.jsonl"))
    assert logs, log[-2000:]
    entries = [json.loads(line) for line in logs[-1].read_text().splitlines()]
    return [e for e in entries if "loss" in e], log


@pytest.fixture(scope="module")
def rl_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("grpo-data")
    annotations = generate(root, durations=(20.0, 30.0), event_seconds=(3.0, 5.0), progress=False)
    report = build_rl_data([annotations], root / "rl")
    assert report.n_qa == 2 and report.n_grounding == 2
    return report.qa.parent


@pytest.mark.slow
def test_cpu_grpo_with_a_tool_calling_policy_gets_a_learning_signal(tiny_model_dir, rl_data, tmp_path):
    """Real GRPO steps with a policy that calls the tool: clips from our video layer reach the
    model inside the rollouts, rewards vary within a group, and the loss has a gradient.

    The policy (videotemp_o3.testing.chain_policy) is the tiny model with a Markov chain written
    into its weights: each reply is a short-form tool call or a well-formed grounding answer,
    at random (a random tiny model never calls the tool: one turn, every reward 0, no gradient).
    """
    from videotemp_o3.testing.chain_policy import CALL_SPANS, build_chain_policy
    from videotemp_o3.video import VideoReader

    policy = build_chain_policy(tiny_model_dir, tmp_path / "policy")
    out = tmp_path / "out"
    steps, log = run_cpu_grpo(policy, rl_data, out, NUM_GENERATIONS=4, PER_DEVICE_BATCH_SIZE=4,
                              MAX_COMPLETION_LENGTH=32)
    assert "colocate mode without vLLM" in log
    assert [s["global_step/max_steps"] for s in steps] == ["1/2", "2/2"]
    for step in steps:
        for name in ("AccuracyReward", "IoUReward", "FormatReward"):  # the release's set
            assert f"rewards/{name}/mean" in step and f"rewards/{name}/std" in step, sorted(step)
    # Rewards differ within a group, so advantages are non-zero and the loss has a gradient.
    varied = [s for s in steps if s["reward_std"] > 0 and s["frac_reward_zero_std"] < 1]
    assert varied, steps
    assert all(s["grad_norm"] > 0 for s in varied), steps
    assert max(s["num_turns"] for s in steps) >= 2  # a call was answered and the policy went on

    # Every clip our scheduler cut is a real video of a span the policy asked for ...
    clips = sorted((out / "clips").glob("*.mkv"))
    assert clips
    for clip in clips:
        start, end = (float(x) for x in clip.stem.split("_")[-2].split("-"))
        assert (start, end) in CALL_SPANS
        assert VideoReader(str(clip)).num_frames >= 2
    # ... and the model was given it: a later turn's prompt holds the call, then the clip's turn.
    completions = [json.loads(line) for line in next((out / "grpo").glob("v*/completions.jsonl")).read_text().splitlines()]
    prompts = [p for c in completions for p in c["prompt"]]
    answered = [(s, e) for s, e in CALL_SPANS
                if any(f"<tool_call>[{s}, {e}]</tool_call><|im_end|>\n<|im_start|>user\n<video>This clip is "
                       f"{s:.1f} s – {e:.1f} s" in p for p in prompts)]
    assert answered, prompts[:2]
    assert any(a != 0 for c in completions for a in c["advantages"])


PARSE_WITH_MS_SWIFT = """
import json, sys
from swift.llm import RLHFArguments
from swift.utils import parse_args
for path in sys.argv[1:]:
    argv = json.load(open(path))["argv"][1:]  # after "rlhf"
    args, _ = parse_args(RLHFArguments, argv + ["--bf16", "false", "--fp16", "false", "--check_model", "false"])
    print(path, args.loss_scale)
"""


@pytest.mark.slow
def test_ms_swift_trains_the_last_round_with_the_release_default(tiny_model_dir, tmp_path):
    """What grpo.sh passes, read by ms-swift's own argument parser: the loss scale it resolves.

    Server mode (the release's layout) passes no --loss_scale and no scheduler to the trainer;
    colocate mode runs our scheduler in the trainer, where ms-swift would default to every
    round, so grpo.sh names last_round. vLLM is not installed here, so the server-mode argv is
    parsed without its vLLM connection flags (ms-swift's choice depends on --loss_scale and
    --multi_turn_scheduler only)."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("qa.jsonl", "grounding.jsonl"):
        (data / name).write_text((REPO / "tests" / "data" / "release" / "rl" / name).read_text())
    calls = {}
    for mode, extra in (("colocate", {"USE_VLLM": "false"}),
                        ("colocate-default", {"USE_VLLM": "false", "LOSS_SCALE": "default"}),
                        ("server", {})):
        (tmp_path / mode).mkdir()
        swift, out = recorder(tmp_path / mode)
        port = free_port()
        server = http.server.HTTPServer(("127.0.0.1", port), _Health)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            run = subprocess.run(["bash", "rl/grpo.sh"], cwd=REPO, capture_output=True, text=True,
                                 env=clean_env(SWIFT=swift, MODEL=tiny_model_dir, MODEL_TYPE="qwen2_5_vl",
                                               RL_DATA=data, VALIDATE=0, ROLLOUT_PORT=port,
                                               OUTPUT_DIR=tmp_path / "out", TORCH_DTYPE="float32", **extra))
        finally:
            server.shutdown()
            server.server_close()
        assert run.returncode == 0, run.stderr
        call = json.loads(out.read_text())
        if mode == "server":
            argv = call["argv"]
            assert "--loss_scale" not in argv and "--multi_turn_scheduler" not in argv
            kept, skip = [], False
            for a in argv:  # drop the vLLM connection and the GPU-only DeepSpeed flags with their values
                if skip:
                    skip = False
                elif a.startswith("--vllm_") or a in ("--use_vllm", "--deepspeed"):
                    skip = True
                else:
                    kept.append(a)
            call["argv"] = kept + ["--use_vllm", "false"]
        path = tmp_path / f"{mode}.json"
        path.write_text(json.dumps(call))
        calls[str(path)] = mode
    run = subprocess.run([sys.executable, "-c", PARSE_WITH_MS_SWIFT, *calls], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    resolved = dict(line.split() for line in run.stdout.splitlines() if line.startswith(str(tmp_path)))
    assert {calls[p]: scale for p, scale in resolved.items()} == {
        "colocate": "last_round", "colocate-default": "default", "server": "last_round"}
