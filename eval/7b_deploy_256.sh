#!/usr/bin/env bash
# The paper's serving setting: a VideoTemp-o3 (Qwen2.5-VL-7B) checkpoint behind an OpenAI-compatible
# server, `swift deploy` with the vLLM backend, 256 overview frames at 200704 pixels each,
# max_model_len 81920, temperature 0. Then, e.g.:
#
#   python eval/run.py --bench videomme --engine openai --base-url http://127.0.0.1:${PORT:-8000}/v1 \
#       --video-format jpeg --workers 16
#
# Overridable: MODEL (checkpoint dir or hub id), PORT, HOST, GPUS (CUDA_VISIBLE_DEVICES; tensor
# parallel over them), SERVED_MODEL_NAME, MAX_MODEL_LEN, GPU_MEMORY_UTILIZATION, MAX_NEW_TOKENS, PLUGIN.
#
# Note on frames: eval/run.py decodes and samples the video itself and sends the frames as JPEGs
# with their true fps; the server's own FPS / VIDEO_*_PIXELS settings below must cover what is
# sent so that it does not resample or resize again (256 frames at 200704 px is what the release
# used; clips at 2 fps are at most 64 frames and fit within them).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL="${MODEL:?set MODEL to the checkpoint directory or hub id}"
PORT="${PORT:-8000}"
HOST="${HOST:-0.0.0.0}"
GPUS="${GPUS:-0}"
SERVED_MODEL_NAME="${SERVED_MODEL_NAME:-videotemp-o3}"
MAX_MODEL_LEN="${MAX_MODEL_LEN:-81920}"
GPU_MEMORY_UTILIZATION="${GPU_MEMORY_UTILIZATION:-0.9}"
MAX_NEW_TOKENS="${MAX_NEW_TOKENS:-2048}"
SWIFT="${SWIFT:-swift}"
command -v "$SWIFT" >/dev/null 2>&1 || SWIFT=.venv/bin/swift

export CUDA_VISIBLE_DEVICES="$GPUS"
export VIDEO_MIN_PIXELS="${VIDEO_MIN_PIXELS:-200704}"
export VIDEO_MAX_PIXELS="${VIDEO_MAX_PIXELS:-200704}"
export FPS_MAX_FRAMES="${FPS_MAX_FRAMES:-256}"
export FPS="${FPS:-2.0}"
TP=$(awk -F, '{print NF}' <<<"$GPUS")
# Our ms-swift plug-in (the same file swift rollout and swift rlhf load): under ms-swift 4 with
# transformers 5 it makes the Qwen2.5-VL template hand vLLM each video's rate as video_metadata —
# without it every video request fails with "Field 'fps' with value [2.0] doesn't match any type"
# (the template's per-video fps list); under ms-swift 3.10 / transformers 4 it changes nothing.
PLUGIN="${PLUGIN:-$PWD/rl/plugin.py}"

echo "[deploy] $MODEL on GPUs $GPUS (tensor parallel $TP) at http://$HOST:$PORT/v1 as '$SERVED_MODEL_NAME'"
echo "[deploy] frames: FPS_MAX_FRAMES=$FPS_MAX_FRAMES VIDEO_MIN_PIXELS=$VIDEO_MIN_PIXELS VIDEO_MAX_PIXELS=$VIDEO_MAX_PIXELS; max_model_len $MAX_MODEL_LEN"
exec "$SWIFT" deploy \
  --model "$MODEL" \
  --model_type qwen2_5_vl --template qwen2_5_vl \
  --infer_backend vllm \
  --vllm_tensor_parallel_size "$TP" \
  --vllm_max_model_len "$MAX_MODEL_LEN" \
  --vllm_gpu_memory_utilization "$GPU_MEMORY_UTILIZATION" \
  --vllm_limit_mm_per_prompt '{"video": 8, "image": 4}' \
  --temperature 0 \
  --max_new_tokens "$MAX_NEW_TOKENS" \
  --served_model_name "$SERVED_MODEL_NAME" \
  --host "$HOST" --port "$PORT" \
  --external_plugins "$PLUGIN" \
  "$@"
