"""A synthetic long-video task family in VideoTemp-Bench's format: the overview says *when*,
only a clip says *what*.

Every video (1–30 minutes, 112×224 pixels, 2 fps, H.264) shows a dark scene under a burned-in
clock — the elapsed whole seconds as four large digits across the top half of the frame, each
digit in its own colour (:data:`DIGIT_COLOURS`). Once
in the video, for a stretch of 1–2 overview intervals, a coloured card is on screen in one of
four slots of the bottom half, printed with one of four fine patterns (:data:`PATTERNS`:
1-pixel vertical stripes, 1-pixel horizontal stripes, a 1-pixel checkerboard — each a ±50 luma
modulation of the card's colour — or the plain colour). Each video gets one record that serves two tasks, as VideoTemp-Bench's do:

* **MCQ** (``videotemp``): which pattern is printed on the card — the four patterns as options;
* **grounding** (``videotemp-g``): the span ``[start, end]`` (seconds) the card is on screen.

Why the tool is needed (measured by :func:`oracle_report`, an oracle that reads the pixels):
at the overview budget of the miniature (:func:`overview_budget`: 32 frames of 56×112) the
clock and the card are legible — so the overview shows when the card appears — but the
patterns, all of period 2 pixels and equal mean, lie above the half-size frame's Nyquist
frequency: the antialiased resize turns every one of them into the same flat colour. At the clip
budget (:func:`clip_budget`: 2 fps, at most 8 frames of 112×224, the source size) they are
intact. (A small printed digit was tried first: at half size its blur still identifies it —
the oracle read it from the overview every time; so did hard-edged ink stripes, through the
blur of their edges and the 4:2:0 chroma of ink on colour.) The card stays on screen for 1–2 intervals of
a 32-frame overview, so the overview always catches it, and the clock lets a reader (or a small
model) turn "the frame with the card" into seconds — the way this family represents time for a
model too small to learn Qwen2.5-VL's time-aligned rotary positions (nothing in the agent
protocol changes: the clock is part of the pixels).

Splits (:func:`make_split`): each video's parameters come from its own random stream, keyed by
the family seed, the split name and the index, so ``train``, ``val``, ``test`` and the bundled
``bench`` never share a video and one split does not change when another grows. Durations are
stratified over VideoTemp-Bench's bins (< 3, 3–10, 10–20, > 20 minutes). The test split is for
the final table only.

Layout written under ``out_dir`` (the release's): ``data.jsonl`` and ``videos/<uid>.mp4``.
Videos are rendered in-process (numpy frames, PyAV's libx264), so no FFmpeg command-line tool
is needed; :func:`generate` writes the bundled benchmark of ``scripts/demo.sh``.
"""

from __future__ import annotations

import json
import math
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from videotemp_o3.jsonl import iter_jsonl

# ---------------------------------------------------------------------------------------------
# The family's fixed design (changing any of these changes every video)
# ---------------------------------------------------------------------------------------------

FRAME_HEIGHT, FRAME_WIDTH = 112, 224
"""Source size = clip size (multiples of 28, so the clip budget keeps it unresized)."""
FPS = 2
"""Frames per second of every video (frame k is shown at k / FPS seconds)."""
CELL = 56
"""Clock digits and card slots are CELL×CELL squares: four clock cells on top, four slots below."""
CLOCK_SCALE = 6
"""Clock digits are the 5×7 font scaled by this (30×42 pixels)."""
CARD_INSET = 2
BACKGROUND = (32, 36, 40)
DIGIT_COLOURS = ((240, 240, 240), (230, 60, 60), (60, 200, 60), (70, 110, 250), (240, 220, 50),
                 (60, 220, 230), (230, 80, 220), (250, 150, 40), (150, 150, 150), (150, 95, 45))
"""Each clock digit is drawn in its own colour (0 white, 1 red, 2 green, 3 blue, 4 yellow,
5 cyan, 6 magenta, 7 orange, 8 grey, 9 brown): the shape is what a person reads, the colour a
cue that a small vision tower picks up from a patch's mean — the clock is what teaches the
model time, so it is made easy to read."""
COLOURS = {"red": (200, 70, 70), "green": (70, 180, 80), "blue": (80, 110, 200),
           "yellow": (200, 190, 60), "purple": (170, 90, 200), "orange": (200, 130, 55)}
