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
    a = parser.parse_args(argv)
    try:
        return a.func(a)
    except (FileNotFoundError, ValueError) as e:
        print(f"videotemp: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
