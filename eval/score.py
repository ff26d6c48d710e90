#!/usr/bin/env python
"""Score a results file with a benchmark's official metrics.

    python eval/score.py videomme --input_file eval/videomme/output/results.jsonl --return_task_types_accuracy
    python eval/score.py lvbench --input_file test.json          # the release's {uid: answer} dict
    python eval/score.py videotemp-g --json --plot grounding.png

All logic lives in :mod:`videotemp_o3.benchmarks.score`; ``--help`` lists the flags.
"""

import sys
from pathlib import Path

try:
    from videotemp_o3.benchmarks.score import main
except ImportError:  # a checkout without `pip install -e .`: use its python/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    from videotemp_o3.benchmarks.score import main

if __name__ == "__main__":
    sys.exit(main())
