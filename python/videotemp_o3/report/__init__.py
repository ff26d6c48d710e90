"""The HTML report of an evaluation run: ``videotemp report RUN.jsonl``.

A static page (plus a folder of thumbnails beside it) that opens offline in any browser: the
benchmark's score tables and plots, then every question with a timeline of the video (truth,
each turn's requested clips with their IoU, the answer span), thumbnails of what the model saw,
its thinking, tool calls, observations, answer, tokens and time per turn. See
:mod:`videotemp_o3.report.build`.
"""

from .build import ReportError, build_report, default_output

__all__ = ["ReportError", "build_report", "default_output"]
