"""Test media for the GPU machine, made here (it has no FFmpeg CLI), with reference decodes.

    .venv/bin/python scripts/device/make_media.py OUT_DIR      (scripts/device/stage.py runs it)

Everything is built under the fixed absolute path ``/tmp/videotemp-media`` (the SFT jsonl holds
absolute paths; on the device ``scripts/device/install.sh`` unpacks the carried copy there)
and then copied to ``OUT_DIR`` (stage.py packs it as ``media.tar``, unpacked there by pool.py):

* ``videos/``: indexed test videos (each frame spells its number): H.264 with B-frames in mp4,
  HEVC in mkv, VP9 in webm, AV1 in mkv (when the FFmpeg CLI has an AV1 encoder);
* ``clips/ffv1_clip.mkv``: a clip written by ``swift_media.clip_for_swift`` (lossless FFV1 in
  Matroska, the format ms-swift reads in training);
* ``ref.npz``: what the developer install decodes from them (``clip(1.0, 3.0)``, every frame of
  ``save_clip(1.0, 3.0)``, the FFV1 clip's frames), for ``smoke.py`` to compare against;
* ``sft/``: a small SFT set as ``tests/test_sft_train.py`` builds it (four synthetic videos, eight
  trajectories, their FFV1 clips, ``sft.jsonl``), for a real ``sft/sft.sh`` run on the GPU;
* ``rl/data/``: GRPO data as ``tests/test_rl_grpo.py`` builds it (``qa.jsonl``, ``grounding.jsonl``
  over two synthetic videos), for real ``rl/grpo.sh`` runs (colocate, and with the rollout server);
* ``serve/``: the serving benchmark's long videos — the synthetic benchmark (``data.jsonl`` +
  ``videos/``, read by ``eval/run.py --bench videotemp --data-dir``) at 1280x720, 30 fps, 2 to
  30 minutes (``SERVE_DURATIONS``), for scripts/device/serve_7b.sh;
* ``manifest.json``: versions and contents.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

FIXED = Path("/tmp/videotemp-media")
# Decoder threads, fixed here and in make_media.py/smoke.py: a correct decode does not depend on
# the count, but the reader's known tail-drain fault (AV1, last frames of a file) does, and the
# GPU machine has 16 cores where this one has 2.
THREADS = 2
SHORT_SYSTEM = ("Reason inside <think></think>, then answer inside <answer></answer> or call "
                "get_video_clip_frame inside <tool_call></tool_call>.")
# Frames small enough for a quick run, idempotent under qwen-vl-utils' resize (tests/sft_helpers.py).
SMALL_VIDEO_ENV = {"VIDEO_MIN_PIXELS": "3136", "VIDEO_MAX_PIXELS": "6272", "FPS_MAX_FRAMES": "64"}


def make_videos(root: Path) -> list[Path]:
    from videotemp_o3.testing import videos as V

    specs = [("h264.mp4", "h264"), ("hevc.mkv", "hevc"), ("vp9.webm", "vp9")]
    if V.use_available_av1_encoder():
        specs.append(("av1.mkv", "av1"))
    (root / "videos").mkdir(parents=True)
    out = []
    for name, codec in specs:
        out.append(V.make_indexed_video(root / "videos" / name, frames=150, fps=30.0, size=(144, 256),
                                        codec=codec, gop=60))
    return out


def reference(root: Path, videos: list[Path]) -> dict:
    from videotemp_o3.training.swift_media import clip_budget, clip_for_swift
    from videotemp_o3.video import VideoReader

    ref = {}
    with_tmp = root / "tmp"
    with_tmp.mkdir()
    for v in videos:
        r = VideoReader(v, num_threads=THREADS)
        c = r.clip(1.0, 3.0)
        saved = with_tmp / (v.stem + "_clip.mp4")
        r.save_clip(1.0, 3.0, saved)
        s = VideoReader(saved, num_threads=THREADS)
        ref[f"{v.stem}/clip"] = c.frames
        ref[f"{v.stem}/clip_indices"] = c.indices
        ref[f"{v.stem}/saved"] = s.frames_at_indices(range(s.num_frames)).frames
    shutil.rmtree(with_tmp)
    # A training clip as the SFT builder and the RL scheduler write it (PyAV, FFV1 in mkv).
    (root / "clips").mkdir()
    budget = clip_budget(max_frames=16)  # pixel limits: SMALL_VIDEO_ENV, set in main()
    clip = clip_for_swift(VideoReader(videos[0]), 1.0, 4.0, budget, root / "clips")
    final = root / "clips" / "ffv1_clip.mkv"
    os.replace(clip.path, final)
    for side in (root / "clips").glob("*.json"):
        side.rename(root / "clips" / "ffv1_clip.json")
    r = VideoReader(final, num_threads=THREADS)
    ref["ffv1/frames"] = r.frames_at_indices(range(r.num_frames)).frames
    try:
        import decord

        vr = decord.VideoReader(str(final))
        ref["ffv1/decord"] = vr.get_batch(list(range(len(vr)))).asnumpy()
    except ImportError:
        pass
    return ref


def sft_annotations(bench: Path, root: Path) -> list[dict]:
    """The SFT builder's annotations (one grounding and one MCQ per video) of a synthetic
    benchmark file whose videos sit under ``root``."""
    annotations = []
    for row in map(json.loads, bench.read_text().splitlines()):
        question, *options = row["question"].split("\n")
        video = str(root / row["videos"][0])
        annotations.append({"video": video, "query": row["query"], "span": row["timestamp"]})
        annotations.append({"video": video, "question": question, "options": [o[3:] for o in options],
                            "answer": row["answer"], "span": row["timestamp"]})
    return annotations


def make_sft(root: Path) -> dict:
    from videotemp_o3 import synthetic
    from videotemp_o3.training.sft_check import validate_file
    from videotemp_o3.training.sft_data import BuildConfig, build_file

    sft = root / "sft"
    bench = synthetic.generate(sft / "bench", durations=(20, 24, 28, 32), progress=False)
    annotations = sft_annotations(bench, sft / "bench")
    ann = sft / "annotations.jsonl"
    ann.write_text("".join(json.dumps(a) + "\n" for a in annotations))
    system = sft / "system.txt"
    system.write_text(SHORT_SYSTEM)
    data = sft / "sft.jsonl"
    report = build_file(ann, data, sft / "clips",
                        BuildConfig(refine_fraction=0.5, clip_max_frames=16, system_prompt_path=str(system)),
                        progress=False)
    problems = validate_file(data)[1]
    if problems:
        raise SystemExit(f"SFT data has problems: {problems[:3]}")
    return {"records": report.records, "refined": report.refined, "jsonl": str(data), "env": SMALL_VIDEO_ENV}


def make_rl(root: Path) -> dict:
    """GRPO data as tests/test_rl_grpo.py builds it: two synthetic videos, QA and grounding; and
    ``rl/sft_seed.jsonl``, tool-call trajectories on the same videos with the RL rows' own
    prompts (the builder's default system prompt, every trajectory calling the clip tool once),
    to fit a policy that writes tool calls before GRPO (a random model never does, so the
    rollout server's clip environment would have nothing to answer)."""
    from videotemp_o3.synthetic import generate
    from videotemp_o3.training.rl_data import build_rl_data
    from videotemp_o3.training.sft_check import validate_file
    from videotemp_o3.training.sft_data import BuildConfig, build_file

    annotations = generate(root / "rl", durations=(20.0, 30.0), event_seconds=(3.0, 5.0), progress=False)
    report = build_rl_data([annotations], root / "rl" / "data")
    seed_ann = root / "rl" / "sft_seed_annotations.jsonl"
    seed_ann.write_text("".join(json.dumps(a) + "\n" for a in sft_annotations(annotations, root / "rl")))
    seed = build_file(seed_ann, root / "rl" / "sft_seed.jsonl", root / "rl" / "sft_seed_clips",
                      BuildConfig(refine_fraction=0.0, clip_max_frames=16), progress=False)
    problems = validate_file(root / "rl" / "sft_seed.jsonl")[1]
    if problems:
        raise SystemExit(f"the RL seed SFT data has problems: {problems[:3]}")
    return {"qa": report.n_qa, "grounding": report.n_grounding, "rl_data": str(report.qa.parent),
            "sft_seed": str(root / "rl" / "sft_seed.jsonl"), "sft_seed_records": seed.records}


SERVE_DURATIONS = (120, 300, 600, 1800)
"""Seconds of each serving-benchmark video: the frame count (and so the decoding work) of real
30 fps footage of 2 to 30 minutes; the picture is simple, so each is a few MB."""


SERVE_CACHE = Path(__file__).resolve().parents[2] / "target" / "serve-videos"
"""Rendered once (minutes of CPU) and reused: generate() keeps the videos it finds."""


def make_serve(root: Path) -> dict:
    from videotemp_o3.synthetic import generate

    generate(SERVE_CACHE, durations=SERVE_DURATIONS, size=(1280, 720), fps=30, progress=True)
    shutil.copytree(SERVE_CACHE, root / "serve")  # data.jsonl names the videos relatively
    return {"data": str(root / "serve" / "data.jsonl"), "durations": list(SERVE_DURATIONS),
            "size": [1280, 720], "fps": 30}


def main() -> None:
    out = Path(sys.argv[1]).resolve()
    os.environ.update(SMALL_VIDEO_ENV)
    if FIXED.exists():
        shutil.rmtree(FIXED)
    FIXED.mkdir(parents=True)
    videos = make_videos(FIXED)
    ref = reference(FIXED, videos)
    np.savez_compressed(FIXED / "ref.npz", **ref)
    sft = make_sft(FIXED)
    rl = make_rl(FIXED)
    serve = make_serve(FIXED)
    import videotemp_o3

    manifest = {
        "root": str(FIXED),
        "videos": [v.name for v in videos],
        "reference": sorted(ref),
        "sft": sft,
        "rl": rl,
        "serve": serve,
        "made_with": {"python": sys.version.split()[0], "videotemp_o3": str(Path(videotemp_o3.__file__).parent),
                      "ffmpeg_cli": subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]},
    }
    (FIXED / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(FIXED, out)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"media: {out} ({size / 1e6:.1f} MB): {', '.join(manifest['videos'])}, FFV1 clip, "
          f"SFT set of {sft['records']} records, GRPO set of {rl['qa']} QA + {rl['grounding']} grounding rows")


if __name__ == "__main__":
    main()
