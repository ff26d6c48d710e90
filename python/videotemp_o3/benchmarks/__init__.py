"""Benchmarks: a registry of small declarative modules, and the official scorers.

Each benchmark module (``videotemp``, ``videomme``, ``mlvu``, ``videommmu``, ``lvbench``,
``nextgqa``, ``charades``) declares a :class:`Benchmark`: where its published files live
(``eval/<name>/data`` by default), how to read them into :class:`Item` s, how the official
scorer extracts an answer (``judge``), which numbers it reports (``report``), its own
switches (``settings``), the item field its first breakdown groups by (``group_by``, which the
HTML report uses too) and, where the VideoTemp-o3 release evaluates it, the release's output
format and scoring rules (``release``). Adding a benchmark is adding one such module
(:mod:`.registry` finds it).

>>> from videotemp_o3.benchmarks import get_benchmark
>>> bench = get_benchmark("videomme")
>>> bench.task, bench.data_subdir
('mcq', 'eval/videomme/data')

Scoring: :func:`score` (in-process) or ``python eval/score.py NAME``; results files are
written with :func:`append_result` and read with :func:`read_results`.
"""

from .base import (
    Benchmark,
    BenchmarkDataError,
    BenchmarkError,
    Item,
    Judgement,
    Policy,
    ResultsError,
    ScoreOptions,
    Setting,
)
from .metrics import Report, Table
from .registry import BENCHMARKS, get_benchmark, load_items
from .results import Response, ResultRecord, append_result, answer_text, read_results
from .score import score

__all__ = [
    "BENCHMARKS", "Benchmark", "BenchmarkDataError", "BenchmarkError", "Item", "Judgement", "Policy",
    "Report", "Response", "ResultRecord", "ResultsError", "ScoreOptions", "Setting", "Table", "answer_text",
    "append_result", "get_benchmark", "load_items", "read_results", "score",
]
