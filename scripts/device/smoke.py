"""Smoke test of the carried wheels on the GPU machine (after `source scripts/device/install.sh`).

    python3 scripts/device/smoke.py [--media DIR] [--train] [--gpu-step]

Always: prints versions; checks that FFmpeg is mapped from the wheel's own videotemp_o3.libs
(the machine has no FFmpeg libraries); decodes ``clip(1.0, 3.0)`` of each carried test video,
writes ``save_clip(1.0, 3.0)`` to mp4 and decodes it back, and reads the FFV1 training clip;
every result must equal the reference decoded on the development machine (``ref.npz``).
--train: imports what `swift sft` and `swift rlhf --rlhf_type grpo` import (and our ms-swift
plugins), checks qwen-vl-utils' video backend (decord) reads the FFV1 clip bit-exactly.
--gpu-step: builds the tiny Qwen2.5-VL (videotemp_o3.testing.tiny_model) in /tmp/tiny and runs
three AdamW steps on the GPU on a video prompt (frames from our decoder).
Exit status 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Decoder threads, fixed here and in make_media.py/smoke.py: a correct decode does not depend on
# the count, but the reader's known tail-drain fault (AV1, last frames of a file) does, and the
# GPU machine has 16 cores where this one has 2.
THREADS = 2
FAILURES: list[str] = []


def check(ok: bool, what: str) -> bool:
    print(f"  [{'ok' if ok else 'FAIL'}] {what}", flush=True)
    if not ok:
        FAILURES.append(what)
    return ok


def version(name: str) -> str:
    try:
        from importlib.metadata import version as v

        return v(name)
    except Exception:
        return "-"


def ffmpeg_mapped() -> list[str]:
    names = ("libavcodec", "libavformat", "libavutil", "libswscale", "libswresample", "libdav1d")
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/" in line}
    return sorted(p for p in paths if os.path.basename(p).startswith(names))


def video_checks(media: Path) -> None:
    import videotemp_o3
    from videotemp_o3.video import VideoReader

    ref = np.load(media / "ref.npz")
    manifest = json.loads((media / "manifest.json").read_text())
    print(f"videotemp_o3 {version('videotemp-o3')} from {Path(videotemp_o3.__file__).parent}")
    out = Path(tempfile.mkdtemp(prefix="smoke-"))
    for name in manifest["videos"]:
        stem = Path(name).stem
        t = time.perf_counter()
        r = VideoReader(media / "videos" / name, num_threads=THREADS)
        c = r.clip(1.0, 3.0)
        saved = out / f"{stem}_clip.mp4"
        span = r.save_clip(1.0, 3.0, saved)
        s = VideoReader(saved, num_threads=THREADS)
        back = s.frames_at_indices(range(s.num_frames)).frames
        ms = (time.perf_counter() - t) * 1e3
        check(np.array_equal(c.frames, ref[f"{stem}/clip"]) and np.array_equal(c.indices, ref[f"{stem}/clip_indices"]),
              f"{name} ({r.metadata.codec}): clip(1.0, 3.0) -> {tuple(c.frames.shape)}, frames "
              f"{c.indices.tolist()}, identical to the reference")
        check(back.shape == ref[f"{stem}/saved"].shape and np.array_equal(back, ref[f"{stem}/saved"]),
              f"{name}: save_clip -> mp4 {span[0]:.2f}-{span[1]:.2f} s, {len(back)} frames decoded back, "
              f"identical to the reference ({ms:.0f} ms for both)")
    clip = media / "clips" / "ffv1_clip.mkv"
    try:
        r = VideoReader(clip, num_threads=THREADS)
        frames = r.frames_at_indices(range(r.num_frames)).frames
        check(np.array_equal(frames, ref["ffv1/frames"]),
              f"FFV1 training clip read by videotemp_o3: {tuple(frames.shape)}, identical to the reference")
    except Exception as e:  # a wheel built without the ffv1 decoder
        check(False, f"FFV1 training clip read by videotemp_o3: {type(e).__name__}: {e}")
    mapped = ffmpeg_mapped()
    check(bool(mapped) and all("/videotemp_o3.libs/" in p for p in mapped),
          "FFmpeg mapped only from the wheel: " + ", ".join(os.path.basename(p) for p in mapped))


def train_checks(media: Path) -> None:
    versions = {n: version(n) for n in ("ms-swift", "transformers", "trl", "peft", "accelerate", "tokenizers",
                                        "huggingface-hub", "datasets", "modelscope", "qwen-vl-utils", "decord",
                                        "pydantic", "safetensors", "av")}
    print("training stack: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    for mod in ("swift", "swift.llm", "swift.llm.train.sft", "swift.llm.train.rlhf", "swift.trainers",
                "swift.trainers.rlhf_trainer.grpo_trainer", "trl", "peft",
                "videotemp_o3.training.rl_scheduler", "videotemp_o3.training.swift_plugin",
                "videotemp_o3.training.sft_data"):
        try:
            importlib.import_module(mod)
            check(True, f"import {mod}")
        except Exception as e:
            check(False, f"import {mod}: {type(e).__name__}: {e}")
    from swift.llm import rlhf_main, sft_main  # noqa: F401  (the entry points `swift sft/rlhf` run)

    from qwen_vl_utils.vision_process import get_video_reader_backend

    backend = get_video_reader_backend()
    check(backend == "decord", f"qwen-vl-utils video backend: {backend}")
    import decord

    vr = decord.VideoReader(str(media / "clips" / "ffv1_clip.mkv"))
    frames = vr.get_batch(list(range(len(vr)))).asnumpy()
    check("ffv1/decord" in np.load(media / "ref.npz").files and np.array_equal(frames, np.load(media / "ref.npz")["ffv1/decord"]),
          f"decord reads the FFV1 training clip {tuple(frames.shape)} as on the development machine")
    try:
        import av  # noqa: F401

        print("  [info] PyAV present: GRPO rollouts can write clips")
    except ImportError:
        print("  [info] PyAV (av) not present: SFT and GRPO run, but a GRPO rollout whose model calls "
              "the clip tool cannot write the clip (swift_media._write_video needs av)")
    sft = media / "sft" / "sft.jsonl"
    if sft.exists():
        first = json.loads(sft.read_text().splitlines()[0])
        missing = [v for v in first.get("videos", []) if not os.path.exists(v)]
        check(not missing, f"SFT set {sft}: media paths resolve ({len(first.get('videos', []))} in the first record)")


def gpu_step() -> None:
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from videotemp_o3.testing.tiny_model import ensure_tiny_model
    from videotemp_o3.video import FrameBudget, VideoReader

    device = "cuda"
    if not torch.cuda.is_available():
        if os.environ.get("SMOKE_ALLOW_CPU") != "1":  # (for trying this script without a GPU)
            check(False, "CUDA available")
            return
        device = "cpu"
    else:
        check(True, f"CUDA available ({torch.cuda.get_device_name(0)})")
    model_dir = ensure_tiny_model("/tmp/tiny")
    processor = AutoProcessor.from_pretrained(model_dir)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).to(device).train()
    media = Path(os.environ.get("SMOKE_MEDIA", "/tmp/videotemp-media"))
    frames = VideoReader(media / "videos" / "h264.mp4").clip(0.0, 4.0, FrameBudget(fps=2.0, max_frames=8, min_pixels=3136, max_pixels=6272))
    text = ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Which frame is this?<|im_end|>\n"
            "<|im_start|>assistant\nFrame 30.<|im_end|>\n")
    inputs = processor(text=[text], videos=[frames.frames], fps=[frames.fps], return_tensors="pt", do_resize=False).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        out = model(**inputs, labels=inputs["input_ids"])
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(round(float(out.loss.detach()), 4))
    check(bool(np.all(np.isfinite(losses))), f"3 AdamW steps on {device}, loss {losses} (model {model_dir})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--media", default=os.environ.get("SMOKE_MEDIA", "/tmp/videotemp-media"))
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--gpu-step", action="store_true")
    a = ap.parse_args()
    media = Path(a.media)
    if not (media / "ref.npz").exists():
        here = Path(__file__).resolve().parents[2] / ".whl" / "media"
        media = here if (here / "ref.npz").exists() else media
    try:
        import torch

        tv = (f"torch {torch.__version__} (CUDA {torch.version.cuda}, "
              f"{'GPU: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'})")
    except ImportError:
        tv = "no torch"
    print(f"python {sys.version.split()[0]}, {tv}, numpy {np.__version__}, pillow {version('pillow')}, "
          f"tqdm {version('tqdm')}")
    print(f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}  LD_LIBRARY_PATH={os.environ.get('LD_LIBRARY_PATH', '')}")
    video_checks(media)
    if a.train:
        train_checks(media)
    if a.gpu_step:
        gpu_step()
    print(f"SMOKE {'PASSED' if not FAILURES else 'FAILED: ' + '; '.join(FAILURES)}")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
