#!/usr/bin/env bash
# Real ms-swift training steps on the carried media (after `source scripts/device/install.sh train`
# and `python3 scripts/device/smoke.py --train --gpu-step`, which builds the tiny model):
#   1. SFT: sft/sft.sh on $MEDIA/sft (8 trajectories with FFV1 clips), SFT_STEPS steps;
#   2. GRPO: rl/grpo.sh in colocate mode without vLLM on $MEDIA/rl/data, 2 steps.
# No DeepSpeed, no vLLM (scripts/device/deepspeed_2gpu.sh and rl_2gpu.sh run those). Logs and
# ms-swift's logging.jsonl go to $OUT when set (the device tool's output folder). DEVICE=cpu runs
# the same on a machine without GPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
MEDIA="${MEDIA:-/tmp/videotemp-media}"
MODEL="${MODEL:-/tmp/tiny/tiny-qwen2_5_vl-seed0}"
DEVICE="${DEVICE:-cuda}"
OUTDIR="${OUT:-/tmp/train_smoke}"
SFT_STEPS="${SFT_STEPS:-10}"
WORK="${WORK:-/tmp/train_smoke_work}"
export PYTHON="${PYTHON:-python3}" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
mkdir -p "$OUTDIR"
rm -rf "$WORK"
[ -f "$MODEL/config.json" ] || { echo "no tiny model at $MODEL (run smoke.py --gpu-step first)" >&2; exit 2; }
[ -f "$MEDIA/sft/sft.jsonl" ] || { echo "no SFT media at $MEDIA (install a stack: source scripts/device/install.sh train)" >&2; exit 2; }

step_summary() { "$PYTHON" scripts/device/summarize.py steps "$1"; }  # logging.jsonl -> one line per step

echo "== SFT: $SFT_STEPS steps on $DEVICE (tiny model, $MEDIA/sft/sft.jsonl)"
t0=$SECONDS
env VIDEO_MIN_PIXELS=3136 VIDEO_MAX_PIXELS=6272 FPS_MAX_FRAMES=64 \
    DEVICE="$DEVICE" MODEL="$MODEL" MODEL_TYPE=qwen2_5_vl DATA="$MEDIA/sft/sft.jsonl" DEEPSPEED=none \
    OUTPUT_DIR="$WORK/sft" EPOCHS=100 MAX_STEPS="$SFT_STEPS" GRAD_ACC=1 LR=2e-3 WARMUP_RATIO=0 \
    LOGGING_STEPS=1 SAVE_STEPS=100000 SAVE_ONLY_MODEL=true MAX_LENGTH=4096 GRADIENT_CHECKPOINTING=false \
    DATASET_NUM_PROC=1 DATALOADER_NUM_WORKERS=1 REPORT_TO=none \
    bash sft/sft.sh --check_model false >"$OUTDIR/sft.log" 2>&1 || { tail -60 "$OUTDIR/sft.log"; exit 1; }
cp "$WORK"/sft/v*/logging.jsonl "$OUTDIR/sft_logging.jsonl"
step_summary "$OUTDIR/sft_logging.jsonl"
echo "  SFT took $((SECONDS - t0)) s"

echo "== GRPO: 2 steps on $DEVICE, colocate without vLLM ($MEDIA/rl/data)"
t0=$SECONDS
[ "$DEVICE" = cpu ] && export CUDA_VISIBLE_DEVICES=""
env VIDEO_MIN_PIXELS=3136 VIDEO_MAX_PIXELS=3136 FPS_MAX_FRAMES=4 FPS_MIN_FRAMES=2 \
    VIDEOTEMP_CLIP_MIN_FRAMES=2 VIDEOTEMP_CLIP_MAX_FRAMES=4 \
    USE_VLLM=false MODEL="$MODEL" MODEL_TYPE=qwen2_5_vl RL_DATA="$MEDIA/rl/data" OUTPUT_DIR="$WORK/rl" \
    MAX_STEPS=2 NUM_GENERATIONS=2 PER_DEVICE_BATCH_SIZE=2 GRAD_ACCUM=1 MAX_COMPLETION_LENGTH=48 \
    MAX_LENGTH=4096 SAVE_STEPS=100000 EXTRA_ARGS="--check_model false" \
    bash rl/grpo.sh >"$OUTDIR/grpo.log" 2>&1 || { tail -60 "$OUTDIR/grpo.log"; exit 1; }
cp "$(ls "$WORK"/rl/grpo/v*/logging.jsonl | tail -1)" "$OUTDIR/grpo_logging.jsonl"
step_summary "$OUTDIR/grpo_logging.jsonl"
echo "  GRPO took $((SECONDS - t0)) s"
echo "TRAIN SMOKE PASSED"
