#!/usr/bin/env python
"""The decoding measurements of the GPU machine (16+ cores), in one call with a time budget.

    python benches/compare/device.py [--seconds 1800] [--threads 1,16] [--budget-s 510] [--out DIR]

(benches/compare/device.sh runs it there with the `bench` stack and packs the results.)

Makes its input on the machine (no FFmpeg CLI there: PyAV's libx264, all cores, see inputs.py): a
1280x720 30 fps H.264 mp4, B-frames, GOP 250, ~3.7 Mbit/s, 30 minutes by default, every frame
spelling its index. Then measures, most important first, each in a process of its own (peak RSS
is that process's), and stops starting new work when the budget would be passed:

1. open + index: ``VideoReader(path).num_frames`` wall time (ours; the index is built on first
   use), at each thread count, 5 times.
2. memory per open: VmRSS after each of 50 opens + index of the file (each reader deleted,
   ``gc.collect()``, glibc ``malloc_trim``), and the same with a W2 clip per open.
3. W2: one 30 s clip at 2 fps on a fresh reader (opening included), ours / PyAV / decord, at the
   highest thread count, then at 1; 3 repetitions (3 clip starts), libraries round-robin.
4. W1: 256 frames over the whole video, exact, at the highest thread count; and the
   keyframe-snapped overview (ours-fast) there and at 1 thread.
5. W1 at 1 thread: ours, PyAV, decord, in that order; a run that would pass the budget is stopped
   at it and reported as a lower bound ("> N s").

Every library gets the same frame indices and output size (FrameBudget.plan, as run.py) and the
same thread count through its own knob (peers.py); every returned frame's spelled index is
checked. Writes DIR/decode-summary.md (the tables, also printed) and DIR/decode-results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from inputs import GOP, _make_input_pyav as make_input_pyav  # noqa: E402
from run import _cpu_model, plan_codec, probe_rows, run_process  # noqa: E402

ROWS = ("ours", "ours-fast", "pyav", "decord")
PEERS = ("pyav", "decord")
OPEN_REPS = 5
OPENS = 50
W2_REPS = 3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=1800.0, help="input length in seconds (default 1800)")
    p.add_argument("--threads", default="1,16", help="two thread counts, low,high (default 1,16)")
    p.add_argument("--budget-s", type=float, default=510.0,
                   help="wall seconds for everything, input included (default 510: a 9-minute call with margin)")
    p.add_argument("--out", type=Path, default=REPO / "benches" / "out" / "device")
    p.add_argument("--videos", type=Path, default=Path(tempfile.gettempdir()) / "videotemp-bench-videos")
    p.add_argument("--render", type=Path, metavar="RESULTS_JSON",
                   help="only write the summary (to --out) from a decode-results.json, e.g. of a run that was stopped")
    p.add_argument("--open-probe", nargs=3, metavar=("VIDEO", "THREADS", "REPS"), help=argparse.SUPPRESS)
    p.add_argument("--opens-probe", nargs=4, metavar=("VIDEO", "THREADS", "CLIP_START", "SECONDS"),
                   help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.threads = sorted({int(t) for t in a.threads.split(",") if t.strip()})
    if not a.threads or a.threads[0] < 1:
        p.error(f"--threads must be positive integers, got {a.threads}")
    return a


# --- probes run in their own process ----------------------------------------------------------


def resident_mib() -> float:
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_probe(video: str, threads: int, reps: int) -> dict:
    from videotemp_o3.video import VideoReader

    times = []
    for _ in range(reps):
        t = time.perf_counter()
        r = VideoReader(video, num_threads=threads)
        n = r.num_frames  # the index is built on first use: opening is both
        times.append(time.perf_counter() - t)
        del r
    return {"threads": threads, "open_s": times, "frames": n}


def opens_probe(video: str, threads: int, clip_start: float, seconds: float) -> dict:
    """VmRSS after each of OPENS opens (reader deleted), then after up to OPENS opens each with a
    clip, as many as fit in ``seconds`` from the start."""
    from videotemp_o3.video import FrameBudget, VideoReader

    budget = FrameBudget(fps=2.0, min_frames=4, max_frames=64, min_pixels=200704, max_pixels=200704)
    t0 = time.monotonic()
    out = {"threads": threads, "start_mib": resident_mib()}
    series = []
    for _ in range(OPENS):
        r = VideoReader(video, num_threads=threads)
        assert r.num_frames > 0  # builds the index (on first use)
        del r
        series.append(resident_mib())
    out["open_mib"] = series
    series = []
    for _ in range(OPENS):
        if time.monotonic() - t0 > seconds:
            break
        r = VideoReader(video, num_threads=threads)
        f = r.clip(clip_start, clip_start + 30.0, budget)
        del r, f
        series.append(resident_mib())
    out["open_clip_mib"] = series
    return out


def run_probe(flag: list[str], timeout: float) -> dict:
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), *flag], capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, "MALLOC_ARENA_MAX": "2"})
    if p.returncode != 0:
        raise RuntimeError((p.stderr.strip().splitlines() or ["?"])[-1][:300])
    return json.loads(p.stdout.strip().splitlines()[-1])


# --- the measurements -------------------------------------------------------------------------


class Clock:
    def __init__(self, budget_s: float):
        self.t0, self.budget = time.monotonic(), budget_s

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.t0)


def one_run(row: str, threads: int, plan: dict, request: dict, options: dict, timeout: float, tmp: Path) -> dict:
    task = {"row": row, "threads": threads, "video": plan["video"], "options": options,
            "sessions": [[dict(request)]], "frames_out": None}
    res = run_process(row, task, timeout, tmp)
    rec = {"row": row, "threads": threads, "kind": request["kind"], "ok": res["ok"], "timeout_s": timeout}
    if not res["ok"]:
        rec["error"] = res["error"]
        rec["elapsed_s"] = res["elapsed_s"]
        return rec
    q = res["sessions"][0][0]
    want = q["reported"] if (row == "ours-fast" and q["kind"] == "overview") else request["indices"]
    spelled = q.get("spelled", [])
    wrong = sum(a != b for a, b in zip(want, spelled)) + abs(len(want) - len(spelled))
    rec.update(wall_s=q["wall_s"], cpu_s=q["cpu_s"], peak_rss_mib=res["peak_rss_mib"],
               rss_imports_mib=res["rss_after_imports_mib"], peak_threads=res["peak_threads"],
               frames=len(request["indices"]), wrong=wrong, start=request.get("start"),
               snapped=(sum(a != b for a, b in zip(want, request["indices"])) if row == "ours-fast" else None),
               shape=q.get("shape"))
    return rec


def say(msg: str) -> None:
    print(msg, flush=True)


def measure(a) -> dict:
    clock = Clock(a.budget_s)
    lo, hi = a.threads[0], a.threads[-1]
    a.out.mkdir(parents=True, exist_ok=True)
    probes = probe_rows(list(ROWS))
    rows = [r for r in ROWS if probes[r]["ok"]]
    result = {"meta": {"machine": f"{platform.machine()} {_cpu_model()}", "cores": os.cpu_count(),
                       "threads": a.threads, "budget_s": a.budget_s,
                       "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                       "versions": {r: probes[r].get("version", "") for r in rows},
                       "unavailable": {r: probes[r]["reason"] for r in ROWS if not probes[r]["ok"]}},
              "open": [], "opens": [], "runs": [], "skipped": []}
    for r in ROWS:
        say(f"  {r:10s} {probes[r].get('version') or 'NOT RUN: ' + probes[r].get('reason', '?')}")
    if "ours" not in rows:
        raise SystemExit("our wheel does not import here: " + probes["ours"].get("reason", "?"))

    say("input ...")
    # Always PyAV's libx264 (what the GPU machine has), so a run here makes the same kind of file.
    video = a.videos / f"compare_h264_1280x720_{a.seconds:g}s-pyav.mp4"
    if not video.exists():
        t = time.perf_counter()
        make_input_pyav(video, codec="h264", seconds=a.seconds, size=(1280, 720), fps=30.0)
        gen_s = time.perf_counter() - t
    else:
        gen_s = None  # made by an earlier run
    size = video.stat().st_size
    plan = plan_codec(video, a.seconds, W2_REPS, 0)
    result["input"] = {"path": str(video), "bytes": size, "generate_s": gen_s, "frames": plan["frames"],
                       "duration_s": plan["duration"], "mbit_s": size * 8 / plan["duration"] / 1e6,
                       "made_by": "PyAV's libx264 (veryfast, average bit rate, one process per core)",
                       "out_size": plan["overview"]["size"]}
    say(f"  {video.name}: {size / 2**20:.0f} MiB, {plan['frames']} frames, {result['input']['mbit_s']:.2f} Mbit/s "
        + (f"(made in {gen_s:.0f} s)" if gen_s is not None else "(made by an earlier run)")
        + f"; {clock.left():.0f} s of the budget left")
    snap = plan["duration"] / 256 / 2
    options = {"pixels": 200704, "overview_frames": 256, "clip_fps": 2.0, "snap_tolerance": snap}
    result["meta"]["snap_tolerance_s"] = snap

    def save():
        (a.out / "decode-results.json").write_text(json.dumps(result, indent=1, default=str))

    # 1. open + index
    for th in (hi, lo):
        if clock.left() < 20:
            result["skipped"].append(f"open + index at {th} threads (time budget)")
            continue
        try:
            o = run_probe(["--open-probe", str(video), str(th), str(OPEN_REPS)], timeout=max(5, clock.left() - 10))
            result["open"].append(o)
            say(f"open + index @{th}: median {statistics.median(o['open_s']):.3f} s "
                f"(min {min(o['open_s']):.3f}, max {max(o['open_s']):.3f}), {o['frames']} frames")
        except Exception as e:  # noqa: BLE001 — a failed measurement is recorded; the others still run
            result["open"].append({"threads": th, "error": str(e)})
            say(f"open + index @{th} FAILED: {e}")
    save()

    # 2. memory per open
    if clock.left() > 60:
        try:
            start = plan["clips"][0][0]["start"]
            # The opens alone are quick (O(container metadata)); the clips get at most 60 s.
            o = run_probe(["--opens-probe", str(video), str(hi), str(start), "60"], timeout=max(5, clock.left() - 30))
            result["opens"].append(o)
            c = o["open_clip_mib"]
            say(f"RSS over {OPENS} opens @{hi}: {o['open_mib'][0]:.1f} -> {o['open_mib'][-1]:.1f} MiB"
                + (f"; {len(c)} opens with a clip each: {c[0]:.1f} -> {c[-1]:.1f} MiB" if c else ""))
        except Exception as e:  # noqa: BLE001 — a failed measurement is recorded; the others still run
            result["opens"].append({"threads": hi, "error": str(e)})
            say(f"RSS over opens FAILED: {e}")
    else:
        result["skipped"].append(f"{OPENS} opens (time budget)")
    save()

    peers = [r for r in ("ours",) + PEERS if r in rows]
    reserve = 15.0  # writing the summary and packing

    def go(row, th, request, label):
        left = clock.left() - reserve
        if left < 5:
            result["skipped"].append(f"{label} {row}@{th} (time budget)")
            say(f"  skip {label} {row}@{th}: time budget")
            return
        with tempfile.TemporaryDirectory(prefix="device-") as tmp:
            rec = one_run(row, th, plan, request, options, left, Path(tmp))
        rec["label"] = label
        result["runs"].append(rec)
        if rec["ok"]:
            say(f"  {label:9s} {row + '@' + str(th):12s} {rec['wall_s']:7.2f} s  RSS {rec['peak_rss_mib']:6.0f} MiB  "
                + ("frames ok" if rec["wrong"] == 0 else f"{rec['wrong']} WRONG FRAMES")
                + (f", {rec['snapped']} moved to keyframes" if rec.get("snapped") is not None else "")
                + f"  [{clock.left():.0f} s left]")
        else:
            say(f"  {label:9s} {row + '@' + str(th):12s} FAILED: {rec['error']}  [{clock.left():.0f} s left]")
        save()

    # 3. W2 on a fresh reader, high then low thread count; libraries round-robin
    for th in (hi, lo):
        for rep in range(W2_REPS):
            order = peers[rep % len(peers):] + peers[: rep % len(peers)]
            for row in order:
                go(row, th, plan["clips"][rep][0], "W2")
    # 4. W1 exact at the high count, the snapped overview at both
    for row in peers:
        go(row, hi, plan["overview"], "W1")
    if "ours-fast" in rows:
        for th in (hi, lo):
            go("ours-fast", th, plan["overview"], "overview")
    # 5. W1 exact single-threaded: the slowest, last
    if lo != hi:
        for row in peers:
            go(row, lo, plan["overview"], "W1")
    result["meta"]["minutes"] = (time.monotonic() - clock.t0) / 60
    save()
    return result


# --- the summary ------------------------------------------------------------------------------


def _med(xs):
    return statistics.median(xs) if xs else None


def summary_markdown(r: dict) -> str:
    m, inp = r["meta"], r.get("input", {})
    L = ["# Decoding on the GPU machine", ""]
    L.append(f"Machine: {m['machine']}, {m['cores']} cores; started {m['started']}, {m.get('minutes', 0):.1f} min "
             f"(budget {m['budget_s']:.0f} s).  ")
    L.append("Libraries: " + "; ".join(f"{k}: {v}" for k, v in m["versions"].items()) + ".  ")
    for k, v in m["unavailable"].items():
        L.append(f"Not run: {k}: {v}.  ")
    if inp:
        L.append(f"Input: 1280x720 30 fps H.264, B-frames, GOP {GOP}, {inp['duration_s'] / 60:.1f} min, {inp['frames']} frames, "
                 f"{inp['bytes'] / 2**20:.0f} MiB ({inp['mbit_s']:.2f} Mbit/s), made on the machine by {inp['made_by']}"
                 + (f" in {inp['generate_s']:.0f} s" if inp["generate_s"] is not None else " (an earlier run)")
                 + f". Output size {inp['out_size'][1]}x{inp['out_size'][0]} (200704 px).")
    L.append("")
    L.append("## Open + index (ours)")
    L.append("")
    L.append("| threads | median s | min–max s | frames |")
    L.append("|---|---|---|---|")
    for o in r["open"]:
        if "error" in o:
            L.append(f"| {o['threads']} | failed: {o['error']} | | |")
        else:
            L.append(f"| {o['threads']} | {statistics.median(o['open_s']):.3f} | {min(o['open_s']):.3f}–{max(o['open_s']):.3f} | {o['frames']} |")
    L.append("")
    L.append(f"## Resident memory over {OPENS} opens of the file (ours)")
    L.append("")
    L.append("VmRSS after each open (reader deleted, gc.collect(), malloc_trim), MALLOC_ARENA_MAX=2.")
    L.append("")
    L.append("| threads | what | before | after 1 | after 6 | after 50 | growth 1→50 MiB |")
    L.append("|---|---|---|---|---|---|---|")
    for o in r["opens"]:
        if "error" in o:
            L.append(f"| {o['threads']} | failed: {o['error']} ||||||")
            continue
        for key, what in (("open_mib", "open + index + close"), ("open_clip_mib", "open + W2 clip + close")):
            s = o[key]
            if len(s) < 6:
                continue
            L.append(f"| {o['threads']} | {what} | {o['start_mib']:.1f} | {s[0]:.1f} | {s[5]:.1f} | "
                     f"{s[-1]:.1f} (after {len(s)}) | {s[-1] - s[0]:+.1f} |")
    L.append("")
    L.append("## Workloads")
    L.append("")
    L.append("W1 = 256 frames over the whole video, exact; overview = the same 256 samples snapped to keyframes "
             "(ours-fast; its × is against the fastest peer's exact W1); W2 = one 30 s clip at 2 fps on a fresh reader "
             "(opening included), median of the repetitions (min–max). × = fastest peer's time ÷ this row's, same "
             "thread count. Peak RSS = the process's (imports included: RSS after imports in brackets); output = "
             "the frames returned.")
    L.append("")
    L.append("| workload | threads | library | wall s | × fastest peer | peak RSS MiB (imports) | output MiB | frames |")
    L.append("|---|---|---|---|---|---|---|---|")
    groups: dict = {}
    for run in r["runs"]:
        groups.setdefault((run["label"], run["threads"], run["row"]), []).append(run)
    best: dict = {}
    for (label, th, row), runs in groups.items():
        ok = [x["wall_s"] for x in runs if x["ok"] and x["wrong"] == 0]
        if row in PEERS and ok:
            key = ("W1" if label == "overview" else label, th)
            best[key] = min(best.get(key, float("inf")), _med(ok))
    order = {"W2": 0, "W1": 1, "overview": 2}
    for (label, th, row), runs in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], -kv[0][1], ROWS.index(kv[0][2]))):
        ok = [x for x in runs if x["ok"]]
        failed = [x for x in runs if not x["ok"]]
        if not ok:
            x = failed[0]
            stopped = "timed out" in x["error"]
            cell = (f"> {x['elapsed_s']:.0f} (stopped: time budget)" if stopped else f"failed: {x['error'][:120]}")
            L.append(f"| {label} | {th} | {row} | {cell} | | | | |")
            continue
        walls = [x["wall_s"] for x in ok]
        med = _med(walls)
        wall = f"{med:.2f}" + (f" ({min(walls):.2f}–{max(walls):.2f})" if len(walls) > 1 else "")
        b = best.get(("W1" if label == "overview" else label, th))
        ratio = f"{b / med:.2f}×" if b else "—"
        rss = f"{_med([x['peak_rss_mib'] for x in ok]):.0f} ({_med([x['rss_imports_mib'] for x in ok]):.0f})"
        shape = ok[0].get("shape") or [0, 0, 0, 0]
        out_mib = shape[0] * shape[1] * shape[2] * shape[3] / 2**20
        wrong = sum(x["wrong"] for x in ok)
        frames = f"{ok[0]['frames']} × {len(ok)}: " + ("identical" if wrong == 0 else f"**{wrong} wrong**")
        if ok[0].get("snapped") is not None:
            frames += f", {ok[0]['snapped']} moved to keyframes"
        if failed:
            frames += f"; {len(failed)} failed"
        L.append(f"| {label} | {th} | {'**' + row + '**' if row.startswith('ours') else row} | {wall} | {ratio} | {rss} | {out_mib:.0f} | {frames} |")
    if r["skipped"]:
        L.append("")
        L.append("Skipped (time budget): " + "; ".join(dict.fromkeys(x.replace(" (time budget)", "") for x in r["skipped"])) + ".")
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.open_probe:
        print(json.dumps(open_probe(a.open_probe[0], int(a.open_probe[1]), int(a.open_probe[2]))))
        return 0
    if a.opens_probe:
        print(json.dumps(opens_probe(a.opens_probe[0], int(a.opens_probe[1]), float(a.opens_probe[2]),
                                     float(a.opens_probe[3]))))
        return 0
    if a.render:
        result = json.loads(a.render.read_text())
        a.out.mkdir(parents=True, exist_ok=True)
    else:
        result = measure(a)
    text = summary_markdown(result)
    (a.out / "decode-summary.md").write_text(text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
