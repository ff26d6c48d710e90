#!/usr/bin/env bash
# Cold-start SFT of Qwen2.5-VL with ms-swift 3.10 — the release's recipe.
#
#   bash sft/sft.sh [extra `swift sft` arguments...]
#
# Extra arguments are appended as given, e.g. `--check_model false` on machines without
# network (ms-swift otherwise asks the model hub whether a local model is the latest).
#
# Every path and size is an environment variable (defaults below: the release's):
#   MODEL        model dir or hub id                      Qwen/Qwen2.5-VL-7B-Instruct
#   MODEL_TYPE   ms-swift model type (empty: inferred)     ""
#   TEMPLATE     ms-swift chat template (ms-swift 4 cannot infer Qwen2.5-VL's)   MODEL_TYPE, else qwen2_5_vl
#   DATA         jsonl files and/or folders of them (space-separated)
#                                                          the eight files under sft/data/
#   OUTPUT_DIR   checkpoints and logs                      sft/output
#                (after training, OUTPUT_DIR/checkpoint links to the newest checkpoint: the
#                default MODEL of rl/env.sh)
#   EPOCHS 3   LR 1e-5   GRAD_ACC 32   BATCH_SIZE 1 (per device)
#   MAX_LENGTH 40960 (tokens of a whole trajectory with its videos; rl/env.sh uses the same)
#   WARMUP_RATIO 0.05   MAX_STEPS -1   SAVE_STEPS 500   SAVE_TOTAL_LIMIT 2   LOGGING_STEPS 5
#   SEED 42   GRADIENT_CHECKPOINTING true   FREEZE_VIT true   FREEZE_ALIGNER false (the release trains the merger)
#   DATASET_NUM_PROC 4   DATALOADER_NUM_WORKERS 4   REPORT_TO tensorboard   SAVE_ONLY_MODEL false
#   DTYPE        bfloat16 (cpu: float32)
#   ATTN_IMPL    flash_attn when flash-attn is installed, else sdpa
#   DEEPSPEED    sft/ds_zero2.json (sft/ds_zero3.json for models that do not fit; "none" to skip)
#   VALIDATE     1: check DATA with the validator before training (0 to skip)
# Video budget read by ms-swift (and by the data builder, which must use the same values):
#   VIDEO_MAX_PIXELS 50176   VIDEO_MIN_PIXELS (= VIDEO_MAX_PIXELS, as the release sets both)
#   FPS_MAX_FRAMES 512   (FPS, FPS_MIN_FRAMES, VIDEO_TOTAL_PIXELS pass through when set)
#
# Several GPUs or nodes: ms-swift's launcher variables, passed through to torchrun:
#   NPROC_PER_NODE=8 bash sft/sft.sh
#   NNODES=2 NODE_RANK=0|1 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 NPROC_PER_NODE=8 bash sft/sft.sh
#
# CPU (tests, smoke runs): DEVICE=cpu trains in one process with no GPU visible, no DeepSpeed
# (ZeRO needs an accelerator and NCCL here), float32 and sdpa attention, e.g.
#   DEVICE=cpu MODEL=/tmp/tiny MODEL_TYPE=qwen2_5_vl DATA=/tmp/sft.jsonl GRAD_ACC=1 \
#     VIDEO_MIN_PIXELS=3136 VIDEO_MAX_PIXELS=6272 FPS_MAX_FRAMES=64 bash sft/sft.sh --check_model false
# (tests/test_sft_train.py runs exactly this on data built from generated videos).
#
# Loss masking is in the data (ms-swift's per-message "loss" on assistant messages; see
# python/videotemp_o3/training/masking.py), so --loss_scale stays at ms-swift's default. Records
# without those marks (the release's own files have none) get them before training:
#   MASKING      last_two_rounds (default: the release's --loss_scale last_two_rounds, i.e. the
#                last two assistant rounds carry loss) | unified (the answer and every tool call
#                with IoU >= MASKING_TAU with the evidence) | none (no marks added: every
#                round carries loss). Marks already in the data are kept. Files that lacked
#                marks are trained from copies in OUTPUT_DIR/masked_data; the script prints
#                which masking it applied to which file.
#   MASKING_TAU  0.5
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"

