"""The one place that turns our videos and decoded clips into what ms-swift accepts as a video.

Used by the SFT data builder (clip turns of a trajectory) and by the RL multi-turn scheduler
(tool responses of a rollout). Two functions matter:

* :func:`video_for_swift` — the overview: the original file's absolute path. ms-swift samples
  the whole video itself through qwen-vl-utils, under the budget in its environment (FPS,
  FPS_MAX_FRAMES, VIDEO_MAX_PIXELS, …), and :class:`~videotemp_o3.video.FrameBudget` ``.from_env()``
  reproduces that sampling frame for frame, so nothing needs writing.
* :func:`clip_for_swift` — a clip ``[start, end]``: decoded once by our video layer and stored as
  a small *lossless, intra-only* video file (FFV1 in Matroska) that holds exactly the frames the
  model must see, at the size it must see them, with the clip's true sampling rate as the
  file's frame rate.

Why a file and not a list of frame images
-----------------------------------------
ms-swift ≥ 3.8.3 also takes a video as a list of image files, but in 3.10.3 with
qwen-vl-utils 0.0.11 that path has two faults for us (read in ``swift/llm/template/template/
qwen.py`` ``Qwen2VLTemplate.replace_tag`` and ``qwen_vl_utils.fetch_video``):

1. The frame rate is not ours to give. ms-swift passes ``{"video": [...], "sample_fps": FPS}``
   and ``fetch_video`` returns ``process_info.pop("fps", 2.0)``, so every image list is taken as
   2 fps and ``second_per_grid_ts`` is 1.0 whatever the clip's real rate. Our clips are 2 fps
   only between 2 s and 32 s long (4–64 frames); a longer clip, a shorter one, and above all
   the overview (512 frames over a 20-minute video is 0.43 fps) would get wrong temporal
   positions in M-RoPE — not what the model sees at inference, where the engines pass the true
   rate.
2. One data set cannot mix the two forms: the jsonl is read by ``datasets``/pyarrow, and a
   ``videos`` column holding a path for the overview and a list for a clip fails with
   "changed from string to array". So the overview would have to become an image list too,
   with the fault above.

A video file carries its rate: qwen-vl-utils reads ``n`` frames at ``r`` fps from it,
``smart_nframes`` keeps all ``n`` (``n / r · FPS ≥ n`` for ``r ≤ FPS``, and the budget's
``min_frames`` clamp covers the faster short clips), and ``sample_fps`` comes out as ``r``:
``second_per_grid_ts = 2 / r`` exactly as the inference engines compute it. That holds while
the clip budget stays inside ms-swift's own (``FPS_MAX_FRAMES`` ≥ the clip's frames, as in
training: 512 ≥ 64); beyond it ms-swift subsamples the file uniformly — still with the right
rate for what it keeps — and :func:`clip_for_swift` warns.

What it costs (measured; ``tests/test_sft_media.py`` checks the fidelity claims)
-------------------------------------------------------------------------------
* **Fidelity**: bit-exact. FFV1 stores RGB losslessly (``bgr0``); the pixel values ms-swift's
  processor produces from the file equal those from our decoded frames, with both its decord and
  its torchvision reader, and its resize is the identity because the frames already have the size
  its own ``smart_resize`` gives them. The release instead re-encodes each clip to MPEG-4 with
  OpenCV at the source resolution and lets ms-swift decode and resample it again (lossy, and
  a second sampling that may pick other frames).
* **Time**: one encode of frames that are already small — FFV1 takes 1–8 ms per 224×420
  frame on one core (flat to very noisy content; under 0.5 s for a 64-frame clip), MJPEG about
  1 ms — on top of the decode our video layer does anyway. At training time ms-swift decodes
  this small intra-only file instead of seeking in the source.
* **Disk**: per 224×420 frame, FFV1 needs 1 KiB (flat synthetic video) to 110 KiB (noisy 720p
  footage, a worst case); a 64-frame clip is at most ~7 MB. ``codec="mjpeg"`` (quality 2,
  visually lossless but not bit-exact, ~9 KiB per noisy frame) is there for very large data
  sets. A JSON sidecar of ~2 KiB per clip records the frame times.

The size rule
-------------
Frames are stored at the size the ms-swift environment gives the source (the overview's frame
size). With the release's environment — ``VIDEO_MIN_PIXELS = VIDEO_MAX_PIXELS = 50176`` —
qwen-vl-utils' per-frame cap becomes ``VIDEO_MIN_PIXELS · 1.05`` and its ``smart_resize`` is not
idempotent: a 16:9 source becomes 168×280 (47 040 px, below the minimum because the
down-scaling branch floors), and 168×280 given again becomes 196×308. Where that happens the
clip is stored at the smallest size of the source's shape that ms-swift maps back onto the
target (181×322 for a 360×640 source, which ms-swift brings to 168×280), so the model still sees
the overview's frame size, at the price of a second (bicubic) resize. (With ``VIDEO_MIN_PIXELS``
left at qwen-vl-utils' 100352 the same happens at 224×420.) Setting ``VIDEO_MIN_PIXELS`` ≤
``VIDEO_MAX_PIXELS`` / 1.05 avoids it.

Example
-------
>>> from videotemp_o3.video import VideoReader                      # doctest: +SKIP
>>> reader = VideoReader("match.mp4")                                # doctest: +SKIP
>>> clip = clip_for_swift(reader, 58.0, 100.0, None, "clips/")       # doctest: +SKIP
>>> {"messages": [...], "videos": [video_for_swift("match.mp4"), clip.path]}   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, Optional, Sequence, Tuple

import numpy as np

from videotemp_o3.budgets import CLIP_FPS, CLIP_MAX_FRAMES, CLIP_MIN_FRAMES
from videotemp_o3.video import FrameBudget, VideoReader, smart_resize

__all__ = [
    "VIDEO_TAG",
    "SwiftClip",
    "clip_budget",
    "clip_for_swift",
    "overview_for_swift",
    "overview_source",
    "overview_tag_count",
    "swift_frame_size",
    "video_for_swift",
]

VIDEO_TAG = "<video>"
"""ms-swift's placeholder for one entry of a record's ``videos``, in order."""

Codec = Literal["ffv1", "mjpeg"]

# Encoder settings per codec: (encoder, pixel format, options). FFV1 in bgr0 keeps RGB exact
# (its reversible colour transform); yuvj444p keeps MJPEG free of chroma subsampling.
_CODECS = {
    "ffv1": ("ffv1", "bgr0", {"slices": "4", "slicecrc": "0"}),
    "mjpeg": ("mjpeg", "yuvj444p", {"q:v": "2"}),
}


def video_for_swift(path: os.PathLike | str) -> str:
    """The overview as ms-swift takes it: the original file, by absolute path.

    Raises ``FileNotFoundError`` naming the file if it does not exist.
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"video not found: {p}")
    return str(p)


