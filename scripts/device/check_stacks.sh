#!/usr/bin/env bash
# After the last chunk has arrived (scripts/device/PLAN.md): install every staged stack and import
# what each run needs, in a fresh shell per stack, so that a missing or broken package shows here
# (seconds) rather than minutes into a run. Prints the machine's GPUs and each stack's versions.
#
#   bash scripts/device/check_stacks.sh [STACK ...]      (default: every staged stack)
set -uo pipefail
cd "$(dirname "$0")/../.."
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(no nvidia-smi)"
python3 scripts/device/pool.py status || exit 2
stacks=("$@")
if [ ${#stacks[@]} -eq 0 ]; then
  mapfile -t stacks < <(python3 -c "import json; print('\n'.join(sorted(json.load(open('${VIDEOTEMP_POOL:-/tmp/pool}/pool.json'))['stacks'])))")
fi
declare -A IMPORTS=(
  [train]="swift.llm swift.cli.sft swift.trainers.rlhf_trainer.grpo_trainer deepspeed trl av decord qwen_vl_utils videotemp_o3._core videotemp_o3.training.swift_plugin"
  # latest: besides the entry points, what vLLM imports only once the engine starts on a GPU
  # (the FlashAttention package, the V2 model runner and its sampler, the Triton attention
  # backend, the vision tower's attention, the kernel warm-up, NCCL for the weight sync)
  [latest]="vllm.entrypoints.openai.api_server vllm.v1.engine.core vllm.model_executor.models.qwen2_5_vl vllm.vllm_flash_attn vllm.v1.worker.gpu_worker vllm.v1.worker.gpu.model_runner vllm.v1.worker.gpu.sample.sampler vllm.v1.attention.backends.triton_attn vllm.model_executor.layers.attention.mm_encoder_attention vllm.model_executor.warmup.kernel_warmup vllm.distributed.device_communicators.pynccl swift.pipelines.infer.rollout swift.pipelines.infer.deploy swift.infer_engine.grpo_vllm_engine swift.rlhf_trainers.vllm_client swift.rlhf_trainers.grpo_trainer deepspeed trl av decord qwen_vl_utils videotemp_o3._core videotemp_o3.training.swift_plugin"
  [bench]="av decord qwen_vl_utils videotemp_o3._core"
)
failed=0
for s in "${stacks[@]}"; do
  echo "== stack $s"
  if ! ( source scripts/device/install.sh "$s" >/dev/null && python3 - ${IMPORTS[$s]:-videotemp_o3} <<'PY'
import importlib, os, sys, time
from importlib import metadata
bad = []
for name in sys.argv[1:]:
    t = time.perf_counter()
    try:
        importlib.import_module(name)
        print(f"  ok   {name} ({time.perf_counter() - t:.1f} s)")
    except Exception as e:  # noqa: BLE001 — every failure is listed
        bad.append(name)
        print(f"  FAIL {name}: {type(e).__name__}: {e}")
vers = []
for dist in ("torch", "transformers", "ms-swift", "vllm", "trl", "deepspeed", "peft", "videotemp-o3"):
    try:
        vers.append(f"{dist} {metadata.version(dist)}")
    except metadata.PackageNotFoundError:
        pass
print("  " + ", ".join(vers))
if "vllm.v1.engine.core" in sys.argv[1:]:
    # What runs at engine start-up with the repacked vLLM (pool.py REPACKED_VLLM_ENV): no general
    # plug-in is loaded (ms-swift 4's imports compressed-tensors), the sampler does not reach for
    # FlashInfer, and Triton finds the C compiler it builds its kernel launchers with.
    import shutil
    checks = []
    try:
        from vllm.plugins import load_general_plugins
        load_general_plugins()
        checks.append("general plug-ins load")
    except Exception as e:  # noqa: BLE001
        bad.append("load_general_plugins")
        print(f"  FAIL vllm's general plug-ins: {type(e).__name__}: {e} (set VLLM_PLUGINS='')")
    try:
        from vllm.v1.sample.ops.topk_topp_sampler import flashinfer_sampler_supported
        if flashinfer_sampler_supported():
            raise RuntimeError("it would use FlashInfer, which is not carried")
        checks.append("sampler without FlashInfer")
    except Exception as e:  # noqa: BLE001
        bad.append("sampler")
        print(f"  FAIL vLLM's sampler: {type(e).__name__}: {e} (set VLLM_USE_FLASHINFER_SAMPLER=0)")
    cc = os.environ.get("CC") or next((shutil.which(c) for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    if cc:
        checks.append(f"C compiler for Triton: {cc}")
    else:
        bad.append("cc")
        print("  FAIL no C compiler (cc, gcc, clang or $CC): Triton cannot build its kernel launchers,"
              " so vLLM's Triton attention and sampler kernels cannot run")
    print("  " + "; ".join(checks))
sys.exit(1 if bad else 0)
PY
  ); then
    failed=1
  fi
done
[ "$failed" = 0 ] && echo "ALL STACKS IMPORT" || { echo "SOME STACK FAILED (see FAIL lines)"; exit 1; }
