"""The test suite's time split from a pytest JUnit XML report: fast subset against slow tests, and
the slowest files and tests.

    .venv/bin/python -m pytest -q --junitxml=.pytest-times.xml            # the whole suite
    .venv/bin/python scripts/test_time_split.py .pytest-times.xml [--top 12]

Times are wall-clock seconds per test as pytest measures them (setup + call + teardown, so a
session fixture's build lands on the first test that uses it); a test counts as slow when it
carries the ``slow`` marker, which the report does not record, so the markers are read by
collecting the suite once more (``pytest --collect-only -m slow``, no test runs).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def slow_node_ids() -> set[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow",
                          "-p", "no:cacheprovider"], capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines() if "::" in line}


def node_id(case: ET.Element) -> str:
    """``tests/test_x.py::test_name[param]`` from a testcase's classname and name."""
    parts = [p for p in case.get("classname", "").split(".") if p]
    # classname is the module path (tests.test_x) plus any test class (tests.test_x.TestY); a
    # module skipped whole is reported with an empty classname and the file as its name
    for k in range(len(parts), 0, -1):
        path = Path(*parts[:k]).with_suffix(".py")
        if path.exists():
            return "::".join([str(path), *parts[k:], case.get("name", "")])
    return "::".join(p for p in (case.get("classname"), case.get("name")) if p)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("report", help="pytest --junitxml file")
    p.add_argument("--top", type=int, default=12, help="how many files and tests to list")
    a = p.parse_args(argv)
    try:
        root = ET.parse(a.report).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"error: {a.report}: cannot read the JUnit report ({e})", file=sys.stderr)
        return 2
    slow = slow_node_ids()
    by_file: dict[str, float] = collections.Counter()
    split = {"fast": [0, 0.0], "slow": [0, 0.0]}
    tests = []
    for case in root.iter("testcase"):
        nid, seconds = node_id(case), float(case.get("time", 0.0))
        kind = "slow" if nid in slow else "fast"
        split[kind][0] += 1
        split[kind][1] += seconds
        by_file[nid.split("::")[0]] += seconds
        tests.append((seconds, nid, kind))
    total = sum(s for _, s in split.values())
    print(f"{'subset':<8} {'tests':>6} {'seconds':>9} {'share':>6}")
    for kind, (n, s) in split.items():
        print(f"{kind:<8} {n:>6} {s:>9.1f} {100 * s / total if total else 0:>5.1f}%")
    print(f"{'all':<8} {sum(n for n, _ in split.values()):>6} {total:>9.1f}")
    print(f"\nslowest files (of {len(by_file)}):")
    for path, s in sorted(by_file.items(), key=lambda kv: -kv[1])[:a.top]:
        print(f"  {s:8.1f} s  {path}")
    print("\nslowest tests:")
    for s, nid, kind in sorted(tests, reverse=True)[:a.top]:
        print(f"  {s:8.1f} s  [{kind}] {nid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