PATTERN_CONTRAST = 50
"""The pattern adds ±this to all three channels: a change of luma alone (no channel leaves
0–255), so 4:2:0 chroma subsampling and colour conversion cannot turn it into a colour cue."""
PATTERNS = ("vertical stripes", "horizontal stripes", "checkerboard", "plain")
"""The card's fine print: every other column / row / pixel lighter and the rest darker, or the
flat card colour (the others' mean)."""
EVENT_OVERVIEW_FRAMES = 32
"""The card stays on screen for 1–2 intervals of an overview of this many frames."""
MIN_EVENT_SECONDS = 8.0
DURATION_BINS = ((60, 180), (180, 600), (600, 1200), (1200, 1800))
"""VideoTemp-Bench's bins (seconds), the family's range 1–30 minutes."""
SPLIT_SIZES = {"train": 512, "val": 48, "test": 96}
"""Default number of videos per split (each video is one MCQ and one grounding question)."""

# Two durations per bin: the bundled benchmark of scripts/demo.sh.
DEFAULT_DURATIONS = (75, 150, 240, 540, 660, 1140, 1290, 1500)

QUESTION = "A {colour} card appears once in this video. Which pattern is printed on the card?"
QUERY = "the {colour} card is on screen"

# 5×7 digits, one string of five bits per row.
_FONT = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
}
GLYPHS = {d: np.array([[c == "1" for c in row] for row in rows], dtype=bool) for d, rows in _FONT.items()}


@dataclass(frozen=True)
class VideoSpec:
    """Everything that defines one video and its questions. Times in seconds; the card is on
    screen for the frames shown in ``[start, end)``."""

    uid: str
    duration: float
    start: float
    end: float
    pattern: str
    colour: str
    slot: int
    options: tuple[str, ...]

    @property
    def answer(self) -> str:
        return "ABCD"[self.options.index(self.pattern)]

    @property
    def frames(self) -> int:
        return int(round(self.duration * FPS))


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------

def _clock_cells() -> np.ndarray:
    """[10, CELL, CELL, 3] uint8: each digit's clock cell."""
    cells = np.empty((10, CELL, CELL, 3), dtype=np.uint8)
    cells[:] = BACKGROUND
    gh, gw = 7 * CLOCK_SCALE, 5 * CLOCK_SCALE
    y0, x0 = (CELL - gh) // 2, (CELL - gw) // 2
    for d in range(10):
        big = np.kron(GLYPHS[str(d)], np.ones((CLOCK_SCALE, CLOCK_SCALE), dtype=bool))
        cells[d, y0:y0 + gh, x0:x0 + gw][big] = DIGIT_COLOURS[d]
    return cells


_CELLS = _clock_cells()


def _background() -> np.ndarray:
    frame = np.empty((FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)
    frame[:] = BACKGROUND
    return frame


def _card(colour: str, pattern: str) -> np.ndarray:
    """[CELL, CELL, 3]: the slot with the card and its pattern (background around the card)."""
    slot = np.empty((CELL, CELL, 3), dtype=np.uint8)
    slot[:] = BACKGROUND
    size = CELL - 2 * CARD_INSET
    y, x = np.mgrid[:size, :size]
    ink = {"vertical stripes": x % 2 == 1, "horizontal stripes": y % 2 == 1,
           "checkerboard": (x + y) % 2 == 1, "plain": None}
    if pattern not in ink:
        raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS}")
    card = np.broadcast_to(np.array(COLOURS[colour], np.float32), (size, size, 3)).copy()
    if ink[pattern] is not None:
        # Faded in over the card's outer pixels: a hard-edged pattern would leave its phase in
        # the blur of the card's border at half size.
        delta = np.where(ink[pattern], -PATTERN_CONTRAST, PATTERN_CONTRAST).astype(np.float32)
        card += (delta * _FADE[:, None] * _FADE[None, :])[..., None]
    slot[CARD_INSET:CELL - CARD_INSET, CARD_INSET:CELL - CARD_INSET] = np.rint(card).astype(np.uint8)
    return slot


def _fade(size: int, ramp: int) -> np.ndarray:
    """1 in the middle, a raised-cosine ramp to 0 over ``ramp`` pixels at both ends."""
    w = np.ones(size, np.float32)
    r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    w[:ramp], w[size - ramp:] = r, r[::-1]
    return w


