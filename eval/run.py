#!/usr/bin/env python
"""Run the VideoTemp-o3 agent on a benchmark, resumably, and print its score.

    python eval/run.py --bench videotemp-g                          # embedded transformers engine
    python eval/run.py --bench videomme --engine openai --base-url http://127.0.0.1:8000/v1 --workers 16
    python eval/run.py --bench mlvu --limit 20 --output /tmp/mlvu.jsonl

All logic lives in :mod:`videotemp_o3.evaluate`; ``--help`` lists the flags.
"""

import sys
from pathlib import Path

try:
    from videotemp_o3.evaluate import script_main
except ImportError:  # a checkout without `pip install -e .`: use its python/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    from videotemp_o3.evaluate import script_main

if __name__ == "__main__":
    sys.exit(script_main())
