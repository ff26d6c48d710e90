#!/usr/bin/env python
"""Decoding side by side: our video layer against what users would pick instead, on the same
work, in the same run.

    python benches/compare/run.py [--long] [--threads 1,2,16] [--reps N] [--out DIR]

Inputs (generated once, cached in target/bench-videos): 1280x720 30 fps, H.264 (B-frames, GOP
250) and HEVC (B-frames, open GOP 250), moving content whose top-left quarter spells each frame's
index; made by the FFmpeg CLI, or, where there is none (the GPU machine), H.264 by PyAV's libx264
(inputs.py). Two regular runs: 2 minutes of H.264 and HEVC by default (the length `cargo bench`
uses; it keeps the default run under 15 minutes on 2 cores), and --long, the 30-minute H.264 file
(the length of LVBench-class videos, where opening and the index cost most); any length with
--seconds.

Threads: every library runs at each count of --threads (default: all cores), set through its
own threading knob (peers.py), so a row is a library at a thread count ("pyav@16") and × compares
libraries at the same count.

Workloads (docs/design.md §4), every library asked for the same frame indices at the same size
(FrameBudget.plan, i.e. what qwen-vl-utils picks; 588x336 for 720p):
  W1 overview  256 frames by linspace over the whole video at 200704 px/frame
  W2 clip      [S, S + 30 s] at 2 fps (60 frames), a fresh reader
  W3 session   W1 then two W2 clips on the same open reader (W1 is timed as W3's first step)
S is random (--seed) and the same for every library within a repetition.

Each library runs in its own process per repetition (W3 session, then W2 on a fresh reader),
round-robin over libraries with the order rotated every repetition. Reported: frames/s (median and
min-max over repetitions; the first request includes opening the file, imports do not count), the
ratio to the fastest peer that returned the right frames, peak RSS of the process (getrusage of the
child), threads (setting / peak OS threads / CPU s per wall s), and frame identity: every returned
frame's spelled index must be the planned one (the fast overview: the one it reports), plus the
mean absolute pixel difference to our frames on a few frames (explained by the resizers).

Writes results.md, results.json and chart.png to --out (default benches/out/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from inputs import GOP, make_input  # noqa: E402
from peers import OURS, ROWS, row_env  # noqa: E402

WORKLOADS = ("W1", "W2", "W3")
PIXELS = 200704
OVERVIEW_FRAMES = 256
CLIP_SECONDS = 30.0
CLIP_FPS = 2.0
# Frames kept for the pixel comparison with ours (positions within the request).
KEEP = {"overview": [0, 63, 127, 191, 255], "clip": [0, 29, 59]}
REFERENCE_ROW = "ours"


def run_key(row: str, threads: int) -> str:
    """A row of the tables: a library at a thread count."""
    return f"{row}@{threads}"


def split_key(key: str) -> tuple[str, int]:
    row, _, t = key.rpartition("@")
    return row, int(t)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--long", action="store_true",
                   help="the 30-minute 1280x720 30 fps H.264 input (GOP 250, B-frames) instead of the 2-minute ones")
    p.add_argument("--threads", default=str(os.cpu_count() or 1),
                   help="comma-separated thread counts, every library at each (default: all cores, %(default)s)")
    p.add_argument("--reps", type=int, default=3, help="repetitions per library (default 3)")
    p.add_argument("--out", type=Path, default=REPO / "benches" / "out", help="output folder (default benches/out)")
    p.add_argument("--seconds", type=float, help="input length in seconds (overrides the 120 s / --long 1800 s)")
    p.add_argument("--size", default="1280x720", help="input WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--codecs", help="comma-separated: h264,hevc (default h264,hevc; h264 with --long)")
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of: {','.join(ROWS)}")
    p.add_argument("--videos", type=Path, default=REPO / "target" / "bench-videos", help="input cache folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the random clip starts")
    p.add_argument("--snap-tolerance", type=float,
                   help="ours-fast: seconds a W1 sample may move to a keyframe (default: half the sample spacing)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per library process before it is stopped")
    p.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                   help="only rewrite results.md and chart.png (in --out) from a results.json of an earlier run")
    a = p.parse_args(argv)
    a.codecs = [c for c in (a.codecs or ("h264" if a.long else "h264,hevc")).split(",") if c]
    try:
        a.threads = sorted({int(t) for t in a.threads.split(",") if t.strip()})
    except ValueError:
        p.error(f"--threads must be comma-separated integers, got {a.threads!r}")
    if not a.threads or min(a.threads) < 1:
        p.error(f"--threads must be positive integers, got {a.threads}")
    a.rows = [r for r in a.rows.split(",") if r]
    bad = [r for r in a.rows if r not in ROWS]
    if bad:
        p.error(f"unknown rows {bad}; known: {', '.join(ROWS)}")
    a.seconds = a.seconds or (1800.0 if a.long else 120.0)
    a.size = tuple(int(x) for x in a.size.lower().split("x"))
    return a


def load1() -> float:
    return os.getloadavg()[0]


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores; /proc/stat, idle and iowait excluded)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- planning ------------------------------------------------------------------------------


def plan_codec(video: Path, seconds: float, reps: int, seed: int):
    """Our reader gives the frame count; FrameBudget.plan gives indices and size for everyone."""
    import numpy as np

    from videotemp_o3.video import FrameBudget, VideoReader

    r = VideoReader(video, num_threads=1)
    n, fps = r.num_frames, r.metadata.avg_fps
    h, w = r.metadata.display_size
    overview = FrameBudget(min_pixels=PIXELS, max_pixels=PIXELS, nframes=OVERVIEW_FRAMES)
    clip = FrameBudget(fps=CLIP_FPS, min_frames=4, max_frames=64, min_pixels=PIXELS, max_pixels=PIXELS)
    w1, oh, ow, _ = overview.plan(n, fps, h, w)
    duration = n / fps
    rng = np.random.default_rng(seed)
    reps_starts = []
    for _ in range(reps):
        # Whole centiseconds, within the video so every clip is the full 30 s.
        reps_starts.append([round(float(s), 2) for s in rng.uniform(0, max(0.0, duration - CLIP_SECONDS - 1), 3)])

    def clip_request(s):
        idx, ch, cw, _ = clip.plan(n, fps, h, w, s, s + CLIP_SECONDS)
        return {"kind": "clip", "start": s, "end": s + CLIP_SECONDS, "indices": [int(i) for i in idx], "size": [ch, cw]}

    return {
        "video": str(video), "frames": n, "fps": fps, "width": w, "height": h, "duration": duration,
        "overview": {"kind": "overview", "indices": [int(i) for i in w1], "size": [oh, ow]},
        "clips": [[clip_request(s) for s in starts] for starts in reps_starts],
    }


def task_for(row: str, threads: int, plan: dict, rep: int, options: dict, frames_out: str | None) -> dict:
    w2, c1, c2 = plan["clips"][rep]
    w1 = dict(plan["overview"])
    sessions = [[w1, dict(c1), dict(c2)], [dict(w2)]]
    if frames_out:
        for req in sessions[0]:
            req["save_frames"] = KEEP[req["kind"]]
    return {"row": row, "threads": threads, "video": plan["video"], "options": options, "sessions": sessions,
            "frames_out": frames_out}


# --- running one process -------------------------------------------------------------------


def run_process(row: str, task: dict, timeout: float, workdir: Path) -> dict:
    """Runs the worker for ``task``; returns its result plus the child's rusage and peak threads."""
    tf = workdir / f"task-{row}@{task['threads']}.json"
    tf.write_text(json.dumps(task))
    env = {**os.environ, **row_env(row), "PYTHONUNBUFFERED": "1"}
    with open(workdir / "stdout", "w+") as so, open(workdir / "stderr", "w+") as se:
        busy0, own0 = busy_cpu_seconds(), own_cpu_seconds()
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, str(HERE / "worker.py"), str(tf)], stdout=so, stderr=se, env=env,
                             cwd=str(REPO), start_new_session=True)
        peak_threads, status, ru, timed_out = 0, None, None, False
        try:
            peak_threads, status, ru, timed_out = _watch(p, t0, timeout)
        except BaseException:  # interrupted: take our child down with us
            try:
                os.killpg(p.pid, 9)
                os.wait4(p.pid, 0)
            except OSError:
                pass
            raise
        p.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t0
        # What other processes took from the machine meanwhile (cores, averaged over the run).
        child_cpu = ru.ru_utime + ru.ru_stime
        other = busy_cpu_seconds() - busy0 - (own_cpu_seconds() - own0) - child_cpu
        other_cores = max(0.0, other) / elapsed
        so.seek(0)
        se.seek(0)
        out, err = so.read(), se.read()
    line = next((text for text in out.splitlines() if text.startswith("RESULT ")), None)
    if timed_out or p.returncode != 0 or line is None:
        why = f"timed out after {timeout:.0f} s" if timed_out else f"exit {p.returncode}: " + (err.strip().splitlines() or ["?"])[-1][:300]
        return {"ok": False, "error": why, "elapsed_s": elapsed, "other_cores": other_cores}
    res = json.loads(line[len("RESULT "):])
    res.update(ok=True, elapsed_s=elapsed, peak_rss_mib=ru.ru_maxrss / 1024, peak_threads=peak_threads,
               process_cpu_s=child_cpu, other_cores=other_cores)
    return res


