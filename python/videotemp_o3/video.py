"""The video layer: frame-exact seek-and-decode, clip sampling under Qwen2.5-VL frame budgets,
and clip export by remuxing. Decoding runs in Rust (FFmpeg), releases the GIL and uses several
threads; frames arrive as numpy arrays that own the decoder's buffer (no copy).

Semantics
---------
* Time is in seconds from the video stream's start time (``metadata.begin_stream_seconds_from_header``).
* The frame *at* ``t`` is the frame displayed at ``t``: the last frame whose presentation time is
  ``<= t``. :meth:`VideoReader.frames_at` takes times in the half-open interval
  ``[0, duration_seconds_from_content)``; any other time raises :class:`FrameIndexError` (an
  ``IndexError``), like torchcodec's ``get_frames_played_at``. A time between 0 and the first
  frame's presentation time gives the first frame.
* Frame indices count frames in presentation order, ``0 <= i < num_frames``; any other index
  raises :class:`FrameIndexError`.
* A clip ``[start, end]`` (closed: both ends may be sampled) is sampled as qwen-vl-utils samples
  ``video_start``/``video_end``: first index ``ceil(start * fps)``, last index
  ``min(floor(end * fps), total - 1)``, then ``n`` frames by rounded ``linspace`` with ``n`` from
  :class:`FrameBudget`. Times are clamped to ``[0, duration_seconds]`` first (a clip may run past
  the end); a NaN, infinite, empty or reversed range, one that starts at or after the end or ends
  at or before 0, or one holding fewer than two frames raises :class:`InvalidRangeError`.
* Frames are RGB ``uint8`` ``[T, H, W, 3]``, C-contiguous, rotation metadata applied.
* Durations are named after their source: ``metadata.duration_seconds_from_header`` (what the
  container declares), :attr:`VideoReader.duration_seconds_from_content` (from the frame index: the
  end of the last frame) and :attr:`VideoReader.duration_seconds` (``num_frames / avg_fps``, what
  qwen-vl-utils clamps clip times to, and so what clips, the agent and training use).

Errors
------
Every error of this layer is a :class:`VideoError` (also importable as ``videotemp_o3.VideoError``)
whose message names the file and what was wrong, with ``path`` (the file, or None) and
``argument`` (the argument at fault, or None) attributes. Subclasses, where a caller would branch::

    VideoError
    ├── VideoNotFoundError      also FileNotFoundError   the file does not exist
    ├── VideoOpenError                                   not a video FFmpeg can open (or a picture
    │   └── NoVideoStreamError                           too large to decode); no video stream
    ├── VideoDecodeError                                 the file broke while decoding
    ├── InvalidArgumentError    also ValueError          an argument no video could satisfy
    │   └── InvalidRangeError                            a bad [start, end] (``start``, ``end``)
    ├── FrameIndexError         also IndexError          an index or time outside the video
    ├── VideoMemoryError        also MemoryError         the output asked for cannot be allocated
    └── ClipWriteError          also OSError             save_clip could not write its file

A non-integer where a count is expected raises ``TypeError``. Exceptions pickle (they cross
process pools with their attributes). No Rust panic reaches Python: one is reported as a plain
:class:`VideoError`.

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
from typing import Iterable, List, Literal, Optional, Sequence, Tuple, Union, overload

import numpy as np

from . import _core

PathLike = Union[str, "os.PathLike[str]"]


# --- errors (the classes errors.rs maps the core's VideoError variants to) -----------------------


class VideoError(Exception):
    """Base class of every error the video layer raises. The message names the file and what
    was wrong."""

    path: Optional[str] = None
    """The file concerned (for :class:`ClipWriteError` the output file), or None."""
    argument: Optional[str] = None
    """The argument at fault (``"size"``, ``"indices"``, ``"min_pixels"``, ...), or None."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The file does not exist."""


class VideoOpenError(VideoError):
    """The file is not a video FFmpeg can open: not a media file, an unsupported codec, or a
    picture larger than FFmpeg can decode."""


class NoVideoStreamError(VideoOpenError):
    """The file opens but holds no video stream (e.g. audio only)."""


class VideoDecodeError(VideoError):
    """The file opened but broke while reading or decoding it (corrupt or truncated data)."""


