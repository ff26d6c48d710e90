"""Building the report of one evaluation run.

Inputs: the results JSONL of ``eval/run.py`` (docs/design.md §8, read with
:func:`videotemp_o3.jsonl.iter_jsonl`), the trajectory files saved beside it
(``<stem>.trajectories/<uid>.json``, :class:`videotemp_o3.agent.Trajectory` as JSON) and the
benchmark's annotations (for the truth, the question text and the categories). Per-item numbers
(status, correct, IoU, per-call IoU, turns) come from
:func:`videotemp_o3.benchmarks.score.item_record` — the same numbers ``eval/score.py --json``
prints — and the score tables are ``eval/score.py``'s text, every table switched on.

Output: one HTML file (default ``<results stem>.report.html`` beside the results) and a folder
``<page stem>_files/`` beside it with the thumbnails. The page needs neither a server nor the
network: styles, script, plots (SVG) and the question index are inside it. The list is drawn
from that compact index; each question's details sit in blocks of :data:`CHUNK` questions that
the page reads only when one of them is opened. Up to :data:`INLINE_DETAILS` bytes of details
the blocks are inside the page (one file to pass around); above that they are script files in
``<page stem>_files/details/`` loaded on demand (``<script src>``, which browsers allow from
``file://``), so the page of a 10 000-question run stays small and opens fast.

Videos that are gone (moved, deleted) cost only the thumbnails: the page says which questions
have none and why, and shows their timelines and text as usual.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from tqdm import tqdm

from .. import protocol
from ..benchmarks import get_benchmark
from ..benchmarks.base import Benchmark, BenchmarkError, Item
from ..benchmarks.metrics import duration_bin
from ..benchmarks.results import group_by_call
from ..benchmarks.score import chosen_settings, format_report, score, table_flags
from ..evaluate import trajectories_dir, trajectory_path
from ..jsonl import JsonlError, iter_jsonl
from ..video import VideoReader
from . import thumbs

CHUNK = 200
"""Questions per block of details (parsed or loaded when one of them is opened)."""

INLINE_DETAILS = 8 * 2**20
"""Details up to this many bytes of JSON are embedded in the page; more go to script files."""

PAGE_SIZE = 50
"""Questions per page of the list."""

TURN_COLOURS = ("#4c72b0", "#dd8452", "#8172b3", "#c44e52", "#937860", "#da8bc3")
"""One colour per turn on the timeline (green is the truth, black the answer)."""

GROUNDING_HIT = 0.5
"""A grounding answer counts as *right* on the page (filters, outcome colours) when its IoU is
at least this (the R@0.5 rule); the score tables keep each benchmark's own metrics."""

class ReportError(Exception):
    """The report cannot be built; the message is one line naming the file or flag and the fix."""


def default_output(results: Path) -> Path:
    """``runs/x/videomme.jsonl`` → ``runs/x/videomme.report.html``."""
    return results.with_name(results.stem + ".report.html")


def files_dir(page: Path) -> Path:
    """The folder beside the page that holds its thumbnails: ``<page stem>_files``."""
    return page.with_name(page.stem + "_files")


def _groups(bench: Benchmark, item: Item) -> list[str]:
    """The groups of ``item`` on the page: its values of the benchmark's ``group_by`` field (the
    category of its first score table); without one, its duration bin, else ``all``."""
    field = bench.group_by
    if field is not None and field in item.fields:
        value = item.fields[field]
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        return [str(v) for v in values] or ["(none)"]
    if item.duration is not None:
        return [duration_bin(item.duration)]
    return ["all"]


def _group_title(bench: Benchmark) -> str:
    field = bench.group_by or "duration_bin"
    return {"duration_bin": "duration bin", "duration": "duration", "question_types": "question type"}.get(
        field, field.replace("_", " "))


def outcome(task: str, numbers: dict[str, Any]) -> str:
    """``right`` | ``wrong`` | ``unparsed`` | ``error`` | ``missing`` for one item's numbers
    (:func:`~videotemp_o3.benchmarks.score.item_record`); a run error wins over the rest."""
    if numbers["error"]:
        return "error"
    if numbers["status"] in ("missing", "unparsed"):
        return numbers["status"]
    if task == "grounding":
        return "right" if numbers["iou"] >= GROUNDING_HIT else "wrong"
    return "right" if numbers["correct"] else "wrong"