def _watch(p, t0: float, timeout: float):
    """Waits for the child, sampling its OS thread count; stops it (its own session) at timeout."""
    peak_threads = 0
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            return peak_threads, status, ru, False
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("Threads:"):
                        peak_threads = max(peak_threads, int(line.split()[1]))
        except OSError:
            pass
        if time.perf_counter() - t0 > timeout:
            os.killpg(p.pid, 9)
            _, status, ru = os.wait4(p.pid, 0)
            return peak_threads, status, ru, True
        time.sleep(0.02)


# --- checking and summarising --------------------------------------------------------------


def check_run(row: str, res: dict, plan: dict, rep: int) -> dict:
    """Frame identity of one run: every frame spells the index it should."""
    w2, c1, c2 = plan["clips"][rep]
    planned = [plan["overview"]["indices"], c1["indices"], c2["indices"], w2["indices"]]
    reqs = res["sessions"][0] + res["sessions"][1]
    wrong, total, snapped, shift, notes = [], 0, 0, 0, []
    for want, rec in zip(planned, reqs):
        if "spelled" not in rec:  # decode-only: no frames
            continue
        expect = want
        if row == "ours-fast" and rec["kind"] == "overview":
            expect = rec["reported"]
            snapped += sum(a != b for a, b in zip(expect, want))
            shift = max([shift] + [abs(a - b) for a, b in zip(expect, want)])
        elif rec.get("reported") is not None and rec["reported"] != want:
            notes.append("reported indices differ from the planned ones")
        total += len(want)
        if len(rec["spelled"]) != len(expect):
            wrong.append((rec["kind"], f"{len(rec['spelled'])} frames instead of {len(expect)}"))
            continue
        for a, b in zip(expect, rec["spelled"]):
            if a != b:
                wrong.append((rec["kind"], f"wanted {a} got {b}"))
    return {"total": total, "wrong": wrong, "snapped": snapped, "max_shift_frames": shift, "notes": notes,
            "checked": total > 0}


