"""The ``videotemp`` command line."""

from __future__ import annotations

import argparse
import os
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
    """Exit status: 0 written; 2 a bad flag or a missing file; 1 a video that cannot be read.
    Every failure is one line on stderr naming the file and what was wrong."""
    from .contact_sheet import contact_sheet
    from .video import VideoError, VideoReader

    try:
        reader = VideoReader(a.video)
        budget = budget_from_args(a)
        if a.start is None and a.end is None:
            frames = reader.overview(budget)
        else:
            # One bound alone: the clip runs from the start or to the end of the video.
            start = 0.0 if a.start is None else a.start
            end = reader.duration_seconds if a.end is None else a.end
            frames = reader.clip(start, end, budget)
        m = reader.metadata
        title = (f"{Path(a.video).name}  {m.width}x{m.height} {m.codec} {reader.duration_seconds:.1f} s  ->  "
                 f"{len(frames)} frames {frames.frames.shape[2]}x{frames.frames.shape[1]} at {frames.sample_fps:.3f} fps")
        out = contact_sheet(frames, Path(a.out), title=title)
    except (FileNotFoundError, ValueError) as e:  # also VideoNotFoundError, InvalidArgumentError
        print(f"videotemp contact-sheet: {e}", file=sys.stderr)
        return 2
    except (VideoError, OSError) as e:
        print(f"videotemp contact-sheet: {e}", file=sys.stderr)
        return 1
    print(title)
    print(f"wrote {out}")
    return 0


def print_overview(traj) -> None:
    o = traj.overview or {}
    if o:
        print(f"[overview] {o['frames']} frames {o['size'][1]}x{o['size'][0]} at {o['fps']:.3f} fps "
              f"of {o['duration']:.1f} s (decoded in {o['seconds']:.2f} s)", flush=True)


def print_turn(t) -> None:
    """One turn as a person reads it: thoughts, requested segments, observation, answer."""
    from . import protocol

    parsed = protocol.parse_turn(t.text)
    print(f"\n--- turn {t.index} ({t.prompt_tokens} prompt tokens, {t.visual_tokens} visual, "
          f"{t.completion_tokens} generated, {t.generate_seconds:.2f} s) ---")
    if parsed.think:
        print(f"think: {parsed.think.strip()}")
    for c in t.clips:
        print(f"clip:  [{c.segment[0]:.2f}, {c.segment[1]:.2f}] s -> {c.frames} frames "
              f"{c.size[1]}x{c.size[0]} at {c.fps:.2f} fps ({c.reused_frames} reused)" + (f", saved {c.file}" if c.file else ""))
    if t.rejected:
        print(f"bad call ({t.rejected['problem']}): {t.observation or t.rejected.get('detail', '')}")
    elif t.observation and not t.clips:
        print(f"observation: {t.observation}")
    if parsed.answer is not None:
        print(f"answer: {parsed.answer.strip()}")
    if not parsed.think and parsed.answer is None and not t.clips and not t.rejected:
        print(f"text: {t.text.strip()[:500]}")
    sys.stdout.flush()


def print_summary(traj) -> None:
    print()
    if traj.error:
        print(f"error: {traj.error}")
    print(f"prediction: {traj.prediction!r}   ({traj.seconds:.2f} s total, {traj.video_seconds:.2f} s video, "
          f"{traj.generate_seconds:.2f} s generation)")


def _live(traj, turn) -> None:
    if turn is None:
        print_overview(traj)
    else:
        print_turn(turn)


def trajectory_path(out: str, video: str) -> Path:
    """Where ``--out`` puts the trajectory: the file named, or ``<video stem>.trajectory.json``
    inside it when it names a directory (an existing one, or a path ending in ``/``)."""
    path = Path(out)
    if path.is_dir() or out.endswith(("/", os.sep)):
        return path / f"{Path(video).stem}.trajectory.json"
    return path


def parse_options(given: "list[str] | None") -> list[str]:
    """``--option A=text`` values in order A, B, …: the option texts. ``ValueError`` (one line)
    for a malformed, out-of-order or eleventh option."""
    from . import protocol

    letters = protocol.OPTION_LETTERS
    given = given or []
    if len(given) > len(letters):
        raise ValueError(f"--option: at most {len(letters)} options ({letters[0]}–{letters[-1]}), got {len(given)}")
    options = []
    for k, opt in enumerate(given):
        letter, sep, text = opt.partition("=")
        if not sep or len(letter.strip()) != 1:
            raise ValueError(f"--option must look like A=text, got {opt!r}")
        if letter.strip().upper() != letters[k]:
            raise ValueError(f"options must come in order A, B, C…; got {letter!r} at position {k + 1}")
        if not text.strip():
            raise ValueError(f"--option {opt!r}: the option text is empty")
        options.append(text.strip())
    if len(options) == 1:
        raise ValueError("--option: a multiple-choice question needs at least two options")
    return options


