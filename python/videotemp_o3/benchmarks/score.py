"""Score a results file against a benchmark: :func:`score` in-process, :func:`main` for
``eval/score.py``.

``python eval/score.py NAME [--input_file F] [--data-dir D] [--json] [--plot FILE.png]
[--return_categories_accuracy] [--return_sub_categories_accuracy]
[--return_task_types_accuracy] [--strict-threshold] [--count-unparsed-as-wrong]
[--skip-missing] [--lmms-eval]``

Defaults reproduce each benchmark's official scorer (answer extraction, what enters the
denominators, thresholds ≥); the flags switch to the documented alternatives. Progress goes
to stderr, results to stdout (a table, or one JSON object with ``--json``, whose ``items``
lists the numbers of every item: :func:`item_record`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional, Sequence

from .. import segments as seg
from .base import MISSING, BenchmarkError, Item, Judgement, ScoreOptions
from .metrics import Report, Table
from .registry import BENCHMARKS, get_benchmark
from .results import Response, read_results

TABLE_FLAGS = ("return_categories_accuracy", "return_sub_categories_accuracy", "return_task_types_accuracy")


def item_record(item: Item, judgement: Judgement, response: Optional[Response]) -> dict[str, Any]:
    """The numbers of one item — the one place they are computed, for ``--json`` (``items``) and
    the HTML report alike. Fields:

    - ``uid``; ``status``: ``scored`` | ``unparsed`` | ``missing`` (the official extraction's verdict);
    - ``prediction``: what the official extraction read (a letter, ``[start, end]`` seconds or
      text), ``None`` unless scored;
    - ``correct``: mcq/open: the extracted answer is right (``False`` when unparsed, ``None`` when
      missing); grounding: ``None``;
    - ``iou``: grounding: IoU (0–1) of the answer span with the best-matching truth span, 0 when
      unparsed, ``None`` when missing; other tasks: ``None``;
    - ``segment_ious``: for each clip requested, in order, its IoU with the best-matching truth
      span (the grounding target, or the evidence span of MCQ benchmarks that publish one);
      ``None`` when the item has no span;
    - ``call_ious``: per valid tool call, the best of its clips' IoUs; ``last_call_iou``: that of
      the last call before the answer (``None`` without calls or spans);
    - ``calls``: valid tool calls; ``turns``: assistant turns (``None`` where the results file
      does not say); ``error``: the run's error message or ``None``.

    IoU is :func:`videotemp_o3.segments.best_iou` (``[start, end]`` closed, seconds)."""
    scored = judgement.status == "scored"
    prediction = judgement.parsed if scored else None
    if isinstance(prediction, tuple):
        prediction = list(prediction)
    grounding = item.answer_type == "grounding"
    if grounding:
        correct, iou = None, (None if judgement.status == "missing" else (judgement.iou if scored else 0.0))
    else:
        correct, iou = (None if judgement.status == "missing" else scored and judgement.correct), None
    calls = response.call_segments() if response is not None else []
    if item.spans:
        segment_ious = [seg.best_iou(s, item.spans) for c in calls for s in c]
        call_ious = [max(seg.best_iou(s, item.spans) for s in c) for c in calls]
    else:
        segment_ious = call_ious = None
    return {"uid": item.uid, "status": judgement.status, "prediction": prediction, "correct": correct, "iou": iou,
            "segment_ious": segment_ious, "call_ious": call_ious,
            "last_call_iou": call_ious[-1] if call_ious else None, "calls": len(calls),
            "turns": response.turns if response is not None else None,
            "error": response.error if response is not None else None}


def score(name: str, input_file: "str | Path | None" = None, data_dir: "str | Path | None" = None,
          options: ScoreOptions = ScoreOptions(), log=None) -> Report:
    """Load the benchmark's annotations, read the results (either format), judge every item
    and return the full report. ``log``: a callable for progress lines (``None``: silent)."""
    say = log or (lambda _msg: None)
    bench = get_benchmark(name)
    root = bench.data_root(data_dir)
    say(f"{bench.name}: reading annotations under {root}")
    items = bench.load(data_dir)
    path = Path(input_file) if input_file else bench.default_results()
    say(f"{bench.name}: reading results from {path}")
    results = read_results(path, bench.name)

    policy = bench.policy_for(options)
    judgements = {}
    for item in items:
        response = results.responses.get(item.uid)
        judgements[item.uid] = MISSING if response is None else bench.judge(item, response, options)
    report = bench.report(items, judgements, policy, options)

    status = Counter(j.status for j in judgements.values())
    uids = {it.uid for it in items}
    report.counts = {
        "items": len(items),
        "answered": len(items) - status["missing"],
        "missing": status["missing"],
        "unparsed": status["unparsed"],
        "run_errors": sum(1 for u, r in results.responses.items() if u in uids and r.error),
        "extra": sum(1 for u in results.responses if u not in uids),
        "duplicates": results.duplicates,
    }
    default = policy == bench.policy
    report.notes.insert(0, f"{policy.describe()} ({'default' if default else 'set by flag'})")
    if report.counts["extra"]:
        report.notes.append(f"{report.counts['extra']} result uid(s) are not in the benchmark data and were ignored")
    report.meta = {"results": str(path), "results_format": results.format, "data_root": str(root),
                   "options": asdict(options)}
    report.items = [item_record(it, judgements[it.uid], results.responses.get(it.uid)) for it in items]
    return report


def _fmt(column: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and column not in ("n", "correct"):
        return f"{value:.1f}"
    return str(value)


def format_table(table: Table) -> str:
    width = max([len("label")] + [len(label) for label, _ in table.rows])
    lines = [table.title, "  " + "label".ljust(width) + "".join(c.rjust(9) for c in table.columns)]
    for label, cell in table.rows:
        lines.append("  " + label.ljust(width) + "".join(_fmt(c, cell.get(c)).rjust(9) for c in table.columns))
    return "\n".join(lines)


def shown_tables(report: Report, flags: Sequence[str] = ()) -> list[Table]:
    """Tables printed by default, plus those switched on by ``flags`` (Video-MME's options)."""
    return [t for t in report.tables if t.flag is None or t.flag in flags]


def format_report(report: Report, flags: Sequence[str] = ()) -> str:
    c = report.counts
    head = [
        f"{report.title} ({report.bench})",
        f"items {c.get('items', 0)} | answered {c.get('answered', 0)} | missing {c.get('missing', 0)} | "
        f"unparsed {c.get('unparsed', 0)} | run errors {c.get('run_errors', 0)} | extra uids {c.get('extra', 0)} | "
        f"duplicate uids {c.get('duplicates', 0)}",
        *(f"note: {n}" for n in report.notes),
        "  ".join(f"{k}: {_fmt(k, v)}" for k, v in report.summary.items()),
    ]
    return "\n".join(head) + "\n\n" + "\n\n".join(format_table(t) for t in shown_tables(report, flags)) + "\n"


def plot(report: Report, path: "str | Path", flags: Sequence[str] = ()) -> Path:
    """A bar chart of each printed table's first metric (accuracy or mIoU), one panel per table,
    written to ``path`` (the format follows its suffix: .png, .svg, .pdf)."""
    fig = breakdown_figure(report, flags)
    import matplotlib.pyplot as plt  # after breakdown_figure chose the Agg backend

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def breakdown_figure(report: Report, flags: Sequence[str] = ()):
    """The matplotlib figure :func:`plot` saves; the caller closes it."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    tables = shown_tables(report, flags)
    heights = [max(1.5, 0.32 * len(t.rows) + 0.8) for t in tables]
    fig, axes = plt.subplots(len(tables), 1, figsize=(8, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, table in zip(axes[:, 0], tables):
        metric = table.columns[0]
        labels = [label for label, _ in table.rows]
        values = [cell.get(metric) or 0.0 for _, cell in table.rows]
        bars = ax.barh(range(len(labels)), values, color="#4c72b0")
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 108)  # room for the value labels
        ax.set_xlabel(f"{metric} (%)")
        ax.set_title(f"{report.title}: {table.title}")
        for bar, (_, cell) in zip(bars, table.rows):
            ax.text(bar.get_width() + 0.5, bar.get_y() + bar.get_height() / 2, _fmt(metric, cell.get(metric)),
                    va="center", fontsize=8)
    fig.tight_layout()
    return fig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eval/score.py", description="Score a results file with the benchmark's official metrics.")
    p.add_argument("name", choices=list(BENCHMARKS), help="benchmark")
    p.add_argument("--input_file", "--input-file", dest="input_file",
                   help="results: our JSONL or the release's {uid: answer} JSON "
                        "(default eval/NAME/output/results.jsonl)")
    p.add_argument("--data-dir", "--data_dir", dest="data_dir", help="benchmark data root (default eval/NAME/data)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every number")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the printed breakdowns")
    p.add_argument("--return_categories_accuracy", action="store_true", help="Video-MME: per domain")
    p.add_argument("--return_sub_categories_accuracy", action="store_true", help="Video-MME: per sub-category")
    p.add_argument("--return_task_types_accuracy", action="store_true", help="Video-MME: per task type")
    p.add_argument("--strict-threshold", action="store_true",
                   help="grounding thresholds use IoU > t (the VideoTemp release) instead of >= t")
    p.add_argument("--count-unparsed-as-wrong", action="store_true",
                   help="unparsed and missing answers count as wrong where the official scorer leaves them out")
    p.add_argument("--skip-missing", action="store_true",
                   help="score only items with a prediction (partial runs)")
    p.add_argument("--lmms-eval", action="store_true",
                   help="lmms-eval's answer extraction and policy where it differs from the official scorer")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    options = ScoreOptions(strict_threshold=args.strict_threshold,
                           count_unparsed_as_wrong=args.count_unparsed_as_wrong,
                           skip_missing=args.skip_missing, lmms_eval=args.lmms_eval)
    flags = [f for f in TABLE_FLAGS if getattr(args, f)]
    try:
        report = score(args.name, args.input_file, args.data_dir, options,
                       log=lambda msg: print(msg, file=sys.stderr))
    except BenchmarkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        sys.stdout.write(format_report(report, flags))
    if args.plot:
        print(f"plot written to {plot(report, args.plot, flags)}", file=sys.stderr)
    return 0
