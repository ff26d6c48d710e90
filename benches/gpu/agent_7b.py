#!/usr/bin/env python
"""The paper's inference setting on one GPU, measured turn by turn.

    python benches/gpu/agent_7b.py VIDEO [--out DIR] [--new-tokens 64]

The Qwen2.5-VL-7B-Instruct architecture (its published configuration, randomly initialised:
no weights can be downloaded here), bf16, sdpa attention, the embedded transformers engine,
and the agent with the release's budgets: a 256-frame × 200704-px overview of VIDEO, then one
2-fps clip of 30 s. A random model does not write tool calls, so the protocol text of each
reply is scripted while the model really prefills the whole conversation and really decodes
``--new-tokens`` tokens per turn. The run is done twice; the second (warm) one is reported.

Reports per turn: visual and prompt tokens, preprocessing / prefill / decode seconds, peak GPU
memory; and the share of the wall time spent decoding video and preprocessing. Writes
``agent_7b.json`` and ``agent_7b.md`` to --out (default $OUT or benches/out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from videotemp_o3 import protocol
from videotemp_o3.agent import Agent, AgentConfig, Question
from videotemp_o3.engines.base import Engine, Generation
from videotemp_o3.engines.local import LocalEngine
from videotemp_o3.video import FrameBudget, VideoReader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qwen7b import build_model


class Measured(Engine):
    """Runs the real engine (prefill + ``new_tokens`` decoded), records peak GPU memory, and
    returns the scripted protocol text."""

    def __init__(self, engine: LocalEngine, replies: list[str], new_tokens: int):
        self.engine, self.replies, self.new_tokens, self.peaks = engine, list(replies), new_tokens, []

    def generate(self, messages, **kw):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        real = self.engine.generate(messages, max_new_tokens=self.new_tokens, temperature=0.0, stop=())
        torch.cuda.synchronize()
        self.peaks.append(torch.cuda.max_memory_allocated() / 2**30)
        return Generation(self.replies.pop(0), real.prompt_tokens, real.completion_tokens, real.visual_tokens,
                          real.prefill_seconds, real.decode_seconds, real.finish_reason, real.seconds)


def run_once(engine, video: str, new_tokens: int, clip_start: float):
    replies = [protocol.render_turn("The event is around ten minutes in.", segments=[(clip_start, clip_start + 30.0)]),
               protocol.render_turn("The clip shows it.", answer="B")]
    measured = Measured(engine, replies, new_tokens)
    config = AgentConfig(overview_budget=FrameBudget(min_pixels=200704, max_pixels=200704, max_frames=256),
                         clip_budget=FrameBudget(fps=2.0, min_frames=4, max_frames=64, min_pixels=200704, max_pixels=200704),
                         max_new_tokens=new_tokens)
    reader = VideoReader(video)  # fresh reader: the index and decoding are part of the measurement
    t = time.perf_counter()
    traj = Agent(measured, config).run(reader, Question("What happens in the video?", "mcq", ["a", "b", "c", "d"]))
    wall = time.perf_counter() - t
    if traj.error:
        raise SystemExit(f"agent failed: {traj.error}")
    return traj, measured.peaks, wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video")
    p.add_argument("--out", default=os.environ.get("OUT", "benches/out"))
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--attn", default="sdpa")
    p.add_argument("--clip-start", type=float, default=600.0)
    a = p.parse_args()
    import transformers

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    engine, params, init_s = build_model(a.attn)
    r = VideoReader(a.video)
    info = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "transformers": transformers.__version__,
            "params_b": params / 1e9, "init_seconds": init_s, "video": os.path.basename(a.video),
            "video_seconds": r.duration_seconds, "video_size": [r.metadata.width, r.metadata.height], "cpu_cores": os.cpu_count()}
    print(json.dumps(info), flush=True)
    run_once(engine, a.video, a.new_tokens, a.clip_start)  # warm-up: CUDA kernels, allocator
    traj, peaks, wall = run_once(engine, a.video, a.new_tokens, a.clip_start)
    rows = []
    for t, peak in zip(traj.turns, peaks):
        preprocess = t.generate_seconds - t.prefill_seconds - t.decode_seconds
        video_s = (traj.overview["seconds"] if t.index == 1 else traj.turns[t.index - 2].video_seconds)
        rows.append({"turn": t.index, "video_decode_s": video_s, "visual_tokens": t.visual_tokens, "prompt_tokens": t.prompt_tokens,
                     "preprocess_s": preprocess, "prefill_s": t.prefill_seconds, "decode_s": t.decode_seconds,
                     "new_tokens": t.completion_tokens, "decode_tok_s": t.completion_tokens / t.decode_seconds if t.decode_seconds else None,
                     "peak_gpu_gib": peak})
    video_total = traj.video_seconds
    preprocess_total = sum(r["preprocess_s"] for r in rows)
    summary = {**info, "wall_seconds": wall, "video_decode_seconds": video_total, "preprocess_seconds": preprocess_total,
               "video_share": video_total / wall, "video_plus_preprocess_share": (video_total + preprocess_total) / wall,
               "overview": traj.overview, "clip": traj.turns[0].clips[0].__dict__ if traj.turns[0].clips else None, "turns": rows}
    (out / "agent_7b.json").write_text(json.dumps(summary, indent=1, default=str))
    lines = [f"Qwen2.5-VL-7B architecture ({params / 1e9:.2f} B parameters, random init, bf16, {a.attn}) on {info['device']}, "
             f"torch {torch.__version__}, transformers {transformers.__version__}; video {info['video']} "
             f"({info['video_seconds']:.0f} s, {info['video_size'][0]}x{info['video_size'][1]}), {os.cpu_count()} CPU cores.",
             "", "| turn | video decode s | visual tokens | prompt tokens | preprocess s | prefill s | decode s (tokens) | peak GPU GiB |",
             "|---|---|---|---|---|---|---|---|"]
    for r_ in rows:
        lines.append(f"| {r_['turn']} | {r_['video_decode_s']:.2f} | {r_['visual_tokens']} | {r_['prompt_tokens']} | {r_['preprocess_s']:.2f} | "
                     f"{r_['prefill_s']:.2f} | {r_['decode_s']:.2f} ({r_['new_tokens']}) | {r_['peak_gpu_gib']:.1f} |")
    lines += ["", f"wall {wall:.2f} s; video decoding {video_total:.2f} s ({100 * video_total / wall:.1f} %), "
              f"preprocessing {preprocess_total:.2f} s; decoding + preprocessing {100 * (video_total + preprocess_total) / wall:.1f} % of the wall time."]
    (out / "agent_7b.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