def cmd_ask(a: argparse.Namespace) -> int:
    from .flags import agent_config, check_agent_args, make_engines_from_args

    if a.grounding and a.option:
        return _fail("--grounding takes no --option")
    try:
        options = parse_options(a.option)
        config = agent_config(a)
    except ValueError as e:
        return _fail(str(e))
    problem = check_agent_args(a)
    if problem:
        return _fail(problem)
    # Everything the model is not needed for is checked before it is loaded (minutes for a 7B).
    if not os.path.isfile(a.video):
        return _fail(f"{a.video}: no such video file")
    out = trajectory_path(a.out, a.video)
    if out.exists() and not out.is_file():
        return _fail(f"--out {out}: exists and is not a file")
    from .agent import Agent, Question
    from .engines.base import EngineError
    from .protocol import Task
    from .engines.factory import check_engines

    task: Task = "grounding" if a.grounding else ("mcq" if options else "open")
    question = Question(a.question, task, options)
    try:
        (engine,) = make_engines_from_args(a)[:1]
        for line in check_engines([engine]):
            print(line, file=sys.stderr)
    except EngineError as e:
        return _fail(str(e))
    with engine:
        traj = Agent(engine, config).run(a.video, question, clip_dir=a.save_clips, on_turn=_live)
    print_summary(traj)
    saved = traj.save(out)
    print(f"trajectory: {saved}")
    return 1 if traj.error else 0


def cmd_report(a: argparse.Namespace) -> int:
    from .report import ReportError, build_report

    if a.registry_error:
        return _fail(f"report: {a.registry_error}")
    from .benchmarks.score import benchmark_settings

    settings = {s.dest: getattr(a, s.dest) for s in benchmark_settings()
                if s.scope == "data" and getattr(a, s.dest, None) not in (None, False)}
    try:
        page = build_report(a.results, out=a.out, data_dir=a.data_dir, bench=a.bench, settings=settings,
                            thumbnails=not a.no_thumbnails, workers=a.workers)
    except ReportError as e:
        return _fail(f"report: {e}")
    print(f"report: {page}")
    return 0


def _fail(message: str) -> int:
    print(f"videotemp: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    from .benchmarks.base import BenchmarkError
    from .benchmarks.score import add_setting_args
    from .flags import OneLineParser, add_agent_args, add_engine_args, integer

    parser = OneLineParser(prog="videotemp", description="VideoTemp-o3: agentic thinking with long videos")
    sub = parser.add_subparsers(dest="command", required=True)
    cs = sub.add_parser("contact-sheet", help="PNG grid of the frames a budget picks from a video or clip")
    cs.add_argument("video")
    cs.add_argument("--out", default="contact_sheet.png")
    cs.add_argument("--start", type=float, help="clip start in seconds (default: whole video)")
    cs.add_argument("--end", type=float)
    _budget_args(cs)
    cs.set_defaults(func=cmd_contact_sheet)
    ask = sub.add_parser("ask", help="ask a question about a video; prints each turn as it happens and saves the trajectory")
    ask.add_argument("video")
    ask.add_argument("question")
    ask.add_argument("--option", action="append", metavar="A=TEXT",
                     help="a multiple-choice option; repeat in order A, B, … (2 to 10)")
    ask.add_argument("--grounding", action="store_true", help="the question names an event; the answer is [start, end] seconds")
    ask.add_argument("--out", default="trajectory.json",
                     help="where to save the trajectory JSON (a directory: <video>.trajectory.json in it)")
    ask.add_argument("--save-clips", metavar="DIR", help="also write each clip to DIR (remuxed, not re-encoded)")
    add_engine_args(ask, several_servers=False)
    add_agent_args(ask)
    ask.set_defaults(func=cmd_ask)

    rep = sub.add_parser("report", help="write the HTML report of an evaluation run (opens offline in any browser)")
    rep.add_argument("results", help="the results JSONL that eval/run.py wrote (trajectories are read from beside it)")
    rep.add_argument("--out", help="the page to write (default <results stem>.report.html beside the results; "
                                   "thumbnails go to <page stem>_files/)")
    rep.add_argument("--data-dir", help="the benchmark's data folder (default eval/<bench>/data)")
    rep.add_argument("--bench", help="the benchmark (default: the one the results records name)")
    rep.add_argument("--no-thumbnails", action="store_true", help="do not draw thumbnails from the videos")
    rep.add_argument("--workers", type=integer(1), default=2, help="threads drawing thumbnails")
    rep.set_defaults(func=cmd_report, registry_error=None)
    try:  # the data switches the run used (eval/run.py's), so the report reads the same questions
        add_setting_args(rep, scopes=("data",))
    except BenchmarkError as e:  # a benchmark module that cannot be registered: said by `report` only
        rep.set_defaults(registry_error=str(e))
    return parser


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return a.func(a)
    except (FileNotFoundError, ValueError) as e:
        print(f"videotemp: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nvideotemp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