class InvalidArgumentError(VideoError, ValueError):
    """An argument no video could satisfy (``argument`` names it)."""


class InvalidRangeError(InvalidArgumentError):
    """A ``[start, end]`` range that cannot be sampled; ``start`` and ``end`` are the seconds given."""

    start: Optional[float] = None
    end: Optional[float] = None


class FrameIndexError(VideoError, IndexError):
    """A frame index outside ``[0, num_frames)`` or a time outside ``[0, duration_seconds_from_content)``."""


class VideoMemoryError(VideoError, MemoryError):
    """The frames asked for would not fit in memory (nothing was allocated)."""


class ClipWriteError(VideoError, OSError):
    """:meth:`VideoReader.save_clip` could not write its output file."""


# --- values ----------------------------------------------------------------------------------------

FrameBudget = _core.FrameBudget
VideoMetadata = _core.VideoMetadata
smart_resize = _core.smart_resize


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
    sample_fps: float
    """Frames per second of this sequence as the model should be told (qwen-vl-utils'
    ``sample_fps`` for budget sampling: ``n / segment_frames * avg_fps``; the video's average
    rate for frames asked by time or index)."""

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

    Open once and ask many times: the frame index (built on first use, no decoding) and the
    decoder sessions are reused, so an agent's overview and later clips of the same video do
    not pay for opening or indexing again.

    Args:
        path: the video file.
        num_threads: decoding threads, ``0`` for one per available core. Capped at
            :func:`max_threads` (the cores, but at least 16: a request plans the same decode
            runs, so returns the same pixels, on any machine up to 16 cores).

    Raises:
        VideoNotFoundError: the file does not exist (a ``FileNotFoundError``).
        VideoOpenError: it is not a readable video (:class:`NoVideoStreamError`: no video stream).
        InvalidArgumentError: ``num_threads`` is negative.
    """

    def __init__(self, path: PathLike, *, num_threads: int = 0):
        self._init(path, _core.VideoReader(os.fspath(path), num_threads))

    def _init(self, path: PathLike, core) -> None:
        self._path = os.fspath(path)
        self._core = core
        self._meta: Optional[VideoMetadata] = None

    @property
    def path(self) -> str:
        return self._path

    @property
    def metadata(self) -> VideoMetadata:
        """What the headers say, read at open (no decoding)."""
        if self._meta is None:
            self._meta = self._core.metadata()
        return self._meta

    @property
    def num_threads(self) -> int:
        """Decoding threads in use (after the cap at :func:`max_threads`)."""
        return self._core.threads()

    @property
    def num_frames(self) -> int:
        """Exact frame count, from the content (the frame index; the header's
        ``metadata.num_frames_from_header`` may differ)."""
        return self._core.num_frames()

    @property
    def duration_seconds(self) -> float:
        """``num_frames / avg_fps``: the duration qwen-vl-utils clamps clip times to
        (``total_frames / video_fps``), used by :meth:`clip`, the agent and the training data.
        Equals :attr:`duration_seconds_from_content` for a constant frame rate."""
        return self.num_frames / self.metadata.avg_fps

    @property
    def duration_seconds_from_content(self) -> float:
        """Seconds from 0 to the end of the last frame, from the frame index; the end of the
        half-open interval :meth:`frames_at` accepts."""
        return self._core.duration_seconds_from_content()

    def frames_at(self, timestamps: Iterable[float], *, size: Optional[Tuple[int, int]] = None) -> Frames:
        """The frames displayed at ``timestamps`` (seconds in ``[0, duration_seconds_from_content)``;
        any order, repeats allowed), at ``size = (height, width)`` or the displayed size.

        Raises:
            FrameIndexError: a time outside that interval.
            InvalidArgumentError: a NaN time, or a size that is not two positive integers or is
                larger than FFmpeg can scale to.
            VideoMemoryError: the frames would not fit in memory."""
        return Frames._from_core(self._core.frames_at([float(t) for t in timestamps], size))

    def frames_at_indices(self, indices: Iterable[int], *, size: Optional[Tuple[int, int]] = None) -> Frames:
        """Frames by index in presentation order (``0 <= i < num_frames``; any order, repeats
        allowed). Raises :class:`FrameIndexError` for an index outside the video, otherwise as
        :meth:`frames_at`."""
        return Frames._from_core(self._core.frames_at_indices(indices, size))

    def clip(self, start: float, end: float, budget: Optional[FrameBudget] = None) -> Frames:
        """The frames ``budget`` (default: :class:`FrameBudget` ``()``) picks from the closed
        range ``[start, end]`` seconds, clamped to ``[0, duration_seconds]``, resized to the
        budget's size. Raises :class:`InvalidRangeError` for a range that cannot be sampled (see
        the module's semantics)."""
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
        return self._core.decode_only(indices)

    def save_clip(self, start: float, end: float, path: PathLike) -> Tuple[float, float]:
        """Writes ``[start, end]`` seconds to ``path`` by copying packets (no re-encode; the
        container follows the extension). The file starts at the keyframe at or before
        ``start``; returns the (start, end) seconds of the first and last frame it holds.
        Raises :class:`InvalidRangeError` for a bad range, :class:`ClipWriteError` when the
        file cannot be written."""
        s, e, _ = self._core.save_clip(float(start), float(end), os.fspath(path))
        return s, e

    def __repr__(self) -> str:
        m = self.metadata
        return f"VideoReader({self._path!r}, {m.width}x{m.height}, {m.avg_fps:.3f} fps, {m.codec})"


