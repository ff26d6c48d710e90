#!/usr/bin/env bash
# DeepSpeed across two GPUs, in one GPU machine call (scripts/device/PLAN.md, call "deepspeed"):
#   1. sft/sft.sh on the carried SFT set three times, same data, seed and global batch (2):
#      one GPU without DeepSpeed (batch 1 x grad-acc 2), then two GPUs with ZeRO-2
#      (sft/ds_zero2.json) and with ZeRO-3 (sft/ds_zero3.json), batch 1 per GPU; the loss of
#      every step side by side, the largest difference from the one-GPU run, seconds per step;
#   2. GRPO in colocate mode, data parallel over both GPUs (rl/grpo.sh USE_VLLM=false with two
#      processes, DeepSpeed ZeRO-2): each process generates its own rollouts with our scheduler.
# After `source scripts/device/install.sh STACK` (STACK: latest, the default, or train — the
# release's ms-swift 3.10):
#
#   bash scripts/device/deepspeed_2gpu.sh
#
# float32 weights by default (DTYPE) so that the three SFT runs differ only by how the work is
# split, not by bf16 rounding. $OUT gets deepspeed_2gpu-summary.md and deepspeed_2gpu.tar.gz.
# Knobs: SFT_STEPS (20), GRPO_STEPS (2), DTYPE (float32), STACK (latest).
NAME=deepspeed_2gpu
source "$(dirname "$0")/common.sh"
STACK="${STACK:-latest}"
SFT_STEPS="${SFT_STEPS:-20}"
GRPO_STEPS="${GRPO_STEPS:-2}"
DTYPE="${DTYPE:-float32}"
MEDIA="${VIDEOTEMP_MEDIA:-/tmp/videotemp-media}"
TINY="${TINY:-/tmp/tiny32}"
SUMMARY="$WORK/summary.md"
export VIDEO_MIN_PIXELS=3136 VIDEO_MAX_PIXELS=6272 FPS_MAX_FRAMES=64

need_stack "$STACK"
ngpu=$(python3 -c "import torch; print(torch.cuda.device_count())")
[ "$ngpu" -ge 2 ] || die "needs 2 GPUs (nvidia-h100-x2); this machine has $ngpu"
[ -f "$MEDIA/sft/sft.jsonl" ] || die "missing $MEDIA/sft/sft.jsonl (the media chunk: scripts/device/PLAN.md)"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
versions=$(python3 -c "import swift, torch, transformers, deepspeed; print(f'ms-swift {swift.__version__}, DeepSpeed {deepspeed.__version__}, torch {torch.__version__}, transformers {transformers.__version__}')")
step "$ngpu x $gpu_name; $versions"
echo "# DeepSpeed on two GPUs ($ngpu x $gpu_name; $versions)" > "$SUMMARY"
[ -f "$TINY/config.json" ] || python3 -m videotemp_o3.testing.tiny_model "$TINY" --size tiny-h32 | tail -1

