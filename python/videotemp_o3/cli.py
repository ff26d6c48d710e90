"""The ``videotemp`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("frame budget (defaults: qwen-vl-utils; env vars as ms-swift reads them)")
    g.add_argument("--fps", type=float)
    g.add_argument("--min-frames", type=int)
    g.add_argument("--max-frames", type=int)
    g.add_argument("--min-pixels", type=int)
    g.add_argument("--max-pixels", type=int)
    g.add_argument("--total-pixels", type=int)
    g.add_argument("--nframes", type=int)


def budget_from_args(a: argparse.Namespace):
    from .video import FrameBudget

    base = FrameBudget.from_env()
    fields = ["fps", "min_frames", "max_frames", "min_pixels", "max_pixels", "total_pixels", "nframes"]
    kw = {f: getattr(base, f) for f in fields}
    kw.update({f: getattr(a, f) for f in fields if getattr(a, f, None) is not None})
    return FrameBudget(**kw)


def cmd_contact_sheet(a: argparse.Namespace) -> int:
    from .contact_sheet import contact_sheet
    from .video import VideoReader

    reader = VideoReader(a.video)
    budget = budget_from_args(a)
    frames = reader.clip(a.start, a.end, budget) if a.start is not None else reader.overview(budget)
    m = reader.metadata
    title = (f"{Path(a.video).name}  {m.width}x{m.height} {m.codec} {reader.duration:.1f} s  ->  "
             f"{len(frames)} frames {frames.frames.shape[2]}x{frames.frames.shape[1]} at {frames.fps:.3f} fps")
    out = contact_sheet(frames, Path(a.out), title=title)
    print(title)
    print(f"wrote {out}")
    return 0


def _print_trajectory(traj) -> None:
    """The turns as a person reads them: thoughts, requested segments, observations, answer."""
    from . import protocol

    o = traj.overview or {}
    if o:
        print(f"[overview] {o['frames']} frames {o['size'][1]}x{o['size'][0]} at {o['fps']:.3f} fps "
              f"of {o['duration']:.1f} s (decoded in {o['seconds']:.2f} s)")
    for t in traj.turns:
        parsed = protocol.parse_turn(t.text)
        print(f"\n--- turn {t.index} ({t.prompt_tokens} prompt tokens, {t.visual_tokens} visual, "
              f"{t.completion_tokens} generated, {t.generate_seconds:.2f} s) ---")
        if parsed.think:
            print(f"think: {parsed.think.strip()}")
        for c in t.clips:
            print(f"clip:  [{c.segment[0]:.2f}, {c.segment[1]:.2f}] s -> {c.frames} frames "
                  f"{c.size[1]}x{c.size[0]} at {c.fps:.2f} fps ({c.reused_frames} reused)" + (f", saved {c.file}" if c.file else ""))
        if t.rejected:
            print(f"bad call ({t.rejected['problem']}): {t.observation}")
        elif t.observation and not t.clips:
            print(f"observation: {t.observation}")
        if parsed.answer is not None:
            print(f"answer: {parsed.answer.strip()}")
        if not parsed.think and parsed.answer is None and not t.clips and not t.rejected:
            print(f"text: {t.text.strip()[:500]}")
    print()
    if traj.error:
        print(f"error: {traj.error}")
    print(f"prediction: {traj.prediction!r}   ({traj.seconds:.2f} s total, {traj.video_seconds:.2f} s video, "
          f"{traj.generate_seconds:.2f} s generation)")


def cmd_ask(a: argparse.Namespace) -> int:
    from .agent import Agent, AgentConfig, Question, release_clip_budget, release_overview_budget
    from .engines.factory import make_engines
    from .video import FrameBudget

    if a.grounding and a.option:
        print("videotemp: --grounding takes no --option", file=sys.stderr)
        return 2
    options = []
    for k, opt in enumerate(a.option or []):
        letter, sep, text = opt.partition("=")
        if not sep or len(letter.strip()) != 1:
            print(f"videotemp: --option must look like A=text, got {opt!r}", file=sys.stderr)
            return 2
        if letter.strip().upper() != "ABCDEFGHIJ"[k]:
            print(f"videotemp: options must come in order A, B, C…; got {letter!r} at position {k + 1}", file=sys.stderr)
            return 2
        options.append(text.strip())
    kind = "grounding" if a.grounding else ("mcq" if options else "open")
    question = Question(a.question, kind, options)
    ov, cl = release_overview_budget(), release_clip_budget()
    config = AgentConfig(
        overview_budget=FrameBudget(min_pixels=min(a.overview_pixels, ov.min_pixels), max_pixels=a.overview_pixels, max_frames=a.overview_frames),
        clip_budget=FrameBudget(fps=a.clip_fps, min_frames=min(4, a.clip_max_frames), max_frames=a.clip_max_frames,
                                min_pixels=min(a.clip_pixels, cl.min_pixels), max_pixels=a.clip_pixels),
        max_turns=a.max_turns, max_new_tokens=a.max_new_tokens, temperature=a.temperature, system_prompt_path=a.system_prompt)
    (engine,) = make_engines(a.engine, a.model, base_urls=[a.base_url] if a.base_url else [], device=a.device,
                                 video_format=a.video_format)[:1]
    with engine:
        traj = Agent(engine, config).run(a.video, question, clip_dir=a.save_clips)
    _print_trajectory(traj)
    out = traj.save(a.out)
    print(f"trajectory: {out}")
    return 1 if traj.error else 0


def cmd_report(a: argparse.Namespace) -> int:
    from .report import ReportError, build_report

    try:
        page = build_report(a.results, out=a.out, data_dir=a.data_dir, bench=a.bench,
                            thumbnails=not a.no_thumbnails, workers=a.workers)
    except ReportError as e:
        print(f"videotemp report: {e}", file=sys.stderr)
        return 2
    print(f"report: {page}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="videotemp", description="VideoTemp-o3: agentic thinking with long videos")
    sub = parser.add_subparsers(dest="command", required=True)
    cs = sub.add_parser("contact-sheet", help="PNG grid of the frames a budget picks from a video or clip")
    cs.add_argument("video")
    cs.add_argument("--out", default="contact_sheet.png")
    cs.add_argument("--start", type=float, help="clip start in seconds (default: whole video)")
    cs.add_argument("--end", type=float)
    _budget_args(cs)
    cs.set_defaults(func=cmd_contact_sheet)
    from .engines.factory import DEFAULT_MODEL

    ask = sub.add_parser("ask", help="ask a question about a video; prints the turns and saves the trajectory")
    ask.add_argument("video")
    ask.add_argument("question")
    ask.add_argument("--option", action="append", metavar="A=TEXT", help="a multiple-choice option; repeat in order A, B, …")
    ask.add_argument("--grounding", action="store_true", help="the question names an event; the answer is [start, end] seconds")
    ask.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint directory or hub id (local), served model name (openai)")
    ask.add_argument("--engine", choices=["local", "openai"], default="local")
    ask.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    ask.add_argument("--device", help="local engine device (default cuda if available)")
    ask.add_argument("--video-format", choices=["jpeg", "mkv"], default="jpeg",
                     help="how the openai engine sends frames: jpeg for vLLM, mkv for swift deploy")
    ask.add_argument("--out", default="trajectory.json", help="where to save the trajectory JSON")
    ask.add_argument("--save-clips", metavar="DIR", help="also write each clip to DIR (remuxed, not re-encoded)")
    ask.add_argument("--overview-frames", type=int, default=256)
    ask.add_argument("--overview-pixels", type=int, default=200704)
    ask.add_argument("--clip-fps", type=float, default=2.0)
    ask.add_argument("--clip-max-frames", type=int, default=64)
    ask.add_argument("--clip-pixels", type=int, default=200704)
    ask.add_argument("--max-turns", type=int, default=3)
    ask.add_argument("--max-new-tokens", type=int, default=1024)
    ask.add_argument("--temperature", type=float, default=0.0)
    ask.add_argument("--system-prompt", help="file whose text replaces the system prompt")
    ask.set_defaults(func=cmd_ask)

    rep = sub.add_parser("report", help="write the HTML report of an evaluation run (opens offline in any browser)")
    rep.add_argument("results", help="the results JSONL that eval/run.py wrote (trajectories are read from beside it)")
    rep.add_argument("--out", help="the page to write (default <results stem>.report.html beside the results; "
                                   "thumbnails go to <page stem>_files/)")
    rep.add_argument("--data-dir", help="the benchmark's data folder (default eval/<bench>/data)")
    rep.add_argument("--bench", help="the benchmark (default: the one the results records name)")
    rep.add_argument("--no-thumbnails", action="store_true", help="do not draw thumbnails from the videos")
    rep.add_argument("--workers", type=int, default=2, help="threads drawing thumbnails")
    rep.set_defaults(func=cmd_report)
    a = parser.parse_args(argv)
    try:
        return a.func(a)
    except (FileNotFoundError, ValueError) as e:
        print(f"videotemp: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
