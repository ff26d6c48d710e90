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
  [latest]="vllm.entrypoints.openai.api_server vllm.v1.engine.core vllm.model_executor.models.qwen2_5_vl swift.pipelines.infer.rollout swift.pipelines.infer.deploy swift.rlhf_trainers.grpo_trainer deepspeed trl av decord qwen_vl_utils videotemp_o3._core videotemp_o3.training.swift_plugin"
  [bench]="av decord qwen_vl_utils videotemp_o3._core"
)
failed=0
for s in "${stacks[@]}"; do
  echo "== stack $s"
  if ! ( source scripts/device/install.sh "$s" >/dev/null && python3 - ${IMPORTS[$s]:-videotemp_o3} <<'PY'
import importlib, sys, time
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
sys.exit(1 if bad else 0)
PY
  ); then
    failed=1
  fi
done
[ "$failed" = 0 ] && echo "ALL STACKS IMPORT" || { echo "SOME STACK FAILED (see FAIL lines)"; exit 1; }