sft_run() {  # name devices nproc grad_acc deepspeed
  local name=$1 devices=$2 nproc=$3 acc=$4 ds=$5 start=$SECONDS
  rm -rf "$WORK/sft_$name"
  step "SFT $name: GPUs $devices, $nproc process(es), grad-acc $acc, DeepSpeed $ds"
  gpu_watch_start
  CUDA_VISIBLE_DEVICES="$devices" NPROC_PER_NODE="$nproc" MASTER_PORT=$((29500 + RANDOM % 1000)) DEVICE=cuda \
    MODEL="$TINY" MODEL_TYPE=qwen2_5_vl DATA="$MEDIA/sft/sft.jsonl" DEEPSPEED="$ds" DTYPE="$DTYPE" \
    OUTPUT_DIR="$WORK/sft_$name" EPOCHS=100000 MAX_STEPS="$SFT_STEPS" BATCH_SIZE=1 GRAD_ACC="$acc" LR=2e-3 \
    WARMUP_RATIO=0 LOGGING_STEPS=1 SAVE_STEPS=100000 SAVE_ONLY_MODEL=true MAX_LENGTH=4096 SEED=42 \
    GRADIENT_CHECKPOINTING=false DATASET_NUM_PROC=1 DATALOADER_NUM_WORKERS=0 REPORT_TO=none ATTN_IMPL=sdpa \
    bash sft/sft.sh --check_model false > "$WORK/sft_$name.log" 2>&1 \
    || { gpu_watch_stop; tail -50 "$WORK/sft_$name.log" >&2; die "SFT $name failed (sft_$name.log)"; }
  gpu_watch_stop
  mv "$WORK/gpu_mem.csv" "$WORK/gpu_mem_sft_$name.csv"
  echo "$name: $((SECONDS - start)) s wall; $(WORK_CSV="$WORK/gpu_mem_sft_$name.csv" python3 -c "
import csv, os
peak = {}
for r in csv.reader(open(os.environ['WORK_CSV'])):
    if len(r) >= 3: peak[r[1].strip()] = max(peak.get(r[1].strip(), 0), int(r[2]))
print(', '.join(f'GPU {g} peak {m} MiB' for g, m in sorted(peak.items())))")" >> "$WORK/sft_runs.txt"
}
: > "$WORK/sft_runs.txt"
sft_run one_gpu 0 1 2 none
sft_run zero2 0,1 2 1 "$REPO/sft/ds_zero2.json"
sft_run zero3 0,1 2 1 "$REPO/sft/ds_zero3.json"
{ echo; echo "sft/sft.sh, $SFT_STEPS steps, global batch 2, seed 42, $DTYPE, same data (the carried 8-trajectory SFT set):"; echo
  python3 scripts/device/summarize.py compare \
    "1 GPU=$(ls "$WORK"/sft_one_gpu/v*/logging.jsonl | tail -1)" \
    "ZeRO-2 x2=$(ls "$WORK"/sft_zero2/v*/logging.jsonl | tail -1)" \
    "ZeRO-3 x2=$(ls "$WORK"/sft_zero3/v*/logging.jsonl | tail -1)"
  echo; sed 's/^/- /' "$WORK/sft_runs.txt"; } >> "$SUMMARY"

# --- GRPO colocate, data parallel over both GPUs ------------------------------------------------------
step "GRPO colocate (no vLLM), 2 processes on GPUs 0,1, ZeRO-2, $GRPO_STEPS steps"
rm -rf "$WORK/grpo"
gpu_watch_start
t_grpo=$SECONDS
CUDA_VISIBLE_DEVICES=0,1 NPROC_PER_NODE=2 MASTER_PORT=$((29500 + RANDOM % 1000)) USE_VLLM=false \
  MODEL="$TINY" MODEL_TYPE=qwen2_5_vl RL_DATA="$MEDIA/rl/data" OUTPUT_DIR="$WORK/grpo" DEEPSPEED=zero2 \
  TORCH_DTYPE=bfloat16 MAX_STEPS="$GRPO_STEPS" NUM_GENERATIONS=4 PER_DEVICE_BATCH_SIZE=2 GRAD_ACCUM=1 \
  MAX_COMPLETION_LENGTH=64 MAX_LENGTH=8192 SAVE_STEPS=100000 FPS_MIN_FRAMES=4 VIDEOTEMP_CLIP_MIN_FRAMES=4 \
  VIDEOTEMP_CLIP_MAX_FRAMES=16 EXTRA_ARGS="--check_model false" bash rl/grpo.sh > "$WORK/grpo.log" 2>&1 \
  || { tail -60 "$WORK/grpo.log" >&2; die "GRPO colocate on two GPUs failed (grpo.log)"; }
gpu_watch_stop
{ echo; echo "GRPO colocate, data parallel over 2 GPUs (2 processes x 2 rollouts, 4 generations per prompt), ZeRO-2, $((SECONDS - t_grpo)) s wall:"; echo
  python3 scripts/device/summarize.py grpo "$(ls "$WORK"/grpo/grpo/v*/logging.jsonl | tail -1)" --clips "$WORK/grpo/clips"
  echo; gpu_peaks | sed 's/^/- /'
  echo; echo "Commands: bash sft/sft.sh (NPROC_PER_NODE=2 DEEPSPEED=sft/ds_zero{2,3}.json) and bash rl/grpo.sh (USE_VLLM=false NPROC_PER_NODE=2 DEEPSPEED=zero2); settings in scripts/device/deepspeed_2gpu.sh"
} >> "$SUMMARY"
step "done"
echo; cat "$SUMMARY"