# Tools: the repo's virtual environment when the ones on PATH are not there.
if command -v swift >/dev/null 2>&1; then SWIFT="${SWIFT:-swift}"; else SWIFT="${SWIFT:-$REPO/.venv/bin/swift}"; fi
if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="${PYTHON:-$REPO/.venv/bin/python}"; else PYTHON="${PYTHON:-python}"; fi

DEVICE="${DEVICE:-cuda}"
MODEL="${MODEL:-Qwen/Qwen2.5-VL-7B-Instruct}"
MODEL_TYPE="${MODEL_TYPE:-}"
TEMPLATE="${TEMPLATE:-${MODEL_TYPE:-qwen2_5_vl}}"
OUTPUT_DIR="${OUTPUT_DIR:-$REPO/sft/output}"
EPOCHS="${EPOCHS:-3}"
LR="${LR:-1e-5}"
GRAD_ACC="${GRAD_ACC:-32}"
BATCH_SIZE="${BATCH_SIZE:-1}"
MAX_LENGTH="${MAX_LENGTH:-40960}"
WARMUP_RATIO="${WARMUP_RATIO:-0.05}"
MAX_STEPS="${MAX_STEPS:--1}"
SAVE_STEPS="${SAVE_STEPS:-500}"
SAVE_TOTAL_LIMIT="${SAVE_TOTAL_LIMIT:-2}"
SAVE_ONLY_MODEL="${SAVE_ONLY_MODEL:-false}"
LOGGING_STEPS="${LOGGING_STEPS:-5}"
SEED="${SEED:-42}"
GRADIENT_CHECKPOINTING="${GRADIENT_CHECKPOINTING:-true}"
FREEZE_VIT="${FREEZE_VIT:-true}"
FREEZE_ALIGNER="${FREEZE_ALIGNER:-false}"
DATASET_NUM_PROC="${DATASET_NUM_PROC:-4}"
DATALOADER_NUM_WORKERS="${DATALOADER_NUM_WORKERS:-4}"
REPORT_TO="${REPORT_TO:-tensorboard}"
VALIDATE="${VALIDATE:-1}"
MASKING="${MASKING:-last_two_rounds}"
MASKING_TAU="${MASKING_TAU:-0.5}"
case "$MASKING" in
  last_two_rounds|unified|none) ;;
  *) echo "sft.sh: MASKING must be last_two_rounds, unified or none, got '$MASKING'" >&2; exit 2 ;;
esac
# The release's training budget; keep in step with budgets.TRAINING_VIDEO_ENV (tested).
export VIDEO_MAX_PIXELS="${VIDEO_MAX_PIXELS:-50176}"
export VIDEO_MIN_PIXELS="${VIDEO_MIN_PIXELS:-$VIDEO_MAX_PIXELS}"
export FPS_MAX_FRAMES="${FPS_MAX_FRAMES:-512}"

if [[ -z "${DATA:-}" ]]; then
  DATA=""
  for name in wo_tool_call/activitynet wo_tool_call/charades wo_tool_call/vidchapters \
              wo_tool_call/video_r1_image_mc wo_tool_call/video_r1_video \
              wi_tool_call/activitynet wi_tool_call/longvila wi_tool_call/qvhighlight; do
    DATA+=" $HERE/data/$name.jsonl"
  done
