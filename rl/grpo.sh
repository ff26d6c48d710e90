#!/usr/bin/env bash
# GRPO training: `swift rlhf --rlhf_type grpo` with our rewards and multi-turn clip environment.
#
# GPU (the release's layout, one 8-GPU node): start the rollout server on GPUs 6,7
# (bash rl/rollout.sh), then train on GPUs 0-5 with DeepSpeed:
#
#   bash rl/rollout.sh &      # vLLM + our scheduler
#   bash rl/grpo.sh           # waits for the server's /health/, then trains
#
# CPU (tests, or a machine without vLLM): USE_VLLM=false. ms-swift's trainer then generates
# with its own PyTorch engine (PtEngine) in colocate mode and drives our scheduler itself, turn
# by turn (GRPOTrainer -> RolloutTrainerMixin._colocate_multi_turn_infer in 3.10.3): multi-turn
# rollouts need no vLLM. No server, no DeepSpeed, one process:
#
#   USE_VLLM=false MODEL=/tmp/tiny MODEL_TYPE=qwen2_5_vl MAX_STEPS=2 NUM_GENERATIONS=2 \
#     PER_DEVICE_BATCH_SIZE=2 bash rl/grpo.sh
#
# Environment (shared ones in rl/env.sh: MODEL, MODEL_TYPE, DATASETS, OUTPUT_DIR, MAX_TURNS,
# VIDEO_MAX_PIXELS, FPS_MAX_FRAMES, VIDEOTEMP_CLIP_DIR, ROLLOUT_HOST, ROLLOUT_PORT):
#   USE_VLLM             true (server mode, default) | false (CPU/PtEngine colocate)
#   TRAIN_DEVICES        GPUs for training (default 0,1,2,3,4,5); their count is the process count
#   ROLLOUT_WAIT_S       how long to wait for the rollout server's health check (default 1800)
#   NUM_GENERATIONS (8)  LEARNING_RATE (5e-6)  PER_DEVICE_BATCH_SIZE (4)  GRAD_ACCUM (4)
#   NUM_EPOCHS (1)       MAX_STEPS (unset: epochs decide)  MAX_COMPLETION_LENGTH (2048, per turn)
#   MAX_LENGTH (40960: a whole conversation with its videos)  TEMPERATURE (1.0)
#   DEEPSPEED            a ms-swift name (zero2, zero3, ...) or a JSON file (default zero3 on
#                        GPU, none on CPU)
#   TORCH_DTYPE          bfloat16 on GPU, float32 on CPU
#   ATTN_IMPL            flash_attn when installed, else sdpa
#   REWARDS              release (default): the release's acc_reward iou_reward format_reward;
#                        videotemp: our variant videotemp_accuracy videotemp_iou videotemp_format
#                        (python/videotemp_o3/training/rewards.py defines both)
#   REWARD_WEIGHTS       e.g. "1 1 1" for accuracy, IoU, format (default: all 1)
#   VALIDATE             1 (default): check DATASETS with the RL data validator first (0 skips)
#   LOSS_SCALE           which assistant rounds of a rollout carry the policy-gradient loss:
#                        release (default) = what the release trains: its grpo.sh passes no
#                        --loss_scale, so ms-swift trains the last round (the final answer)
#                        only; in server mode no flag is passed either, in colocate mode
#                        --loss_scale last_round is (there ms-swift's own default would be
#                        every round, because the scheduler runs in the trainer).
#                        Any ms-swift loss-scale name is passed as given: default = every
#                        assistant round, the tool calls too (the project's former choice).
#   FREEZE_ALIGNER       false (default): the merger trains, as in the release's grpo.sh and sft.sh
#   SAVE_STEPS (100) LOGGING_STEPS (1) REPORT_TO (tensorboard on GPU, none on CPU)
#   EXTRA_ARGS           more `swift rlhf` arguments, appended as given
set -euo pipefail
source "$(dirname "$0")/env.sh"

