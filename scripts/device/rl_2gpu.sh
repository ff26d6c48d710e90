#!/usr/bin/env bash
# The release's RL layout on two GPUs, in one GPU machine call (scripts/device/PLAN.md, call "rl"):
# `rl/rollout.sh` (swift rollout: vLLM + our clip scheduler) on GPU 1, `rl/grpo.sh` (swift rlhf
# GRPO, DeepSpeed ZeRO-3, weights pushed to the server before every rollout) on GPU 0. On a
# one-GPU machine (nvidia-h100-x1, the fallback) both share GPU 0.
# After `source scripts/device/install.sh latest` (vLLM needs ms-swift 4 here):
#
#   bash scripts/device/rl_2gpu.sh
#
#   1. builds the tiny Qwen2.5-VL with head size 32 (what vLLM's Triton attention serves);
#   2. fits it to write tool calls: SEED_STEPS of sft/sft.sh on GPU 0 on the carried
#      rl/sft_seed.jsonl (tool-call trajectories on the RL videos, the RL rows' prompts) — a
#      random model never calls the tool, and then the server's clip environment has nothing
#      to answer;
#   3. starts the rollout server from that checkpoint on GPU 1, then GRPO for STEPS steps on GPU 0;
#   3b. before GRPO and after it, the server's greedy first turns against the trainer's model
#      (benches/gpu/rollout_agree.py: a server computing another function still yields steps);
#   4. reports per step: loss, each reward function's mean, turns per rollout, seconds per step;
#      the clip files the environment wrote and the rollouts that called the tool; the weight
#      syncs the server logged; peak memory per GPU. $OUT gets rl_2gpu-summary.md, rl_2gpu.tar.gz.
#
# Knobs: SEED_STEPS (150), STEPS (3), NUM_GENERATIONS (4), MAX_COMPLETION_LENGTH (160),
# TRAIN_DEEPSPEED (zero3), TEMPERATURE (1.0).
NAME=rl_2gpu
source "$(dirname "$0")/common.sh"
SEED_STEPS="${SEED_STEPS:-150}"
STEPS="${STEPS:-3}"
NUM_GENERATIONS="${NUM_GENERATIONS:-4}"
MAX_COMPLETION_LENGTH="${MAX_COMPLETION_LENGTH:-160}"
TRAIN_DEEPSPEED="${TRAIN_DEEPSPEED:-zero3}"
TEMPERATURE="${TEMPERATURE:-1.0}"
MEDIA="${VIDEOTEMP_MEDIA:-/tmp/videotemp-media}"
TINY="${TINY:-/tmp/tiny32}"
SUMMARY="$WORK/summary.md"
# Small frames and clips: the point is the layout, not the model (both sides read these).
export VIDEO_MIN_PIXELS=3136 VIDEO_MAX_PIXELS=6272 FPS_MAX_FRAMES=64 FPS_MIN_FRAMES=4 \
       VIDEOTEMP_CLIP_MIN_FRAMES=4 VIDEOTEMP_CLIP_MAX_FRAMES=16

need_stack latest
ngpu=$(python3 -c "import torch; print(torch.cuda.device_count())")
[ "$ngpu" -ge 1 ] || die "no GPU visible"
if [ "$ngpu" -ge 2 ]; then
  TRAIN_GPU=0 ROLLOUT_GPU=1 ROLLOUT_MEM=0.5 LAYOUT="rollout server on GPU 1, trainer on GPU 0"
else  # nvidia-h100-x1 fallback: both on the one GPU (the server takes a third of its memory)
  TRAIN_GPU=0 ROLLOUT_GPU=0 ROLLOUT_MEM=0.3 LAYOUT="rollout server and trainer sharing GPU 0 (one-GPU fallback)"
fi
for f in "$MEDIA/rl/data/qa.jsonl" "$MEDIA/rl/data/grounding.jsonl" "$MEDIA/rl/sft_seed.jsonl"; do
  [ -f "$f" ] || die "missing $f (the media chunk: scripts/device/PLAN.md)"
done
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
versions=$(python3 -c "import vllm, swift, torch, transformers, deepspeed; print(f'ms-swift {swift.__version__}, vLLM {vllm.__version__}, DeepSpeed {deepspeed.__version__}, torch {torch.__version__}, transformers {transformers.__version__}')")
step "$ngpu x $gpu_name; $versions"
echo "# GRPO in the release's layout: $LAYOUT ($ngpu x $gpu_name; $versions)" > "$SUMMARY"
gpu_watch_start

# --- 1-2. the policy ------------------------------------------------------------------------------
[ -f "$TINY/config.json" ] || python3 -m videotemp_o3.testing.tiny_model "$TINY" --size tiny-h32 | tail -1
step "fitting the tiny model to tool-call trajectories: $SEED_STEPS SFT steps on GPU 0"
rm -rf "$WORK/seed"
CUDA_VISIBLE_DEVICES=0 DEVICE=cuda MODEL="$TINY" MODEL_TYPE=qwen2_5_vl DATA="$MEDIA/rl/sft_seed.jsonl" DEEPSPEED=none \
  OUTPUT_DIR="$WORK/seed" EPOCHS=100000 MAX_STEPS="$SEED_STEPS" GRAD_ACC=1 LR=5e-3 WARMUP_RATIO=0 LOGGING_STEPS=10 \
  SAVE_STEPS=100000 SAVE_ONLY_MODEL=true MAX_LENGTH=8192 GRADIENT_CHECKPOINTING=false DATASET_NUM_PROC=1 \
  DATALOADER_NUM_WORKERS=1 REPORT_TO=none ATTN_IMPL=sdpa bash sft/sft.sh --check_model false > "$WORK/seed_sft.log" 2>&1 \
  || { tail -40 "$WORK/seed_sft.log" >&2; die "the seeding SFT failed (seed_sft.log)"; }