fi
# Folders stand for the jsonl files inside them.
files=()
for item in $DATA; do
  if [[ -d "$item" ]]; then
    while IFS= read -r f; do files+=("$f"); done < <(find "$item" -name '*.jsonl' | sort)
  elif [[ -f "$item" ]]; then
    files+=("$item")
  else
    echo "sft.sh: data file not found: $item" >&2
    echo "  Set DATA to your jsonl files (see sft/README section), or build them with" >&2
    echo "  python -m videotemp_o3.training.sft_data build ANNOTATIONS.jsonl -o FILE.jsonl" >&2
    exit 2
  fi
done
if [[ ${#files[@]} -eq 0 ]]; then echo "sft.sh: DATA names no jsonl file" >&2; exit 2; fi

case "$DEVICE" in
  cuda)
    DTYPE="${DTYPE:-bfloat16}"
    DEEPSPEED="${DEEPSPEED:-$HERE/ds_zero2.json}"
    if [[ -z "${ATTN_IMPL:-}" ]]; then
      if "$PYTHON" -c "import flash_attn" >/dev/null 2>&1; then ATTN_IMPL=flash_attn; else ATTN_IMPL=sdpa; fi
    fi
    ;;
  cpu)
    # Several CPU processes (NPROC_PER_NODE) train data-parallel over gloo: the multi-process
    # launch can be exercised without GPUs.
    export CUDA_VISIBLE_DEVICES=""
    DTYPE="${DTYPE:-float32}"
    DEEPSPEED="none"
    ATTN_IMPL="${ATTN_IMPL:-sdpa}"
    ;;
  *) echo "sft.sh: DEVICE must be cuda or cpu, got '$DEVICE'" >&2; exit 2 ;;
esac

echo "== VideoTemp-o3 SFT =="
echo "model:      $MODEL ${MODEL_TYPE:+(type $MODEL_TYPE)}"
echo "data:       ${files[*]}"
echo "output:     $OUTPUT_DIR"
echo "device:     $DEVICE  dtype $DTYPE  attention $ATTN_IMPL  deepspeed $DEEPSPEED"
echo "launcher:   NPROC_PER_NODE=${NPROC_PER_NODE:-1} NNODES=${NNODES:-1} NODE_RANK=${NODE_RANK:-0} MASTER_ADDR=${MASTER_ADDR:-} MASTER_PORT=${MASTER_PORT:-}"
echo "schedule:   epochs $EPOCHS  lr $LR  batch $BATCH_SIZE x grad-acc $GRAD_ACC  max length $MAX_LENGTH  max steps $MAX_STEPS"
echo "video:      VIDEO_MAX_PIXELS=$VIDEO_MAX_PIXELS FPS_MAX_FRAMES=$FPS_MAX_FRAMES VIDEO_MIN_PIXELS=$VIDEO_MIN_PIXELS"
# What those variables mean per frame: qwen-vl-utils caps a frame at
# max(min(VIDEO_MAX_PIXELS, total/frames*2), VIDEO_MIN_PIXELS*1.05), so a VIDEO_MIN_PIXELS
# left at qwen-vl-utils' 100352 would win over VIDEO_MAX_PIXELS=50176 (~100k pixels a frame).
"$PYTHON" - <<'PY' || true
from videotemp_o3.video import FrameBudget
b = FrameBudget.from_env()
cap = int(b.frame_max_pixels(b.max_frames))
note = " (VIDEO_MIN_PIXELS*1.05 wins over VIDEO_MAX_PIXELS)" if cap > b.max_pixels else ""
print(f"            per-frame pixel cap {cap}{note}")
PY

if [[ "$VALIDATE" == "1" ]]; then
  echo "validating the data (VALIDATE=0 skips) ..."
  if ! "$PYTHON" -m videotemp_o3.training.sft_data validate "${files[@]}"; then
    echo "sft.sh: the data has bad records (listed above as file:line: reason); fix them or set VALIDATE=0" >&2
    exit 1
  fi
fi

