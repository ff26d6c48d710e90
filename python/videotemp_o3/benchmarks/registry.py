"""The benchmark registry: every benchmark by name, found in the modules that declare it.

A benchmark is one module: a file in this package (or in a folder named by the
``VIDEOTEMP_BENCHMARKS_PATH`` environment variable, ``os.pathsep``-separated, for benchmarks
kept outside the package) that defines a :class:`~.base.Benchmark` at its top level. The
registry imports every such module once, in file-name order, and lists each benchmark it
finds there; a module may define several (``videotemp`` and ``videotemp-g``). Nothing else
— no list here, no scorer, no ``eval/run.py`` — names the benchmarks.

Two benchmarks with one name are an error naming both modules. Modules whose name starts
with ``_`` and the package's own helpers (:data:`HELPERS`) are skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable, Iterator, Mapping, Optional

from .base import Benchmark, BenchmarkError, Item

HELPERS = frozenset({"base", "files", "metrics", "registry", "results", "score", "release"})
"""Modules of this package that hold shared machinery, not benchmarks."""

ENV_PATH = "VIDEOTEMP_BENCHMARKS_PATH"

# The order the built-in benchmarks are listed in (help texts, tables); benchmarks not named
# here follow in discovery order. Only an ordering hint: a new benchmark needs no entry.
_PREFERRED_ORDER = ("videotemp", "videotemp-g", "videomme", "mlvu", "videommmu", "lvbench", "nextgqa", "charades")


def _declared(module: ModuleType) -> list[Benchmark]:
    """The benchmarks a module defines itself (not ones it imported from another module)."""
    found: list[Benchmark] = []
    for value in vars(module).values():
        if isinstance(value, Benchmark) and all(value is not b for b in found):
            found.append(value)
    return found


def _package_modules() -> Iterable[ModuleType]:
    package = __name__.rsplit(".", 1)[0]
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]))
    for name in names:
        if name.startswith("_") or name in HELPERS:
            continue
        yield importlib.import_module(f"{package}.{name}")


def _external_modules() -> Iterable[ModuleType]:
    for folder in filter(None, os.environ.get(ENV_PATH, "").split(os.pathsep)):
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise BenchmarkError(f"{ENV_PATH}: {root} is not a folder of benchmark modules")
        for path in sorted(root.glob("*.py")):
            if path.stem.startswith("_"):
                continue
            name = f"videotemp_o3_benchmark_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a spec
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look the module up by name
            spec.loader.exec_module(module)
            yield module


def discover() -> dict[str, Benchmark]:
    """Import every benchmark module and return ``{name: benchmark}``."""
    found: dict[str, tuple[Benchmark, str]] = {}
    for module in (*_package_modules(), *_external_modules()):
        where = getattr(module, "__file__", module.__name__)
        for bench in _declared(module):
            if bench.name in found and found[bench.name][0] is not bench:
                raise BenchmarkError(
                    f"benchmark {bench.name!r} is defined twice: in {found[bench.name][1]} and in {where}")
            found.setdefault(bench.name, (bench, where))
    rank = {name: i for i, name in enumerate(_PREFERRED_ORDER)}
    names = sorted(found, key=lambda n: rank.get(n, len(rank)))
    return {n: found[n][0] for n in names}


class _Registry(Mapping[str, Benchmark]):
    """``{name: benchmark}``, discovered on first use (so importing the package stays cheap, and
    a module that cannot be registered is reported by the command that needs it, as one line)."""

    def __init__(self) -> None:
        self._found: Optional[dict[str, Benchmark]] = None

    def _all(self) -> dict[str, Benchmark]:
        if self._found is None:
            self._found = discover()
        return self._found

    def __getitem__(self, name: str) -> Benchmark:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"BENCHMARKS({', '.join(self)})"


BENCHMARKS: Mapping[str, Benchmark] = _Registry()


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (see :data:`BENCHMARKS` for the names)."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def load_items(name: str, data_dir=None, settings=None) -> list[Item]:
    """Shorthand for ``get_benchmark(name).load(data_dir, settings)``."""
    return get_benchmark(name).load(data_dir, settings)
