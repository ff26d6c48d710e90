#!/usr/bin/env bash
# The miniature reproduction of VideoTemp-o3 on one GPU, from nothing (python/videotemp_o3/mini.py):
# synthetic splits → SFT (all rounds / unified masking / single pass) → GRPO (without / with the
# IoU penalty) → evaluation of every stage on the held-out test split → table, plot, best checkpoint.
#
#   bash scripts/reproduce_mini.sh                               # one GPU (about 8 minutes on an H100)
#   DEVICE=cpu MINI_SCALE=smoke bash scripts/reproduce_mini.sh   # the same plumbing, tiny, on CPU
#
# Environment: DEVICE (cuda|cpu), MINI_SCALE (full|smoke), SEED (0), MINI_BUDGET_S (the scale's: 540
# s for full; evaluations still running then are stopped), WORK (runs/mini/work: data,
# checkpoints, logs), RESULTS (runs/mini/results, or $OUT when set: table.md, results.json,
# plot.png, logs.tar.gz, best.tar.gz[.partN]), PYTHON (the repo's .venv, else python3),
# MINI_OVERVIEW_TIMES (1: a timed overview — the overview's frame times in text — in the SFT
# data, the GRPO rows and the evaluation; default off).
# Needs the training stack (ms-swift 3.10.3, transformers 4.57, PyAV, qwen-vl-utils, decord) and
# the package (`pip install -e .[train,infer,eval]`, or scripts/device/install.sh on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHON VIDEOTEMP_REPO="$PWD"
# The commit the run reports (MANIFEST, results.json): git's, or VIDEOTEMP_COMMIT where the copy
# has no .git (a GPU machine's).
if [[ -z "${VIDEOTEMP_COMMIT:-}" ]] && git rev-parse HEAD >/dev/null 2>&1; then
  VIDEOTEMP_COMMIT="$(git rev-parse HEAD)"; export VIDEOTEMP_COMMIT
fi
RESULTS="${RESULTS:-${OUT:-runs/mini/results}}"
WORK="${WORK:-runs/mini/work}"
exec "$PYTHON" -m videotemp_o3.mini run --work "$WORK" --results "$RESULTS" \
  --scale "${MINI_SCALE:-full}" --device "${DEVICE:-cuda}" --seed "${SEED:-0}" "$@"