def _finite(x: Any) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def _spans(values) -> list[list[float]]:
    out = []
    for s in values or ():
        a, b = _finite(s[0]), _finite(s[1])
        if a is not None and b is not None:
            out.append([a, b])
    return out


def _turns(traj: dict, numbers: dict) -> list[dict[str, Any]]:
    """The turns as the page shows them. ``numbers['segment_ious']`` are in the order of the
    clips (results ``segments``), which is the order of the trajectory's clips turn by turn."""
    ious = iter(numbers["segment_ious"] or [])
    turns: list[dict[str, Any]] = []
    for t in traj.get("turns") or []:
        text = t.get("text") or ""
        parsed = protocol.parse_turn(text)
        clips = []
        for c in t.get("clips") or []:
            seg, req = _spans([c.get("segment")]), _spans([c.get("requested")])
            clips.append({"seg": seg[0] if seg else None, "req": req[0] if req else None,
                          "iou": next(ious, None), "frames": c.get("frames"),
                          "fps": _finite(c.get("fps")), "first": _finite(c.get("first_frame")),
                          "last": _finite(c.get("last_frame")), "reused": c.get("reused_frames")})
        call = parsed.tool_call
        rejected = t.get("rejected")
        turns.append({
            "n": t.get("index", len(turns) + 1), "action": t.get("action") or parsed.action,
            "think": parsed.think, "answer": parsed.answer, "call": call.raw if call is not None else None,
            # Where a rejected call asked to look (drawn dashed; a reversed span is drawn as written, ends swapped).
            "asked": _spans([sorted((s.start, s.end)) for s in call.spans]) if (call is not None and rejected) else [],
            "text": text if (parsed.think is None and parsed.answer is None and call is None) else None,
            "issues": t.get("issues") or [], "clips": clips, "rejected": rejected,
            "observation": t.get("observation"),
            "tok": [t.get("prompt_tokens"), t.get("visual_tokens"), t.get("completion_tokens")],
            "sec": [_finite(t.get("generate_seconds")), _finite(t.get("video_seconds")),
                    _finite(t.get("prefill_seconds")), _finite(t.get("decode_seconds"))],
        })
    return turns


def _turns_from_results(record: dict, numbers: dict) -> list[dict[str, Any]]:
    """Without a trajectory file: one turn per valid call (what the results file knows)."""
    segs = _spans(record.get("segments"))
    ious = iter(numbers["segment_ious"] or [])
    return [{"n": k + 1, "action": "tool_call", "clips": [{"seg": s, "iou": next(ious, None)} for s in call],
             "issues": [], "tok": [], "sec": []}
            for k, call in enumerate(group_by_call(segs, record.get("calls") or []))]


def _question(bench: Benchmark, item: Item, record: dict, numbers: dict, traj: Optional[dict]) -> dict[str, Any]:
    task = item.task
    turns = _turns(traj, numbers) if traj else _turns_from_results(record, numbers)
    video = (traj or {}).get("video") or str(item.video)
    overview = (traj or {}).get("overview") or {}
    truth = _spans(item.spans)
    ends = [s[1] for s in truth] + [c["seg"][1] for t in turns for c in t["clips"] if c.get("seg")]
    duration = _finite(overview.get("duration")) or _finite(item.duration) or (max(ends) if ends else None)
    call_ious = numbers["call_ious"] or []
    refinement = None
    if len(call_ious) >= 2:
        delta = call_ious[-1] - call_ious[0]
        refinement = "raised" if delta > 1e-9 else ("lowered" if delta < -1e-9 else "unchanged")
    tok = [sum((t["tok"][k] or 0) for t in turns if t["tok"]) for k in range(3)]
    prediction = numbers["prediction"]
    return {
        "uid": item.uid, "task": task, "groups": _groups(bench, item), "outcome": outcome(task, numbers),
        "question": item.question, "options": list(item.options), "gold": item.answer, "truth": truth,
        "prediction": prediction, "answer_span": _spans([prediction])[0] if task == "grounding" and prediction else None,
        "iou": numbers["iou"], "last_call_iou": numbers["last_call_iou"], "calls": numbers["calls"],
        "rejected_calls": sum(1 for t in turns if t.get("rejected")),
        "refinement": refinement, "turns": numbers["turns"] if numbers["turns"] is not None else len(turns),
        "duration": duration, "video": video, "overview": {k: overview.get(k) for k in ("frames", "size", "fps", "seconds")} if overview else None,
        "raw": record.get("raw"), "error": numbers["error"], "seconds": _finite(record.get("seconds")),
        "tokens": tok, "trajectory": traj is not None, "turn_list": turns,
        "thumbs": None, "thumbs_note": None,
    }


