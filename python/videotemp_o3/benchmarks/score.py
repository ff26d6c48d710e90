"""Score a results file against a benchmark: :func:`score` in-process, :func:`main` for
``eval/score.py``.

``python eval/score.py NAME [--input_file F] [--input-format auto|ours|release] [--release]
[--data-dir D] [--json] [--plot FILE.png] [--count-unparsed-as-wrong] [--skip-missing]
[benchmark switches: --strict-threshold, --lmms-eval, --return_*_accuracy, --mcq-only, …]``

Defaults reproduce each benchmark's official scorer (answer extraction, what enters the
denominators, thresholds ≥); the flags switch to the documented alternatives. The results
file may be ours or the release's own output (detected; ``--input-format`` to insist);
``--release`` applies the release's ``eval/score.py`` rules instead and prints its numbers.
A switch only some benchmarks take (their :class:`~.base.Setting` s) is refused for the others.
Every flag is checked before anything is read. Progress goes to stderr, results to stdout (a
table, or one JSON object with ``--json``, whose ``items`` lists the numbers of every item:
:func:`item_record`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from .. import segments as seg
from ..flags import OneLineParser
from .base import (MISSING, REPO_ROOT, Benchmark, BenchmarkError, Item, Judgement, ResultsError, ScoreOptions,
                   Setting)
from .files import Record
from .metrics import Report, Table
from .registry import BENCHMARKS, get_benchmark
from .results import FORMATS, Format, Response, check_format, parse_results_file, read_results

PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "jpg", "jpeg", "webp", "tif", "tiff", "eps", "ps")
"""File name endings ``--plot`` writes (a subset of what matplotlib's Agg backend saves)."""


def release_score(bench: Benchmark, path: Path, data_dir: "str | Path | None" = None, settings=None,
                  input_format: Format = "auto", say=lambda _msg: None) -> Report:
    """The release's ``eval/score.py`` numbers for ``path``: its own output file read as the
    release reads it (annotations only where its scorer reads them: LVBench), or our results
    file rendered into the release's records first (only the questions that have a result,
    as the release counts only what its file holds)."""
    fmt = bench.release
    if fmt is None:
        raise BenchmarkError(f"{bench.name}: the release has no scorer for this benchmark; drop --release")
    doc = parse_results_file(path)
    kind = check_format(doc, input_format)
    own = kind == "release" or (kind == "uid-answer" and fmt.uid_answer)
    if input_format == "release" and not own:
        raise ResultsError(f"{path}: not the release's output format for {bench.name} (expected what its script "
                           f"writes to {fmt.output}); drop --input-format release")
    items = []
    if fmt.needs_items or not own:
        say(f"{bench.name}: reading annotations under {bench.data_root(data_dir)}")
        items = bench.load(data_dir, settings)
    if own and fmt.read is not None:
        records = fmt.read(doc)
    else:
        results = read_results(path, bench, items, input_format, doc)
        records = []
        for item in items:
            response = results.responses.get(item.uid)
            if response is None:
                continue
            rendered = fmt.render(item, response)
            if rendered is not None:
                records.append(Record(rendered, response.source, ResultsError))
    report = fmt.score(records, items)
    report.counts = {"records": len(records)}
    if doc.torn_tail:
        report.notes.append(f"the last line of {path} is incomplete (a run killed mid-write?) and was left out")
    report.meta = {"results": str(path), "results_format": "release" if own else "jsonl",
                   "rules": "release", "data_root": str(bench.data_root(data_dir)) if items else None}
    return report


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
    grounding = item.task == "grounding"
    if grounding:
        correct, iou = None, (None if judgement.status == "missing" else (judgement.iou if scored else 0.0))
    else:
        correct, iou = (None if judgement.status == "missing" else scored and judgement.correct), None
    calls = response.call_segments() if response is not None else []
    segment_ious: Optional[list[float]]
    call_ious: Optional[list[float]]
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
          options: ScoreOptions = ScoreOptions(), log=None, *, settings=None, release: bool = False,
          input_format: Format = "auto") -> Report:
    """Load the benchmark's annotations, read the results (ours or the release's), judge
    every item and return the full report. ``log``: a callable for progress lines (``None``:
    silent). ``settings``: values of the benchmark's ``data`` switches (they decide which items
    exist). ``release``: the release's rules instead (:func:`release_score`)."""
    say = log or (lambda _msg: None)
    bench = get_benchmark(name)
    path = Path(input_file) if input_file else bench.default_results()
    if release and not input_file and not path.exists() and bench.release is not None \
            and (REPO_ROOT / bench.release.output).is_file():
        path = REPO_ROOT / bench.release.output  # where the release's script writes
    if release:
        say(f"{bench.name}: scoring {path} with the release's rules")
        return release_score(bench, path, data_dir, settings, input_format, say)
    root = bench.data_root(data_dir)
    say(f"{bench.name}: reading results from {path}")
    doc = None
    if path.exists():  # a results file of the wrong kind is said before the annotations are read
        doc = parse_results_file(path)
        check_format(doc, input_format)
    say(f"{bench.name}: reading annotations under {root}")
    items = bench.load(data_dir, settings)
    results = read_results(path, bench, items, input_format, doc)

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
    if results.torn_tail:
        report.notes.append(f"the last line of {path} is incomplete (a run killed mid-write?) and was left out")
    report.meta = {"results": str(path), "results_format": results.format, "data_root": str(root),
                   "options": asdict(options)}
    report.items = [item_record(it, judgements[it.uid], results.responses.get(it.uid)) for it in items]
    return report


