#!/usr/bin/env python
"""How fast the HTML report of a large run opens: builds a synthetic run of N questions (default
10 000) in VideoTemp-Bench's format — annotations, a results JSONL and one trajectory per
question with think texts of realistic length, 1–3 turns, clips, a rejected call now and then —
without videos (the report's no-thumbnail path), writes its report, then opens the page in
headless Chromium (the system browser, through playwright) and measures:

- build: seconds to write the report; page: its size;
- load: navigation start → the list rendered (``body[data-ready="1"]``), and the browser's
  ``domContentLoaded`` / ``load`` times;
- filter: selecting "wrong" in the outcome filter → the list re-rendered;
- open: clicking the last question of the filtered page → its details (timeline, turns) built.

    .venv/bin/python benches/report_load.py [--questions 10000] [--keep DIR]

Numbers vary with the machine; the point is the order of magnitude and the ratio to a small
run (``--questions 100`` for a baseline in the same session).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from videotemp_o3 import protocol
from videotemp_o3.agent import ClipRecord, Trajectory, TurnRecord
from videotemp_o3.benchmarks.results import ResultRecord, append_result
from videotemp_o3.evaluate import trajectories_dir, trajectory_path
from videotemp_o3.report import build_report

WORDS = ("the square appears near the middle of the video so the clip should cover that span and the caption "
         "reads a word that I can check against the options before I answer with the colour").split()


def _think(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_run(root: Path, n: int, seed: int = 0) -> Path:
    """Writes ``root/data/data.jsonl`` and ``root/run.jsonl`` with its trajectories; returns the results path."""
    rng = random.Random(seed)
    (root / "data").mkdir(parents=True, exist_ok=True)
    results = root / "run.jsonl"
    traj_dir = trajectories_dir(results)
    with open(root / "data" / "data.jsonl", "w") as f:
        for i in range(n):
            duration = rng.choice([90, 400, 900, 1500]) + rng.random() * 60
            s = rng.uniform(0, duration - 20)
            f.write(json.dumps({"uid": f"q{i:05d}", "videos": [f"videos/v{i % 500}.mp4"], "duration": duration,
                                "question": "What colour is the square?\nA. red\nB. green\nC. blue\nD. yellow",
                                "answer": "ABCD"[i % 4], "timestamp": [s, s + rng.uniform(5, 15)]}) + "\n")
    lines = (root / "data" / "data.jsonl").read_text().splitlines()
    for i, line in enumerate(lines):
        rec = json.loads(line)
        duration, (s, e) = rec["duration"], rec["timestamp"]
        traj = Trajectory(video=str(root / "data" / rec["videos"][0]),
                          question={"text": "What colour is the square?", "kind": "mcq", "options": ["red", "green", "blue", "yellow"]},
                          overview={"frames": 256, "size": [448, 448], "fps": 256 / duration, "seconds": 1.2, "duration": duration})
        turns = rng.choice([1, 2, 2, 3, 3])
        for t in range(1, turns + 1):
            think = _think(rng, rng.randint(60, 220))
            if t < turns:
                if rng.random() < 0.1:
                    text = f"<think>{think}</think>\n<tool_call>[{e:.1f}, {s:.1f}]</tool_call>"
                    rec_t = TurnRecord(t, text, "tool_call", [], rejected={"problem": "reversed", "detail": "ends before it starts"},
                                       observation="The call was not carried out: the segment ends before it starts.")
                else:
                    a = max(0.0, s - rng.uniform(0, 60) / t)
                    b = min(duration, e + rng.uniform(0, 60) / t)
                    text = protocol.render_turn(think, segments=[(a, b)])
                    rec_t = TurnRecord(t, text, "tool_call", [], observation=f"Here is the clip {a:.1f} s – {b:.1f} s.")
                    rec_t.clips.append(ClipRecord([a, b], [a, b], 32, [448, 448], 2.0, a, b, 4))
                    traj.segments.append([a, b])
            else:
                answer = rng.choice("ABCD") if rng.random() > 0.05 else "not sure"
                text = f"<think>{think}</think>\n<answer>{answer}</answer>"
                rec_t = TurnRecord(t, text, "answer", [])
                traj.raw, traj.answer = text, answer
            rec_t.prompt_tokens, rec_t.visual_tokens, rec_t.completion_tokens = 60000 + 8000 * t, 58000 + 8000 * t, len(think) // 4
            rec_t.generate_seconds, rec_t.prefill_seconds, rec_t.decode_seconds = 3.1, 1.9, 1.2
            traj.turns.append(rec_t)
        traj.seconds = 4.0 * turns
        traj.save(trajectory_path(traj_dir, rec["uid"]))
        append_result(results, ResultRecord(uid=rec["uid"], bench="videotemp", raw=traj.raw, prediction=traj.answer,
                                            segments=traj.segments, calls=[1] * len(traj.segments), turns=turns,
                                            seconds=traj.seconds, error="engine timed out" if i % 997 == 5 else None))
    return results


def measure(page: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(page.resolve().as_uri(), wait_until="load", timeout=300_000)
        tab.wait_for_selector("body[data-ready='1']", timeout=300_000)
        nav = tab.evaluate("JSON.parse(JSON.stringify(performance.getEntriesByType('navigation')[0]))")
        ready_ms = float(tab.get_attribute("body", "data-ready-ms"))
        # In-page timings: the handlers run synchronously; reading offsetHeight forces the layout.
        filter_ms = tab.evaluate("""() => { const t = performance.now();
            const s = document.querySelector('select[name=outcome]'); s.value = 'wrong';
            s.dispatchEvent(new Event('input', {bubbles: true})); void document.body.offsetHeight;
            return performance.now() - t; }""")
        assert tab.get_attribute("#list li.q", "data-outcome") == "wrong"
        # Opening may load a block of details from a file: wait until the timeline is there.
        open_ms = tab.evaluate("""() => new Promise((done) => { const t = performance.now();
            document.querySelector('#list li.q:last-child button.head').click();
            const poll = () => document.querySelector('#list li.q:last-child .detail .timeline svg')
                ? (void document.body.offsetHeight, done(performance.now() - t)) : requestAnimationFrame(poll);
            poll(); })""")
        assert tab.query_selector("#list li.q:last-child .detail .timeline svg") is not None
        browser.close()
    return {"domContentLoaded_s": nav["domContentLoadedEventEnd"] / 1000, "load_s": nav["loadEventEnd"] / 1000,
            "list_ready_s": ready_ms / 1000, "filter_s": filter_ms / 1000, "open_question_s": open_ms / 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=int, default=10_000)
    ap.add_argument("--keep", help="build the run in this folder and keep it (default: a temporary one)")
    a = ap.parse_args()
    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="report_load_"))
    try:
        t0 = time.perf_counter()
        results = make_run(root, a.questions)
        made = time.perf_counter() - t0
        t0 = time.perf_counter()
        page = build_report(results, data_dir=root / "data", log=lambda _m: None)
        details = page.parent / (page.stem + "_files") / "details"
        built = time.perf_counter() - t0
        m = measure(page)
        print(json.dumps({"questions": a.questions, "make_run_s": round(made, 2), "build_s": round(built, 2),
                          "page_mb": round(page.stat().st_size / 2**20, 2),
                          "details_files_mb": round(sum(f.stat().st_size for f in details.glob("*.js")) / 2**20, 2), **{k: round(v, 3) for k, v in m.items()}}))
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