: "${USE_VLLM:=true}"
: "${TRAIN_DEVICES:=0,1,2,3,4,5}"
: "${ROLLOUT_WAIT_S:=1800}"
: "${NUM_GENERATIONS:=8}"
: "${LEARNING_RATE:=5e-6}"
: "${PER_DEVICE_BATCH_SIZE:=4}"
: "${GRAD_ACCUM:=4}"
: "${NUM_EPOCHS:=1}"
: "${MAX_STEPS:=}"
: "${MAX_COMPLETION_LENGTH:=2048}"
: "${MAX_LENGTH:=40960}"
: "${TEMPERATURE:=1.0}"
: "${REWARDS:=release}"
: "${REWARD_WEIGHTS:=}"
: "${VALIDATE:=1}"
: "${LOSS_SCALE:=release}"
: "${FREEZE_ALIGNER:=false}"
: "${SAVE_STEPS:=100}"
: "${LOGGING_STEPS:=1}"
: "${EXTRA_ARGS:=}"
if [ "$USE_VLLM" = true ]; then
  : "${DEEPSPEED:=zero3}" "${TORCH_DTYPE:=bfloat16}" "${REPORT_TO:=tensorboard}"
  if [ -z "${ATTN_IMPL:-}" ]; then   # as sft/sft.sh: flash attention when it is installed
    if "$PYTHON" -c "import flash_attn" >/dev/null 2>&1; then ATTN_IMPL=flash_attn; else ATTN_IMPL=sdpa; fi
  fi
else
  : "${DEEPSPEED:=}" "${TORCH_DTYPE:=float32}" "${REPORT_TO:=none}" "${ATTN_IMPL:=sdpa}"
fi

case "$REWARDS" in
  release)   REWARD_FUNCS="acc_reward iou_reward format_reward" ;;
  videotemp) REWARD_FUNCS="videotemp_accuracy videotemp_iou videotemp_format" ;;
  *) rl_log "REWARDS must be release or videotemp, got '$REWARDS'"; exit 2 ;;
esac

rl_check_model
for f in $DATASETS; do
  [ -f "$f" ] || { rl_log "dataset not found: $f (build it: python -m videotemp_o3.training.rl_data build ...)"; exit 2; }
done
if [ "$VALIDATE" = 1 ]; then
  # Every row must be one the rewards can score; a bad row found here names its file:line,
  # found by a reward in the middle of training it would stop the run.
  rl_log "validating $DATASETS (VALIDATE=0 skips) ..."
  # shellcheck disable=SC2086  # a space-separated list on purpose
  if ! "$PYTHON" -m videotemp_o3.training.rl_data validate $DATASETS >&2; then
    rl_log "the data has bad rows (listed above as file:line: reason); fix them or set VALIDATE=0"
    exit 2
  fi
fi
mkdir -p "$OUTPUT_DIR" "$VIDEOTEMP_CLIP_DIR"

wait_for_rollout_server() {
  local url="http://$ROLLOUT_HOST:$ROLLOUT_PORT/health/"
  rl_log "waiting up to ${ROLLOUT_WAIT_S}s for the rollout server at $url ..."
  local start=$SECONDS
  until "$PYTHON" - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
  do
    if (( SECONDS - start >= ROLLOUT_WAIT_S )); then
      rl_log "the rollout server at $url did not answer within ${ROLLOUT_WAIT_S}s."
      rl_log "start it first (bash rl/rollout.sh, on other GPUs), check its log, or set"
      rl_log "ROLLOUT_HOST/ROLLOUT_PORT to where it runs (ROLLOUT_WAIT_S to wait longer)."
      exit 3
    fi
    sleep 5
  done
  rl_log "rollout server is up after $((SECONDS - start))s"
}