def clip_budget(*, fps: float = CLIP_FPS, min_frames: int = CLIP_MIN_FRAMES,
                max_frames: int = CLIP_MAX_FRAMES) -> FrameBudget:
    """The clip budget: the release's frame counts with the *pixel* limits of ms-swift's
    environment (``FrameBudget.from_env()``), so a clip's frames have the overview's size."""
    env = FrameBudget.from_env()
    return FrameBudget(fps=fps, min_frames=min_frames, max_frames=max_frames,
                       min_pixels=env.min_pixels, max_pixels=env.max_pixels,
                       total_pixels=env.total_pixels)


def swift_frame_size(height: int, width: int, nframes: int,
                     budget: Optional[FrameBudget] = None) -> Tuple[int, int]:
    """The size ms-swift (qwen-vl-utils ``fetch_video``) resizes ``nframes`` frames of
    ``height``×``width`` to, under ``budget``'s pixel limits (default: the environment's)."""
    b = budget or FrameBudget.from_env()
    h, w = smart_resize(height, width, min_pixels=b.min_pixels,
                        max_pixels=b.frame_max_pixels(nframes))
    return int(h), int(w)


@dataclass(frozen=True)
class SwiftClip:
    """A clip written for ms-swift. ``str(clip)`` is its path.

    ``timestamps``/``indices``: seconds and frame numbers (in the source video) of the frames
    stored, in order. ``fps``: the sampling rate the model is told (the file's frame rate).
    ``size``: (height, width) the model sees; ``stored_size``: the size in the file (differs only
    under the non-idempotent budgets described in the module docstring).
    """

    path: str
    start: float
    end: float
    timestamps: np.ndarray
    indices: np.ndarray
    fps: float
    size: Tuple[int, int]
    stored_size: Tuple[int, int]

    def __str__(self) -> str:
        return self.path

    def __fspath__(self) -> str:
        return self.path

    def __len__(self) -> int:
        return int(len(self.indices))


