#!/usr/bin/env bash
# vLLM serving of the Qwen2.5-VL-7B architecture at the paper's setting, in one GPU machine call
# (scripts/device/PLAN.md, call "serve"). After `source scripts/device/install.sh latest`:
#
#   bash scripts/device/serve_7b.sh
#
#   1. writes the 7B architecture with random bf16 weights (benches/gpu/qwen7b.py: the published
#      config, the tiny model's tokenizer) to $CKPT;
#   2. starts `vllm serve` on GPU 0 and, on a 2-GPU machine, `swift deploy` (eval/7b_deploy_256.sh,
#      the release's serving path) on GPU 1 at the same time; with one GPU, swift deploy follows;
#   3. per-question latency against vLLM (benches/gpu/serve_7b.py: video decode, encode, upload,
#      queue, prefill, generation per turn), next to the embedded engine's (agent_7b.json);
#   4. `eval/run.py --engine openai` end to end against each server, $WORKERS questions in flight,
#      on the long synthetic videos of the carried media (1280x720, 30 fps, 2-30 min);
#   5. the embedded engine (benches/gpu/agent_7b.py) on the same 30-minute video, if EMBEDDED=1;
#   6. prints the tables; $OUT gets serve_7b-summary.md and serve_7b.tar.gz (every log and result).
#
# Both servers run vLLM's Triton attention for the language model and torch SDPA for the vision
# tower (the repacked vLLM wheel has no FlashAttention build: scripts/device/repack_vllm.py), and
# take every frame sent (vLLM's video/jpeg loader keeps only 32 unless told num_frames -1).
# Knobs: CKPT (/tmp/qwen7b), WORKERS (4), NEW_TOKENS (64), LIMIT (questions; all), SWIFT_DEPLOY (1),
# START_TIMEOUT (420 s per server), EMBEDDED (1), VLLM_SERVE (1; 0 runs swift deploy alone, on GPU 0).
NAME=serve_7b
source "$(dirname "$0")/common.sh"
CKPT="${CKPT:-/tmp/qwen7b}"
WORKERS="${WORKERS:-4}"
NEW_TOKENS="${NEW_TOKENS:-64}"
LIMIT="${LIMIT:-}"
SWIFT_DEPLOY="${SWIFT_DEPLOY:-1}"
START_TIMEOUT="${START_TIMEOUT:-420}"
EMBEDDED="${EMBEDDED:-1}"
VLLM_SERVE="${VLLM_SERVE:-1}"
BENCH="${VIDEOTEMP_MEDIA:-/tmp/videotemp-media}/serve"
SUMMARY="$WORK/summary.md"

need_stack latest
command -v vllm >/dev/null || die "no vllm command on PATH (stack latest not installed?)"
[ -f "$BENCH/data.jsonl" ] || die "no serving benchmark at $BENCH (the media chunk: scripts/device/PLAN.md)"
ngpu=$(python3 -c "import torch; print(torch.cuda.device_count())")
[ "$ngpu" -ge 1 ] || die "no GPU visible"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
versions=$(python3 -c "import vllm, swift, torch, transformers; print(f'vLLM {vllm.__version__}, ms-swift {swift.__version__}, torch {torch.__version__}, transformers {transformers.__version__}')")
step "$ngpu x $gpu_name; $versions; work in $WORK"
echo "# Serving the Qwen2.5-VL-7B architecture ($ngpu x $gpu_name; $versions)" > "$SUMMARY"
limit_args=(); [ -n "$LIMIT" ] && limit_args=(--limit "$LIMIT")
gpu_watch_start

# --- 1. the checkpoint -----------------------------------------------------------------------------
if [ ! -f "$CKPT/model.safetensors.index.json" ]; then
  step "writing the 7B architecture with random weights to $CKPT"
  CUDA_VISIBLE_DEVICES=0 python3 benches/gpu/qwen7b.py "$CKPT" 2>&1 | tail -2
fi

# --- 2. the servers --------------------------------------------------------------------------------
start_vllm() {
  step "starting vllm serve on GPU 0 (port 8000)"
  bg env CUDA_VISIBLE_DEVICES=0 vllm serve "$CKPT" --served-model-name videotemp-o3 --host 127.0.0.1 --port 8000 \
    --dtype bfloat16 --max-model-len 81920 --gpu-memory-utilization 0.88 --seed 0 \
    --limit-mm-per-prompt '{"video": 8, "image": 0}' \
    --media-io-kwargs '{"video": {"num_frames": -1}}' \
    --attention-backend TRITON_ATTN --mm-encoder-attn-backend TORCH_SDPA \
    --compilation-config '{"cudagraph_capture_sizes": [1, 2, 4, 8]}' > "$WORK/vllm_serve.log" 2>&1
  VLLM_PID=${_BG[-1]}
}
start_swift() {  # gpu
  step "starting swift deploy (eval/7b_deploy_256.sh, vLLM backend) on GPU $1 (port 8001)"
  bg env MODEL="$CKPT" GPUS="$1" PORT=8001 HOST=127.0.0.1 GPU_MEMORY_UTILIZATION=0.88 \
    FORCE_QWENVL_VIDEO_READER=decord bash eval/7b_deploy_256.sh \
    --vllm_engine_kwargs '{"attention_backend": "TRITON_ATTN", "mm_encoder_attn_backend": "TORCH_SDPA"}' \
    --vllm_enforce_eager true > "$WORK/swift_deploy.log" 2>&1
  SWIFT_PID=${_BG[-1]}
}
# --- eval/run.py end to end (step 4, against each server) -------------------------------------------
{ echo; echo "eval/run.py --engine openai end to end ($WORKERS workers, $NEW_TOKENS new tokens per turn; random"
  echo "weights, so the answers are chance — what is measured is the path):"; echo
  echo "| server | questions | errors | turns | wall s | mean s/question | max s/question |"
  echo "|---|---|---|---|---|---|---|"; } > "$WORK/e2e.md"