def _read_results(path: Path) -> dict[str, dict]:
    records: dict[str, dict] = {}
    try:
        for line in iter_jsonl(path, torn_tail="skip"):
            obj = line.value
            if "uid" not in obj:
                raise ReportError(f"{line.where}: not a result record of eval/run.py (no 'uid'); the report "
                                  "reads eval/run.py's results JSONL")
            records[str(obj["uid"])] = obj  # a rerun appended: the last line wins, as in the scorer
    except JsonlError as e:
        raise ReportError(str(e)) from None
    return records


def _load_trajectory(path: Path) -> tuple[Optional[dict], Optional[str]]:
    if not path.is_file():
        return None, None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        return None, f"{path}: unreadable trajectory ({e})"
    return (obj, None) if isinstance(obj, dict) else (None, f"{path}: not a trajectory object")


def _draw_thumbs(video: str, questions: Sequence[dict], folder_of: Callable[[dict], tuple[Path, str]]) -> None:
    """Fills ``q['thumbs']`` of each question about ``video`` (or ``q['thumbs_note']`` saying
    why there are none); ``folder_of(q)``: where its files go, and that folder relative to the page."""
    if not os.path.isfile(video):
        for q in questions:
            q["thumbs_note"] = f"video not found when the report was built: {video}"
        return
    try:
        reader = VideoReader(video, num_threads=1)
    except Exception as e:  # noqa: BLE001 — an unreadable video costs its thumbnails, not the report
        for q in questions:
            q["thumbs_note"] = f"could not open {video}: {type(e).__name__}: {e}"
        return
    for q in questions:
        clips = [thumbs.ClipFrames(tuple(c["seg"]), int(c["frames"])) for t in q["turn_list"] for c in t["clips"]
                 if c.get("seg") and c.get("frames")]
        spans = [c.segment for c in clips] or [tuple(s) for s in q["truth"]]
        frames = (q["overview"] or {}).get("frames")
        folder, rel = folder_of(q)
        try:
            drawn = thumbs.draw(reader, folder, overview_frames=frames, spans=spans, clips=clips)
        except Exception as e:  # noqa: BLE001 — as above
            q["thumbs_note"] = f"could not draw thumbnails from {video}: {type(e).__name__}: {e}"
            continue
        drawn["dir"] = rel
        if frames is None:
            q["thumbs_note"] = "no overview thumbnails: the trajectory file does not record the overview"
        q["thumbs"] = drawn
        # Each clip's frames go with the clip, in the order they were drawn.
        it = iter(drawn["clips"])
        for t in q["turn_list"]:
            for c in t["clips"]:
                if c.get("seg") and c.get("frames"):
                    c["thumbs"] = next(it, [])