_FADE = _fade(CELL - 2 * CARD_INSET, 8)


def draw_frame(spec: VideoSpec, index: int) -> np.ndarray:
    """RGB frame ``index`` (shown at ``index / FPS`` seconds) of ``spec``'s video."""
    frame = _background()
    _draw_into(frame, spec, index / FPS, _card(spec.colour, spec.pattern))
    return frame


def _draw_into(frame: np.ndarray, spec: VideoSpec, t: float, card: np.ndarray) -> None:
    seconds = min(int(t), 9999)
    for k, ch in enumerate(f"{seconds:04d}"):
        frame[:CELL, k * CELL:(k + 1) * CELL] = _CELLS[int(ch)]
    if spec.start <= t < spec.end:
        x0 = spec.slot * CELL
        frame[CELL:2 * CELL, x0:x0 + CELL] = card


def render_video(path: os.PathLike | str, spec: VideoSpec, *, size: Optional[tuple[int, int]] = None,
                 fps: int = FPS) -> None:
    """Writes ``spec``'s video as H.264 (PyAV's bundled libx264), ``fps`` frames per second
    (the family's 2 by default), keyframe every 2 s.

    ``size`` (width, height), when given, scales the picture by the largest whole factor that
    fits and centres it on a background of that size: the same content with the decoding load of
    real footage (a serving benchmark wants e.g. 1280x720 at 30 fps). The file appears only when
    complete (written under a temporary name, then renamed)."""
    import av

    path = Path(path)
    tmp = path.with_name(path.stem + f".tmp{os.getpid()}" + path.suffix)
    card = _card(spec.colour, spec.pattern)
    width, height = size or (FRAME_WIDTH, FRAME_HEIGHT)
    scale = max(1, min(width // FRAME_WIDTH, height // FRAME_HEIGHT))
    y0, x0 = (height - scale * FRAME_HEIGHT) // 2, (width - scale * FRAME_WIDTH) // 2
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    try:
        with av.open(str(tmp), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps))
            stream.height, stream.width = height, width
            stream.pix_fmt = "yuv420p"
            # Short GOPs: a sparse overview of a 30-minute video seeks cheaply (ms-swift's
            # reader decodes from a keyframe per sample). Low CRF: the 1-pixel patterns survive.
            # ultrafast: a third less CPU than veryfast for twice the (still small) size.
            stream.options = {"crf": "16", "preset": "superfast", "g": str(2 * fps), "bf": "0",
                              "x264-params": "log-level=none"}
            frame = _background()
            state, vf = None, None
            for k in range(int(round(spec.duration * fps))):
                t = k / fps
                now = (int(t), spec.start <= t < spec.end)
                if now != state:  # the picture changes at most once a second
                    frame[:] = BACKGROUND
                    _draw_into(frame, spec, t, card)
                    picture = frame
                    if (width, height) != (FRAME_WIDTH, FRAME_HEIGHT):
                        canvas[y0:y0 + scale * FRAME_HEIGHT, x0:x0 + scale * FRAME_WIDTH] = \
                            frame.repeat(scale, axis=0).repeat(scale, axis=1)
                        picture = canvas
                    # Converted once per picture, not once per encoded frame: the same picture
                    # is sent for a second of frames, and the conversion was most of the cost.
                    vf = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
                    state = now
                assert vf is not None  # the first frame always changes the picture
                vf.pts = k
                vf.time_base = Fraction(1, fps)
                for packet in stream.encode(vf):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Specs, records, splits
# ---------------------------------------------------------------------------------------------

def _stream(seed: int, split: str, index: int) -> random.Random:
    return random.Random(f"videotemp-synthetic:{seed}:{split}:{index}")


def draw_spec(rng: random.Random, uid: str, duration: float,
              event_seconds: Optional[tuple[float, float]] = None) -> VideoSpec:
    """A random video of ``duration`` seconds (rounded to whole frames).

    The card's stay is ``event_seconds`` (uniform) when given, else 1–2 intervals of a
    :data:`EVENT_OVERVIEW_FRAMES`-frame overview (at least :data:`MIN_EVENT_SECONDS`); it starts
    between 5 % and 95 % of the video. Times are multiples of a frame interval."""
    duration = round(float(duration) * FPS) / FPS
    if event_seconds is not None:
        length = rng.uniform(*event_seconds)
    else:
        interval = duration / (EVENT_OVERVIEW_FRAMES - 1)
        length = max(MIN_EVENT_SECONDS, interval * rng.uniform(1.0, 2.0))
    length = max(1.0 / FPS, min(length, 0.9 * duration))
    lo, hi = 0.05 * duration, max(0.05 * duration, 0.95 * duration - length)
    start = math.floor(rng.uniform(lo, hi) * FPS) / FPS
    end = min(duration, math.ceil((start + length) * FPS) / FPS)
    options = list(PATTERNS)
    rng.shuffle(options)
    return VideoSpec(uid=uid, duration=duration, start=start, end=end,
                     pattern=rng.choice(PATTERNS), colour=rng.choice(sorted(COLOURS)),
                     slot=rng.randrange(4), options=tuple(options))


def record(spec: VideoSpec, split: str | None = None) -> dict:
    """The VideoTemp-Bench record of ``spec`` (``videos``, inline-option ``question``,
    ``answer`` letter, ``duration``, ``timestamp``) plus ``uid``, the grounding ``query`` and
    the parameters a reader (or the oracle) may want."""
    options = "\n".join(f"{letter}. {d}" for letter, d in zip("ABCD", spec.options))
    rec = {
        "uid": spec.uid,
        "videos": [f"videos/{spec.uid}.mp4"],
        "question": QUESTION.format(colour=spec.colour) + "\n" + options,
        "answer": spec.answer,
        "duration": spec.duration,
        "timestamp": [spec.start, spec.end],
        "query": QUERY.format(colour=spec.colour),
        "pattern": spec.pattern,
        "colour": spec.colour,
        "slot": spec.slot,
    }
    if split is not None:
        rec["split"] = split
    return rec


def spec_of(rec: dict) -> VideoSpec:
    """The spec back from a record written by :func:`record`."""
    options = tuple(line.split(". ", 1)[1] for line in rec["question"].splitlines()[1:])
    return VideoSpec(uid=rec["uid"], duration=float(rec["duration"]), start=float(rec["timestamp"][0]),
                     end=float(rec["timestamp"][1]), pattern=rec["pattern"], colour=rec["colour"],
                     slot=int(rec["slot"]), options=options)


def split_specs(split: str, count: int, seed: int = 0) -> list[VideoSpec]:
    """The first ``count`` videos of ``split``: durations stratified over
    :data:`DURATION_BINS` (video k falls in bin k mod 4, uniform inside it, whole seconds)."""
    specs = []
    for k in range(count):
        rng = _stream(seed, split, k)
        lo, hi = DURATION_BINS[k % len(DURATION_BINS)]
        duration = float(rng.randrange(lo, hi))
        specs.append(draw_spec(rng, f"{split}_{k:04d}_{int(duration)}s", duration))
    return specs


def _render_one(args: tuple[str, VideoSpec, Optional[tuple[int, int]], int]) -> str:
    path, spec, size, fps = args
    if not _video_is_complete(Path(path), spec, fps):
        render_video(path, spec, size=size, fps=fps)
    return path


def _video_is_complete(path: Path, spec: VideoSpec, fps: int = FPS) -> bool:
    if not path.is_file():
        return False
    try:
        from videotemp_o3.video import VideoReader

        return VideoReader(path, num_threads=1).num_frames == int(round(spec.duration * fps))
    except Exception:  # noqa: BLE001 — unreadable: render it again
        return False


def write_specs(out_dir: os.PathLike | str, specs: Sequence[VideoSpec], *, split: str | None = None,
                workers: int = 1, progress: bool = True, size: Optional[tuple[int, int]] = None,
                fps: int = FPS) -> Path:
    """Renders the videos (those already complete are kept) and writes ``data.jsonl``.

    ``workers`` > 1 renders in that many processes; ``size`` and ``fps`` as in
    :func:`render_video`. Returns the path of ``data.jsonl``."""
    from tqdm import tqdm

    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    jobs = [(str(out / "videos" / f"{s.uid}.mp4"), s, size, fps) for s in specs]
    desc = f"synthetic videos{f' ({split})' if split else ''}"
    if workers > 1 and len(jobs) > 1:
        # Longest first, so that no worker is left with a 30-minute video at the end.
        jobs.sort(key=lambda j: -j[1].duration)
        with ProcessPoolExecutor(workers) as pool:
            for _ in tqdm(pool.map(_render_one, jobs, chunksize=1), total=len(jobs), desc=desc,
                          disable=not progress):
                pass
    else:
        for job in tqdm(jobs, desc=desc, disable=not progress):
            _render_one(job)
    data = out / "data.jsonl"
    tmp = data.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(record(s, split)) + "\n" for s in specs))
    tmp.replace(data)
    return data


