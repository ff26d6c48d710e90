#!/usr/bin/env bash
# The main job: evaluate the agent on the bundled synthetic long-video benchmark with the
# embedded transformers engine, print the score tables (MCQ and grounding) and write the HTML
# report of each run (its path is printed last).
#
#   bash scripts/demo.sh                       # a tiny random model built locally (no download)
#   MODEL=/path/to/checkpoint bash scripts/demo.sh   # a real Qwen2.5-VL checkpoint (GPU), release budgets
#
# The synthetic benchmark (8 videos from 75 s to 25 min, one coloured square shown in a known
# span) is generated under eval/videotemp/data on first use. Results and trajectories go to
# runs/demo/; a rerun resumes and only scores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
DATA="${DATA:-eval/videotemp/data}"
OUT="${OUT:-runs/demo}"

if [ ! -f "$DATA/data.jsonl" ]; then
  echo "[demo] generating the synthetic benchmark in $DATA"
  $PY -m videotemp_o3.synthetic "$DATA"
fi

if [ -z "${MODEL:-}" ]; then
  MODEL="$OUT/tiny-qwen2.5-vl"
  [ -f "$MODEL/config.json" ] || $PY -m videotemp_o3.testing.tiny_model "$MODEL"
  # A random tiny model on CPU: small budgets keep the run to a minute. Its answers are noise;
  # the point is the whole pipeline (decode, agent loop, results, scores) on real files.
  FLAGS=(--device cpu --overview-frames 16 --overview-pixels 12544 --clip-pixels 12544 --clip-max-frames 16 --max-new-tokens 48)
  echo "[demo] no MODEL given: using a tiny random Qwen2.5-VL ($MODEL); set MODEL=<checkpoint> for real answers"
else
  FLAGS=()
fi

for bench in videotemp videotemp-g; do
  echo
  echo "[demo] ===== $bench ====="
  $PY eval/run.py --bench "$bench" --data-dir "$DATA" --model "$MODEL" --output "$OUT/$bench.jsonl" "${FLAGS[@]}" "$@"
done
echo
echo "[demo] results: $OUT/*.jsonl, trajectories: $OUT/*.trajectories/"
# eval/run.py wrote each run's report (videotemp report) after scoring it.
for bench in videotemp videotemp-g; do
  [ -f "$OUT/$bench.report.html" ] || { echo "[demo] no report was written for $bench" >&2; exit 1; }
  echo "[demo] report: $OUT/$bench.report.html"
done
