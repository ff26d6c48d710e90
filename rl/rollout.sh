#!/usr/bin/env bash
# The GRPO rollout server: `swift rollout` (vLLM, async engine) with our multi-turn clip
# scheduler. Start it first, on the GPUs the trainer does not use, then run rl/grpo.sh.
#
# Release layout on one 8-GPU node: GPUs 6,7 serve rollouts (this script: vLLM data parallel
# over 2 GPUs), GPUs 0-5 train (rl/grpo.sh). Weights start as dummies: the trainer pushes its
# weights to the server before every rollout.
#
#   bash rl/rollout.sh                                 # GPUs 6,7, port 8000
#   ROLLOUT_DEVICES=4,5,6,7 bash rl/rollout.sh          # 4 rollout GPUs
#   MODEL=/ckpt/sft ROLLOUT_PORT=8001 bash rl/rollout.sh
#
# Environment (defaults in rl/env.sh, shared with the trainer):
#   MODEL, MODEL_TYPE, MAX_TURNS (3), ROLLOUT_PORT (8000), VIDEO_MAX_PIXELS (50176),
#   FPS_MAX_FRAMES (512), VIDEOTEMP_CLIP_DIR (clip files; must be readable by the trainer),
#   PROMPT_PROFILE (a prompt profile file: the wording of the tool feedback; default ours)
#   ROLLOUT_DEVICES    GPUs for vLLM (default 6,7); their count is the data-parallel size
#   ROLLOUT_TP         tensor-parallel size per vLLM replica (default 1)
#   ROLLOUT_BIND       address to listen on (default 127.0.0.1; 0.0.0.0 for a trainer elsewhere)
#   MAX_MODEL_LEN      vLLM context length (default 40960, the release's)
#   GPU_MEMORY_UTILIZATION (default 0.9)
#   EXTRA_ARGS         more `swift rollout` arguments, appended as given
set -euo pipefail
source "$(dirname "$0")/env.sh"

: "${ROLLOUT_DEVICES:=6,7}"
: "${ROLLOUT_TP:=1}"
: "${ROLLOUT_BIND:=127.0.0.1}"
: "${MAX_MODEL_LEN:=40960}"
: "${GPU_MEMORY_UTILIZATION:=0.9}"
: "${EXTRA_ARGS:=}"

n_gpus=$(rl_count_devices "$ROLLOUT_DEVICES")
if (( n_gpus % ROLLOUT_TP != 0 )); then
  rl_log "ROLLOUT_DEVICES=$ROLLOUT_DEVICES ($n_gpus GPUs) is not a multiple of ROLLOUT_TP=$ROLLOUT_TP"
  exit 2
fi
dp=$((n_gpus / ROLLOUT_TP))
rl_check_model
mkdir -p "$VIDEOTEMP_CLIP_DIR"

args=(
  --model "$MODEL"
  --external_plugins "$PLUGIN"
  --multi_turn_scheduler "$SCHEDULER"
  --max_turns "$MAX_TURNS"
  --vllm_use_async_engine true            # ms-swift runs multi-turn schedulers only on it
  --vllm_data_parallel_size "$dp"
  --vllm_tensor_parallel_size "$ROLLOUT_TP"
  --vllm_max_model_len "$MAX_MODEL_LEN"
  --vllm_gpu_memory_utilization "$GPU_MEMORY_UTILIZATION"
  --vllm_limit_mm_per_prompt "{\"image\": 0, \"video\": $MAX_VIDEOS}"
  --host "$ROLLOUT_BIND"
  --port "$ROLLOUT_PORT"
)
[ -n "$MODEL_TYPE" ] && args+=(--model_type "$MODEL_TYPE")
args+=(--template "$TEMPLATE")

rl_log "rollout server: $MODEL on GPUs $ROLLOUT_DEVICES (data parallel $dp x tensor parallel $ROLLOUT_TP)"
rl_log "listening on $ROLLOUT_BIND:$ROLLOUT_PORT (health: GET /health/); clips in $VIDEOTEMP_CLIP_DIR"
rl_log "frame budget: VIDEO_MAX_PIXELS=$VIDEO_MAX_PIXELS FPS_MAX_FRAMES=$FPS_MAX_FRAMES; max turns $MAX_TURNS"
rl_log "prompt profile: ${VIDEOTEMP_PROMPT_PROFILE:-ours (built in)}"
# shellcheck disable=SC2086  # EXTRA_ARGS is split on purpose
CUDA_VISIBLE_DEVICES="$ROLLOUT_DEVICES" exec "$SWIFT" rollout "${args[@]}" $EXTRA_ARGS
