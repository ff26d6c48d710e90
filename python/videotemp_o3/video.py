"""The video layer: frame-exact seek-and-decode, clip sampling under Qwen2.5-VL frame budgets,
and clip export by remuxing. Decoding runs in Rust (FFmpeg), releases the GIL and uses several
threads; frames arrive as numpy arrays that own the decoder's buffer (no copy).

Semantics
---------
* Time is in seconds from the video stream's start time.
* The frame *at* ``t`` is the frame displayed at ``t``: the last frame whose presentation time is
  ``<= t`` (the first frame for ``t`` before it).
* A clip ``[start, end]`` is sampled as qwen-vl-utils samples ``video_start``/``video_end``: first
  index ``ceil(start * fps)``, last index ``min(floor(end * fps), total - 1)``, then ``n`` frames by
  rounded ``linspace`` with ``n`` from :class:`FrameBudget`. Times are clamped to the video; a
  NaN, empty or reversed range, or one outside the video, raises ``ValueError``.
* Frames are RGB ``uint8`` ``[T, H, W, 3]``, C-contiguous, rotation metadata applied.

Example
-------
>>> from videotemp_o3.video import VideoReader, FrameBudget        # doctest: +SKIP
>>> reader = VideoReader("match.mp4")                               # doctest: +SKIP
>>> clip = reader.clip(58.0, 100.0, FrameBudget(fps=2.0, max_frames=64))  # doctest: +SKIP
>>> clip.frames.shape, clip.timestamps[:3]                          # doctest: +SKIP
((64, 336, 588, 3), array([58.  , 58.667, 59.333]))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core

FrameBudget = _core.FrameBudget
"""Frame budget (Qwen2.5-VL rules). Keyword-only fields and their qwen-vl-utils defaults:
``fps=2.0, min_frames=4, max_frames=768, min_pixels=128*28*28, max_pixels=768*28*28,
total_pixels=int(128000*28*28*0.9), nframes=None``. ``FrameBudget.from_env()`` reads FPS,
FPS_MIN_FRAMES, FPS_MAX_FRAMES, VIDEO_MIN_PIXELS, VIDEO_MAX_PIXELS and VIDEO_TOTAL_PIXELS the way
ms-swift does (VIDEO_TOTAL_PIXELS keeps its own default when only VIDEO_MAX_PIXELS is set, which
corrects qwen-vl-utils 0.0.11 reading the total budget from VIDEO_MAX_PIXELS)."""

VideoError = _core.VideoError
"""Raised when a video cannot be opened, decoded or written; the message names the file."""

smart_resize = _core.smart_resize

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class VideoMetadata:
    """What is known about a video without decoding it. Sizes are coded sizes (before rotation)."""

    path: str
    duration: float
    avg_fps: float
    container_frames: int
    width: int
    height: int
    rotation: int
    codec: str
    pixel_format: str
    time_base: Tuple[int, int]
    start_time: float

    @property
    def display_size(self) -> Tuple[int, int]:
        """(height, width) as displayed, i.e. after rotation."""
        return (self.width, self.height) if self.rotation % 180 == 90 else (self.height, self.width)


@dataclass(frozen=True)
class Frames:
    """Decoded frames and where they come from.

    ``frames`` owns the decoder's buffer; :meth:`to_torch` shares it (no copy)."""

    frames: np.ndarray
    """RGB uint8 ``[T, H, W, 3]``."""
    timestamps: np.ndarray
    """float64 ``[T]``: presentation time of each frame in seconds."""
    indices: np.ndarray
    """int64 ``[T]``: index of each frame in the whole video (presentation order)."""
    fps: float
    """Frames per second of this sequence as the model should be told (qwen-vl-utils'
    ``sample_fps`` for budget sampling)."""

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def to_torch(self):
        """The frames as a ``torch.uint8`` tensor ``[T, H, W, 3]`` sharing this memory."""
        import torch

        return torch.from_numpy(self.frames)

    @property
    def span(self) -> Tuple[float, float]:
        """Seconds of the first and last frame returned."""
        return float(self.timestamps[0]), float(self.timestamps[-1])

    @staticmethod
    def _from_core(d: dict) -> "Frames":
        return Frames(d["frames"], d["timestamps"], d["indices"], float(d["sample_fps"]))