def summary(questions: Sequence[dict], n_items: int) -> list[tuple[str, str]]:
    """The headline numbers, as (label, text) rows."""
    n = len(questions) or 1

    def share(k: int) -> str:
        return f"{k} ({100.0 * k / n:.1f}%)"

    out = {o: sum(q["outcome"] == o for q in questions) for o in ("right", "wrong", "unparsed", "error")}
    with_call = sum(q["calls"] > 0 for q in questions)
    refine = [q["refinement"] for q in questions if q["refinement"]]
    answer_iou = [q["iou"] for q in questions if q["iou"] is not None]
    last_iou = [q["last_call_iou"] for q in questions if q["last_call_iou"] is not None]
    tokens = [sum(q["tokens"][k] for q in questions) for k in range(3)]
    seconds = [q["seconds"] for q in questions if q["seconds"] is not None]
    rows = [
        ("questions in this run", f"{len(questions)} of the benchmark's {n_items}"),
        ("right", share(out["right"])), ("wrong", share(out["wrong"])),
        ("unparsed replies", share(out["unparsed"])), ("run errors", share(out["error"])),
        ("assistant turns per question", f"{sum(q['turns'] for q in questions) / n:.2f}"),
        ("questions with a tool call", share(with_call)),
        ("valid tool calls per question", f"{sum(q['calls'] for q in questions) / n:.2f}"),
        ("questions with a rejected call", share(sum(q["rejected_calls"] > 0 for q in questions))),
        ("refinement (≥ 2 calls, known span)",
         f"raised the IoU in {refine.count('raised')} of {len(refine)}, lowered it in {refine.count('lowered')}"
         if refine else "no question made two calls against a known span"),
    ]
    if answer_iou:
        rows.append(("mean answer IoU", f"{sum(answer_iou) / len(answer_iou):.3f} (n {len(answer_iou)})"))
    if last_iou:
        rows.append(("mean last-call IoU", f"{sum(last_iou) / len(last_iou):.3f} (n {len(last_iou)})"))
    rows.append(("tokens (prompt / visual / generated)", " / ".join(f"{t:,}" for t in tokens)))
    if seconds:
        rows.append(("seconds per question (mean / total)", f"{sum(seconds) / len(seconds):.2f} / {sum(seconds):.1f}"))
    return rows


def _filter_choices(questions: Sequence[dict]) -> dict[str, list[tuple[str, int]]]:
    """The values each filter offers, with how many questions have them."""
    outcome = Counter(q["outcome"] for q in questions)
    groups = Counter(g for q in questions for g in q["groups"])
    turns = Counter(q["turns"] for q in questions)
    return {"outcome": [(o, outcome[o]) for o in ("right", "wrong", "unparsed", "error", "missing") if outcome[o]],
            "group": list(groups.items()), "turns": [(str(t), turns[t]) for t in sorted(turns)]}


def _index_entry(q: dict) -> dict[str, Any]:
    """What the question list needs of each question (the page holds all of these at once)."""
    pred = q["prediction"]
    if isinstance(pred, list):
        pred = "[" + ", ".join(f"{v:.1f}" for v in pred) + "]"
    return {"u": q["uid"], "o": q["outcome"], "g": q["groups"], "t": q["turns"], "c": q["calls"],
            "i": q["iou"], "l": q["last_call_iou"], "d": q["duration"],
            "p": None if pred is None else str(pred)[:40]}


