#!/usr/bin/env bash
# vLLM's Qwen2.5-VL against transformers', on CPU, without a GPU build of vLLM (issue #18).
#
#   bash benches/vllm_cpu/run.sh VLLM_WHEEL OVERLAY [CHECKPOINT] [MEDIA] [FIT_STEPS]
#
# VLLM_WHEEL: the vLLM wheel the GPU machine serves with (its .py files are unpacked; no kernel
# is loaded: every CustomOp runs forward_native, paged attention is replaced by causal SDPA over
# the whole prompt, what it computes for one prefill). OVERLAY: the ms-swift 4 / transformers 5
# overlay (.swift4). CHECKPOINT: a Qwen2.5-VL checkpoint (default: the tiny-h32 model, built).
# MEDIA: the device media chunk (rl/data, rl/sft_seed.jsonl, rl/videos). The checks:
#   load_check  every vLLM parameter after loading the checkpoint's names and ms-swift 4's
#               weight-sync names (runtime names reverted to checkpoint names);
#   text_check  vLLM's language model (mrope, pure torch) against transformers', text positions;
#   mm_check    the first RL prompts through ms-swift's vllm-mode encoding + vLLM's processor
#               and positions against the transformers-mode encoding + transformers' positions;
#   fit_check   (FIT_STEPS > 0, ~15 min on 2 cores) fits the model on the seed trajectories under
#               transformers, then greedy first turns at transformers' and at vLLM's positions.
# The pure-Python packages vLLM imports are installed into a scratch --target directory.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; REPO="$(cd "$HERE/../.." && pwd)"
WHEEL="$1"; OVERLAY="$2"; CKPT="${3:-}"; MEDIA="${4:-}"; FIT_STEPS="${5:-0}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
SCRATCH="${SCRATCH:-$(mktemp -d)}"
echo "[vllm_cpu] unpacking $WHEEL into $SCRATCH/vllm"
mkdir -p "$SCRATCH/vllm" "$SCRATCH/deps"
(cd "$SCRATCH/vllm" && unzip -q -o "$WHEEL" 'vllm/*.py')
"$PY" -m pip install -q --target "$SCRATCH/deps" pyzmq cbor2 openai_harmony pybase64 cachetools uvloop \
  prometheus_client blake3
"$PY" -m pip install -q --no-deps --target "$SCRATCH/deps" "peft>=0.18,<0.21"  # ms-swift 4's templates import it
if [[ -z "$CKPT" ]]; then
  CKPT="$SCRATCH/tiny32"
  PYTHONPATH="$OVERLAY" "$PY" -m videotemp_o3.testing.tiny_model "$CKPT" --size tiny-h32 | tail -1
fi
export PYTHONPATH="$HERE:$SCRATCH/vllm:$SCRATCH/deps:$OVERLAY"
run() { "$PY" "$HERE/$1" "${@:2}" 2>&1 | grep -v '^\[rank0\]:\s*$\|Gloo\|WARNING\|ERROR\|INFO\|Loading weights\|qwen-vl-utils\|^\[transformers\]'; }
run load_check.py "$CKPT"
run text_check.py "$CKPT"
if [[ -n "$MEDIA" ]]; then
  STOP_AFTER_POSITIONS=1 run mm_check.py "$CKPT" "$MEDIA"
  [[ "$FIT_STEPS" -gt 0 ]] && run fit_check.py "$CKPT" "$MEDIA" "$FIT_STEPS"
fi
