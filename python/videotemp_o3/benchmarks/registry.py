"""The benchmark registry: every benchmark by name, each declared in its own small module."""

from __future__ import annotations

from . import charades, lvbench, mlvu, nextgqa, videomme, videommmu, videotemp
from .base import Benchmark, BenchmarkError, Item

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    videotemp.MCQ,
    videotemp.GROUNDING,
    videomme.BENCHMARK,
    mlvu.BENCHMARK,
    videommmu.BENCHMARK,
    lvbench.BENCHMARK,
    nextgqa.BENCHMARK,
    charades.BENCHMARK,
)}


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (``videotemp``, ``videotemp-g``, ``videomme``, ``mlvu``,
    ``videommmu``, ``lvbench``, ``nextgqa``, ``charades``)."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def load_items(name: str, data_dir=None) -> list[Item]:
    """Shorthand for ``get_benchmark(name).load(data_dir)``."""
    return get_benchmark(name).load(data_dir)