def _fmt(column: str, value, decimals: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and column not in ("n", "correct"):
        return f"{value:.{decimals}f}"
    return str(value)


def format_table(table: Table) -> str:
    width = max([len("label")] + [len(label) for label, _ in table.rows])
    col = max([9] + [len(c) + 2 for c in table.columns])
    lines = [table.title, "  " + "label".ljust(width) + "".join(c.rjust(col) for c in table.columns)]
    for label, cell in table.rows:
        lines.append("  " + label.ljust(width)
                     + "".join(_fmt(c, cell.get(c), table.decimals).rjust(col) for c in table.columns))
    return "\n".join(lines)


def shown_tables(report: Report, flags: Sequence[str] = ()) -> list[Table]:
    """Tables printed by default, plus those switched on by ``flags`` (Video-MME's options)."""
    return [t for t in report.tables if t.flag is None or t.flag in flags]


def table_flags(report: Report) -> list[str]:
    """The flags that switch on every optional table of ``report`` (the HTML report shows them all)."""
    return [t.flag for t in report.tables if t.flag is not None]


def format_report(report: Report, flags: Sequence[str] = ()) -> str:
    c = report.counts
    if "records" in c:  # the release's rules count the records of the file
        counts = f"records {c['records']} (scored with the release's rules)"
    else:
        counts = (f"items {c.get('items', 0)} | answered {c.get('answered', 0)} | missing {c.get('missing', 0)} | "
                  f"unparsed {c.get('unparsed', 0)} | run errors {c.get('run_errors', 0)} | "
                  f"extra uids {c.get('extra', 0)} | duplicate uids {c.get('duplicates', 0)}")
    head = [
        f"{report.title} ({report.bench})",
        counts,
        *(f"note: {n}" for n in report.notes),
        "  ".join(f"{k}: {_fmt(k, v, report.tables[0].decimals if report.tables else 1)}"
                  for k, v in report.summary.items()),
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
            ax.text(bar.get_width() + 0.5, bar.get_y() + bar.get_height() / 2,
                    _fmt(metric, cell.get(metric), table.decimals),
                    va="center", fontsize=8)
    fig.tight_layout()
    return fig


def benchmark_settings() -> list[Setting]:
    """Every switch some benchmark declares, once each (by flag), in registry order."""
    seen: dict[str, Setting] = {}
    for bench in BENCHMARKS.values():
        for setting in bench.settings:
            seen.setdefault(setting.flag, setting)
    return list(seen.values())


def add_setting_args(p: argparse.ArgumentParser, scopes: Sequence[str] = ("data", "score")) -> None:
    """The benchmark switches of ``scopes`` as flags; which benchmarks take each is in its help."""
    g = p.add_argument_group("benchmark switches (each only for the benchmarks named)")
    for setting in benchmark_settings():
        if setting.scope not in scopes:
            continue
        owners = ", ".join(b.name for b in BENCHMARKS.values() if setting in b.settings)
        kw = {"choices": setting.choices, "default": None} if setting.choices else {"action": "store_true"}
        g.add_argument(setting.flag, dest=setting.dest, help=f"{setting.help} [{owners}]", **kw)


def chosen_settings(bench: Benchmark, args: "argparse.Namespace | Mapping[str, Any]",
                    scopes: Sequence[str] = ("data", "score")) -> dict:
    """The switches given on the command line (parsed ``args``, or a mapping of their ``dest``
    to value), checked against ``bench``: a switch it does not declare raises
    :class:`BenchmarkError` naming the flag and the benchmarks that take it."""
    values = args if isinstance(args, Mapping) else vars(args)
    given = {}
    for setting in benchmark_settings():
        if setting.scope not in scopes:
            continue
        value = values.get(setting.dest)
        if value is None or value is False:
            continue
        if setting not in bench.settings:
            owners = ", ".join(b.name for b in BENCHMARKS.values() if setting in b.settings)
            raise BenchmarkError(f"{setting.flag} applies to {owners} only, not {bench.name}")
        given[setting.dest] = value
    return given


def check_plot_path(path: str) -> Optional[str]:
    """Why ``--plot path`` cannot be written (checked before scoring), or ``None``."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in PLOT_FORMATS:
        return f"--plot {path}: unknown image type {ext or '(no extension)'!r}; use one of .{', .'.join(PLOT_FORMATS)}"
    if importlib.util.find_spec("matplotlib") is None:
        return "--plot needs matplotlib: pip install 'videotemp-o3[eval]'"
    return None


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="eval/score.py", description="Score a results file with the benchmark's official metrics "
                                          "(or, with --release, the VideoTemp-o3 release's rules).")
    p.add_argument("name", choices=list(BENCHMARKS), help="benchmark")
    p.add_argument("--input_file", "--input-file", dest="input_file",
                   help="results: our JSONL, the release's output file of this benchmark, or a {uid: answer} "
                        "JSON (default eval/NAME/output/results.jsonl)")
    p.add_argument("--input-format", "--input_format", dest="input_format", choices=FORMATS, default="auto",
                   help="whose results file it is (default: detected)")
    p.add_argument("--release", action="store_true",
                   help="score with the release's eval/score.py rules and print its numbers")
    p.add_argument("--data-dir", "--data_dir", dest="data_dir", help="benchmark data root (default eval/NAME/data)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every number")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the printed breakdowns")
    p.add_argument("--count-unparsed-as-wrong", action="store_true",
                   help="unparsed and missing answers count as wrong where the official scorer leaves them out")
    p.add_argument("--skip-missing", action="store_true",
                   help="score only items with a prediction (partial runs)")
    add_setting_args(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        parser = build_parser()
    except BenchmarkError as e:  # a benchmark module that cannot be registered
        print(f"eval/score.py: error: {e}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    bench = BENCHMARKS[args.name]
    problem = check_plot_path(args.plot) if args.plot else None
    try:
        given = chosen_settings(bench, args)
    except BenchmarkError as e:
        problem = problem or str(e)
    if args.release and bench.release is None:
        problem = problem or f"--release: the release does not evaluate {bench.name}; drop --release"
    if args.release and (args.count_unparsed_as_wrong or args.skip_missing or args.lmms_eval):
        problem = problem or ("--release applies the release's own rules; it takes no --count-unparsed-as-wrong, "
                              "--skip-missing or --lmms-eval")
    if problem:
        parser.error(problem)
    options = ScoreOptions(strict_threshold=bool(given.get("strict_threshold")),
                           count_unparsed_as_wrong=args.count_unparsed_as_wrong,
                           skip_missing=args.skip_missing, lmms_eval=bool(given.get("lmms_eval")))
    flags = [dest for dest, value in given.items() if value is True]
    data_settings = {k: v for k, v in given.items() if k in {s.dest for s in bench.settings if s.scope == "data"}}
    try:
        report = score(args.name, args.input_file, args.data_dir, options,
                       log=lambda msg: print(msg, file=sys.stderr), settings=data_settings,
                       release=args.release, input_format=args.input_format)
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