def clip_for_swift(reader: VideoReader, start: float, end: float,
                   budget: Optional[FrameBudget], out_dir: os.PathLike | str, *,
                   codec: Codec = "ffv1") -> SwiftClip:
    """Write the clip ``[start, end]`` seconds of ``reader``'s video for ms-swift; return it.

    ``budget`` (default :func:`clip_budget`) picks the frames exactly as the agent's clip does;
    its pixel limits must be the environment's (``FrameBudget.from_env()``), because those are
    what ms-swift resizes by — a mismatch raises ``ValueError`` rather than letting ms-swift
    silently rescale. Times outside the video are clamped; an empty or reversed range raises
    ``ValueError`` (as :meth:`VideoReader.clip` does).

    The file name is derived from the source (path, size, modification time), the span, the
    budget and the codec, so a clip is written once and found again by later calls (a JSON
    sidecar next to it keeps the frame times). Writes go through a temporary file, so a
    half-written clip never looks finished. ``out_dir`` is created if needed.
    """
    if codec not in _CODECS:
        raise ValueError(f"codec must be one of {sorted(_CODECS)}, got {codec!r}")
    budget = budget or clip_budget()
    env = FrameBudget.from_env()
    if (budget.min_pixels, budget.max_pixels, budget.total_pixels) != (
            env.min_pixels, env.max_pixels, env.total_pixels):
        raise ValueError(
            "the clip budget's pixel limits (min_pixels, max_pixels, total_pixels) = "
            f"({budget.min_pixels}, {budget.max_pixels}, {budget.total_pixels}) differ from "
            f"ms-swift's environment ({env.min_pixels}, {env.max_pixels}, {env.total_pixels}); "
            "ms-swift would rescale the clip. Use clip_budget(), or set VIDEO_MIN_PIXELS / "
            "VIDEO_MAX_PIXELS / VIDEO_TOTAL_PIXELS to match the budget.")

    meta = reader.metadata
    src_h, src_w = meta.display_size
    indices, h, w, fps = budget.plan(reader.num_frames, meta.avg_fps, src_h, src_w,
                                     float(start), float(end))
    target = (int(h), int(w))
    stored = _stored_size(target, (src_h, src_w), len(indices), budget)

    if env.nframes_for(len(indices), fps) != len(indices):
        warnings.warn(
            f"ms-swift's frame budget (FPS={env.fps}, FPS_MIN_FRAMES={env.min_frames}, "
            f"FPS_MAX_FRAMES={env.max_frames}) keeps {env.nframes_for(len(indices), fps)} of this "
            f"clip's {len(indices)} frames at {fps:.3f} fps; raise FPS_MAX_FRAMES to the clip "
            "budget's max_frames to give the model every frame", stacklevel=2)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / _clip_name(reader.path, start, end, budget, codec, stored)
    sidecar = path.with_suffix(".json")
    if path.exists() and sidecar.exists():
        # Written before: the sidecar has the frame times, so nothing is decoded again.
        timestamps = json.loads(sidecar.read_text())["timestamps"]
    else:
        decoded = reader.frames_at_indices(indices, size=stored)
        timestamps = decoded.timestamps.tolist()
        _atomic_write(sidecar, lambda tmp: tmp.write_text(json.dumps(
            {"source": os.path.abspath(reader.path), "start": float(start), "end": float(end),
             "indices": [int(i) for i in indices], "timestamps": timestamps, "fps": float(fps),
             "size": list(target), "stored_size": list(stored), "codec": codec})))
        _atomic_write(path, lambda tmp: _write_video(decoded.frames, fps, tmp, codec))
    return SwiftClip(path=str(path.resolve()), start=float(start), end=float(end),
                     timestamps=np.asarray(timestamps, dtype=np.float64),
                     indices=np.asarray(indices, dtype=np.int64), fps=float(fps),
                     size=target, stored_size=stored)


