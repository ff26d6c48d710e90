"""Test videos with known content, made with the FFmpeg CLI (driven through ffmpeg-python).

Each frame spells its own index in a 4×4 grid of dark/bright blocks (16 bits) — large enough
to survive lossy coding, resizing and rotation — so a test can read back which frame a decoder
returned, whatever the codec.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Optional, Sequence

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


CODECS: dict[str, tuple[str, dict[str, Any]]] = {
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

# AV1 encoders in order of preference (SVT-AV1 encodes test videos many times faster than libaom).
AV1_ENCODERS: dict[str, dict[str, Any]] = {
    "libsvtav1": {"preset": 12, "pix_fmt": "yuv420p"},
    "libaom-av1": {"cpu-used": 8, "pix_fmt": "yuv420p"},
}


def use_available_av1_encoder() -> bool:
    """Points ``CODECS["av1"]`` at the first of :data:`AV1_ENCODERS` the FFmpeg CLI on PATH has;
    False (``CODECS`` untouched) when it has none, so that the caller leaves AV1 out."""
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True,
                             check=True).stdout
    for encoder, options in AV1_ENCODERS.items():
        if f" {encoder} " in listing:
            CODECS["av1"] = (encoder, options)
            return True
    return False


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


# --- odd streams -----------------------------------------------------------------------------
# Files that exercise what ordinary encodes never do: hidden frames stored as packets of their
# own, timestamps that repeat or go back, a sample table claiming more than the file holds, a
# Matroska file without cues or duration, open GOPs in MPEG-TS. Each frame still spells the
# index of the source frame it shows, so a test can check what a decoder returned.

_H264_SHORT_GOP = ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "30", "-keyint_min", "30",
                   "-sc_threshold", "0", "-pix_fmt", "yuv420p"]


def _encode(path: Path, *, first: int, count: int, args: Sequence[str], size=(96, 160), fps: float = 30.0,
            to_stdout: bool = False) -> bytes:
    """Pipes frames spelling ``first .. first + count - 1`` through the FFmpeg CLI with output
    ``args`` into ``path`` (or returns the output when ``to_stdout``)."""
    import subprocess

    h, w = size
    data = b"".join(spell(i, h, w).tobytes() for i in range(first, first + count))
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", *args]
    cmd += ["-"] if to_stdout else [str(path)]
    return subprocess.run(cmd, input=data, capture_output=True, check=True).stdout


def _packets(path: Path) -> list[dict]:
    import json
    import subprocess

    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts,dts,pos,size,flags", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["packets"]


def make_vp9_hidden_frames(path: os.PathLike | str, *, frames: int = 120) -> Path:
    """VP9 in Matroska whose hidden alt-ref frames are packets of their own (FFmpeg's
    ``vp9_superframe_split``; the muxer's automatic re-joining is turned off): more packets than
    displayed frames, a hidden packet sharing its timestamp with the frame shown after it."""
    import subprocess

    path = Path(path)
    webm = path.with_suffix(".superframes.webm")
    log = path.with_suffix(".pass")
    vp9 = ["-c:v", "libvpx-vp9", "-b:v", "200k", "-deadline", "good", "-cpu-used", "4", "-auto-alt-ref", "1",
           "-lag-in-frames", "25", "-g", "60", "-pix_fmt", "yuv420p", "-passlogfile", str(log)]
    _encode(path, first=0, count=frames, args=[*vp9, "-pass", "1", "-f", "null"], to_stdout=True)
    _encode(webm, first=0, count=frames, args=[*vp9, "-pass", "2"])
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(webm), "-c", "copy",
                    "-bsf:v", "vp9_superframe_split", "-fflags", "-autobsf", str(path)], check=True)
    webm.unlink()
    for leftover in path.parent.glob(log.name + "*"):
        leftover.unlink()
    if len(_packets(path)) <= frames:
        raise RuntimeError(f"{path}: the encoder made no hidden frames; the test file would test nothing")
    return path


def make_ts_with_backward_jump(path: os.PathLike | str, *, frames: int = 200, jump_at: int = 100,
                               back_seconds: float = 2.0, fps: float = 30.0) -> Path:
    """MPEG-TS whose timestamps jump back ``back_seconds`` at frame ``jump_at`` (two encodes
    concatenated byte for byte, as a spliced broadcast is)."""
    path = Path(path)
    a, b = path.with_suffix(".a.ts"), path.with_suffix(".b.ts")
    _encode(a, first=0, count=jump_at, args=_H264_SHORT_GOP, fps=fps)
    _encode(b, first=jump_at, count=frames - jump_at, fps=fps,
            args=[*_H264_SHORT_GOP, "-output_ts_offset", f"{jump_at / fps - back_seconds:.6f}"])
    path.write_bytes(a.read_bytes() + b.read_bytes())
    a.unlink()
    b.unlink()
    return path


def make_open_gop_ts(path: os.PathLike | str, *, frames: int = 150) -> Path:
    """H.264 with open GOPs (leading B-frames of each keyframe reference the group before) in MPEG-TS."""
    _encode(Path(path), first=0, count=frames, args=[*_H264_SHORT_GOP, "-x264-params", "open-gop=1"])
    return Path(path)


def make_mkv_without_cues(path: os.PathLike | str, *, frames: int = 90) -> Path:
    """Matroska written to a pipe, as a live recorder writes it: no Cues, no Duration."""
    path = Path(path)
    path.write_bytes(_encode(path, first=0, count=frames, args=[*_H264_SHORT_GOP, "-f", "matroska"], to_stdout=True))
    return path


def make_mp4_truncated(path: os.PathLike | str, *, frames: int = 131) -> Path:
    """An MP4 (index at the front) cut in the middle of its last sample: the sample table
    claims ``frames`` samples, the file holds ``frames - 1`` whole ones."""
    path = Path(path)
    _encode(path, first=0, count=frames, args=[*_H264_SHORT_GOP, "-movflags", "+faststart"])
    pos, size = max((int(p["pos"]), int(p["size"])) for p in _packets(path))
    path.write_bytes(path.read_bytes()[: pos + size // 2])
    return path


def make_mkv_repeated_key_timestamp(path: os.PathLike | str, *, frames: int = 100, key_number: int = 2) -> Path:
    """Matroska (H.264, B-frames, a keyframe every 30 frames) whose ``key_number``-th keyframe
    carries the timestamp of the frame displayed before it: two frames share one time."""
    path = Path(path)
    _encode(path, first=0, count=frames, args=_H264_SHORT_GOP)
    raw = bytearray(path.read_bytes())
    keys = []  # (cluster timecode, offset of the block's 16-bit relative timecode)
    segment = next(e for e in _ebml_elements(raw, 0, len(raw)) if e[0] == 0x18538067)
    for eid, at, size in _ebml_elements(raw, segment[1], segment[1] + segment[2]):
        if eid != 0x1F43B675:  # Cluster
            continue
        cluster_time = 0
        for cid, cat, csize in _ebml_elements(raw, at, at + size):
            if cid == 0xE7:  # Timecode
                cluster_time = int.from_bytes(raw[cat:cat + csize], "big")
            elif cid == 0xA3:  # SimpleBlock: track number, int16 relative time, flags
                _, track_len = _ebml_vint(raw, cat, keep_marker=False)
                if raw[cat + track_len + 2] & 0x80:
                    keys.append((cluster_time, cat + track_len))
    cluster_time, rel_at = keys[key_number - 1]
    key_time = cluster_time + int.from_bytes(raw[rel_at:rel_at + 2], "big", signed=True)
    before = max(int(p["pts"]) for p in _packets(path) if int(p["pts"]) < key_time)
    raw[rel_at:rel_at + 2] = (before - cluster_time).to_bytes(2, "big", signed=True)
    path.write_bytes(bytes(raw))
    return path


def _ebml_vint(buf, at: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``at``: (value, length in bytes)."""
    first, length, mask = buf[at], 1, 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    value = first if keep_marker else first & (mask - 1)
    for k in range(1, length):
        value = (value << 8) | buf[at + k]
    return value, length


def _ebml_elements(buf, start: int, end: int):
    """(id, data offset, data size) of each EBML element between ``start`` and ``end``."""
    at = start
    while at < end:
        eid, n = _ebml_vint(buf, at, keep_marker=True)
        size, m = _ebml_vint(buf, at + n, keep_marker=False)
        if size == (1 << (7 * m)) - 1:  # unknown size: runs to the end of the parent
            size = end - (at + n + m)
        yield eid, at + n + m, size
        at += n + m + size


ODD_VIDEOS = {
    # kind: (maker, file name, frames a sequential decode displays)
    "vp9_hidden_frames_mkv": (make_vp9_hidden_frames, "vp9_hidden.mkv", 120),
    "mpegts_backward_timestamps": (make_ts_with_backward_jump, "backward.ts", 200),
    "mpegts_open_gop": (make_open_gop_ts, "open_gop.ts", 150),
    "mkv_repeated_key_timestamp": (make_mkv_repeated_key_timestamp, "repeated_key.mkv", 100),
    "mp4_table_beyond_data": (make_mp4_truncated, "truncated.mp4", 130),
    "mkv_without_cues_or_duration": (make_mkv_without_cues, "no_cues.mkv", 90),
}
"""Odd test videos by kind: how to make each, and how many frames a sequential decode shows."""
