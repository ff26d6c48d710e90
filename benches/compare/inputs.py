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
changes brightness, at the ~3.7 Mbit/s of a typical 720p download (made by all cores in parallel,
see :func:`_make_input_pyav`), with the same spelled index in its top-left quarter. Such files are named ``*-pyav.mp4``: their content differs from the CLI's,
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


# Target bit rate of PyAV-made inputs: the 30-minute 720p file of the measurements this benchmark
# reproduces was ~3.7 Mbit/s (833 MB).
PYAV_BIT_RATE = 3_700_000


def _make_input_pyav(path: Path, *, codec: str, seconds: float, size: tuple[int, int], fps: float,
                     workers: int | None = None) -> None:
    """The input without the FFmpeg CLI: numpy frames encoded by PyAV's libx264 (see the module).

    The picture is a panning texture of noise over 8x8 blocks (luma and chroma), so x264 spends
    its whole bit budget (``PYAV_BIT_RATE``, average bit rate) on every frame, as on camera
    footage. To make a 30-minute file in minutes, ``workers`` processes (default: all cores)
    each encode a run of whole GOPs single-threaded (the most efficient x264 setting), and the
    runs are then remuxed into one file with their timestamps shifted: one GOP structure, one
    frame timeline, frames spelling their global index."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    if codec != "h264":
        raise SystemExit(f"a {codec} input needs the FFmpeg CLI (PyAV's wheel encodes H.264 only here); "
                         "install ffmpeg or use --codecs h264")
    try:
        import av  # noqa: F401
    except ImportError:
        raise SystemExit("no FFmpeg CLI and no PyAV: install one of them (apt-get install ffmpeg, or pip install av) "
                         "to generate the benchmark inputs") from None
    n = int(round(seconds * fps))
    workers = max(1, workers or os.cpu_count() or 1)
    per = -(-n // workers)
    per = -(-per // GOP) * GOP  # whole GOPs per run: keyframes stay every GOP frames
    runs = [(a, min(n, a + per)) for a in range(0, n, per)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    parts = [path.with_name(f"{path.stem}.part{k}{path.suffix}") for k in range(len(runs))]
    print(f"  generating {path.name} ({seconds:g} s of {size[0]}x{size[1]} h264 with PyAV's libx264, no FFmpeg CLI; "
          f"{len(runs)} runs in parallel) ...", end="", flush=True)
    t = time.perf_counter()
    try:
        with ProcessPoolExecutor(len(runs)) as ex:
            list(ex.map(_encode_run, [(str(q), a, b, size, fps) for q, (a, b) in zip(parts, runs)]))
        _concatenate(parts, [a for a, _ in runs], fps, tmp)
        tmp.rename(path)
    finally:
        for q in parts:
            q.unlink(missing_ok=True)
    print(f" {time.perf_counter() - t:.0f} s, {path.stat().st_size / 2**20:.0f} MiB", flush=True)


def _encode_run(job) -> None:
    """Encodes frames [first, end) of the input to ``out`` (timestamps from 0)."""
    from fractions import Fraction

    import av

    from videotemp_o3.testing.videos import spell

    out_path, first, end, (w, h), fps = job
    rng = np.random.default_rng(0)  # the same texture in every run: one continuous picture
    margin = 512

    def texture(hh, ww):
        blocks = rng.integers(0, 256, size=((hh + margin) // 8 + 1, (ww + margin) // 8 + 1), dtype=np.uint8)
        fine = rng.integers(0, 256, size=(hh + margin, ww + margin), dtype=np.uint8)
        coarse = blocks.repeat(8, 0).repeat(8, 1)[: hh + margin, : ww + margin]
        return ((coarse.astype(np.uint16) * 3 + fine) // 4).astype(np.uint8)

    luma, cb, cr = texture(h, w), texture(h // 2, w // 2), texture(h // 2, w // 2)
    qh, qw = h // 4, w // 4
    yuv = np.empty((h * 3 // 2, w), dtype=np.uint8)
    with av.open(out_path, "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.bit_rate = PYAV_BIT_RATE
        stream.codec_context.options = {"preset": "veryfast", "bf": "3", "g": str(GOP), "keyint_min": str(GOP),
                                        "sc_threshold": "0", "threads": "1"}
        for i in range(first, end):
            # Pans 2 px down and 3 px right per frame (wrapping within the margin), brightness drifts.
            dy, dx = (2 * i) % margin, (3 * i) % margin
            yuv[:h] = luma[dy:dy + h, dx:dx + w]
            if i % 90 < 45:  # slow brightness change, cheap: shifts the whole plane
                yuv[:h] //= 2
                yuv[:h] += 64
            cy, cx = dy // 2, dx // 2
            yuv[h:h + h // 4] = cb[cy:cy + h // 2, cx:cx + w // 2].reshape(h // 4, w)
            yuv[h + h // 4:] = cr[cy:cy + h // 2, cx:cx + w // 2].reshape(h // 4, w)
            # The spelled index, limited-range grey (BT.601: Y = 16 + 219 v / 255), neutral chroma.
            yuv[:qh, :qw] = (16 + spell(i, qh, qw).astype(np.uint16) * 219 // 255).astype(np.uint8)
            yuv[h:h + h // 4].reshape(h // 2, w // 2)[: qh // 2, : qw // 2] = 128
            yuv[h + h // 4:].reshape(h // 2, w // 2)[: qh // 2, : qw // 2] = 128
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = i - first
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _concatenate(parts: list[Path], firsts: list[int], fps: float, out_path: Path) -> None:
    """Remuxes the runs into one mp4, each run's timestamps shifted by its first frame's time.
    The runs share encoder settings, so the first run's stream parameters (SPS/PPS) hold for
    all; each run's decode timestamps start below its first presentation time (B-frame delay)
    but above the previous run's last one, so the timeline stays monotonic."""
    import av

    with av.open(str(out_path), "w") as out:
        ostream = None
        for part, first in zip(parts, firsts):
            with av.open(str(part)) as src:
                istream = src.streams.video[0]
                if ostream is None:
                    ostream = out.add_stream_from_template(istream)
                shift = round(first / fps / istream.time_base)
                for packet in src.demux(istream):
                    if packet.size == 0:  # the demuxer's end-of-stream marker
                        continue
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = ostream
                    out.mux(packet)


def read_frame_index(frame: np.ndarray) -> int:
    """The index spelled by the top-left quarter of an RGB frame ``[H, W, 3]`` of any size."""
    h, w = frame.shape[:2]
    return read_index(frame[: h // 4, : w // 4])
