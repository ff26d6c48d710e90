"""``eval/run.py``: run the agent over a benchmark, resumably, and score it.

- Items come from the benchmark registry (:mod:`videotemp_o3.benchmarks`), read from the files
  exactly as published.
- Every video is checked once before the run; missing or unreadable ones are listed together,
  and the run stops unless ``--skip-missing-videos`` asks to go on with the rest.
- Each finished item is appended to the results file as one JSON line (written, flushed and
  fsynced at once), and its full trajectory is saved next to it. A rerun skips every uid that
  already has a result without error, so a killed run resumes where it stopped; items that
  ended in an error are tried again.
- Several ``--base-url`` spread the questions over several servers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Optional, Sequence

from tqdm import tqdm

from .agent import Agent, AgentConfig, Question, release_clip_budget, release_overview_budget
from .benchmarks import get_benchmark
from .benchmarks.base import BenchmarkError, Item
from .benchmarks.results import ResultRecord, append_result
from .engines.factory import DEFAULT_MODEL, make_engines
from .video import FrameBudget, VideoReader


def question_of(item: Item) -> Question:
    if item.answer_type == "mcq":
        return Question(item.question, "mcq", item.options)
    if item.answer_type == "grounding":
        return Question(item.question, "grounding")
    return Question(item.question, "open")


def finished_uids(path: Path) -> set[str]:
    """uids with a result and no error. A torn last line (a run killed mid-write) is cut off
    so that appending goes on from a clean end."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)
        data = data[:cut]
    done: set[str] = set()
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise SystemExit(f"{path}:{n}: not a JSON line; the results file is damaged — move it away or fix that line")
        if obj.get("error") is None:
            done.add(str(obj["uid"]))
        else:
            done.discard(str(obj["uid"]))
    return done


def check_videos(items: Sequence[Item], workers: int) -> dict[str, str]:
    """uid → reason for each item whose video is missing or unreadable (each file opened once)."""
    paths = sorted({str(i.video) for i in items})
    problems: dict[str, str] = {}

    def check(p: str) -> Optional[str]:
        if not os.path.exists(p):
            return "missing"
        try:
            VideoReader(p, num_threads=1).metadata
        except Exception as e:  # noqa: BLE001 — any failure to open is reported, not raised
            return f"unreadable ({e})"
        return None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for p, why in zip(paths, tqdm(pool.map(check, paths), total=len(paths), desc="checking videos", leave=False)):
            if why:
                problems[p] = why
    return {i.uid: problems[str(i.video)] for i in items if str(i.video) in problems}