def make_split(out_dir: os.PathLike | str, split: str, count: Optional[int] = None, *, seed: int = 0,
               workers: int = 1, progress: bool = True) -> Path:
    """Writes split ``split`` (default size :data:`SPLIT_SIZES`) under ``out_dir``."""
    if count is None:
        if split not in SPLIT_SIZES:
            raise ValueError(f"split {split!r} has no default size; give count "
                             f"(defaults exist for {', '.join(SPLIT_SIZES)})")
        count = SPLIT_SIZES[split]
    return write_specs(out_dir, split_specs(split, count, seed), split=split, workers=workers,
                       progress=progress)


def generate(out_dir: os.PathLike | str, *, durations: Sequence[float] = DEFAULT_DURATIONS, seed: int = 0,
             event_seconds: Optional[tuple[float, float]] = None, progress: bool = True,
             workers: int = 1, size: Optional[tuple[int, int]] = None, fps: int = FPS) -> Path:
    """The bundled benchmark (split ``bench``): one video per entry of ``durations``.

    Deterministic for a given seed; videos already present and complete are kept. ``size`` and
    ``fps`` as in :func:`render_video`. Returns the path of ``data.jsonl``."""
    specs = []
    for k, duration in enumerate(durations):
        specs.append(draw_spec(_stream(seed, "bench", k), f"synth_{k:02d}_{int(duration)}s",
                               duration, event_seconds))
    return write_specs(out_dir, specs, split="bench", workers=workers, progress=progress, size=size, fps=fps)