POLICY="$(readlink -f "$WORK/seed/checkpoint")"
[ -f "$POLICY/config.json" ] || die "the seeding SFT wrote no checkpoint under $WORK/seed"
python3 scripts/device/summarize.py steps "$(ls "$WORK"/seed/v*/logging.jsonl | tail -1)" | tail -3

# --- 3. server and trainer -------------------------------------------------------------------------
rm -rf "$WORK/rl"
export MODEL="$POLICY" MODEL_TYPE=qwen2_5_vl OUTPUT_DIR="$WORK/rl" RL_DATA="$MEDIA/rl/data" ROLLOUT_PORT=8000
step "starting the rollout server (rl/rollout.sh) on GPU $ROLLOUT_GPU"
bg env ROLLOUT_DEVICES=$ROLLOUT_GPU MAX_MODEL_LEN=16384 GPU_MEMORY_UTILIZATION=$ROLLOUT_MEM \
  EXTRA_ARGS='--vllm_engine_kwargs {"attention_backend":"TRITON_ATTN","mm_encoder_attn_backend":"TORCH_SDPA"} --vllm_enforce_eager true' \
  bash rl/rollout.sh > "$WORK/rollout.log" 2>&1
SERVER_PID=${_BG[-1]}
wait_http http://127.0.0.1:8000/health/ "$SERVER_PID" "$WORK/rollout.log" "the rollout server" 420

agree() {  # label checkpoint: greedy first turns, server against the trainer's model (benches/gpu/rollout_agree.py)
  CUDA_VISIBLE_DEVICES=$TRAIN_GPU python3 benches/gpu/rollout_agree.py --policy "$2" --server http://127.0.0.1:8000 \
    --data "$MEDIA/rl/sft_seed.jsonl" --label "$1" --out "$WORK" > "$WORK/rollout_agree_$1.log" 2>&1 \
    && { echo; cat "$WORK/rollout_agree_$1.md"; } >> "$SUMMARY" \
    || { tail -15 "$WORK/rollout_agree_$1.log" >&2; echo "$NAME: the agreement check ($1) failed; GRPO goes on" >&2; }
}
step "the server's greedy first turns against the policy's, before any weight sync"
agree before "$POLICY"

step "GRPO on GPU $TRAIN_GPU: $STEPS steps, $NUM_GENERATIONS generations, DeepSpeed $TRAIN_DEEPSPEED, weights synced each step"
t_train=$SECONDS
TRAIN_DEVICES=$TRAIN_GPU USE_VLLM=true DEEPSPEED="$TRAIN_DEEPSPEED" MAX_STEPS="$STEPS" NUM_GENERATIONS="$NUM_GENERATIONS" \
  PER_DEVICE_BATCH_SIZE="$NUM_GENERATIONS" GRAD_ACCUM=1 MAX_COMPLETION_LENGTH="$MAX_COMPLETION_LENGTH" MAX_LENGTH=8192 \
  TEMPERATURE="$TEMPERATURE" LEARNING_RATE=1e-5 SAVE_STEPS=100000 REPORT_TO=none ROLLOUT_WAIT_S=60 \
  EXTRA_ARGS="--check_model false" bash rl/grpo.sh > "$WORK/grpo.log" 2>&1 \
  || { tail -60 "$WORK/grpo.log" >&2; echo "--- rollout server log:" >&2; tail -30 "$WORK/rollout.log" >&2; die "GRPO failed (grpo.log, rollout.log)"; }
train_s=$((SECONDS - t_train))
last_ckpt=$(ls -d "$WORK"/rl/grpo/v*/checkpoint-* 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$last_ckpt" ]; then
  step "the server's greedy first turns after the weight syncs, against the trainer's saved $last_ckpt"
  agree after "$last_ckpt"
fi
gpu_watch_stop

# --- 4. the report -----------------------------------------------------------------------------------
log=$(ls "$WORK"/rl/grpo/v*/logging.jsonl | tail -1)
completions=$(ls "$WORK"/rl/grpo/v*/completions.jsonl 2>/dev/null | tail -1 || true)
syncs=$(grep -ciE "update_named_param|update_flattened_params|weight.?sync|init_communicator" "$WORK/rollout.log" || true)
{ echo; echo "GRPO, $STEPS steps ($NUM_GENERATIONS rollouts each, up to 3 turns, temperature $TEMPERATURE), policy fitted by $SEED_STEPS SFT steps:"; echo
  python3 scripts/device/summarize.py grpo "$log" --clips "$WORK/rl/clips" ${completions:+--completions "$completions"}
  echo; echo "trainer wall time: $train_s s (model load, DeepSpeed init, the steps); rollout-server log lines about weight sync: $syncs"
  echo; echo "GPU memory (nvidia-smi each second; GPU $TRAIN_GPU trainer, GPU $ROLLOUT_GPU rollout server):"; gpu_peaks | sed 's/^/- /'
  echo; echo "Commands: bash rl/rollout.sh (ROLLOUT_DEVICES=$ROLLOUT_GPU) and bash rl/grpo.sh (TRAIN_DEVICES=$TRAIN_GPU), settings in scripts/device/rl_2gpu.sh"
} >> "$SUMMARY"
cp "$log" "$WORK/grpo_logging.jsonl"
step "done"
echo; cat "$SUMMARY"
