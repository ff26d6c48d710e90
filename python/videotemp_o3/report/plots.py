"""The report's plots: matplotlib figures written as inline SVG (text kept as text, so they stay
small and searchable). Each function takes the page's question records (see
:mod:`videotemp_o3.report.build`) and returns the SVG markup, or ``None`` when there is nothing
to draw (e.g. no IoU on a benchmark without spans)."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any, Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from ..benchmarks.metrics import Report
from ..benchmarks.score import breakdown_figure, table_flags

OUTCOME_COLOURS = {"right": "#2e9e55", "wrong": "#d0493f", "unparsed": "#e0a030", "error": "#7a4bb0",
                   "missing": "#9a9a9a"}
BAR = "#4c72b0"


def svg(fig) -> str:
    """The figure as SVG markup (without the XML prolog), then closed."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "videotemp"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def breakdown(report: Report) -> str:
    """Accuracy or mIoU per category, every table of the benchmark (score.py's own chart)."""
    return svg(breakdown_figure(report, table_flags(report)))


def _bars(ax, labels: Sequence[str], values: Sequence[float], *, colours=None, fmt="{:g}", xlabel=""):
    bars = ax.barh(range(len(labels)), values, color=colours or BAR)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    top = max(values, default=0) or 1
    ax.set_xlim(0, top * 1.25)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    for bar, v in zip(bars, values):
        ax.text(bar.get_width() + top * 0.02, bar.get_y() + bar.get_height() / 2, fmt.format(v), va="center", fontsize=8)


def behaviour(questions: Sequence[dict[str, Any]], group_title: str) -> str:
    """Four panels: outcomes (right / wrong / unparsed / run error), assistant turns per question,
    tool use per group (share of questions with at least one valid call, and with a rejected
    one), and whether the last call's IoU beat the first call's (questions with ≥ 2 calls and a
    truth span)."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.2))
    outcomes = Counter(q["outcome"] for q in questions)
    labels = [k for k in OUTCOME_COLOURS if outcomes[k]]
    _bars(axes[0, 0], labels, [outcomes[k] for k in labels], colours=[OUTCOME_COLOURS[k] for k in labels],
          xlabel="questions")
    axes[0, 0].set_title("Outcome (unparsed replies and run errors included)")

    turns = Counter(q["turns"] for q in questions if q["turns"] is not None)
    ks = sorted(turns)
    ax = axes[0, 1]
    ax.bar([str(k) for k in ks], [turns[k] for k in ks], color=BAR)
    for x, k in enumerate(ks):
        ax.text(x, turns[k], str(turns[k]), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("assistant turns")
    ax.set_ylabel("questions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Turns per question")

    groups: dict[str, list[dict]] = {}
    for q in questions:
        for g in q["groups"]:  # a question may belong to several (LVBench's question types)
            groups.setdefault(g, []).append(q)
    names = list(groups) + ["all"]
    groups["all"] = list(questions)
    called = [100.0 * sum(q["calls"] > 0 for q in groups[g]) / len(groups[g]) for g in names]
    rejected = [100.0 * sum(q["rejected_calls"] > 0 for q in groups[g]) / len(groups[g]) for g in names]
    ax = axes[1, 0]
    ys = range(len(names))
    ax.barh([y - 0.2 for y in ys], called, height=0.4, color=BAR, label="valid call")
    ax.barh([y + 0.2 for y in ys], rejected, height=0.4, color=OUTCOME_COLOURS["unparsed"], label="rejected call")
    for y, a, b in zip(ys, called, rejected):
        ax.text(a + 1, y - 0.2, f"{a:.0f}%", va="center", fontsize=7)
        ax.text(b + 1, y + 0.2, f"{b:.0f}%", va="center", fontsize=7)
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 118)
    ax.set_xlabel("% of questions with at least one")
    ax.set_title(f"Tool calls by {group_title}")
    ax.legend(fontsize=7, loc="lower right")

    refine = Counter(q["refinement"] for q in questions if q["refinement"])
    order = ["raised", "unchanged", "lowered"]
    ax = axes[1, 1]
    if refine:
        _bars(ax, order, [refine[k] for k in order], colours=["#2e9e55", "#9a9a9a", "#d0493f"], xlabel="questions")
    else:
        ax.text(0.5, 0.5, "no question made two calls\nagainst a known span", ha="center", va="center",
                transform=ax.transAxes, color="#666")
        ax.set_axis_off()
    ax.set_title("Refinement: last call's IoU vs the first's (≥ 2 calls)")
    fig.tight_layout()
    return svg(fig)


def iou_distributions(questions: Sequence[dict[str, Any]]) -> Optional[str]:
    """Histograms (0.1 wide bins, IoU 0–1) of the answer's IoU (grounding) and of the last
    call's IoU (any task with a truth span); ``None`` when neither exists."""
    panels = []
    answer = [q["iou"] for q in questions if q["iou"] is not None]
    last = [q["last_call_iou"] for q in questions if q["last_call_iou"] is not None]
    if answer:
        panels.append(("Answer IoU (grounding)", answer, "#2e9e55"))
    if last:
        panels.append(("Last call's IoU (questions with a call)", last, BAR))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3), squeeze=False)
    edges = [i / 10 for i in range(11)]
    for ax, (title, values, colour) in zip(axes[0], panels):
        counts, _, _ = ax.hist(values, bins=edges, color=colour, edgecolor="white")
        for x, c in zip(edges, counts):
            if c:
                ax.text(x + 0.05, c, f"{int(c)}", ha="center", va="bottom", fontsize=7)
        mean = sum(values) / len(values)
        ax.axvline(mean, color="#333", linestyle="--", linewidth=1)
        ax.set_title(f"{title}: mean {mean:.3f}, n {len(values)}", fontsize=10)
        ax.set_xlabel("IoU")
        ax.set_ylabel("questions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0, 1)
    fig.tight_layout()
    return svg(fig)