def pixel_diff(frames_dir: Path, codec: str, key: str) -> float | None:
    """Mean absolute difference (0-255) to our frames (same thread count) on the kept frames
    (fast overview skipped)."""
    import numpy as np

    row, threads = split_key(key)
    mine, ref = frames_dir / f"{codec}-{key}.npz", frames_dir / f"{codec}-{run_key(REFERENCE_ROW, threads)}.npz"
    if not (mine.exists() and ref.exists()):
        return None
    a, b = np.load(mine), np.load(ref)
    diffs = []
    for name in a.files:
        if name not in b.files or (row == "ours-fast" and name == "s0r0"):
            continue
        x, y = a[name].astype(np.int16), b[name].astype(np.int16)
        if x.shape == y.shape:
            diffs.append(float(np.abs(x - y).mean()))
    return max(diffs) if diffs else None


def summarise(runs: list[dict], checks: list[dict], plan: dict) -> dict:
    ok = [r for r in runs if r["ok"]]
    s = {"runs": len(runs), "failed": [r["error"] for r in runs if not r["ok"]]}
    if not ok:
        return s
    n1 = len(plan["overview"]["indices"])
    fps = {"W1": [], "W2": [], "W3": []}
    for r in ok:
        sess, w2 = r["sessions"][0], r["sessions"][1][0]
        fps["W1"].append(n1 / sess[0]["wall_s"])
        fps["W2"].append(len(w2["requested"]) / w2["wall_s"])
        fps["W3"].append(sum(len(q["requested"]) for q in sess) / sum(q["wall_s"] for q in sess))
    s["fps"] = {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v} for k, v in fps.items()}
    s["rss_w1_mib"] = statistics.median(r["sessions"][0][0]["maxrss_mib"] for r in ok)
    s["rss_peak_mib"] = statistics.median(r["peak_rss_mib"] for r in ok)
    s["rss_imports_mib"] = statistics.median(r["rss_after_imports_mib"] for r in ok)
    s["peak_threads"] = max(r["peak_threads"] for r in ok)
    s["cpu_w3_s"] = statistics.median(sum(q["cpu_s"] for q in r["sessions"][0]) for r in ok)
    s["cores_busy_w3"] = statistics.median(sum(q["cpu_s"] for q in r["sessions"][0]) / sum(q["wall_s"] for q in r["sessions"][0]) for r in ok)
    packets = [q.get("packets") for r in ok for q in r["sessions"][0][:1]]
    s["packets_w1"] = packets[0] if packets and packets[0] is not None else None
    s["frames_total"] = sum(c["total"] for c in checks)
    s["frames_wrong"] = sum(len(c["wrong"]) for c in checks)
    s["wrong_examples"] = [w for c in checks for w in c["wrong"]][:3]
    s["identity_checked"] = any(c["checked"] for c in checks)
    s["snapped"] = max((c["snapped"] for c in checks), default=0)
    s["max_shift_frames"] = max((c["max_shift_frames"] for c in checks), default=0)
    s["notes"] = sorted({n for c in checks for n in c["notes"]})
    return s


