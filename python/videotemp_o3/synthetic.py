"""A bundled synthetic long-video benchmark in VideoTemp-Bench's format.

Each video is mostly uneventful (a dark background and a running clock) except for one short
interval in which a coloured square with a caption is on screen. Each video gets one record:
a multiple-choice question about the square's colour (answerable only from that interval) and
its span as the grounding target, so the same file serves ``videotemp`` (MCQ) and
``videotemp-g`` (grounding). Durations cover the benchmark's four bins (< 3, 3–10, 10–20,
> 20 minutes).

Layout written under ``out_dir`` (the release's): ``data.jsonl`` and ``videos/<name>.mp4``.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

COLOURS = {"red": "0xE03030", "green": "0x30C040", "blue": "0x3050E0", "yellow": "0xE0D030", "white": "0xF0F0F0", "purple": "0xA040C0"}
CAPTIONS = ["ALPHA", "BRAVO", "DELTA", "ECHO", "KILO", "LIMA", "OSCAR", "TANGO"]
# Two durations per bin (seconds): < 3 min, 3–10, 10–20, > 20.
DEFAULT_DURATIONS = (75, 150, 240, 540, 660, 1140, 1290, 1500)
FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclass(frozen=True)
class Event:
    colour: str
    caption: str
    start: float
    end: float


def _font() -> str | None:
    return next((f for f in FONT_CANDIDATES if os.path.exists(f)), None)


def render_video(path: Path, duration: float, event: Event, *, size=(320, 180), fps: int = 5) -> None:
    """Writes the video with the FFmpeg CLI (through ffmpeg-python)."""
    import ffmpeg

    w, h = size
    v = ffmpeg.input(f"color=c=0x202428:s={w}x{h}:r={fps}:d={duration}", f="lavfi")
    font = _font()
    text_opts = {"fontfile": font} if font else {}
    # A running clock: gives every frame some content and lets a viewer read the time.
    # The generic filter call: ffmpeg-python's drawtext() escapes "%" and would disable the expansion.
    v = v.filter("drawtext", text="%{pts:hms}", x=6, y=h - 20, fontsize=12, fontcolor="0xB0B0B0", **text_opts)
    enable = f"between(t,{event.start:.3f},{event.end:.3f})"
    side = h // 3
    v = v.drawbox(x=w // 2 - side // 2, y=h // 2 - side // 2 - 10, width=side, height=side,
                  color=COLOURS[event.colour], thickness="fill", enable=enable)
    v = v.drawtext(text=event.caption, x="(w-text_w)/2", y=h // 2 + side // 2, fontsize=16,
                   fontcolor="white", enable=enable, **text_opts)
    (
        ffmpeg.output(v, str(path), vcodec="libx264", preset="veryfast", g=fps * 10, pix_fmt="yuv420p", crf=28)
        .global_args("-hide_banner", "-loglevel", "error")
        .overwrite_output()
        .run()
    )


def generate(out_dir: os.PathLike | str, *, durations: Sequence[float] = DEFAULT_DURATIONS, seed: int = 0,
             event_seconds: tuple[float, float] = (6.0, 14.0), progress: bool = True,
             size: tuple[int, int] = (320, 180), fps: int = 5) -> Path:
    """Generates the benchmark under ``out_dir``; returns the path of ``data.jsonl``.

    ``size`` (width, height) and ``fps`` are the videos' (default: small and light; a serving
    benchmark wants e.g. 1280x720 at 30 fps, the decoding load of real footage's frame count).
    Deterministic for a given seed. Videos already present are kept."""
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    records = []
    for k, duration in enumerate(tqdm(durations, desc="synthetic videos", disable=not progress)):
        length = rng.uniform(*event_seconds)
        start = round(rng.uniform(0.1 * duration, 0.9 * duration - length), 1)
        end = round(start + length, 1)
        colours = rng.sample(sorted(COLOURS), 4)
        event = Event(colour=colours[0], caption=rng.choice(CAPTIONS), start=start, end=end)
        rng.shuffle(colours)
        letter = "ABCD"[colours.index(event.colour)]
        name = f"synth_{k:02d}_{int(duration)}s"
        video = out / "videos" / f"{name}.mp4"
        if not video.exists():
            tmp = video.with_suffix(".tmp.mp4")
            render_video(tmp, duration, event, size=size, fps=fps)
            tmp.replace(video)  # a half-written file never looks finished
        options = "\n".join(f"{l}. {c}" for l, c in zip("ABCD", colours))
        records.append({
            "uid": name,
            "videos": [f"videos/{name}.mp4"],
            "question": f"A coloured square with a caption appears briefly in this video. What colour is the square?\n{options}",
            "answer": letter,
            "duration": float(duration),
            "timestamp": [start, end],
            "query": f"the {event.colour} square with the caption {event.caption} is on screen",
        })
    data = out / "data.jsonl"
    tmp = data.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    tmp.replace(data)
    return data


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Generate the synthetic VideoTemp-Bench-format benchmark")
    p.add_argument("out_dir", nargs="?", default="eval/videotemp/data")
    p.add_argument("--durations", type=float, nargs="+", default=list(DEFAULT_DURATIONS))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    print(f"wrote {generate(a.out_dir, durations=a.durations, seed=a.seed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
