#!/usr/bin/env python
"""Each speed lever of the video layer measured on its own, single-threaded and with all cores.

    python benches/levers.py [VIDEO] [--reps 3]

Workloads (docs/design.md §4): W1 overview (256 frames over the whole video at the 200704-pixel budget)
and W2 (a 30 s clip at 2 fps). Reports wall seconds and process CPU seconds (user + system,
which on a shared machine is steadier than wall time) per configuration, median of --reps.
Without VIDEO, the `cargo bench` video (target/bench-videos) is used or generated.

Then: what opening costs (open + frame index, bytes read from the file), W2 on a fresh reader
(opening included), and a profile of the keyframe-snapped overview: how many samples took a
keyframe, how many moved to a cheap non-key frame, how many stayed, the packets each way decodes,
and what one keyframe costs to decode on its own.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from videotemp_o3.video import FrameBudget, VideoReader, _open_for_benchmark

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def default_video() -> Path:
    path = REPO / "target" / "bench-videos" / "h264_720p30_gop250_120s.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=120",
                        "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "250", "-keyint_min", "250",
                        "-sc_threshold", "0", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", nargs="?")
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    video = Path(a.video) if a.video else default_video()
    probe = VideoReader(video)
    n, fps = probe.num_frames, probe.metadata.avg_fps
    h, w = probe.metadata.display_size
    overview = FrameBudget(min_pixels=200704, max_pixels=200704, nframes=256)
    clip = FrameBudget(fps=2.0, min_frames=4, max_frames=64, min_pixels=200704, max_pixels=200704)
    w1, oh, ow, _ = overview.plan(n, fps, h, w)
    start = min(30.0, max(0.0, n / fps - 31))
    w2, ch, cw, _ = clip.plan(n, fps, h, w, start, start + 30)
    cores = os.cpu_count() or 1
    configs = [
        ("all levers off (seek per run, feed until output)", dict(num_threads=1, skip_nonref=False, drain=False), None),
        ("+ drain after the last target", dict(num_threads=1, skip_nonref=False), None),
        ("+ skip non-reference non-targets", dict(num_threads=1), None),
        (f"+ GOP-parallel, {cores} threads", dict(num_threads=cores), None),
        ("decode-only lower bound (1 thread)", dict(num_threads=1), "decode_only"),
        ("W1 keyframe-snapped (tolerance 5 s, 1 thread)", dict(num_threads=1), "snap"),
    ]
    print(f"{video.name}: {n} frames, {fps:.2f} fps, {w}x{h}; W1 {len(w1)} frames at {ow}x{oh}, W2 {len(w2)} frames [{start:.0f}, {start + 30:.0f}] s")
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {cores})\n")
    print("| configuration | W1 wall s | W1 CPU s | W2 wall s | W2 CPU s |")
    print("|---|---|---|---|---|")
    for name, kw, mode in configs:
        row = []
        for work, size in ((w1, (oh, ow)), (w2, (ch, cw))):
            if mode == "snap" and work is w2:
                row += ["", ""]
                continue
            walls, cpus = [], []
            for _ in range(a.reps):
                r = _open_for_benchmark(video, **kw)
                r.num_frames  # noqa: B018 — index built outside the timing, as in an agent session
                t, c = time.perf_counter(), cpu_seconds()
                if mode == "decode_only":
                    r._decode_only(work)
                elif mode == "snap":
                    r.overview(overview, snap_to_keyframes=5.0)
                else:
                    r.frames_at_indices(work, size=size)
                walls.append(time.perf_counter() - t)
                cpus.append(cpu_seconds() - c)
            row += [f"{statistics.median(walls):.2f}", f"{statistics.median(cpus):.2f}"]
        print(f"| {name} | " + " | ".join(row) + " |", flush=True)
    opening(video, a.reps)
    fresh_w2(video, w2, (ch, cw), a.reps, cores)
    snap_profile(video, overview, w1, n, fps)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


def bytes_read() -> int:
    """Bytes this process has read through read(2) (/proc/self/io rchar)."""
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


def opening(video: Path, reps: int) -> None:
    walls, cpus, reads = [], [], []
    for _ in range(reps):
        t, c, b = time.perf_counter(), cpu_seconds(), bytes_read()
        VideoReader(video, num_threads=1).num_frames  # noqa: B018 — opening and indexing is what is timed
        walls.append(time.perf_counter() - t)
        cpus.append(cpu_seconds() - c)
        reads.append(bytes_read() - b)
    size = video.stat().st_size
    print(f"\nopen + frame index: {statistics.median(walls):.3f} s wall, {statistics.median(cpus):.3f} s CPU, "
          f"read {statistics.median(reads) / 2**20:.1f} MiB of {size / 2**20:.0f} MiB")


def fresh_w2(video: Path, w2, size, reps: int, cores: int) -> None:
    print("\nW2 on a fresh reader (open + index + decode):")
    for threads in sorted({1, cores}):
        walls, cpus = [], []
        for _ in range(reps):
            t, c = time.perf_counter(), cpu_seconds()
            VideoReader(video, num_threads=threads).frames_at_indices(w2, size=size)
            walls.append(time.perf_counter() - t)
            cpus.append(cpu_seconds() - c)
        print(f"  {threads} thread(s): {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU")


def snap_profile(video: Path, overview: FrameBudget, w1, n: int, fps: float) -> None:
    r = VideoReader(video, num_threads=1)
    keys = set(int(k) for k in r.keyframes)
    spacing = n / fps / len(w1)
    tolerance = spacing / 2
    fast = r.overview(overview, snap_to_keyframes=tolerance)
    planned = [int(i) for i in w1]
    got = [int(i) for i in fast.indices]
    to_key = sum(g in keys for g in got)
    moved = sum(g not in keys and g != p for g, p in zip(got, planned))
    stayed = sum(g not in keys and g == p for g, p in zip(got, planned))
    exact_packets = r._decode_only(planned)
    fast_packets = r._decode_only(got)
    only_keys = [g for g in got if g in keys]
    c = cpu_seconds()
    key_packets = r._decode_only(only_keys)
    per_key = (cpu_seconds() - c) / max(1, len(only_keys))
    print(f"\nkeyframe-snapped overview (tolerance {tolerance:.2f} s = half the sample spacing, {len(keys)} keyframes):")
    print(f"  {to_key} samples took a keyframe, {moved} moved to a cheaper non-key frame, {stayed} stayed exact")
    print(f"  packets decoded: exact {exact_packets}, snapped {fast_packets} (keyframes alone: {key_packets})")
    print(f"  one keyframe decoded on its own: {per_key * 1000:.1f} ms CPU (decode only, 1 thread)")


if __name__ == "__main__":
    sys.exit(main())
