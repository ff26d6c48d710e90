"""``bash sft/sft.sh`` on CPU: real ms-swift training steps on the tiny model and built data.

The script runs as users run it (DEVICE=cpu, env overrides only); the trajectories are built
from generated videos by the SFT builder, with real clip files. Checked: ≥ 20 optimiser steps,
the loss falls, the checkpoint loads in transformers and generates from video frames, and the
frozen vision tower did not move.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sft_helpers import SMALL_VIDEO_ENV
from videotemp_o3 import protocol, synthetic
from videotemp_o3.training.sft_check import validate_file
from videotemp_o3.training.sft_data import BuildConfig, build_file
from videotemp_o3.budgets import TRAINING_VIDEO_ENV
from videotemp_o3.video import FrameBudget, VideoReader

torch = pytest.importorskip("torch")
pytest.importorskip("swift")

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "sft" / "sft.sh"
# A short system prompt keeps each sequence near 700 tokens: with the tiny model's 151665-word
# vocabulary the logits, not the layers, are what a CPU step spends its time on.
SHORT_SYSTEM = ("Reason inside <think></think>, then answer inside <answer></answer> or call "
                "get_video_clip_frame inside <tool_call></tool_call>.")


def training_data(tmp: Path) -> Path:
    """Eight trajectories (grounding and MCQ, half of them refined) on four short videos."""
    bench = synthetic.generate(tmp / "bench", durations=(20, 24, 28, 32), progress=False)
    annotations = []
    for row in map(json.loads, bench.read_text().splitlines()):
        question, *options = row["question"].split("\n")
        video = str(tmp / "bench" / row["videos"][0])
        annotations.append({"video": video, "query": row["query"], "span": row["timestamp"]})
        annotations.append({"video": video, "question": question, "options": [o[3:] for o in options],
                            "answer": row["answer"], "span": row["timestamp"]})
    ann = tmp / "annotations.jsonl"
    ann.write_text("".join(json.dumps(a) + "\n" for a in annotations))
    system = tmp / "system.txt"
    system.write_text(SHORT_SYSTEM)
    data = tmp / "sft.jsonl"
    report = build_file(ann, data, tmp / "clips",
                        BuildConfig(refine_fraction=0.5, clip_max_frames=16,
                                    system_prompt_path=str(system)), progress=False)
    assert report.records == 8 and report.refined >= 2 and not report.problems
    assert validate_file(data)[1] == []
    return data


def test_sft_defaults_match_the_media_module(tmp_path):
    """sft.sh's frame budget is budgets.TRAINING_VIDEO_ENV (the release's: VIDEO_MIN_PIXELS =
    VIDEO_MAX_PIXELS = 50176, FPS_MAX_FRAMES = 512); the minimum follows a maximum set by hand."""
    names = sorted(TRAINING_VIDEO_ENV)
    env = {k: v for k, v in os.environ.items() if k not in TRAINING_VIDEO_ENV}
    # The script's budget lines, run alone (the rest of the script needs a model and data).
    lines = [line for line in SCRIPT.read_text().splitlines()
             if line.startswith("export ") and any(line.startswith(f"export {n}=") for n in names)]
    assert len(lines) == len(names)
    show = "; ".join(lines) + "; echo " + " ".join("$" + n for n in names)
    out = subprocess.run(["bash", "-c", show], env=env, capture_output=True, text=True, check=True)
    assert dict(zip(names, out.stdout.split())) == TRAINING_VIDEO_ENV
    out = subprocess.run(["bash", "-c", show], env={**env, "VIDEO_MAX_PIXELS": "6272"}, capture_output=True,
                         text=True, check=True)
    assert dict(zip(names, out.stdout.split()))["VIDEO_MIN_PIXELS"] == "6272"


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_leave_sizes_to_the_script(stage):
    from swift.utils import json_parse_to_dict

    config = json_parse_to_dict(str(REPO / "sft" / f"ds_zero{stage}.json"))
    assert config["zero_optimization"]["stage"] == stage
    # "auto": the Trainer fills them from sft.sh's BATCH_SIZE, GRAD_ACC and dtype.
    for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size",
                "gradient_clipping"):
        assert config[key] == "auto"
    assert config["bf16"]["enabled"] == "auto"


RECORDER = """#!{python}
import json, os, sys
with open({out!r}, "w") as f:
    json.dump({{"argv": sys.argv[1:], "env": dict(os.environ)}}, f)