def _safe_name(uid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", uid)[:150]


def trajectories_dir(results: Path) -> Path:
    """Where the trajectories of the results file ``results`` are saved: ``<stem>.trajectories/`` beside it."""
    return results.parent / (results.stem + ".trajectories")


def trajectory_path(traj_dir: Path, uid: str) -> Path:
    """The trajectory file of ``uid`` in ``traj_dir`` (the uid made safe as a file name)."""
    return traj_dir / f"{_safe_name(uid)}.json"


def run_items(bench: str, items: Sequence[Item], agents: Sequence[Agent], out: Path, *, workers: int = 1,
              traj_dir: Optional[Path] = None) -> int:
    """Runs ``items`` (questions are spread over ``agents``, e.g. one per server), appending each
    result to ``out`` and saving its trajectory; returns how many ended in an error."""
    traj_dir = traj_dir or trajectories_dir(out)
    lock = threading.Lock()
    counter = iter(range(10**12))

    def run_one(item: Item):
        with lock:
            agent = agents[next(counter) % len(agents)]
        traj = agent.run(item.video, question_of(item))
        traj.save(trajectory_path(traj_dir, item.uid))
        rec = ResultRecord(uid=item.uid, bench=bench, raw=traj.raw, prediction=traj.prediction,
                           segments=traj.segments, calls=[len(t.clips) for t in traj.turns if t.clips],
                           turns=len(traj.turns), seconds=round(traj.seconds, 3), error=traj.error)
        with lock:
            append_result(out, rec)
        return traj

    errors = 0
    with ThreadPoolExecutor(max(1, workers)) as pool:
        futures = [pool.submit(run_one, i) for i in items]
        bar = tqdm(as_completed(futures), total=len(futures), desc=bench, unit="q")
        for f in bar:
            errors += f.result().error is not None
            bar.set_postfix(errors=errors)
    if errors:
        print(f"[run] {errors} question(s) ended in an error (see 'error' in {out}); a rerun tries them again", file=sys.stderr)
    return errors


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eval/run.py", description="Run the VideoTemp-o3 agent on a benchmark (resumable), then score it.")
    p.add_argument("--bench", required=True, help="benchmark name (videotemp, videotemp-g, videomme, mlvu, videommmu, lvbench, nextgqa, charades)")
    p.add_argument("--data-dir", help="the benchmark's data folder (default eval/<bench>/data)")
    p.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint directory or hub id (local engine), or served model name")
    p.add_argument("--engine", choices=["local", "openai"], default="local")
    p.add_argument("--base-url", action="append", default=[], help="OpenAI-compatible server; repeat to spread over servers")
    p.add_argument("--device", help="local engine device (default cuda if available)")
    p.add_argument("--video-format", choices=["jpeg", "mkv"], default="jpeg",
                   help="how the openai engine sends frames: jpeg for vLLM, mkv for swift deploy")
    p.add_argument("--workers", type=int, default=1, help="questions in flight at once")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--output", help="results JSONL (default eval/<bench>/output/results.jsonl)")
    p.add_argument("--skip-missing-videos", action="store_true", help="run the items whose video is readable, skip the rest")
    p.add_argument("--no-score", action="store_true", help="do not print the score table at the end")
    g = p.add_argument_group("agent (defaults: the release's inference setting)")
    g.add_argument("--overview-frames", type=int, default=256)
    g.add_argument("--overview-pixels", type=int, default=200704, help="pixels per overview frame")
    g.add_argument("--clip-fps", type=float, default=2.0)
    g.add_argument("--clip-max-frames", type=int, default=64)
    g.add_argument("--clip-pixels", type=int, default=200704, help="pixels per clip frame")
    g.add_argument("--max-turns", type=int, default=3)
    g.add_argument("--max-new-tokens", type=int, default=1024)
    g.add_argument("--temperature", type=float, default=0.0)
    g.add_argument("--system-prompt", help="file whose text replaces the system prompt")
    return p


def agent_config(a: argparse.Namespace) -> AgentConfig:
    overview = FrameBudget(min_pixels=min(a.overview_pixels, release_overview_budget().min_pixels), max_pixels=a.overview_pixels, max_frames=a.overview_frames)
    clip = FrameBudget(fps=a.clip_fps, min_frames=min(4, a.clip_max_frames), max_frames=a.clip_max_frames,
                       min_pixels=min(a.clip_pixels, release_clip_budget().min_pixels), max_pixels=a.clip_pixels)
    return AgentConfig(overview_budget=overview, clip_budget=clip, max_turns=a.max_turns, max_new_tokens=a.max_new_tokens,
                       temperature=a.temperature, system_prompt_path=a.system_prompt)


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        bench = get_benchmark(a.bench)
        items = bench.load(a.data_dir)
    except BenchmarkError as e:
        print(f"eval/run.py: {e}", file=sys.stderr)
        return 2
    if a.limit is not None:
        items = items[: a.limit]
    out = Path(a.output) if a.output else bench.default_results()
    traj_dir = trajectories_dir(out)
    done = finished_uids(out)
    todo = [i for i in items if i.uid not in done]
    print(f"[run] {bench.name}: {len(items)} questions, {len(items) - len(todo)} already done in {out}, {len(todo)} to run")

    bad = check_videos(todo, max(2, a.workers))
    if bad:
        print(f"[run] {len(bad)} question(s) have a missing or unreadable video:", file=sys.stderr)
        shown = {}
        for uid, why in bad.items():
            shown.setdefault(why, []).append(uid)
        for why, uids in list(shown.items())[:20]:
            video = next(str(i.video) for i in todo if i.uid == uids[0])
            print(f"  {video}: {why} — {len(uids)} question(s), e.g. {uids[0]}", file=sys.stderr)
        if not a.skip_missing_videos:
            print("[run] stopping. Fix the data folder, or pass --skip-missing-videos to run the rest.", file=sys.stderr)
            return 2
        todo = [i for i in todo if i.uid not in bad]

    if todo:
        engines = make_engines(a.engine, a.model, base_urls=a.base_url, device=a.device, video_format=a.video_format)
        try:
            run_items(bench.name, todo, [Agent(e, agent_config(a)) for e in engines], out, workers=a.workers)
        finally:
            for e in engines:
                e.close()

    if a.no_score:
        return 0
    from .benchmarks.score import main as score_main

    args = [bench.name, "--input_file", str(out)]
    if a.data_dir:
        args += ["--data-dir", a.data_dir]
    rc = score_main(args)
    from .report import ReportError, build_report

    try:
        print(f"[run] report: {build_report(out, data_dir=a.data_dir)}")
    except ReportError as e:
        print(f"[run] no report: {e}", file=sys.stderr)
        return rc or 1
    return rc
