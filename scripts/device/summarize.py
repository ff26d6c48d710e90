#!/usr/bin/env python3
"""Tables from ms-swift's ``logging.jsonl`` files, for the GPU run scripts.

    python3 scripts/device/summarize.py steps LOGGING.jsonl            # one line per logged step
    python3 scripts/device/summarize.py grpo LOGGING.jsonl [--clips DIR] [--completions FILE]
    python3 scripts/device/summarize.py compare NAME=LOGGING.jsonl ...  # SFT losses side by side

``steps`` exits non-zero when no step was logged. ``grpo`` prints a Markdown table: loss, each
reward function's mean (ms-swift logs ``rewards/<Class>/mean``), turns per rollout, seconds per
step; with ``--clips`` the number of clip files the environment wrote, with ``--completions``
how many rollouts made a tool call. ``compare`` prints the loss of each run at each step and the
largest difference from the first run (the one-GPU reference).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def logged_steps(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"summarize: no {path}")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise SystemExit(f"summarize: {path}:{n}: not a JSON line") from None
    return [r for r in rows if "loss" in r]


def step_no(row: dict) -> int:
    return int(str(row.get("global_step/max_steps", "0/0")).split("/")[0])


def seconds_per_step(row: dict) -> float | None:
    v = row.get("train_speed(s/it)")
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def cmd_steps(a) -> int:
    steps = logged_steps(Path(a.logging))
    for r in steps:
        keys = [k for k in r if k.startswith("rewards/") and k.endswith("/mean")]
        print(f"  step {r.get('global_step/max_steps')}: loss {r['loss']:.4f}"
              + "".join(f", {k.split('/')[1]} {r[k]:.2f}" for k in keys)
              + (f", {seconds_per_step(r)} s/it" if seconds_per_step(r) is not None else ""))
    print(f"  {len(steps)} steps logged")
    return 0 if steps else 1


def cmd_grpo(a) -> int:
    steps = logged_steps(Path(a.logging))
    if not steps:
        print("no GRPO step was logged", file=sys.stderr)
        return 1
    rewards = sorted({k.split("/")[1] for r in steps for k in r if k.startswith("rewards/") and k.endswith("/mean")})
    print("| step | loss | " + " | ".join(rewards) + " | reward | turns | s/step (running mean) |")
    print("|---" * (5 + len(rewards)) + "|")
    for r in steps:
        cells = [f"{r[f'rewards/{n}/mean']:.3f}" if f"rewards/{n}/mean" in r else "–" for n in rewards]
        turns = r.get("num_turns", r.get("completions/num_turns"))
        print(f"| {r.get('global_step/max_steps')} | {r['loss']:.4f} | " + " | ".join(cells)
              + f" | {r.get('reward', float('nan')):.3f} | {turns if turns is not None else '–'} | "
              + f"{seconds_per_step(r) if seconds_per_step(r) is not None else '–'} |")
    if a.clips:
        clips = sorted(Path(a.clips).glob("*.mkv")) + sorted(Path(a.clips).glob("*.avi"))
        print(f"\nclip files written by the environment: {len(clips)}")
    if a.completions and Path(a.completions).is_file():
        text = Path(a.completions).read_text()
        n = sum(1 for line in text.splitlines() if line.strip())
        calls = sum(1 for line in text.splitlines() if "<tool_call>" in line)
        print(f"logged rollouts: {n}; with a tool call: {calls}")
    return 0


def cmd_compare(a) -> int:
    runs = []
    for spec in a.runs:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"summarize compare: give NAME=LOGGING.jsonl, got {spec!r}")
        runs.append((name, {step_no(r): r for r in logged_steps(Path(path))}))
    steps = sorted(set.intersection(*(set(r) for _, r in runs)))
    if not steps:
        print("the runs share no logged step", file=sys.stderr)
        return 1
    names = [n for n, _ in runs]
    print("| step | " + " | ".join(f"loss {n}" for n in names) + " | max abs diff vs " + names[0] + " |")
    print("|---" * (len(names) + 2) + "|")
    worst = 0.0
    for s in steps:
        losses = [r[s]["loss"] for _, r in runs]
        diff = max(abs(x - losses[0]) for x in losses[1:]) if len(losses) > 1 else 0.0
        worst = max(worst, diff)
        print(f"| {s} | " + " | ".join(f"{x:.5f}" for x in losses) + f" | {diff:.2e} |")
    speeds = [(n, [seconds_per_step(r[s]) for s in steps if seconds_per_step(r[s]) is not None]) for n, r in runs]
    print("\n" + "; ".join(f"{n}: {v[-1]:.3f} s/step" for n, v in speeds if v)
          + f"; largest loss difference over {len(steps)} steps: {worst:.2e}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("steps")
    s.add_argument("logging")
    g = sub.add_parser("grpo")
    g.add_argument("logging")
    g.add_argument("--clips")
    g.add_argument("--completions")
    c = sub.add_parser("compare")
    c.add_argument("runs", nargs="+")
    a = ap.parse_args(argv)
    return {"steps": cmd_steps, "grpo": cmd_grpo, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    raise SystemExit(main())