run_eval() {  # label url format
  local label=$1 url=$2 fmt=$3 start=$SECONDS
  rm -rf "$WORK/run_$label.jsonl" "$WORK/run_$label.trajectories"
  step "eval/run.py --engine openai against $label: $WORKERS workers, frames as $fmt"
  python3 eval/run.py --bench videotemp --data-dir "$BENCH" --engine openai --base-url "$url" \
    --video-format "$fmt" --workers "$WORKERS" --max-new-tokens "$NEW_TOKENS" "${limit_args[@]}" \
    --output "$WORK/run_$label.jsonl" > "$WORK/run_$label.log" 2>&1 \
    || { tail -30 "$WORK/run_$label.log" >&2; die "eval/run.py against $label failed (run_$label.log)"; }
  python3 - "$WORK/run_$label.jsonl" "$label" "$((SECONDS - start))" >> "$WORK/e2e.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
errors = [r for r in rows if r.get("error")]
secs = [r["seconds"] for r in rows if r.get("seconds") is not None]
print(f"| {sys.argv[2]} | {len(rows)} | {len(errors)} | {sum(r.get('turns', 0) for r in rows)} | {sys.argv[3]} | "
      f"{sum(secs) / max(1, len(secs)):.1f} | {max(secs, default=0):.1f} |")
if errors:
    print(f"\n(first error: {errors[0]['error'][:300]})\n")
PY
  tail -3 "$WORK/run_$label.log"
}
if [ "$VLLM_SERVE" = 1 ]; then
  start_vllm
  if [ "$SWIFT_DEPLOY" = 1 ] && [ "$ngpu" -ge 2 ]; then start_swift 1; fi
  wait_http http://127.0.0.1:8000/health "$VLLM_PID" "$WORK/vllm_serve.log" "vllm serve" "$START_TIMEOUT"

  # --- 3. per-question latency against vLLM; 4. eval/run.py against it ----------------------------
  step "per-question latency against vLLM (one question at a time)"
  python3 benches/gpu/serve_7b.py --base-url http://127.0.0.1:8000/v1 --bench-dir "$BENCH" --label vllm \
    --new-tokens "$NEW_TOKENS" --embedded benches/gpu/results/agent_7b.json --out "$WORK" "${limit_args[@]}" \
    > "$WORK/serve_7b_vllm.log" 2>&1 || { tail -30 "$WORK/serve_7b_vllm.log" >&2; die "the per-question pass against vLLM failed"; }
  { echo; cat "$WORK/serve_7b_vllm.md"; } >> "$SUMMARY"
  tail -4 "$WORK/serve_7b_vllm.log"

  run_eval vllm http://127.0.0.1:8000/v1 jpeg
  step "stopping vllm serve"
  kill "$VLLM_PID" 2>/dev/null || true; wait "$VLLM_PID" 2>/dev/null || true
fi

if [ "$SWIFT_DEPLOY" = 1 ]; then
  [ "$ngpu" -ge 2 ] && [ "$VLLM_SERVE" = 1 ] || start_swift 0
  wait_http http://127.0.0.1:8001/health "$SWIFT_PID" "$WORK/swift_deploy.log" "swift deploy" "$START_TIMEOUT"
  run_eval swift_deploy http://127.0.0.1:8001/v1 mkv
  step "per-question wall time against swift deploy (2 questions; no engine counters there)"
  if python3 benches/gpu/serve_7b.py --base-url http://127.0.0.1:8001/v1 --bench-dir "$BENCH" --label swift_deploy \
       --video-format mkv --new-tokens "$NEW_TOKENS" --limit 2 --out "$WORK" > "$WORK/serve_7b_swift.log" 2>&1; then
    { echo; cat "$WORK/serve_7b_swift_deploy.md"; } >> "$SUMMARY"
  else
    tail -20 "$WORK/serve_7b_swift.log" >&2; echo "$NAME: the per-question pass against swift deploy failed; the end-to-end run stands" >&2
  fi
  kill "$SWIFT_PID" 2>/dev/null || true; wait "$SWIFT_PID" 2>/dev/null || true
fi
{ echo; cat "$WORK/e2e.md"; } >> "$SUMMARY"

# --- 5. the embedded engine on the same 30-minute video ---------------------------------------------
if [ "$EMBEDDED" = 1 ]; then
  long=$(python3 -c "import json; rows=[json.loads(l) for l in open('$BENCH/data.jsonl')]; print(max(rows, key=lambda r: r['duration'])['videos'][0])")
  step "embedded engine (benches/gpu/agent_7b.py) on $long, GPU 0"
  if CUDA_VISIBLE_DEVICES=0 timeout 240 python3 benches/gpu/agent_7b.py "$BENCH/$long" --out "$WORK" > "$WORK/agent_7b.log" 2>&1; then
    { echo; echo "Embedded engine on the same video (benches/gpu/agent_7b.py):"; echo; cat "$WORK/agent_7b.md"; } >> "$SUMMARY"
  else
    echo "$NAME: agent_7b.py did not finish (agent_7b.log); the committed result stands in the table" >&2
  fi
fi
gpu_watch_stop
{ echo; echo "GPU memory (nvidia-smi, sampled each second):"; gpu_peaks | sed 's/^/- /'; } >> "$SUMMARY"
step "done"
echo; cat "$SUMMARY"