# ---------------------------------------------------------------------------------------------
# The oracle: reads clock, card and number from the pixels the model is given
# ---------------------------------------------------------------------------------------------

def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic, antialiased (what qwen-vl-utils applies to frames), float32 result."""
    if image.shape[:2] == (height, width):
        return image.astype(np.float32)
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(image)).float()
    t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    r = F.interpolate(t, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    r = r[0].permute(1, 2, 0) if image.ndim == 3 else r[0, 0]
    return r.numpy()


class Oracle:
    """Reads a frame of this family at any uniform scale of the 112×224 layout, by nearest
    template: each template is the full-resolution drawing resized to the frame's size the way
    the model's frames are resized, and compared on the same crop — the best a reader of these
    pixels can do without knowing the answer."""

    def __init__(self):
        self._cache: dict = {}

    def _scale(self, frame: np.ndarray) -> float:
        h, w = frame.shape[:2]
        return w / FRAME_WIDTH

    def clock(self, frame: np.ndarray) -> int:
        """The seconds the clock shows."""
        h, w = frame.shape[:2]
        pixels = frame.astype(np.float32)
        templates = self._clock_templates(h, w)
        digits = []
        for k in range(4):
            x0, x1 = round(k * w / 4), round((k + 1) * w / 4)
            crop = pixels[:h // 2, x0:x1]
            dist = ((templates[:, :h // 2, x0:x1] - crop) ** 2).sum(axis=(1, 2, 3))
            digits.append(int(np.argmin(dist)))
        return int("".join(map(str, digits)))

    def _clock_templates(self, h: int, w: int) -> np.ndarray:
        key = ("clock", h, w)
        if key not in self._cache:
            out = []
            for d in range(10):
                full = _background()
                for k in range(4):
                    full[:CELL, k * CELL:(k + 1) * CELL] = _CELLS[d]
                out.append(_resize(full, h, w))
            self._cache[key] = np.stack(out)
        return self._cache[key]

    def card_slot(self, frame: np.ndarray) -> Optional[int]:
        """The slot holding a card, or None (by colour saturation of the bottom half)."""
        h, w = frame.shape[:2]
        bottom = frame[h // 2:].astype(np.int16)
        saturation = bottom.max(axis=2) - bottom.min(axis=2)
        per_slot = [saturation[:, round(k * w / 4):round((k + 1) * w / 4)].mean() for k in range(4)]
        best = int(np.argmax(per_slot))
        return best if per_slot[best] > 40 else None

    def pattern(self, frame: np.ndarray, slot: int, candidates: Sequence[str]) -> str:
        """Which of ``candidates`` is printed on the card in ``slot`` (nearest template)."""
        h, w = frame.shape[:2]
        x0, x1 = round(slot * w / 4), round((slot + 1) * w / 4)
        crop = frame[h // 2:, x0:x1].astype(np.float32)
        # Colour and pattern matched together: the colour is not known to the reader either.
        best = min((float(((self._card_template(c, p, h, w) - crop) ** 2).sum()), k)
                   for k, p in enumerate(candidates) for c in COLOURS)
        return candidates[best[1]]

    def _card_template(self, colour: str, pattern: str, h: int, w: int) -> np.ndarray:
        key = ("card", colour, pattern, h, w)
        if key not in self._cache:
            full = _background()
            full[CELL:, :CELL] = _card(colour, pattern)
            small = _resize(full, h, w)
            self._cache[key] = small[h // 2:, :round(w / 4)]
        return self._cache[key]


def _spacing(timestamps: np.ndarray, duration: float) -> float:
    return float(np.diff(timestamps).mean()) if len(timestamps) > 1 else duration


def oracle_read(frames: np.ndarray, timestamps: np.ndarray, spec: VideoSpec, oracle: Oracle,
                duration: float) -> dict:
    """What the oracle reads from one sequence of frames: the MCQ answer (letter, or None when
    no frame shows the card), the grounding span it infers, and how many clock readings were
    right."""
    event_times, votes = [], {d: 0.0 for d in spec.options}
    clock_ok = 0
    for frame, t in zip(frames, timestamps):
        shown = oracle.clock(frame)
        clock_ok += shown == int(t)
        slot = oracle.card_slot(frame)
        if slot is not None:
            event_times.append(float(shown))
            votes[oracle.pattern(frame, slot, spec.options)] += 1
    step = _spacing(np.asarray(timestamps), duration)
    if not event_times:
        return {"letter": None, "span": None, "clock_ok": clock_ok}
    best = max(votes.values())
    seen = next(d for d in spec.options if votes[d] == best)
    # The card was first seen at the first event frame and gone by the next frame after the
    # last: the midpoints to the neighbouring frames are the least-error guess of its span.
    span = (max(0.0, min(event_times) - step / 2), min(duration, max(event_times) + step / 2))
    return {"letter": "ABCD"[spec.options.index(seen)], "span": span, "clock_ok": clock_ok}


def oracle_report(data_dir: os.PathLike | str, overview=None, clip=None, *,
                  limit: Optional[int] = None, margin: float = 0.25) -> dict:
    """Answer accuracy and grounding mIoU of the oracle on ``data_dir``'s records, from the
    overview alone and from the right clip (the evidence span widened by ``margin`` of its
    length on each side, so that both of its ends are in view), under the given budgets
    (default: :func:`overview_budget` and :func:`clip_budget`). Also reports how often the clock
    was read right on each kind of frame."""
    from videotemp_o3.segments import iou
    from videotemp_o3.video import VideoReader

    overview = overview or overview_budget()
    clip = clip or clip_budget()
    root = Path(data_dir)
    records = [line.value for line in iter_jsonl(root / "data.jsonl")][:limit]
    oracle = Oracle()
    rows: dict[str, list[tuple[bool, float, bool]]] = {"overview": [], "clip": []}
    clock = {"overview": [0, 0], "clip": [0, 0]}
    sizes = {}
    for rec in records:
        spec = spec_of(rec)
        reader = VideoReader(root / rec["videos"][0], num_threads=1)
        duration = reader.duration_seconds
        ov = reader.overview(overview)
        pad = margin * (spec.end - spec.start)
        cl = reader.clip(max(0.0, spec.start - pad), min(duration, spec.end + pad), clip)
        for name, fr in (("overview", ov), ("clip", cl)):
            got = oracle_read(fr.frames, fr.timestamps, spec, oracle, duration)
            rows[name].append((got["letter"] == spec.answer,
                               iou(got["span"], (spec.start, spec.end)) if got["span"] else 0.0,
                               got["letter"] is not None))
            clock[name][0] += got["clock_ok"]
            clock[name][1] += len(fr)
            sizes[name] = list(fr.frames.shape[1:3])
    out: dict[str, Any] = {"questions": len(records), "chance": 0.25}
    for name, r in rows.items():
        out[name] = {"mcq_accuracy": float(np.mean([x[0] for x in r])),
                     "grounding_miou": float(np.mean([x[1] for x in r])),
                     "card_seen": float(np.mean([x[2] for x in r])),
                     "clock_read_right": clock[name][0] / max(1, clock[name][1]),
                     "frame_size": sizes.get(name)}
    return out


# ---------------------------------------------------------------------------------------------
# The miniature's budgets (the frames the small model sees; ms-swift's environment in step)
# ---------------------------------------------------------------------------------------------

OVERVIEW_FRAMES = 32
CLIP_MAX_FRAMES = 8
CLIP_PIXELS = FRAME_HEIGHT * FRAME_WIDTH            # 25088: clips at the source size
OVERVIEW_PIXELS = CLIP_PIXELS * CLIP_MAX_FRAMES // OVERVIEW_FRAMES   # 6272: 56×112
TOTAL_PIXELS = CLIP_PIXELS * CLIP_MAX_FRAMES // 2    # 100352
MIN_PIXELS = 3136

SWIFT_ENV = {
    "FPS": "2.0", "FPS_MIN_FRAMES": "4", "FPS_MAX_FRAMES": str(OVERVIEW_FRAMES),
    "VIDEO_MIN_PIXELS": str(MIN_PIXELS), "VIDEO_MAX_PIXELS": str(CLIP_PIXELS),
    "VIDEO_TOTAL_PIXELS": str(TOTAL_PIXELS),
}
"""ms-swift's video environment for the miniature. qwen-vl-utils gives a frame
``max(min(VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS / n · 2), VIDEO_MIN_PIXELS · 1.05)`` pixels, so
the 32-frame overview gets 6272 (56×112) and a clip of at most 8 frames 25088 (112×224): the
same frames the agent samples with :func:`overview_budget` and :func:`clip_budget`."""


def overview_budget():
    """The miniature's overview: 32 frames of 56×112 (6272 pixels)."""
    from videotemp_o3.video import FrameBudget

    return FrameBudget(max_frames=OVERVIEW_FRAMES, min_pixels=MIN_PIXELS, max_pixels=CLIP_PIXELS,
                       total_pixels=TOTAL_PIXELS)