case "$MASKING" in
  last_two_rounds|unified)
    echo "masking rounds without a per-message loss mark: $MASKING (MASKING=last_two_rounds|unified|none) ..."
    if ! prepared="$("$PYTHON" -m videotemp_o3.training.masking --fill-missing "$OUTPUT_DIR/masked_data" \
                     --policy "$MASKING" --tau "$MASKING_TAU" "${files[@]}")"; then
      echo "sft.sh: could not mask the data (the reason is above)" >&2
      exit 1
    fi
    mapfile -t files <<< "$prepared"
    ;;
  none) echo "masking: none: rounds without a per-message loss mark all carry loss (--loss_scale default)" ;;
esac


# ms-swift 4 renamed --train_type to --tuner_type (videotemp_o3.training.swift_cli).
TUNER_FLAG="$("$PYTHON" -m videotemp_o3.training.swift_cli flag tuner_type)"
args=(
  --model "$MODEL"
  "$TUNER_FLAG" full
  --dataset "${files[@]}"
  --split_dataset_ratio 0
  --torch_dtype "$DTYPE"
  --attn_impl "$ATTN_IMPL"
  --num_train_epochs "$EPOCHS"
  --max_steps "$MAX_STEPS"
  --learning_rate "$LR"
  --per_device_train_batch_size "$BATCH_SIZE"
  --gradient_accumulation_steps "$GRAD_ACC"
  --warmup_ratio "$WARMUP_RATIO"
  --max_length "$MAX_LENGTH"
  --freeze_vit "$FREEZE_VIT"
  --freeze_aligner "$FREEZE_ALIGNER"
  --gradient_checkpointing "$GRADIENT_CHECKPOINTING"
  --loss_scale default
  --save_steps "$SAVE_STEPS"
  --save_total_limit "$SAVE_TOTAL_LIMIT"
  --save_only_model "$SAVE_ONLY_MODEL"
  --logging_steps "$LOGGING_STEPS"
  --seed "$SEED"
  --dataset_num_proc "$DATASET_NUM_PROC"
  --dataloader_num_workers "$DATALOADER_NUM_WORKERS"
  --report_to $REPORT_TO
  --output_dir "$OUTPUT_DIR"
)
[[ -n "$MODEL_TYPE" ]] && args+=(--model_type "$MODEL_TYPE")
args+=(--template "$TEMPLATE")
[[ "$DEEPSPEED" != "none" ]] && args+=(--deepspeed "$DEEPSPEED")
# sft/plugin.py: Qwen2.5-VL's reference M-RoPE positions under transformers 5 (the file says why).
plugins=("$HERE/plugin.py")
if [[ "$DEVICE" == "cpu" ]]; then
  # No mixed precision on CPU (the Trainer would autocast to bf16), and the one shim a CPU run
  # of ms-swift 3.10.3 needs (sft/cpu_compat.py says why).
  args+=(--bf16 false --fp16 false)
  plugins+=("$HERE/cpu_compat.py")
  [[ "${NPROC_PER_NODE:-1}" != "1" || "${NNODES:-1}" != "1" ]] && args+=(--ddp_backend gloo)
fi
# ms-swift keeps only the last --external_plugins: a caller passing its own names these too.
args+=(--external_plugins "${plugins[@]}")

echo "running: $SWIFT sft ${args[*]} $*"
"$SWIFT" sft "${args[@]}" "$@"

# ms-swift writes OUTPUT_DIR/v<N>-<time>/checkpoint-<step>; give the newest a stable name.
if [[ "${NODE_RANK:-0}" == "0" && -d "$OUTPUT_DIR" ]]; then
  latest="$(find "$OUTPUT_DIR" -mindepth 2 -maxdepth 2 -type d -name 'checkpoint-*' -printf '%T@ %p\n' \
            | sort -n | tail -1 | cut -d' ' -f2-)"
  if [[ -n "$latest" ]]; then
    ln -sfn "$latest" "$OUTPUT_DIR/checkpoint"
    echo "checkpoint: $OUTPUT_DIR/checkpoint -> $latest"
  fi
fi