def _open_for_benchmark(path: PathLike, *, num_threads: int = 0, skip_nonref: bool = True, drain: bool = True) -> VideoReader:
    """A reader with single speed levers switched off, for benches/ only (both levers are exact,
    so nothing else has a reason to turn them off): ``skip_nonref`` skips non-reference frames
    that are no target while decoding forward; ``drain`` drains the decoder after a run's last
    target instead of feeding more packets."""
    reader = VideoReader.__new__(VideoReader)
    reader._init(path, _core.VideoReader(os.fspath(path), num_threads, skip_nonref=skip_nonref, drain=drain))
    return reader


def max_threads() -> int:
    """The most decoding threads a :class:`VideoReader` or :func:`sample_many` uses: the
    machine's cores, but at least 16, so that a request plans the same decode runs (and returns
    the same pixels) on any machine up to 16 cores."""
    return _core.max_threads()


SampleRequest = Tuple[PathLike, Optional[float], Optional[float], FrameBudget]


@overload
def sample_many(requests: Sequence[SampleRequest], *, num_threads: int = ...,
                return_exceptions: Literal[False] = ...) -> List[Frames]: ...
@overload
def sample_many(requests: Sequence[SampleRequest], *, num_threads: int = ...,
                return_exceptions: Literal[True]) -> List[Union[Frames, VideoError]]: ...
def sample_many(requests, *, num_threads=0, return_exceptions=False):
    """Samples many ``(path, start, end, budget)`` segments in parallel (``start``/``end`` None
    for a whole video, otherwise as :meth:`VideoReader.clip`), one result per request, in order.

    Every request runs to its end whatever the others do. Then, by default, the first failure
    (in request order) is raised; with ``return_exceptions=True`` (asyncio.gather's contract)
    failures are returned in their request's place instead, as :class:`VideoError` instances,
    so one broken video fails only its own entry. ``num_threads`` (``0``: one per core) is
    capped at :func:`max_threads`."""
    reqs = [(os.fspath(p), s, e, b) for p, s, e, b in requests]
    out: List[Union[Frames, VideoError]] = []
    for r in _core.sample_many(reqs, num_threads):
        if isinstance(r, BaseException):
            if not return_exceptions:
                raise r
            out.append(r)
        else:
            out.append(Frames._from_core(r))
    return out


__all__ = [
    "ClipWriteError",
    "FrameBudget",
    "FrameIndexError",
    "Frames",
    "InvalidArgumentError",
    "InvalidRangeError",
    "NoVideoStreamError",
    "VideoDecodeError",
    "VideoError",
    "VideoMemoryError",
    "VideoMetadata",
    "VideoNotFoundError",
    "VideoOpenError",
    "VideoReader",
    "max_threads",
    "sample_many",
    "smart_resize",
]
