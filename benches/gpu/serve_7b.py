#!/usr/bin/env python
"""Per-question latency of the agent against an OpenAI-compatible server (vLLM or swift deploy).

    python benches/gpu/serve_7b.py --base-url http://127.0.0.1:8000 --bench-dir DIR [--out DIR]

The paper's inference setting, as benches/gpu/agent_7b.py measures it for the embedded engine:
a 256-frame x 200704-px overview, then one 2-fps clip of 30 s, each turn decoding
``--new-tokens`` real tokens while the protocol text of the replies is scripted (the served
model has random weights and never writes a tool call). Questions run one at a time, so that
the server's own counters (vLLM's ``/metrics``: queue, prefill, decode and end-to-end time of
each request) can be read per request; ``--video-format mkv`` (swift deploy) has no such
counters and reports the client-side split only.

Per turn it reports, in seconds:

* ``video decode``: our video layer decoding and sampling the frames (client);
* ``encode``: turning the frames into the request (JPEG per frame, or FFV1 in Matroska);
* ``upload``: the rest of the request's wall time outside the server's engine — HTTP, JSON,
  and the server front end (data-URL parsing, JPEG decoding, the HF processor);
* ``queue``, ``prefill`` (vision encoder and the prompt's forward pass) and ``generation``
  (the new tokens): the engine's own counters.

Questions come from ``--bench-dir`` (the synthetic benchmark's layout: ``data.jsonl`` and
``videos/``; scripts/device/make_media.py makes 1280x720 30-fps ones). Writes
``serve_7b_<label>.json`` and ``.md`` to --out (default $OUT or benches/out) and, with
``--embedded benches/gpu/results/agent_7b.json``, puts the embedded engine's turns next to them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import threading
import time
from pathlib import Path

import videotemp_o3.engines.openai as openai_engine
from videotemp_o3 import protocol
from videotemp_o3.agent import Agent, AgentConfig, Question
from videotemp_o3.engines.base import Engine, Generation
from videotemp_o3.jsonl import iter_jsonl
from videotemp_o3.video import FrameBudget, VideoReader

COUNTERS = ("vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
            "vllm:request_prefill_time_seconds", "vllm:request_decode_time_seconds")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+([-+0-9.eEinfNa]+)$")


def read_counters(client, base: str) -> dict[str, float] | None:
    """The ``_sum`` of each request-time histogram on the server's /metrics, or None when the
    server has no such endpoint (swift deploy)."""
    try:
        r = client.get(base.rstrip("/").removesuffix("/v1") + "/metrics", timeout=10)
    except Exception:  # noqa: BLE001 — no metrics is a normal answer here
        return None
    if r.status_code != 200 or "vllm:" not in r.text:
        return None
    sums = dict.fromkeys(COUNTERS, 0.0)
    for line in r.text.splitlines():
        m = _SAMPLE.match(line.strip())
        if m and m.group(1).endswith("_sum") and m.group(1)[:-4] in sums:
            sums[m.group(1)[:-4]] += float(m.group(2))
    return sums


class EncodeTimer:
    """Times :func:`videotemp_o3.engines.openai.encode_video_url` (the request's frame encoding)
    and counts the bytes it produced; installed around the module function for the run."""

    def __init__(self):
        self.seconds = 0.0
        self.bytes = 0
        self._lock = threading.Lock()
        self._orig = openai_engine.encode_video_url

    def __enter__(self):
        def timed(*args, **kw):
            t = time.perf_counter()
            url = self._orig(*args, **kw)
            with self._lock:
                self.seconds += time.perf_counter() - t
                self.bytes += len(url)
            return url

        openai_engine.encode_video_url = timed
        return self

    def __exit__(self, *exc):
        openai_engine.encode_video_url = self._orig

    def take(self) -> tuple[float, int]:
        with self._lock:
            out = (self.seconds, self.bytes)
            self.seconds, self.bytes = 0.0, 0
        return out


class Measured(Engine):
    """Sends each turn to the server for real (``new_tokens`` decoded, no stop string) and
    returns the scripted protocol text; records the timing split of every request."""

    def __init__(self, engine: openai_engine.OpenAIEngine, replies: list[str], new_tokens: int,
                 timer: EncodeTimer, metrics_client):
        self.engine, self.replies, self.new_tokens, self.timer = engine, list(replies), new_tokens, timer
        self.metrics = metrics_client
        self.rows: list[dict] = []

    def generate(self, messages, **kw):
        before = read_counters(self.metrics, self.engine.base_url)
        self.timer.take()
        real = self.engine.generate(messages, max_new_tokens=self.new_tokens, temperature=0.0, stop=())
        encode_s, body_bytes = self.timer.take()
        after = read_counters(self.metrics, self.engine.base_url) if before is not None else None
        row = {"wall_s": real.seconds, "encode_s": encode_s, "request_mb": body_bytes / 1e6,
               "prompt_tokens": real.prompt_tokens, "visual_tokens": real.visual_tokens,
               "new_tokens": real.completion_tokens}
        if after is not None:
            d = {k: after[k] - before[k] for k in COUNTERS}
            row.update(server_s=d["vllm:e2e_request_latency_seconds"], queue_s=d["vllm:request_queue_time_seconds"],
                       prefill_s=d["vllm:request_prefill_time_seconds"], generation_s=d["vllm:request_decode_time_seconds"])
            engine_s = row["queue_s"] + row["prefill_s"] + row["generation_s"]
            row["upload_s"] = real.seconds - encode_s - engine_s
        else:
            row["upload_s"] = math.nan  # only the wall time is known (no engine counters)
        self.rows.append(row)
        return Generation(self.replies.pop(0), real.prompt_tokens, real.completion_tokens, real.visual_tokens,
                          math.nan, math.nan, real.finish_reason, real.seconds)


def questions(bench_dir: Path, limit: int | None) -> list[tuple[Path, dict]]:
    data = bench_dir / "data.jsonl"
    if not data.is_file():
        raise SystemExit(f"serve_7b: no {data} (make it with scripts/device/make_media.py; --bench-dir)")
    rows = [(bench_dir / line.value["videos"][0], line.value) for line in iter_jsonl(data)]
    missing = [str(v) for v, _ in rows if not v.is_file()]
    if missing:
        raise SystemExit(f"serve_7b: videos named in {data} are missing: {missing[:3]}")
    return rows[:limit] if limit else rows


def run_question(engine, video: Path, new_tokens: int, timer: EncodeTimer, metrics_client) -> dict:
    reader = VideoReader(video)  # fresh reader: the index and decoding are part of the measurement
    start = min(600.0, max(0.0, reader.duration_seconds / 2 - 15.0))
    replies = [protocol.render_turn("The event is about here.", segments=[(start, start + 30.0)]),
               protocol.render_turn("The clip shows it.", answer="B")]
    measured = Measured(engine, replies, new_tokens, timer, metrics_client)
    config = AgentConfig(overview_budget=FrameBudget(min_pixels=200704, max_pixels=200704, max_frames=256),
                         clip_budget=FrameBudget(fps=2.0, min_frames=4, max_frames=64, min_pixels=200704,
                                                 max_pixels=200704),
                         max_new_tokens=new_tokens)
    t = time.perf_counter()
    traj = Agent(measured, config).run(reader, Question("What colour is the square?", "mcq", ["a", "b", "c", "d"]))
    wall = time.perf_counter() - t
    if traj.error:
        raise SystemExit(f"serve_7b: the agent failed on {video.name}: {traj.error}")
    turns = []
    for t_rec, row in zip(traj.turns, measured.rows):
        decode = traj.overview["seconds"] if t_rec.index == 1 else traj.turns[t_rec.index - 2].video_seconds
        turns.append({"turn": t_rec.index, "video_decode_s": decode, **row})
    return {"video": video.name, "duration_s": reader.duration_seconds, "wall_s": wall, "turns": turns,
            "overview": traj.overview}


def fmt(x, spec=".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--bench-dir", required=True, type=Path)
    p.add_argument("--label", default="vllm", help="names the output files (vllm, swift_deploy, ...)")
    p.add_argument("--video-format", choices=["jpeg", "mkv"], default="jpeg")
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--warmup", type=int, default=1, help="questions run first and not reported")
    p.add_argument("--embedded", type=Path, help="agent_7b.json of the embedded engine, shown alongside")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "benches/out")))
    a = p.parse_args(argv)
    rows = questions(a.bench_dir, a.limit)
    a.out.mkdir(parents=True, exist_ok=True)
    import httpx

    engine = openai_engine.OpenAIEngine(a.base_url, video_format=a.video_format, timeout=900)
    metrics_client = httpx.Client()
    results = []
    with EncodeTimer() as timer:
        for k in range(a.warmup):
            print(f"[serve_7b] warm-up on {rows[k % len(rows)][0].name}", flush=True)
            run_question(engine, rows[k % len(rows)][0], a.new_tokens, timer, metrics_client)
        for video, _ in rows:
            res = run_question(engine, video, a.new_tokens, timer, metrics_client)
            results.append(res)
            t1 = res["turns"][0]
            print(f"[serve_7b] {video.name}: {res['wall_s']:.2f} s over {len(res['turns'])} turns "
                  f"(turn 1: decode {t1['video_decode_s']:.2f} s, prefill {fmt(t1.get('prefill_s'))} s)", flush=True)
    engine.close()
    metrics_client.close()

    all_turns = [t for r in results for t in r["turns"]]
    wall = sum(r["wall_s"] for r in results)
    decode = sum(t["video_decode_s"] for t in all_turns)
    summary = {"label": a.label, "base_url": a.base_url, "video_format": a.video_format, "new_tokens": a.new_tokens,
               "questions": results, "wall_s": wall, "video_decode_s": decode,
               "video_share": decode / wall if wall else None}
    lines = [f"Agent against {a.label} ({a.base_url}, frames as {a.video_format}), Qwen2.5-VL-7B architecture with "
             f"random weights; 256 x 200704-px overview, one 2-fps 30-s clip, {a.new_tokens} new tokens per turn; "
             "questions one at a time.", "",
             "| video | turn | visual tokens | video decode s | encode s | request MB | upload s | queue s | "
             "prefill s | generation s | turn wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for t in r["turns"]:
            lines.append(f"| {r['video']} ({r['duration_s']:.0f} s) | {t['turn']} | {t['visual_tokens']} | "
                         f"{t['video_decode_s']:.2f} | {t['encode_s']:.2f} | {t['request_mb']:.1f} | {fmt(t['upload_s'])} | "
                         f"{fmt(t.get('queue_s'))} | {fmt(t.get('prefill_s'))} | {fmt(t.get('generation_s'))} | "
                         f"{t['wall_s'] + t['video_decode_s']:.2f} |")
    if a.embedded and a.embedded.is_file():
        emb = json.loads(a.embedded.read_text())
        lines += ["", f"Embedded engine (benches/gpu/agent_7b.py: transformers {emb.get('transformers')}, sdpa, "
                  f"{emb.get('device')}; video {emb.get('video')}, {emb.get('video_seconds', 0):.0f} s):", "",
                  "| turn | visual tokens | video decode s | preprocess s | prefill s | generation s |",
                  "|---|---|---|---|---|---|"]
        for t in emb.get("turns", []):
            lines.append(f"| {t['turn']} | {t['visual_tokens']} | {t['video_decode_s']:.2f} | {t['preprocess_s']:.2f} | "
                         f"{t['prefill_s']:.2f} | {t['decode_s']:.2f} |")
        summary["embedded"] = emb
    lines += ["", f"{len(results)} questions, {len(all_turns)} turns: wall {wall:.2f} s; video decoding {decode:.2f} s "
              f"({100 * decode / wall:.1f} % of the wall time)." if wall else ""]
    (a.out / f"serve_7b_{a.label}.json").write_text(json.dumps(summary, indent=1, default=str))
    (a.out / f"serve_7b_{a.label}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
