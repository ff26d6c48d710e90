"""Benchmark inputs: 1280x720 30 fps videos with moving content whose frames spell their own index.

The picture is lavfi ``testsrc2`` (moving shapes, gradients, a running counter: about 2.6 Mb/s of
H.264 at 720p, a realistic load for the decoder) with the indexed pattern of
:mod:`videotemp_o3.testing.videos` overlaid on its top-left quarter (320x180 at 720p). After any
resize the top-left quarter of a returned frame still spells the frame's index, so every library's
frames can be checked for identity with :func:`read_frame_index`.

Everything is made by the FFmpeg CLI in one pass (the pattern is drawn by ``geq`` on a 64x36
picture and scaled up with nearest-neighbour), so a 30-minute input needs no Python frame pipe.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from videotemp_o3.testing.videos import BRIGHT, DARK, GRID, read_index

# Long, fixed GOP (250 frames = 8.3 s at 30 fps) and B-frames make exact seeking non-trivial.
GOP = 250
CODECS = {
    "h264": ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", str(GOP), "-keyint_min", str(GOP),
             "-sc_threshold", "0", "-pix_fmt", "yuv420p"],
    # x265 keeps its default open GOP (CRA keyframes with leading pictures): what real HEVC files do.
    "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-tag:v", "hvc1",
             "-x265-params", f"log-level=none:bframes=3:keyint={GOP}:min-keyint={GOP}:scenecut=0"],
}


def _pattern_filter(width: int, height: int, fps: float, seconds: float) -> str:
    """lavfi graph drawing :func:`videotemp_o3.testing.videos.spell` of the frame number N on a
    quarter-size picture: bit b sits in block (b // GRID, b % GRID), bright when set."""
    bit = f"floor(Y*{GRID}/H)*{GRID}+floor(X*{GRID}/W)"
    lum = f"{DARK}+{BRIGHT - DARK}*mod(floor(N/pow(2\\,{bit}))\\,2)"
    return (f"nullsrc=size=64x36:rate={fps}:duration={seconds},format=gray,geq=lum='{lum}',"
            f"scale={width // 4}:{height // 4}:flags=neighbor")


def make_input(path: Path, *, codec: str, seconds: float, size: tuple[int, int] = (1280, 720),
               fps: float = 30.0) -> Path:
    """Writes (once; an existing file is reused) a ``size = (width, height)`` video of ``seconds``
    at ``fps`` in ``codec`` ("h264" or "hevc")."""
    path = Path(path)
    if path.exists():
        return path
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the FFmpeg CLI is needed to generate the benchmark inputs: apt-get install ffmpeg")
    w, h = size
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate={fps}:duration={seconds}",
           "-f", "lavfi", "-i", _pattern_filter(w, h, fps, seconds),
           "-filter_complex", "[0:v][1:v]overlay=0:0:shortest=1,format=yuv420p",
           *CODECS[codec], str(tmp)]
    print(f"  generating {path.name} ({seconds:g} s of {w}x{h} {codec}) ...", end="", flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    tmp.rename(path)
    print(f" {time.perf_counter() - t:.0f} s", flush=True)
    return path


def read_frame_index(frame: np.ndarray) -> int:
    """The index spelled by the top-left quarter of an RGB frame ``[H, W, 3]`` of any size."""
    h, w = frame.shape[:2]
    return read_index(frame[: h // 4, : w // 4])