def overview_for_swift(reader: VideoReader, out_dir: os.PathLike | str, *,
                       budget: Optional[FrameBudget] = None,
                       codec: Codec = "ffv1") -> list[SwiftClip]:
    """The overview of ``reader``'s video as a timed overview's pieces
    (:func:`videotemp_o3.protocol.timed_overview`): the frames ``budget`` (default: ms-swift's
    environment, ``FrameBudget.from_env()`` — the frames ms-swift itself would sample from the
    whole video) picks, decoded once and written as consecutive two-frame files in
    :func:`clip_for_swift`'s lossless format, each at the overview's sampling rate, so that
    ms-swift reads each piece as one temporal token group with the overview's pixels and
    positions. An odd last piece repeats its last frame, as every odd video is padded.

    Why files and not frame lists: the module docstring (a list of images is taken as 2 fps,
    and one data set cannot mix lists with the clips' paths). qwen-vl-utils keeps both frames of
    a two-frame file whatever its rate (``smart_nframes`` clamps to the file's frame count).

    Each piece's JSON sidecar names its ``source`` and its place (``overview_piece``: index,
    ``overview_pieces``: count), which :func:`overview_source` reads back. Pieces are named by
    source, budget, codec and index, written once and found again.
    """
    from videotemp_o3 import protocol

    if codec not in _CODECS:
        raise ValueError(f"codec must be one of {sorted(_CODECS)}, got {codec!r}")
    env = FrameBudget.from_env()
    budget = budget or env
    meta = reader.metadata
    src_h, src_w = meta.display_size
    indices, h, w, fps = budget.plan(reader.num_frames, meta.avg_fps, src_h, src_w, None, None)
    target = (int(h), int(w))
    size = protocol.OVERVIEW_PIECE_FRAMES
    stored = _stored_size(target, (src_h, src_w), size, budget)
    if env.nframes_for(size, fps) != size:
        raise ValueError(f"ms-swift's frame budget (FPS_MAX_FRAMES={env.max_frames}) would not keep "
                         f"both frames of a {size}-frame overview piece; raise FPS_MAX_FRAMES")
    spans = protocol.overview_pieces(len(indices))
    st = os.stat(reader.path)
    key = "|".join(map(str, (os.path.abspath(reader.path), st.st_size, st.st_mtime_ns, repr(budget),
                             codec, stored)))
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    ext = ".mkv" if codec == "ffv1" else ".avi"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{Path(reader.path).stem}_overview{k:03d}of{len(spans):03d}_{digest}{ext}"
             for k in range(len(spans))]
    decoded = None
    pieces = []
    for k, ((a, b), path) in enumerate(zip(spans, paths)):
        piece = [int(i) for i in indices[a:b]]
        piece += piece[-1:] * (size - len(piece))  # the odd last piece: its last frame again
        sidecar = path.with_suffix(".json")
        if path.exists() and sidecar.exists():
            timestamps = json.loads(sidecar.read_text())["timestamps"]
        else:
            if decoded is None:
                decoded = reader.frames_at_indices(list(indices), size=stored)
            rows = list(range(a, b)) + [b - 1] * (size - (b - a))
            timestamps = [float(decoded.timestamps[r]) for r in rows]
            text = json.dumps({"source": os.path.abspath(reader.path), "overview_piece": k,
                               "overview_pieces": len(spans), "indices": piece,
                               "timestamps": timestamps, "fps": float(fps), "size": list(target),
                               "stored_size": list(stored), "codec": codec})
            frames = decoded.frames[rows]
            _atomic_write(sidecar, lambda tmp, text=text: tmp.write_text(text))
            _atomic_write(path, lambda tmp, frames=frames: _write_video(frames, fps, tmp, codec))
        pieces.append(SwiftClip(path=str(path.resolve()), start=float(timestamps[0]),
                                end=float(timestamps[-1]),
                                timestamps=np.asarray(timestamps, dtype=np.float64),
                                indices=np.asarray(piece, dtype=np.int64), fps=float(fps),
                                size=target, stored_size=stored))
    return pieces


_CLAMP_WARNING = re.compile(r"smart_nframes: nframes\[[^\]]*\] > total_frames\[\d+\]$")


class _ClampWarningFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _CLAMP_WARNING.match(record.getMessage())


def quiet_clamp_warnings() -> None:
    """Drops qwen-vl-utils' ``smart_nframes: nframes[…] > total_frames[…]`` warning, which it
    logs every time it reads a file whose frame rate is below ``FPS`` and then keeps all its
    frames — what our pre-sampled overview files and timed-overview pieces are made for (the
    module docstring), so it fires for every overview of every sample: 16 lines per training
    row of a timed overview, most of an SFT log. A source video at or above ``FPS`` never
    triggers it. Idempotent; installed by the ms-swift adapter
    (:mod:`videotemp_o3.training.swift_plugin`), which ``sft/plugin.py`` and ``rl/plugin.py`` load."""
    logger = logging.getLogger("qwen_vl_utils.vision_process")
    if not any(isinstance(f, _ClampWarningFilter) for f in logger.filters):
        logger.addFilter(_ClampWarningFilter())


def overview_source(path: os.PathLike | str) -> str:
    """The source video of a timed overview's piece (:func:`overview_for_swift`, read from its
    sidecar), else ``path`` itself: the video whose clips a conversation asks for, and whose
    length and rate the validators read."""
    resolved = resolve_media_path(os.fspath(path))
    sidecar = resolved.with_suffix(".json")
    if resolved.suffix in (".mkv", ".avi") and sidecar.is_file():
        try:
            info = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            return os.fspath(path)
        if isinstance(info, dict) and "overview_piece" in info and isinstance(info.get("source"), str):
            return info["source"]
    return os.fspath(path)