class VideoReader:
    """One open video file.

    Open once and ask many times: the frame index (built on first use by demuxing the file, no
    decoding) and the decoder sessions are reused, so an agent's overview and later clips of the
    same video do not pay for opening or indexing again.

    Args:
        path: the video file.
        num_threads: decoding threads, ``0`` for one per core.

    Raises:
        FileNotFoundError: the file does not exist.
        VideoError: it is not a readable video.
    """

    def __init__(self, path: PathLike, *, num_threads: int = 0, _skip_nonref: bool = True, _drain: bool = True):
        # _skip_nonref / _drain switch single speed levers off for benchmarks (both are exact).
        self._path = os.fspath(path)
        self._core = _core.VideoReader(self._path, num_threads, _skip_nonref, _drain)
        self._meta: Optional[VideoMetadata] = None

    @property
    def path(self) -> str:
        return self._path

    @property
    def metadata(self) -> VideoMetadata:
        if self._meta is None:
            m = self._core.metadata()
            m["time_base"] = tuple(m["time_base"])
            self._meta = VideoMetadata(**m)
        return self._meta

    @property
    def num_frames(self) -> int:
        """Exact frame count (from the demuxed packets; the container's own count may differ)."""
        return self._core.num_frames()

    @property
    def duration(self) -> float:
        """Seconds covered by the frames: ``num_frames / avg_fps``, the duration qwen-vl-utils
        clamps clip times to."""
        return self.num_frames / self.metadata.avg_fps

    def frames_at(self, timestamps: Iterable[float], *, size: Optional[Tuple[int, int]] = None) -> Frames:
        """The frames displayed at ``timestamps`` (seconds; any order, repeats allowed), at
        ``size = (height, width)`` or the displayed size."""
        return Frames._from_core(self._core.frames_at([float(t) for t in timestamps], _size(size)))

    def frames_at_indices(self, indices: Iterable[int], *, size: Optional[Tuple[int, int]] = None) -> Frames:
        """Frames by index in presentation order (any order, repeats allowed)."""
        return Frames._from_core(self._core.frames_at_indices([int(i) for i in indices], _size(size)))

    def clip(self, start: float, end: float, budget: Optional[FrameBudget] = None) -> Frames:
        """The frames ``budget`` (default: :class:`FrameBudget` ``()``) picks from
        ``[start, end]`` seconds, resized to the budget's size."""
        return Frames._from_core(self._core.sample(budget or FrameBudget(), float(start), float(end)))

    def overview(self, budget: Optional[FrameBudget] = None, *, snap_to_keyframes: Optional[float] = None) -> Frames:
        """The frames ``budget`` picks from the whole video.

        ``snap_to_keyframes``: opt-in fast mode. Each sample moves to the nearest keyframe
        displayed within this many seconds of it (if no other sample took that keyframe), else to
        the frame within that tolerance that is cheapest to decode from its keyframe; a keyframe
        decodes on its own, so a sparse overview of a long video costs a fraction of the exact
        one. ``timestamps`` and ``indices`` are those of the frames returned."""
        return Frames._from_core(self._core.sample(budget or FrameBudget(), None, None, snap_to_keyframes))

    @property
    def keyframes(self) -> np.ndarray:
        """Indices (presentation order) of the keyframes."""
        return np.asarray(self._core.keyframe_indices(), dtype=np.int64)

    def _decode_only(self, indices: Iterable[int]) -> int:
        """Benchmark lower bound: decode what ``frames_at_indices(indices)`` decodes (same seek
        plan, same packets) without colour conversion, resizing or copying. Returns the number
        of packets decoded."""
        return self._core.decode_only([int(i) for i in indices])

    def save_clip(self, start: float, end: float, path: PathLike) -> Tuple[float, float]:
        """Writes ``[start, end]`` to ``path`` by copying packets (no re-encode). The file starts
        at the keyframe at or before ``start``; returns the (start, end) seconds it covers."""
        s, e, _ = self._core.save_clip(float(start), float(end), os.fspath(path))
        return s, e

    def __repr__(self) -> str:
        m = self.metadata
        return f"VideoReader({self._path!r}, {m.width}x{m.height}, {m.avg_fps:.3f} fps, {m.duration:.1f} s, {m.codec})"


def sample_many(
    requests: Sequence[Tuple[PathLike, Optional[float], Optional[float], FrameBudget]],
    *,
    num_threads: int = 0,
) -> list:
    """Samples many ``(path, start, end, budget)`` segments in parallel (``start``/``end`` None
    for a whole video). Returns one :class:`Frames` or one exception per request, in order —
    a broken video fails only its own entry."""
    reqs = [(os.fspath(p), s, e, b) for p, s, e, b in requests]
    out = []
    for r in _core.sample_many(reqs, num_threads):
        out.append(r if isinstance(r, BaseException) else Frames._from_core(r))
    return out


def _size(size: Optional[Tuple[int, int]]):
    if size is None:
        return None
    h, w = size
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be (height, width) with positive sides, got {size}")
    return int(h), int(w)


__all__ = [
    "FrameBudget",
    "Frames",
    "VideoError",
    "VideoMetadata",
    "VideoReader",
    "sample_many",
    "smart_resize",
]