"""


def release_like_record(k: int) -> dict:
    """A record as the release's files hold them: three assistant rounds, no loss marks."""
    call = protocol.render_turn("look", segments=[(1.0, 5.0)])
    refine = protocol.render_turn("closer", segments=[(2.0, 3.0)])
    return {"messages": [{"role": "user", "content": "q" + str(k)},
                         {"role": "assistant", "content": call},
                         {"role": "user", "content": "clip"},
                         {"role": "assistant", "content": refine},
                         {"role": "user", "content": "clip"},
                         {"role": "assistant", "content": protocol.render_turn("a", answer="B")}]}


def test_records_without_loss_marks_get_the_releases_masking(tmp_path):
    """sft.sh on the release's files (no per-message loss) trains what the release trains."""
    swift = tmp_path / "swift"
    calls = tmp_path / "call.json"
    swift.write_text(RECORDER.format(python=sys.executable, out=str(calls)))
    swift.chmod(0o755)
    wi = tmp_path / "data" / "wi_tool_call" / "activitynet.jsonl"
    wo = tmp_path / "data" / "wo_tool_call" / "activitynet.jsonl"
    ours = tmp_path / "data" / "ours.jsonl"
    for path in (wi, wo):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(release_like_record(k)) + "\n" for k in range(3)))
    marked = release_like_record(9)
    for m, loss in zip([m for m in marked["messages"] if m["role"] == "assistant"],
                       (False, False, True)):
        m["loss"] = loss
    ours.write_text(json.dumps(marked) + "\n")
    env = {**os.environ, "DEVICE": "cpu", "SWIFT": str(swift), "VALIDATE": "0",
           "DATA": f"{wi} {wo} {ours}", "OUTPUT_DIR": str(tmp_path / "out")}

    def run(**extra):
        done = subprocess.run(["bash", str(SCRIPT)], env={**env, **extra}, cwd=REPO,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        argv = json.loads(calls.read_text())["argv"]
        k = argv.index("--dataset") + 1
        files = argv[k:k + 3]
        losses = [[[m.get("loss") for m in json.loads(line)["messages"]
                    if m["role"] == "assistant"] for line in Path(f).read_text().splitlines()]
                  for f in files]
        return done.stdout + done.stderr, files, losses

    log, files, losses = run()
    argv = json.loads(calls.read_text())["argv"]
    assert argv[argv.index("--freeze_aligner") + 1] == "false"  # the release trains the merger
    masked = tmp_path / "out" / "masked_data"
    assert files == [str(masked / "wi_tool_call" / "activitynet.jsonl"),
                     str(masked / "wo_tool_call" / "activitynet.jsonl"), str(ours)]
    assert losses[0] == losses[1] == [[False, True, True]] * 3   # the last two rounds
    assert losses[2] == [[False, False, True]]                   # marks in the data are kept
    assert f"{wi}: 3 of 3 records without per-message loss: applied last_two_rounds (the " \
           "release's)" in log
    assert f"{ours}: every assistant round marked in the data: used as it is" in log

    # Unified masking needs an evidence span to judge a call; these records have none, so only
    # the answer carries loss.
    log, files, losses = run(MASKING="unified")
    assert losses[0] == [[False, False, True]] * 3 and "applied unified" in log
    log, files, losses = run(MASKING="none")
    assert files == [str(wi), str(wo), str(ours)] and "masking: none" in log
    done = subprocess.run(["bash", str(SCRIPT)], env={**env, "MASKING": "some"}, cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "MASKING must be" in done.stderr


@pytest.fixture(params=["tiny", "compact"])
def trainable_model(request, tmp_path_factory):
    """The test model (Qwen2.5's 151665 ids) and the miniature's compact-vocabulary model, whose
    pad ids ms-swift's template must take from its tokenizer (swift_plugin, loaded by sft.sh)."""
    if request.param == "tiny":
        return request.getfixturevalue("tiny_model_dir")
    from videotemp_o3.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("compact"), size="compact")


@pytest.mark.slow
def test_cpu_training_run(trainable_model, tmp_path, monkeypatch):
    for k, v in SMALL_VIDEO_ENV.items():
        monkeypatch.setenv(k, v)
    data = training_data(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, **SMALL_VIDEO_ENV,
           "DEVICE": "cpu", "MODEL": str(trainable_model), "MODEL_TYPE": "qwen2_5_vl", "DATA": str(data),
           "OUTPUT_DIR": str(out), "EPOCHS": "3", "GRAD_ACC": "1", "LR": "2e-3", "WARMUP_RATIO": "0",
           "LOGGING_STEPS": "1", "SAVE_STEPS": "1000", "SAVE_ONLY_MODEL": "true",
           "GRADIENT_CHECKPOINTING": "false", "MAX_LENGTH": "4096", "DATASET_NUM_PROC": "1",
           "DATALOADER_NUM_WORKERS": "0", "REPORT_TO": "none",
           "HF_HUB_OFFLINE": "1"}
    env.pop("NPROC_PER_NODE", None)
    env.pop("NNODES", None)
    started = time.perf_counter()
    # Extra arguments go through to `swift sft`: no hub check of the local model (offline), and
    # logits only where labels are (same loss, a third less CPU with a 151665-word vocabulary).
    run = subprocess.run(["bash", str(SCRIPT), "--check_model", "false", "--use_logits_to_keep", "true"],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - started
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]

    (logging_file,) = out.glob("v*/logging.jsonl")
    entries = [json.loads(line) for line in logging_file.read_text().splitlines()]
    steps_logged = [e for e in entries if "loss" in e]
    losses = [e["loss"] for e in steps_logged]
    steps = int(steps_logged[-1]["global_step/max_steps"].split("/")[0])
    print(f"\nCPU SFT: {steps} steps in {seconds:.0f} s, loss {losses[0]:.3f} -> {losses[-1]:.3f} "
          f"(first 8 mean {sum(losses[:8]) / 8:.3f}, last 8 mean {sum(losses[-8:]) / 8:.3f})",
          file=sys.stderr)
    assert steps >= 20 and len(losses) >= 20
    assert losses[-1] < losses[0]
    assert sum(losses[-8:]) < sum(losses[:8])

    # The last checkpoint loads in plain transformers and generates from video frames.
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    checkpoint = out / "checkpoint"  # sft.sh links the newest checkpoint here
    assert checkpoint.resolve().name == f"checkpoint-{steps}"
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(checkpoint)
    video = sorted((tmp_path / "bench" / "videos").glob("*.mp4"))[0]
    frames = VideoReader(video).clip(2.0, 8.0, FrameBudget(fps=2.0, max_frames=8, min_pixels=3136,
                                                           max_pixels=6272))
    text = ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>What colour is the square?"
            "<|im_end|>\n<|im_start|>assistant\n")
    inputs = processor(text=[text], videos=[frames.frames], fps=frames.sample_fps, return_tensors="pt",
                       do_resize=False)
    with torch.no_grad():
        logits = model(**inputs).logits
        generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert torch.isfinite(logits).all()
    assert generated.shape[1] > inputs["input_ids"].shape[1]

    # Full fine-tuning moved the language model and, as in the release (--freeze_aligner false),
    # the merger; --freeze_vit kept the vision tower as it was.
    initial = Qwen2_5_VLForConditionalGeneration.from_pretrained(trainable_model, dtype=torch.float32)
    before, after = initial.state_dict(), model.state_dict()
    tower = [k for k in after if "visual" in k and "merger" not in k]
    merger = [k for k in after if "visual" in k and "merger" in k]
    language = [k for k in after if "layers" in k and "visual" not in k]
    assert tower and merger and language
    assert all(torch.equal(before[k], after[k]) for k in tower)
    assert any(not torch.equal(before[k], after[k]) for k in merger)
    assert any(not torch.equal(before[k], after[k]) for k in language)