def overview_tag_count(messages: Sequence[dict]) -> int:
    """How many entries of a record's ``videos`` are its overview: the ``<video>`` tags of its
    first user turn (one, or a timed overview's pieces); the rest are clips."""
    first_user = next((m for m in messages if m.get("role") == "user"), None)
    return str(first_user.get("content", "")).count(VIDEO_TAG) if first_user else 0


def _atomic_write(path: Path, write) -> None:
    """``write(tmp)`` then rename onto ``path``: a half-written file never looks finished."""
    # Unique per writer (process and thread): RL rollouts may write the same clip concurrently.
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}-{threading.get_ident()}{path.suffix}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _stored_size(target: Tuple[int, int], source: Tuple[int, int], nframes: int,
                 budget: FrameBudget) -> Tuple[int, int]:
    """The size to store frames at so that ms-swift's resize turns them into ``target``."""
    if swift_frame_size(*target, nframes, budget) == target:
        return target  # the usual case: ms-swift's resize is the identity
    # Non-idempotent budget (module docstring): ms-swift's down-scaling depends only on the
    # aspect ratio, so the smallest size of the source's shape that it maps onto the target
    # works. The source size itself always does (that is how the target was computed).
    src_h, src_w = source
    for height in range(target[0] + 1, src_h):
        width = round(height * src_w / src_h)
        if swift_frame_size(height, width, nframes, budget) == target:
            return height, width
    return src_h, src_w


def _clip_name(source: str, start: float, end: float, budget: FrameBudget, codec: str,
               stored: Tuple[int, int]) -> str:
    st = os.stat(source)
    key = "|".join(map(str, (os.path.abspath(source), st.st_size, st.st_mtime_ns, repr(budget),
                             codec, stored, float(start), float(end))))
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    ext = ".mkv" if codec == "ffv1" else ".avi"
    return f"{Path(source).stem}_{start:.2f}-{end:.2f}_{digest}{ext}"


def _write_video(frames: np.ndarray, fps: float, path: Path, codec: str) -> None:
    """Encode RGB frames ``[T, H, W, 3]`` as an intra-only video at ``fps`` frames per second."""
    import av  # PyAV: in-process FFmpeg, no subprocess per clip

    encoder, pix_fmt, options = _CODECS[codec]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 frames [T, H, W, 3], got {frames.dtype} {frames.shape}")
    # A rational rate: the containers store it exactly enough that decord and torchvision read
    # back the same float (checked in the tests).
    rate = Fraction(fps).limit_denominator(1_000_000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(encoder, rate=rate)
        stream.height, stream.width = int(frames.shape[1]), int(frames.shape[2])
        stream.pix_fmt = pix_fmt
        stream.options = dict(options)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def resolve_media_path(path: str) -> Path:
    """Where ms-swift will read ``path``: as given if it exists, else under ``ROOT_IMAGE_DIR``
    (ms-swift's ``load_file`` rule), else as given (absolute from the working directory).

    The SFT validator and the RL scheduler open media through this function so that they read
    exactly the file the trainer's template reads.
    """
    p = Path(os.path.expanduser(path))
    root = os.environ.get("ROOT_IMAGE_DIR")
    if root and not p.exists():
        p = Path(root) / p
    return p.absolute()


@dataclass(frozen=True)
class VideoInfo:
    """What the data builders and validators need of a video: its length as our video layer
    measures it (``VideoReader.duration_seconds``, the length the agent and the RL environment clamp
    clips to) and its frame rate."""

    duration: float
    fps: float


class MediaFiles:
    """Media files as ms-swift will read them (:func:`resolve_media_path`), each looked up once:
    whether it exists, and its :class:`VideoInfo`. One cache for every builder and validator."""

    def __init__(self) -> None:
        self._info: dict[Path, VideoInfo | str] = {}

    def resolve(self, path: os.PathLike | str) -> Path:
        return resolve_media_path(os.fspath(path))

    def exists(self, path: os.PathLike | str) -> bool:
        return self.resolve(path).is_file()

    def info(self, path: os.PathLike | str) -> VideoInfo | str:
        """The video's :class:`VideoInfo`, or why it cannot be read (missing, not a video)."""
        resolved = self.resolve(path)
        if resolved not in self._info:
            if not resolved.is_file():
                self._info[resolved] = f"video not found: {resolved}"
            else:
                try:
                    reader = VideoReader(resolved, num_threads=1)
                    self._info[resolved] = VideoInfo(reader.duration_seconds, reader.metadata.avg_fps)
                except Exception as e:  # noqa: BLE001 — any unreadable video is a data problem
                    self._info[resolved] = f"unreadable video {resolved}: {e}"
        return self._info[resolved]