# --- output --------------------------------------------------------------------------------


def fmt_fps(f: dict | None) -> str:
    if not f:
        return "—"
    return f"{f['median']:.1f} ({f['min']:.1f}–{f['max']:.1f})"


def identity_cell(row: str, s: dict) -> str:
    if not s.get("identity_checked"):
        return "n/a (no frames returned)" if row == "ours-decode-only" else "—"
    if s["frames_wrong"]:
        ex = "; ".join(f"{k}: {w}" for k, w in s["wrong_examples"])
        return f"**✗ DIFFERENT FRAMES** {s['frames_wrong']}/{s['frames_total']} ({ex})"
    cell = f"✓ {s['frames_total']}/{s['frames_total']}"
    if row == "ours-fast":
        cell += f" (W1: {s['snapped']}/{OVERVIEW_FRAMES} snapped to keyframes by design, ≤ {s['max_shift_frames']} frames away; reported indices true)"
    if s["notes"]:
        cell += " — " + "; ".join(s["notes"])
    return cell


def fastest_peer(summary: dict, workload: str, threads: int):
    """The fastest peer (not ours) at ``threads`` that returned the right frames: (key, f/s)."""
    best = None
    for row, s in summary.items():
        lib, t = split_key(row)
        if t != threads or lib in OURS or "fps" not in s or s["frames_wrong"] or not s["identity_checked"]:
            continue
        v = s["fps"][workload]["median"]
        if best is None or v > best[1]:
            best = (row, v)
    return best


