"""Test videos with known content, made with the FFmpeg CLI (driven through ffmpeg-python).

Each frame spells its own index in a 4×4 grid of dark/bright blocks (16 bits) — large enough
to survive lossy coding, resizing and rotation — so a test can read back which frame a decoder
returned, whatever the codec.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

GRID = 4
BITS = GRID * GRID
DARK, BRIGHT = 25, 230


def spell(index: int, height: int, width: int) -> np.ndarray:
    """A grey ``[height, width]`` uint8 frame whose blocks spell ``index``."""
    bits = np.array([(index >> b) & 1 for b in range(BITS)], dtype=bool).reshape(GRID, GRID)
    rows = (np.arange(height) * GRID) // height
    cols = (np.arange(width) * GRID) // width
    return np.where(bits[rows[:, None], cols[None, :]], BRIGHT, DARK).astype(np.uint8)


def read_index(frame: np.ndarray) -> int:
    """The index spelled by an RGB (or grey) frame ``[H, W(, 3)]`` of any size."""
    grey = frame[..., 0] if frame.ndim == 3 else frame
    h, w = grey.shape[:2]
    value = 0
    for b in range(BITS):
        r, c = divmod(b, GRID)
        y0, y1 = r * h // GRID, (r + 1) * h // GRID
        x0, x1 = c * w // GRID, (c + 1) * w // GRID
        # The centre half of the block avoids edges blurred by coding and resizing.
        ys, xs = slice(y0 + (y1 - y0) // 4, y1 - (y1 - y0) // 4 or y1), slice(x0 + (x1 - x0) // 4, x1 - (x1 - x0) // 4 or x1)
        if grey[ys, xs].mean() > 128:
            value |= 1 << b
    return value


CODECS = {
    # name: (encoder, output options). B-frames and a long, fixed GOP make seeking non-trivial.
    "h264": ("libx264", {"preset": "veryfast", "bf": 3, "pix_fmt": "yuv420p"}),
    "h264_444": ("libx264", {"preset": "veryfast", "bf": 3, "pix_fmt": "yuv444p"}),
    "h264_10bit": ("libx264", {"preset": "veryfast", "bf": 3, "pix_fmt": "yuv420p10le"}),
    "hevc": ("libx265", {"preset": "ultrafast", "pix_fmt": "yuv420p", "x265-params": "log-level=none:bframes=3"}),
    "hevc_10bit": ("libx265", {"preset": "ultrafast", "pix_fmt": "yuv420p10le", "x265-params": "log-level=none:bframes=3"}),
    "vp9": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": 8, "pix_fmt": "yuv420p"}),
    "av1": ("libaom-av1", {"cpu-used": 8, "pix_fmt": "yuv420p"}),
    # MPEG-4 part 2 with B-frames: in AVI its packets carry no presentation timestamps.
    "mpeg4_bframes": ("mpeg4", {"bf": 2, "q:v": 4, "pix_fmt": "yuv420p"}),
}


def make_indexed_video(
    path: os.PathLike | str,
    *,
    frames: int,
    fps: float = 30.0,
    size: tuple[int, int] = (96, 160),
    codec: str = "h264",
    gop: int = 50,
    rotation: int = 0,
    timestamps: Optional[Sequence[float]] = None,
) -> Path:
    """Writes a video of ``frames`` frames of ``size = (height, width)`` spelling their index.

    ``timestamps`` (seconds, one per frame) makes a variable-frame-rate video (use ``.mkv``);
    ``rotation`` stores display-rotation metadata (clockwise degrees, ``.mp4``).
    """
    import ffmpeg  # ffmpeg-python drives the FFmpeg CLI

    path = Path(path)
    h, w = size
    encoder, opts = CODECS[codec]
    out_opts = dict(opts)
    out_opts.update({"vcodec": encoder, "g": gop, "keyint_min": gop})
    if encoder == "libx264":
        out_opts["sc_threshold"] = 0
    if encoder == "libx265":
        out_opts["x265-params"] = out_opts["x265-params"] + f":keyint={gop}:min-keyint={gop}:scenecut=0"
    stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="gray", s=f"{w}x{h}", r=fps)
    if timestamps is not None:
        if len(timestamps) != frames:
            raise ValueError("timestamps must give one time per frame")
        # Exact per-frame times through a concat-demuxer-free route: setpts from a lookup is not
        # expressible, so write the frames at 1000 fps and map them with setpts onto the times.
        expr = "+".join(f"eq(N,{i})*{t:.6f}" for i, t in enumerate(timestamps))
        stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="gray", s=f"{w}x{h}", r=1000)
        stream = stream.filter("setpts", f"({expr})/TB")
        out_opts["fps_mode"] = "passthrough"
    data = b"".join(spell(i, h, w).tobytes() for i in range(frames))
    (
        ffmpeg.output(stream, str(path), **out_opts)
        .global_args("-hide_banner", "-loglevel", "error")
        .overwrite_output()
        .run(input=data, capture_stdout=True, capture_stderr=True)
    )
    if rotation:
        set_mp4_rotation(path, rotation)
    return path


def set_mp4_rotation(path: os.PathLike | str, clockwise_degrees: int) -> None:
    """Stores display rotation in an MP4's track header matrix, in place.

    FFmpeg 5.1's CLI no longer turns a ``rotate`` tag into the matrix, so the ``tkhd`` box is
    edited directly (the file's only track)."""
    import math
    import struct

    if clockwise_degrees % 90:
        raise ValueError("rotation must be a multiple of 90 degrees")
    raw = bytearray(Path(path).read_bytes())
    at = raw.find(b"tkhd")
    if at < 0:
        raise ValueError(f"{path}: no tkhd box (not an MP4?)")
    version = raw[at + 4]
    # After the type: version/flags 4, times and ids (v0: 20 bytes, v1: 32), reserved 8,
    # layer/group/volume/reserved 8, then the 3x3 matrix of 32-bit values.
    matrix_at = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    r = math.radians(clockwise_degrees)
    cos, sin = round(math.cos(r)), round(math.sin(r))
    one = 1 << 16
    values = [cos * one, sin * one, 0, -sin * one, cos * one, 0, 0, 0, 1 << 30]
    raw[matrix_at:matrix_at + 36] = struct.pack(">9i", *values)
    Path(path).write_bytes(bytes(raw))


def decode_with_ffmpeg_cli(path: os.PathLike | str) -> np.ndarray:
    """Every frame of ``path`` as RGB ``[T, H, W, 3]`` through the FFmpeg CLI (autorotation on,
    every frame passed through) — an independent reference decoder."""
    import ffmpeg

    probe = ffmpeg.probe(str(path), select_streams="v:0")
    s = probe["streams"][0]
    w, h = int(s["width"]), int(s["height"])
    rot = 0
    for sd in s.get("side_data_list", []):
        if "rotation" in sd:
            rot = int(sd["rotation"]) % 360
    if rot in (90, 270):
        w, h = h, w
    out, _ = (
        ffmpeg.input(str(path))
        .output("pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
        .global_args("-hide_banner", "-loglevel", "error")
        .run(capture_stdout=True, capture_stderr=True)
    )
    return np.frombuffer(out, np.uint8).reshape(-1, h, w, 3)