# ms-swift 4 renamed --train_type to --tuner_type (videotemp_o3.training.swift_cli).
TUNER_FLAG="$("$PYTHON" -m videotemp_o3.training.swift_cli flag tuner_type)"
args=(
  --rlhf_type grpo
  --model "$MODEL"
  "$TUNER_FLAG" full
  --freeze_vit true                       # the release trains with the vision encoder frozen
  --freeze_aligner "$FREEZE_ALIGNER"      # and the merger trained (false)
  --torch_dtype "$TORCH_DTYPE"
  --attn_impl "$ATTN_IMPL"
  --dataset $DATASETS
  --split_dataset_ratio 0
  --external_plugins "$PLUGIN"
  --reward_funcs $REWARD_FUNCS
  --max_turns "$MAX_TURNS"
  --num_generations "$NUM_GENERATIONS"
  --learning_rate "$LEARNING_RATE"
  --per_device_train_batch_size "$PER_DEVICE_BATCH_SIZE"
  --gradient_accumulation_steps "$GRAD_ACCUM"
  --num_train_epochs "$NUM_EPOCHS"
  --max_completion_length "$MAX_COMPLETION_LENGTH"
  --max_length "$MAX_LENGTH"
  --temperature "$TEMPERATURE"
  --output_dir "$OUTPUT_DIR/grpo"
  --save_steps "$SAVE_STEPS"
  --logging_steps "$LOGGING_STEPS"
  --log_completions true
  --report_to "$REPORT_TO"
  --dataloader_num_workers 0
  --dataset_num_proc 1
)
[ -n "$MODEL_TYPE" ] && args+=(--model_type "$MODEL_TYPE")
args+=(--template "$TEMPLATE")
[ -n "$MAX_STEPS" ] && args+=(--max_steps "$MAX_STEPS")
[ -n "$DEEPSPEED" ] && args+=(--deepspeed "$DEEPSPEED")
# shellcheck disable=SC2206  # a space-separated list on purpose
[ -n "$REWARD_WEIGHTS" ] && args+=(--reward_weights $REWARD_WEIGHTS)

if [ "$USE_VLLM" = true ]; then
  # Server mode: the rollout server runs the scheduler; the trainer only scores and learns.
  # No --vllm_server_pass_dataset: the scheduler needs only the request's own video, and the
  # rewards read the data row on the trainer side anyway.
  args+=(--use_vllm true --vllm_mode server
         --vllm_server_host "$ROLLOUT_HOST" --vllm_server_port "$ROLLOUT_PORT")
  wait_for_rollout_server
  n_train=$(rl_count_devices "$TRAIN_DEVICES")
  export CUDA_VISIBLE_DEVICES="$TRAIN_DEVICES" NPROC_PER_NODE="$n_train"
  rl_log "training on GPUs $TRAIN_DEVICES ($n_train processes, DeepSpeed ${DEEPSPEED:-off})"
else
  # Colocate without vLLM: the trainer generates with PtEngine and runs the scheduler itself.
  args+=(--use_vllm false --multi_turn_scheduler "$SCHEDULER")
  rl_log "colocate mode without vLLM: the trainer generates with its PyTorch engine"
fi

if [ "$LOSS_SCALE" = release ]; then
  if [ "$USE_VLLM" = true ]; then
    loss_note="release: no --loss_scale, ms-swift trains the last round only"
  else
    args+=(--loss_scale last_round)
    loss_note="release: --loss_scale last_round, the last round only"
  fi
else
  args+=(--loss_scale "$LOSS_SCALE")
  loss_note="--loss_scale $LOSS_SCALE"
fi

rl_log "model $MODEL; data: $DATASETS; rewards: $REWARDS ($REWARD_FUNCS)"
rl_log "loss scale: $loss_note"
rl_log "$NUM_GENERATIONS generations, lr $LEARNING_RATE, max turns $MAX_TURNS; frame budget" \
       "VIDEO_MAX_PIXELS=$VIDEO_MAX_PIXELS FPS_MAX_FRAMES=$FPS_MAX_FRAMES; output $OUTPUT_DIR/grpo"
# shellcheck disable=SC2086  # EXTRA_ARGS is split on purpose
exec "$SWIFT" rlhf "${args[@]}" $EXTRA_ARGS
