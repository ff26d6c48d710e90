#!/usr/bin/env bash
# The main job: evaluate the agent on the bundled synthetic long-video benchmark with the
# embedded transformers engine, print the score tables (MCQ and grounding) and one question's
# trajectory (overview -> tool call -> clip -> answer, the requested span against the truth), and
# write the HTML report of each run (its path is printed last).
#
#   bash scripts/demo.sh                             # the shipped small agent (models/videotemp-mini), CPU
#   MODEL=/path/to/checkpoint bash scripts/demo.sh   # a real Qwen2.5-VL checkpoint (GPU), release budgets
#
# The synthetic benchmark (8 videos from 75 s to 25 min: a burned-in clock, one coloured card
# whose fine pattern the MCQ asks about, its span the grounding target; python -m
# videotemp_o3.synthetic) is generated under eval/videotemp/data on first use. The shipped agent
# was trained by scripts/reproduce_mini.sh (models/videotemp-mini/MANIFEST.json: command, seed,
# scores) and sees the frames it was trained on: a 32-frame overview of 56x112 and clips of up
# to 8 frames of 112x224 at 2 fps. Results and trajectories go to runs/demo/; a rerun resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
DATA="${DATA:-eval/videotemp/data}"
OUT="${OUT:-runs/demo}"
SHIPPED="${SHIPPED:-models/videotemp-mini}"   # the shipped agent (a folder of `mini ship`)

# Data of an older generator (no "pattern" field) is replaced, so the agent sees its own task.
if [ ! -f "$DATA/data.jsonl" ] || ! grep -q '"pattern"' "$DATA/data.jsonl"; then
  echo "[demo] generating the synthetic benchmark in $DATA"
  $PY -m videotemp_o3.synthetic "$DATA"
fi

if [ -z "${MODEL:-}" ]; then
  if [ -f "$SHIPPED/model.safetensors" ]; then
    MODEL="$SHIPPED"
    # As its evaluation ran it (the miniature's budgets, the timed overview if trained with it:
    # MANIFEST.json's agent_flags), on 2 CPU cores.
    mapfile -t FLAGS < <($PY -m videotemp_o3.mini flags "$MODEL")
    [ ${#FLAGS[@]} -gt 0 ] || { echo "[demo] $MODEL/MANIFEST.json: no agent flags" >&2; exit 1; }
    FLAGS=(--device cpu "${FLAGS[@]}")
    echo "[demo] no MODEL given: using the shipped small agent ($MODEL); set MODEL=<checkpoint> for a real one"
  else
    MODEL="$OUT/tiny-qwen2.5-vl"
    [ -f "$MODEL/config.json" ] || $PY -m videotemp_o3.testing.tiny_model "$MODEL"
    # A random tiny model on CPU (the shipped agent is missing from this checkout): its answers
    # are noise; the point is the whole pipeline (decode, agent loop, results, scores) on real files.
    FLAGS=(--device cpu --overview-frames 16 --overview-pixels 12544 --clip-pixels 12544 --clip-max-frames 16 --max-new-tokens 48)
    echo "[demo] no MODEL given and no shipped agent in $SHIPPED: using a tiny random Qwen2.5-VL ($MODEL)"
  fi
else
  FLAGS=()
fi

for bench in videotemp videotemp-g; do
  echo
  echo "[demo] ===== $bench ====="
  $PY eval/run.py --bench "$bench" --data-dir "$DATA" --model "$MODEL" --output "$OUT/$bench.jsonl" "${FLAGS[@]}" "$@"
done
echo
echo "[demo] ===== one trajectory (videotemp-g) ====="
$PY -m videotemp_o3.mini show "$OUT/videotemp-g.jsonl" --data-dir "$DATA" || true
echo
echo "[demo] results: $OUT/*.jsonl, trajectories: $OUT/*.trajectories/"
# eval/run.py wrote each run's report (videotemp report) after scoring it.
for bench in videotemp videotemp-g; do
  [ -f "$OUT/$bench.report.html" ] || { echo "[demo] no report was written for $bench" >&2; exit 1; }
  echo "[demo] report: $OUT/$bench.report.html"
done
