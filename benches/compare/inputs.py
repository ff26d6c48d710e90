"""Benchmark inputs: 1280x720 30 fps videos with moving content whose frames spell their own index.

The picture is lavfi ``testsrc2`` (moving shapes, gradients, a running counter: about 2.6 Mb/s of
H.264 at 720p, a realistic load for the decoder) with the indexed pattern of
:mod:`videotemp_o3.testing.videos` overlaid on its top-left quarter (320x180 at 720p). After any
resize the top-left quarter of a returned frame still spells the frame's index, so every library's
frames can be checked for identity with :func:`read_frame_index`.

Everything is made by the FFmpeg CLI in one pass (the pattern is drawn by ``geq`` on a 64x36
picture and scaled up with nearest-neighbour), so a 30-minute input needs no Python frame pipe.
Where there is no FFmpeg CLI (the GPU machine), H.264 inputs are encoded with the libx264 that
PyAV's wheel carries, same settings, from frames drawn in numpy: a textured picture that pans and
changes brightness (x264 codes it at a few Mb/s, like ``testsrc2``) with the same spelled index
in its top-left quarter. Such files are named ``*-pyav.mp4``: their content differs from the CLI's,
so compare timings only between runs on the same file.
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
    if shutil.which("ffmpeg") is None:
        path = path.with_name(path.stem + "-pyav" + path.suffix)
        if not path.exists():
            _make_input_pyav(path, codec=codec, seconds=seconds, size=size, fps=fps)
        return path
    if path.exists():
        return path
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


def _make_input_pyav(path: Path, *, codec: str, seconds: float, size: tuple[int, int], fps: float) -> None:
    """The input without the FFmpeg CLI: numpy frames encoded by PyAV's libx264 (see the module)."""
    from fractions import Fraction

    from videotemp_o3.testing.videos import spell

    if codec != "h264":
        raise SystemExit(f"a {codec} input needs the FFmpeg CLI (PyAV's wheel encodes H.264 only here); "
                         "install ffmpeg or use --codecs h264")
    try:
        import av
    except ImportError:
        raise SystemExit("no FFmpeg CLI and no PyAV: install one of them (apt-get install ffmpeg, or pip install av) "
                         "to generate the benchmark inputs") from None
    w, h = size
    n = int(round(seconds * fps))
    qh, qw = h // 4, w // 4
    # A bank of 150 pictures (5 s) of a textured image that pans and changes brightness, in
    # yuv420p, cycled: each output frame is a copy of one with its index written into the luma
    # of the top-left quarter (kept grey in the bank, so its chroma is neutral). The cycle is far
    # longer than x264's reference window, so encoding and decoding cost what fresh content does.
    rng = np.random.default_rng(0)
    tex = rng.integers(0, 256, size=(h // 4, w // 4, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    tex = ((tex.astype(np.uint16) + np.roll(tex, 3, axis=1) + np.roll(tex, 3, axis=0)) // 3).astype(np.uint8)
    bank = []
    for i in range(150):
        dy, dx = (i * 2) % h, (i * 3) % w
        rgb = np.clip(tex[dy:dy + h, dx:dx + w].astype(np.int16) + int(40 * np.sin(i / 24)), 0, 255).astype(np.uint8)
        rgb[:qh, :qw] = 128
        bank.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray())
    # Limited-range luma of the spelled grey levels (BT.601: Y = 16 + 219 * v / 255).
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    print(f"  generating {path.name} ({seconds:g} s of {w}x{h} h264 with PyAV's libx264, no FFmpeg CLI) ...", end="", flush=True)
    t = time.perf_counter()
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.options = {"preset": "veryfast", "bf": "3", "g": str(GOP), "keyint_min": str(GOP),
                                        "sc_threshold": "0"}
        stream.thread_type = "AUTO"
        for i in range(n):
            yuv = bank[i % len(bank)].copy()
            yuv[:qh, :qw] = (16 + spell(i, qh, qw).astype(np.uint16) * 219 // 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(path)
    print(f" {time.perf_counter() - t:.0f} s", flush=True)


def read_frame_index(frame: np.ndarray) -> int:
    """The index spelled by the top-left quarter of an RGB frame ``[H, W, 3]`` of any size."""
    h, w = frame.shape[:2]
    return read_index(frame[: h // 4, : w // 4])