def clip_budget():
    """The miniature's clips: 2 fps, 4–8 frames of 112×224 (25088 pixels, the source size)."""
    from videotemp_o3.video import FrameBudget

    return FrameBudget(fps=2.0, min_frames=4, max_frames=CLIP_MAX_FRAMES, min_pixels=MIN_PIXELS,
                       max_pixels=CLIP_PIXELS, total_pixels=TOTAL_PIXELS)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m videotemp_o3.synthetic",
        description="Generate the synthetic VideoTemp-Bench-format benchmark (default), a split "
                    "of the task family (--split), or measure the oracle on one (--oracle).")
    p.add_argument("out_dir", nargs="?", default="eval/videotemp/data")
    p.add_argument("--durations", type=float, nargs="+", default=list(DEFAULT_DURATIONS),
                   help="the bundled benchmark's video lengths in seconds")
    p.add_argument("--split", help="write this split of the family instead (train, val, test, …)")
    p.add_argument("--count", type=int, help="videos in the split (default: SPLIT_SIZES)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="rendering processes")
    p.add_argument("--oracle", action="store_true",
                   help="measure the oracle on OUT_DIR's data (overview alone vs the right clip)")
    p.add_argument("--limit", type=int, help="--oracle: only the first N records")
    p.add_argument("--output", help="--oracle: also write the report (JSON) to this file")
    a = p.parse_args(argv)
    if a.oracle:
        if not (Path(a.out_dir) / "data.jsonl").is_file():
            p.error(f"--oracle: no data.jsonl in {a.out_dir}; generate the split first")
        text = json.dumps(oracle_report(a.out_dir, limit=a.limit), indent=1)
        print(text)
        if a.output:
            Path(a.output).write_text(text + "\n")
        return 0
    if a.split:
        print(f"wrote {make_split(a.out_dir, a.split, a.count, seed=a.seed, workers=a.workers)}")
    else:
        print(f"wrote {generate(a.out_dir, durations=a.durations, seed=a.seed, workers=a.workers)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
