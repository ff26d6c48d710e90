"""One small adapter per library: how a user of that library gets the frames of a workload.

Every adapter is asked for exactly the same thing: the frames at the indices (presentation order)
and the output size (height, width) that ``FrameBudget.plan`` gives — the indices and size
qwen-vl-utils would pick. It returns RGB frames at that size in the library's natural container,
timed, and, outside the timing, as a numpy ``[T, H, W, 3]`` uint8 array for the identity check.

An adapter's ``open`` is timed as part of the first request on a reader (W1, or the W2 of a
fresh process): opening and indexing is part of what a caller pays.

Every adapter runs with the same thread count (``threads`` >= 1, from run.py's ``--threads``),
set through each library's own knob: our ``num_threads``, decord's ``num_threads``,
torchcodec's ``num_ffmpeg_threads`` (and torch's intra-op threads for its resize), PyAV's
``codec_context.thread_count`` (thread_type AUTO), video-reader-rs's ``threads``, and for
qwen-vl-utils decord's ``num_threads`` (patched in, it passes none) and torch's threads.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class Request:
    kind: str                        # "overview" (W1) or "clip" (W2)
    indices: list[int]               # frame indices the budget picks, presentation order
    size: tuple[int, int]            # (height, width)
    start: Optional[float] = None    # clip span in seconds (clip only)
    end: Optional[float] = None


@dataclass
class Result:
    frames: object                   # what the library hands back (timed up to here)
    indices: Optional[list[int]] = None   # indices the library says it returned, when it says
    packets: Optional[int] = None         # decode-only: packets decoded
    note: str = ""


class Adapter:
    name = "?"
    resize = "?"
    threads_setting = "?"

    def __init__(self, path: str, threads: int, options: dict):
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.path, self.threads, self.options = path, threads, options

    def load(self) -> None:
        """Imports (untimed: a long-running user has paid them already)."""

    def open(self) -> None:
        """Opens the file (timed with the first request)."""

    def get(self, req: Request) -> Result:
        raise NotImplementedError

    @staticmethod
    def to_numpy(frames) -> np.ndarray:
        """[T, H, W, 3] uint8 (untimed)."""
        return np.asarray(frames)

    @staticmethod
    def version() -> str:
        return ""


# --- ours ----------------------------------------------------------------------------------


def _budgets(options: dict):
    from videotemp_o3.video import FrameBudget

    px = options["pixels"]
    overview = FrameBudget(min_pixels=px, max_pixels=px, nframes=options["overview_frames"])
    clip = FrameBudget(fps=options["clip_fps"], min_frames=4, max_frames=64, min_pixels=px, max_pixels=px)
    return overview, clip


class Ours(Adapter):
    """videotemp_o3.video.VideoReader: overview(budget) / clip(start, end, budget); swscale bicubic."""

    resize = "swscale bicubic, accurate rounding, full chroma interpolation (one pass with the colour conversion)"

    def load(self):
        from videotemp_o3.video import VideoReader

        self.cls = VideoReader
        self.overview_budget, self.clip_budget = _budgets(self.options)

    def open(self):
        self.reader = self.cls(self.path, num_threads=self.threads)

    def get(self, req):
        if req.kind == "overview":
            f = self.reader.overview(self.overview_budget)
        else:
            f = self.reader.clip(req.start, req.end, self.clip_budget)
        return Result(f, f.indices.tolist())

    @staticmethod
    def to_numpy(frames):
        return frames.frames

    @staticmethod
    def version():
        import importlib.metadata as md

        return "videotemp-o3 " + md.version("videotemp-o3") + " (system FFmpeg)"


class OursFast(Ours):
    """overview(budget, snap_to_keyframes=tolerance): each sample moves to a keyframe within the
    tolerance (true timestamps reported); clips stay exact."""

    @staticmethod
    def available() -> Optional[str]:
        import inspect

        from videotemp_o3.video import VideoReader

        if "snap_to_keyframes" not in inspect.signature(VideoReader.overview).parameters:
            return "VideoReader.overview(snap_to_keyframes=...) is not in this build yet"
        return None

    def get(self, req):
        if req.kind == "overview":
            f = self.reader.overview(self.overview_budget, snap_to_keyframes=self.options["snap_tolerance"])
            return Result(f, f.indices.tolist())
        return super().get(req)


class OursDecodeOnly(Ours):
    """VideoReader._decode_only(indices): decodes the packets from each needed keyframe to each
    needed frame, no colour conversion or resize. A lower bound: it returns no frames."""

    resize = "none (lower bound: no conversion, no resize)"

    @staticmethod
    def available() -> Optional[str]:
        from videotemp_o3.video import VideoReader

        if not hasattr(VideoReader, "_decode_only"):
            return "VideoReader._decode_only is not in this build yet"
        return None

    def get(self, req):
        packets = self.reader._decode_only(req.indices)
        return Result(None, packets=int(packets) if packets is not None else None)

    @staticmethod
    def to_numpy(frames):
        return None


# --- peers ---------------------------------------------------------------------------------


class Decord(Adapter):
    """decord.VideoReader(width=, height=) + get_batch: decord converts and resizes in its own
    FFmpeg filter graph, ``scale=W:H`` with no flags, i.e. the bundled FFmpeg 4.1 scale filter's
    default, bilinear (decord offers no choice)."""

    resize = "swscale bilinear (decord's `scale=W:H` filter, FFmpeg 4.1 default; not selectable)"

    def load(self):
        import decord

        self.size = None
        self.decord = decord

    def _reader(self, size):
        if self.size != size:  # decord fixes the output size at open; every request here has one size
            h, w = size
            self.vr = self.decord.VideoReader(self.path, ctx=self.decord.cpu(0), width=w, height=h,
                                              num_threads=self.threads)
            self.size = size
        return self.vr

    def get(self, req):
        return Result(self._reader(req.size).get_batch(req.indices))

    @staticmethod
    def to_numpy(frames):
        return frames.asnumpy()

    @staticmethod
    def version():
        import decord

        return f"decord {decord.__version__} (bundled FFmpeg 4.1)"


class TorchCodec(Adapter):
    """torchcodec.decoders.VideoDecoder(seek_mode=...).get_frames_at(indices), then torchvision's
    resize (bicubic, antialias) — what qwen-vl-utils does. Requests go in chunks of 32 frames so
    full-size float copies stay bounded (torchcodec keeps its decoder position between calls, so
    chunking does not add decoding)."""

    resize = "torchvision bicubic+antialias (float)"
    seek_mode = "exact"
    chunk = 32

    def load(self):
        import torch
        from torchcodec.decoders import VideoDecoder

        torch.set_num_threads(self.threads)
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.functional import resize

        self.torch, self.resize_fn, self.bicubic = torch, resize, InterpolationMode.BICUBIC
        self.cls = VideoDecoder

    def open(self):
        self.dec = self.cls(self.path, seek_mode=self.seek_mode, num_ffmpeg_threads=self.threads)
        self.fps = self.dec.metadata.average_fps

    def get(self, req):
        outs, pts = [], []
        for i in range(0, len(req.indices), self.chunk):
            b = self.dec.get_frames_at(req.indices[i:i + self.chunk])
            outs.append(self.resize_fn(b.data, list(req.size), interpolation=self.bicubic, antialias=True))
            pts.append(b.pts_seconds)
        pts = self.torch.cat(pts)
        # Which frames it says it returned (pts -> index; the inputs are constant frame rate).
        return Result(self.torch.cat(outs), [int(round(float(p) * self.fps)) for p in pts])

    @staticmethod
    def to_numpy(frames):
        return frames.permute(0, 2, 3, 1).contiguous().numpy()

    @staticmethod
    def version():
        import torchcodec

        return f"torchcodec {torchcodec.__version__} (system FFmpeg)"


class TorchCodecApprox(TorchCodec):
    seek_mode = "approximate"


class PyAV(Adapter):
    """PyAV, written as a careful user would: one demux pass (no decoding) lists the packets'
    timestamps and keyframes; then for each needed frame, in order, keep decoding forward when
    it lies ahead in the current GOP, else seek to its keyframe. Frames are converted and resized
    by swscale bicubic (frame.to_ndarray(width=, height=, interpolation="BICUBIC"))."""

    resize = "swscale bicubic (frame.to_ndarray)"

    def load(self):
        import av

        self.av = av

    def open(self):
        self.container = self.av.open(self.path)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.stream.codec_context.thread_count = self.threads
        pts, keys = [], []
        for p in self.container.demux(self.stream):
            if p.pts is not None:
                pts.append(p.pts)
                if p.is_keyframe:
                    keys.append(p.pts)
        self.pts = sorted(pts)           # frame index -> pts (presentation order)
        self.keys = sorted(keys)
        self.decoding = None             # (keyframe pts, frame iterator) of the current run
        self.last_pts = None

    def _keyframe_of(self, pts):
        return self.keys[max(0, bisect.bisect_right(self.keys, pts) - 1)]

    def get(self, req):
        h, w = req.size
        order = sorted(set(req.indices))
        got = {}
        for i in order:
            target = self.pts[i]
            key = self._keyframe_of(target)
            if self.decoding is None or self.decoding[0] != key or self.last_pts is None or self.last_pts >= target:
                self.container.seek(key, stream=self.stream, backward=True, any_frame=False)
                self.decoding = (key, self.container.decode(self.stream))
                self.last_pts = None
            for frame in self.decoding[1]:
                self.last_pts = frame.pts
                if frame.pts >= target:
                    got[i] = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="BICUBIC")
                    break
            else:
                raise RuntimeError(f"PyAV: frame {i} (pts {target}) not reached")
        return Result(np.stack([got[i] for i in req.indices]))

    @staticmethod
    def version():
        import av

        v = av.library_versions["libavcodec"]
        return f"av {av.__version__} (bundled libavcodec {v[0]}.{v[1]})"


class VideoReaderRs(Adapter):
    """video_reader.PyVideoReader(target_width=, target_height=, resize_algo="bicubic").get_batch:
    FFmpeg filter graph scale (swscale bicubic)."""

    resize = "swscale bicubic (its filter graph, resize_algo=\"bicubic\")"

    def load(self):
        from video_reader import PyVideoReader

        self.opened = {}
        self.cls = PyVideoReader

    def _reader(self, size):
        if size not in self.opened:
            h, w = size
            self.opened[size] = self.cls(self.path, threads=self.threads, target_width=w, target_height=h,
                                         resize_algo="bicubic")
        return self.opened[size]

    def get(self, req):
        return Result(self._reader(req.size).get_batch(req.indices))

    @staticmethod
    def available() -> Optional[str]:
        try:
            import video_reader  # noqa: F401
        except ImportError as e:
            if "libglib" in str(e):
                return ("needs libglib-2.0 (apt-get install libglib2.0-0), which this machine lacks: "
                        f"{str(e).splitlines()[0][:160]}")
            raise
        return None

    @staticmethod
    def version():
        import importlib.metadata as md

        return f"video-reader-rs {md.version('video-reader-rs')} (bundled FFmpeg 8)"


class QwenVlUtils(Adapter):
    """qwen_vl_utils.fetch_video with the decord backend (FORCE_QWENVL_VIDEO_READER=decord): every
    call opens the file, decodes full-size frames with decord.get_batch, then resizes them with
    torchvision (bicubic, antialias) to float. Asked with the same budget keys (nframes for W1;
    video_start/video_end, fps, min/max_frames for W2), it picks its own indices — the check
    below tells whether they are the planned ones."""

    resize = "torchvision bicubic+antialias (float out)"

    def load(self):
        import functools

        import decord
        import torch
        from qwen_vl_utils import vision_process

        # fetch_video opens decord.VideoReader(path) with decord's default threads: give it ours.
        decord.VideoReader = functools.partial(decord.VideoReader, num_threads=self.threads)
        torch.set_num_threads(self.threads)
        self.vp = vision_process
        self.vp.get_video_reader_backend()  # its one-time backend choice and message

    def get(self, req):
        px = self.options["pixels"]
        ele = {"video": self.path, "min_pixels": px, "max_pixels": px}
        if req.kind == "overview":
            ele["nframes"] = self.options["overview_frames"]
        else:
            ele.update(video_start=req.start, video_end=req.end, fps=self.options["clip_fps"],
                       min_frames=4, max_frames=64)
        return Result(self.vp.fetch_video(ele))

    @staticmethod
    def to_numpy(frames):
        return frames.round().clamp(0, 255).byte().permute(0, 2, 3, 1).contiguous().numpy()

    @staticmethod
    def version():
        import importlib.metadata as md

        return f"qwen-vl-utils {md.version('qwen-vl-utils')} + decord {md.version('decord')}"


# name -> (adapter, description). Each row runs at every thread count of run.py's --threads.
ROWS = {
    "ours": (Ours, "videotemp_o3 exact"),
    "ours-fast": (OursFast, "videotemp_o3 overview snapped to keyframes"),
    "ours-decode-only": (OursDecodeOnly, "videotemp_o3 decode-only lower bound"),
    "decord": (Decord, "decord get_batch"),
    "torchcodec-exact": (TorchCodec, "torchcodec get_frames_at, exact seek"),
    "torchcodec-approx": (TorchCodecApprox, "torchcodec get_frames_at, approximate seek"),
    "pyav": (PyAV, "PyAV seek + decode forward"),
    "video-reader-rs": (VideoReaderRs, "video-reader-rs get_batch"),
    "qwen-vl-utils": (QwenVlUtils, "qwen-vl-utils fetch_video (decord)"),
}
OURS = {"ours", "ours-fast", "ours-decode-only"}

# Environment a row's process needs.
def row_env(name: str) -> dict:
    env = {}
    if name == "qwen-vl-utils":
        env["FORCE_QWENVL_VIDEO_READER"] = "decord"  # else it prefers torchcodec when installed
    if name == "video-reader-rs":
        # The 0.4.5 wheel's bundled libwebp/libwebpmux carry RUNPATH /tmp/vendor/lib, so their
        # libsharpyuv (bundled next to them) is not found; point the loader at the bundle.
        import importlib.util

        spec = importlib.util.find_spec("video_reader")
        if spec and spec.origin:
            libs = os.path.join(os.path.dirname(os.path.dirname(spec.origin)), "video_reader_rs.libs")
            if os.path.isdir(libs):
                env["LD_LIBRARY_PATH"] = libs + os.pathsep + os.environ.get("LD_LIBRARY_PATH", "")
    return env