def build_report(results: "str | Path", *, out: "str | Path | None" = None, data_dir: "str | Path | None" = None,
                 bench: Optional[str] = None, settings: Optional[dict[str, Any]] = None, thumbnails: bool = True,
                 workers: int = 2, inline_details: int = INLINE_DETAILS,
                 log: Optional[Callable[[str], None]] = None) -> Path:
    """Writes the report of the run whose results file is ``results`` and returns the page's path.

    ``data_dir``: the benchmark's data (default ``eval/<bench>/data``); ``bench``: the benchmark
    (default: the ``bench`` of the results records); ``settings``: the values of the benchmark's
    ``data`` switches the run used (they decide which items exist and how they are asked:
    ``--mcq-only``, ``--grounding-query``); ``thumbnails``: draw them from the videos
    that are present (``workers`` threads); ``inline_details``: embed the details in the page up
    to this many bytes, else write them beside it. Raises :class:`ReportError` for bad input."""
    say = log or (lambda msg: print(msg, file=sys.stderr))
    results = Path(results)
    if not results.is_file():
        raise ReportError(f"{results}: results file not found; pass the results JSONL that eval/run.py wrote")
    records = _read_results(results)
    names = {str(r["bench"]) for r in records.values() if r.get("bench")}
    if bench is None:
        if len(names) != 1:
            raise ReportError(f"{results}: " + ("records name several benchmarks " + ", ".join(sorted(names))
                                                if names else "records do not name their benchmark") + "; pass --bench")
        bench = names.pop()
    try:
        benchmark = get_benchmark(bench)
    except BenchmarkError as e:
        raise ReportError(f"{results}: {e}; pass --bench") from None
    try:
        settings = chosen_settings(benchmark, settings or {}, scopes=("data",))
    except BenchmarkError as e:
        raise ReportError(str(e)) from None
    try:
        items = benchmark.load(data_dir, settings)
    except BenchmarkError as e:
        raise ReportError(f"{e} (the report needs the benchmark's annotation files; pass --data-dir)") from None
    try:
        scored = score(benchmark.name, results, data_dir, settings=settings)
    except BenchmarkError as e:
        raise ReportError(str(e)) from None

    page = Path(out) if out else default_output(results)
    files = files_dir(page)
    numbers = {n["uid"]: n for n in scored.items}
    traj_dir = trajectories_dir(results)
    questions, problems = [], []
    for item in items:
        record = records.get(item.uid)
        if record is None:
            continue
        traj, problem = _load_trajectory(trajectory_path(traj_dir, item.uid))
        if problem:
            problems.append(problem)
        questions.append(_question(benchmark, item, record, numbers[item.uid], traj))
    say(f"report: {len(questions)} questions from {results}")

    if thumbnails and questions:
        def folder_of(q: dict) -> tuple[Path, str]:
            key = hashlib.sha1(q["uid"].encode("utf-8")).hexdigest()[:16]  # file-safe, stable across builds
            return files / "thumbs" / key, f"{files.name}/thumbs/{key}/"

        by_video: dict[str, list[dict]] = {}
        for q in questions:
            by_video.setdefault(q["video"], []).append(q)
        with ThreadPoolExecutor(max(1, workers)) as pool:
            work = pool.map(lambda kv: _draw_thumbs(kv[0], kv[1], folder_of), by_video.items())
            list(tqdm(work, total=len(by_video), desc="thumbnails", unit="video", leave=False))
    no_video = sum(1 for q in questions if q["thumbs_note"] and q["thumbs_note"].startswith("video not found"))

    try:
        from jinja2.utils import htmlsafe_json_dumps

        from . import plots
        from .render import render_page
    except ImportError as e:
        raise ReportError(f"{e}: the report needs the eval extra (pip install 'videotemp-o3[eval]')") from None

    notes = list(scored.notes)
    if not thumbnails:
        notes.append("thumbnails were not drawn (--no-thumbnails)")
    elif no_video:
        notes.append(f"{no_video} of {len(questions)} questions' videos were not found when this report was built: "
                     "those show the timeline and text, without thumbnails")
    missing_traj = sum(not q["trajectory"] for q in questions)
    if missing_traj:
        notes.append(f"{missing_traj} question(s) have no trajectory file in {traj_dir}: their turns show only "
                     "the requested segments from the results file")
    notes.extend(problems[:5])
    figures = [("Score by category", plots.breakdown(scored))]
    figures.append(("Agent behaviour", plots.behaviour(questions, _group_title(benchmark))))
    iou_svg = plots.iou_distributions(questions)
    if iou_svg:
        figures.append(("IoU", iou_svg))
    # htmlsafe: "<", ">", "&" and "'" escaped, so no reply text can close a <script> block.
    chunks = [htmlsafe_json_dumps(questions[i:i + CHUNK]) for i in range(0, len(questions), CHUNK)]
    details_dir = files / "details"
    shutil.rmtree(details_dir, ignore_errors=True)  # blocks of an earlier build of this page
    inline = sum(len(c) for c in chunks) <= inline_details
    if not inline:
        details_dir.mkdir(parents=True)
        for k, chunk in enumerate(chunks):
            (details_dir / f"{k}.js").write_text(f"videotempReportDetails({k}, {chunk});\n", encoding="utf-8")
    html = render_page(
        title=f"{benchmark.title} — {results.name}", bench=benchmark.name, results=str(results),
        built=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"), notes=notes,
        score_text=format_report(scored, table_flags(scored)), summary=summary(questions, len(items)), figures=figures,
        index=[_index_entry(q) for q in questions], chunks=chunks if inline else [],
        group_title=_group_title(benchmark), grounding_hit=GROUNDING_HIT if benchmark.task == "grounding" else None,
        filters=_filter_choices(questions),
        config={"page_size": PAGE_SIZE, "chunk_size": CHUNK, "turn_colours": list(TURN_COLOURS),
                "details_dir": None if inline else f"{files.name}/details/"})
    page.parent.mkdir(parents=True, exist_ok=True)
    tmp = page.with_name(page.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(page)
    return page
