"""Mutation score per module (and per function with --functions) from a mutmut run in .mutation/.

    .venv/bin/python scripts/mutation_summary.py [--functions] [PATTERN ...]

Reads mutmut's result files (``.mutation/mutants/**/*.py.meta``). Score = killed / (killed +
survived); timeouts count as killed (the mutant made the tests hang), mutants no selected test
reaches are listed apart, and unchecked ones (outside the run's selection) are left out.
"""

from __future__ import annotations

import collections
import fnmatch
import json
import sys
from pathlib import Path

# mutmut 3.8's exit codes of a mutant's test run (mutmut.__main__.status_by_exit_code; importing
# it needs mutmut's configuration, so the table is repeated here).
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          35: "suspicious", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout",
          255: "timeout", -11: "segfault", -9: "segfault", None: "not checked"}


def main(argv: list[str]) -> int:
    by_function = "--functions" in argv
    patterns = [a for a in argv if not a.startswith("--")] or ["*"]
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    survivors: list[str] = []
    for meta in sorted(Path(".mutation/mutants").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            status = STATUS.get(code, f"exit {code}")
            module, function = name.split("__mutmut_")[0].rsplit(".", 1)
            key = f"{module}.{function}" if by_function else module
            counts[key][status] += 1
            if status == "survived":
                survivors.append(name)
    print(f"{'module' + ('.function' if by_function else ''):<58} {'score':>6} {'killed':>6} "
          f"{'surv.':>5} {'t/o':>4} {'none':>5} {'unchk':>5}")
    for key, c in sorted(counts.items()):
        killed = c["killed"] + c["timeout"]
        decided = killed + c["survived"]
        score = f"{100 * killed / decided:5.1f}%" if decided else "    -"
        print(f"{key:<58} {score:>6} {c['killed']:>6} {c['survived']:>5} {c['timeout']:>4} "
              f"{c['no tests']:>5} {c['not checked']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