def write_markdown(path: Path, meta: dict, plans: dict, summary: dict, unavailable: dict, versions: dict,
                   resizers: dict) -> str:
    L = []
    L.append("# Decoding side by side\n")
    L.append(f"Command: `{meta['command']}`  ")
    L.append(f"Machine: {meta['machine']}; {meta['cores']} cores. Started {meta['started']}, {meta['minutes']:.1f} min.  ")
    L.append(f"Load average (1 min) before the first run {meta['load_start']:.2f} (during the runs the load average counts the "
             f"benchmark's own processes). Other processes' CPU use while the libraries ran, measured from /proc/stat minus the "
             f"benchmark's own: {meta['other_cores_mean']:.2f} cores on average, {meta['other_cores_max']:.2f} in the worst run."
             + ("" if meta["other_cores_mean"] < 0.25 else
                " **Taken under load: other work shared the CPUs; compare rows, not absolute numbers.**"))
    L.append("")
    L.append(f"{meta['reps']} repetitions, one process per library per repetition, libraries round-robin (order rotated each repetition). "
             "frames/s = frames delivered ÷ wall time, median (min–max); the first request of a reader includes opening the file, "
             "imports excluded. W1 = 256-frame overview, W2 = 30 s clip at 2 fps (60 frames) on a fresh reader, W3 = W1 + two clips "
             "on one reader (376 frames; W1 is W3's first step). Rows are library@threads: every library at the same thread count, "
             "set through its own threading knob. × = ratio to the fastest peer (not ours) at the same thread count that returned the right frames. "
             "RSS = peak resident memory of the process (W1 = after W1; peak = whole process incl. W3 and W2), imports included "
             "(after imports: see the last table). W3 CPU s = process CPU time (all threads) over W3, median: steadier than wall time when the machine is shared. "
             "Threads = setting / peak OS threads of the process / CPU s per wall s over W3.")
    L.append("")
    L.append(f"Input made by: {meta.get('input_maker', 'the FFmpeg CLI')}.")
    L.append("")
    for codec, plan in plans.items():
        L.append(f"## {codec}: {plan['width']}x{plan['height']}, {plan['duration']:.0f} s, {plan['frames']} frames at {plan['fps']:g} fps, GOP {GOP}, B-frames")
        L.append("")
        L.append(f"Output {plan['overview']['size'][1]}x{plan['overview']['size'][0]}; clip starts per repetition (W2, W3 clips): "
                 + ", ".join("[" + ", ".join(f"{c['start']:.2f}" for c in reps) + "]" for reps in plan["clips"]) + " s.")
        L.append("")
        L.append("| row | W1 f/s | W1 × | W2 f/s | W2 × | W3 f/s | W3 × | W3 CPU s | RSS MiB W1 / peak | threads | frames identical |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        thread_counts = sorted({split_key(k)[1] for k in summary[codec]})
        best = {(w, t): fastest_peer(summary[codec], w, t) for w in WORKLOADS for t in thread_counts}
        for row, s in sorted(summary[codec].items(), key=lambda kv: split_key(kv[0])[1]):
            lib, threads = split_key(row)
            if "fps" not in s:
                L.append(f"| {row} | failed: {'; '.join(s.get('failed', []))[:200]} ||||||||||")
                continue
            cells = [f"**{row}**" if lib in OURS else row]
            for w in WORKLOADS:
                b = best[(w, threads)]
                cells.append(fmt_fps(s["fps"][w]))
                cells.append(f"{s['fps'][w]['median'] / b[1]:.2f}×" if b else "—")
            cells.append(f"{s['cpu_w3_s']:.1f}")
            cells.append(f"{s['rss_w1_mib']:.0f} / {s['rss_peak_mib']:.0f}")
            cells.append(f"{threads} / {s['peak_threads']} / {s['cores_busy_w3']:.2f}")
            cell = identity_cell(lib, s)
            if s.get("pixel_mae") is not None and lib != REFERENCE_ROW:
                cell += f"; MAE vs ours {s['pixel_mae']:.2f}"
            if s.get("packets_w1") is not None:
                cell += f"; W1 decoded {s['packets_w1']} packets"
            if s.get("failed"):
                cell += f"; {len(s['failed'])} run(s) failed: {s['failed'][0][:120]}"
            cells.append(cell)
            L.append("| " + " | ".join(cells) + " |")
        fastest = ", ".join(f"{w}@{t}: {b[0]}" for (w, t), b in best.items() if b)
        L.append("")
        L.append(f"Fastest peer: {fastest or 'none'}.")
        L.append("")
    L.append("## Libraries")
    L.append("")
    L.append("| row | what it calls | version (FFmpeg) | resize | RSS after imports MiB |")
    L.append("|---|---|---|---|---|")
    libs = list(dict.fromkeys(split_key(k)[0] for k in summary[next(iter(summary))])) if summary else []
    for row in libs:
        rss = [summary[c][k].get("rss_imports_mib") for c in summary for k in summary[c] if split_key(k)[0] == row]
        rss = next((x for x in rss if x is not None), None)
        L.append(f"| {row} | {ROWS[row][1]} | {versions.get(row, '')} | {resizers[row]} | {rss:.0f} |" if rss is not None
                 else f"| {row} | {ROWS[row][1]} | {versions.get(row, '')} | {resizers[row]} | — |")
    if unavailable:
        L.append("")
        L.append("Not run:")
        L.append("")
        for row, why in unavailable.items():
            L.append(f"- {row}: {why}")
    L.append("")
    L.append(f"ours-fast snap tolerance: {meta['snap_tolerance']:.3f} s (half the W1 sample spacing unless --snap-tolerance). "
             "MAE vs ours = mean absolute difference (0–255) to our exact frames on the kept frames (5 of W1, 3 of each W3 clip; the largest over requests): "
             "identity is decided by the spelled index, the MAE only shows how far the resizers and colour conversions drift.")
    text = "\n".join(L) + "\n"
    path.write_text(text)
    return text


def write_chart(path: Path, plans: dict, summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    codecs = list(plans)
    fig, axes = plt.subplots(1, len(codecs), figsize=(7 * len(codecs), 0.5 * len(next(iter(summary.values()))) + 2.5),
                             squeeze=False)
    colours = {"W1": "#4c72b0", "W2": "#dd8452", "W3": "#55a868"}
    for ax, codec in zip(axes[0], codecs):
        rows = [r for r, s in sorted(summary[codec].items(), key=lambda kv: split_key(kv[0])[1]) if "fps" in s]
        y = np.arange(len(rows))
        for k, w in enumerate(WORKLOADS):
            med = np.array([summary[codec][r]["fps"][w]["median"] for r in rows])
            lo = med - np.array([summary[codec][r]["fps"][w]["min"] for r in rows])
            hi = np.array([summary[codec][r]["fps"][w]["max"] for r in rows]) - med
            ax.barh(y + (k - 1) * 0.27, med, height=0.27, xerr=[lo, hi], color=colours[w], label=w, capsize=2)
        labels = []
        for r in rows:
            s = summary[codec][r]
            flag = " (≠ frames)" if s["frames_wrong"] else (" (snapped)" if split_key(r)[0] == "ours-fast" else "")
            labels.append(r + flag)
        ax.set_yticks(y, labels)
        for tick, r in zip(ax.get_yticklabels(), rows):
            if split_key(r)[0] in OURS:
                tick.set_fontweight("bold")
        ax.invert_yaxis()
        ax.set_xlabel("frames/s (median, whiskers min–max)")
        ax.set_title(f"{codec} {plans[codec]['width']}x{plans[codec]['height']}, {plans[codec]['duration']:.0f} s")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main ----------------------------------------------------------------------------------


def probe_rows(rows: list[str]):
    def probe(row):
        p = subprocess.run([sys.executable, str(HERE / "worker.py"), "--probe", row], capture_output=True, text=True,
                           env={**os.environ, **row_env(row)}, cwd=str(REPO))
        try:
            return row, json.loads(p.stdout.strip().splitlines()[-1])
        except Exception:  # noqa: BLE001 — whatever the probe printed, the row is reported as failed
            return row, {"ok": False, "reason": (p.stderr.strip().splitlines() or ["probe failed"])[-1][:300]}

    with ThreadPoolExecutor(4) as ex:
        return dict(ex.map(probe, rows))


def render(a) -> int:
    d = json.loads(a.render.read_text())
    libs = {split_key(k)[0] for k in next(iter(d["summary"].values()))}
    a.out.mkdir(parents=True, exist_ok=True)
    text = write_markdown(a.out / "results.md", d["meta"], d["plans"], d["summary"], d["unavailable"], d["versions"],
                          {r: ROWS[r][0].resize for r in libs})
    write_chart(a.out / "chart.png", d["plans"], d["summary"])
    print(text)
    return 0


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.render:
        return render(a)
    # A stop (SIGTERM) unwinds like Ctrl-C: the running child is killed, the temp folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.time()
    a.out.mkdir(parents=True, exist_ok=True)
    load_start = load1()
    print(f"load average (1 min): {load_start:.2f} on {os.cpu_count()} cores"
          + ("" if load_start < 0.5 else "  -- other work is running: timings will be taken under load"))
    print("checking libraries ...", flush=True)
    probes = probe_rows(a.rows)
    rows = [r for r in a.rows if probes[r]["ok"]]
    unavailable = {r: probes[r]["reason"] for r in a.rows if not probes[r]["ok"]}
    versions = {r: probes[r].get("version", "") for r in rows}
    for r in a.rows:
        print(f"  {r:18s} {versions[r] if r in versions else 'NOT RUN: ' + unavailable[r]}")
    if not rows:
        raise SystemExit("no library can run here")

    print("inputs ...", flush=True)
    w, h = a.size
    plans = {}
    for codec in a.codecs:
        video = make_input(a.videos / f"compare_{codec}_{w}x{h}_{a.seconds:g}s.mp4", codec=codec, seconds=a.seconds, size=(w, h))
        plans[codec] = plan_codec(video, a.seconds, a.reps, a.seed)
    first = plans[a.codecs[0]]
    snap = a.snap_tolerance if a.snap_tolerance is not None else first["duration"] / OVERVIEW_FRAMES / 2
    options = {"pixels": PIXELS, "overview_frames": OVERVIEW_FRAMES, "clip_fps": CLIP_FPS, "snap_tolerance": snap}

    keys = [run_key(r, t) for t in a.threads for r in rows]
    runs = {c: {k: [] for k in keys} for c in a.codecs}
    checks = {c: {k: [] for k in keys} for c in a.codecs}
    others = []
    total = a.reps * len(a.codecs) * len(keys)
    done = 0
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        tmp = Path(tmp)
        frames_dir = tmp / "frames"
        frames_dir.mkdir()
        for rep in range(a.reps):
            order = keys[rep % len(keys):] + keys[: rep % len(keys)]
            for codec in a.codecs:
                for key in order:
                    row, threads = split_key(key)
                    frames_out = str(frames_dir / f"{codec}-{key}.npz") if rep == 0 else None
                    task = task_for(row, threads, plans[codec], rep, options, frames_out)
                    res = run_process(row, task, a.timeout, tmp)
                    done += 1
                    others.append(res["other_cores"])
                    runs[codec][key].append(res)
                    if res["ok"]:
                        chk = check_run(row, res, plans[codec], rep)
                        checks[codec][key].append(chk)
                        s0 = res["sessions"][0]
                        status = "frames ok" if not chk["wrong"] else f"{len(chk['wrong'])} WRONG FRAMES"
                        if not chk["checked"]:
                            status = "no frames (lower bound)"
                        print(f"[{done}/{total}] rep {rep + 1} {codec:4s} {key:21s} W1 {s0[0]['wall_s']:6.2f} s  "
                              f"W3 {sum(q['wall_s'] for q in s0):6.2f} s  W2 {res['sessions'][1][0]['wall_s']:5.2f} s  "
                              f"RSS {res['peak_rss_mib']:5.0f} MiB  {status}  (others: {res['other_cores']:.2f} cores)", flush=True)
                    else:
                        print(f"[{done}/{total}] rep {rep + 1} {codec:4s} {key:21s} FAILED: {res['error']}", flush=True)
                    if res["other_cores"] > 0.5:
                        print(f"    note: other processes used {res['other_cores']:.2f} cores during that run", flush=True)
        summary = {c: {k: summarise(runs[c][k], checks[c][k], plans[c]) for k in keys} for c in a.codecs}
        for c in a.codecs:
            for k in keys:
                summary[c][k]["pixel_mae"] = pixel_diff(frames_dir, c, k)

    meta = {
        "command": " ".join(["python benches/compare/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.processor() or platform.machine()} {_cpu_model()}",
        "cores": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(t_start)),
        "minutes": (time.time() - t_start) / 60, "load_start": load_start, "load_end": load1(),
        "other_cores_mean": statistics.mean(others) if others else 0.0, "other_cores_max": max(others, default=0.0),
        "reps": a.reps, "snap_tolerance": snap, "threads": a.threads,
        "input_maker": ("PyAV's libx264 (no FFmpeg CLI on this machine)" if shutil.which("ffmpeg") is None
                        else "the FFmpeg CLI"),
    }
    resizers = {r: ROWS[r][0].resize for r in rows}
    text = write_markdown(a.out / "results.md", meta, plans, summary, unavailable, versions, resizers)
    write_chart(a.out / "chart.png", plans, summary)
    slim = {c: {key: [{k: v for k, v in x.items() if k != "sessions"} | {"sessions": _slim(x.get("sessions"))} for x in runs[c][key]]
                for key in keys} for c in a.codecs}
    (a.out / "results.json").write_text(json.dumps({"meta": meta, "plans": plans, "summary": summary,
                                                    "unavailable": unavailable, "versions": versions, "runs": slim},
                                                   indent=1, default=str))
    print()
    print(text)
    print(f"wrote {a.out / 'results.md'}, {a.out / 'chart.png'}, {a.out / 'results.json'}")
    return 0


def _slim(sessions):
    if not sessions:
        return sessions
    keep = ("kind", "wall_s", "cpu_s", "maxrss_mib", "packets", "shape")
    return [[{k: q.get(k) for k in keep} for q in s] for s in sessions]


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


if __name__ == "__main__":
    sys.exit(main())
