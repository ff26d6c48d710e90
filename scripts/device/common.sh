# Shared by the GPU run scripts (serve_7b.sh, rl_2gpu.sh, deepspeed_2gpu.sh). SOURCE it after
# setting NAME (the run's name). Provides:
#   WORK            where the run writes everything (/tmp/$NAME; kept on a warm machine)
#   step MSG        a progress line with the seconds since the start
#   die MSG         one clear line on stderr, then exit 1 (the EXIT trap still packs the logs)
#   need_stack S    fail fast unless `source scripts/device/install.sh S` was done
#   wait_http URL PID LOG NAME [TIMEOUT]   wait until URL answers 200, or die with the log's tail
#   gpu_watch_start / gpu_watch_stop       sample every GPU's used memory (nvidia-smi, 1 s) into
#                   $WORK/gpu_mem.csv; gpu_peaks prints the peak per GPU
#   bg CMD...       start CMD in the background, remembered for the EXIT trap (killed there)
# On exit, the logs and results under $WORK are packed into $OUT/$NAME.tar.gz and $WORK/summary.md
# is copied to $OUT (the device tool brings back at most 8 files, 2 folders deep), and every
# background process started with `bg` is stopped.
set -euo pipefail
: "${NAME:?set NAME before sourcing scripts/device/common.sh}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${OUT:-/tmp/out-$NAME}"
WORK="${WORK:-/tmp/$NAME}"
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 TRL_EXPERIMENTAL_SILENCE=1
# The multi-GPU hosts' GPUs are shared: NVLink multicast stays off in every process (KINDS.md).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
_T0=$SECONDS
_BG=()
_WATCH=""

step() { echo "== [$NAME +$((SECONDS - _T0)) s] $*"; }
die() { echo "$NAME: $*" >&2; exit 1; }
need_stack() {
  [ "${VIDEOTEMP_STACK:-}" = "$1" ] || die "run \`source scripts/device/install.sh $1\` first (stack now: ${VIDEOTEMP_STACK:-none})"
}
bg() { "$@" & _BG+=("$!"); }

wait_http() {  # url pid log name [timeout]
  local url=$1 pid=$2 log=$3 name=$4 limit=${5:-420} start=$SECONDS
  until python3 - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
  do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -40 "$log" >&2; die "$name exited before answering $url (log: ${log#$WORK/} in $NAME.tar.gz)"
    fi
    if (( SECONDS - start > limit )); then
      tail -40 "$log" >&2; die "$name did not answer $url within ${limit}s (log: ${log#$WORK/})"
    fi
    sleep 3
  done
  step "$name is up after $((SECONDS - start)) s"
}

gpu_watch_start() {
  nvidia-smi --query-gpu=timestamp,index,memory.used,utilization.gpu --format=csv,noheader,nounits -l 1 \
    > "$WORK/gpu_mem.csv" 2>/dev/null &
  _WATCH=$!
}
gpu_watch_stop() { [ -n "$_WATCH" ] && kill "$_WATCH" 2>/dev/null || true; _WATCH=""; }
gpu_peaks() {  # prints "GPU i: peak N MiB" per GPU from $WORK/gpu_mem.csv
  python3 - "$WORK/gpu_mem.csv" <<'PY'
import csv, sys
peak = {}
for row in csv.reader(open(sys.argv[1])):
    if len(row) >= 3:
        try:
            peak[row[1].strip()] = max(peak.get(row[1].strip(), 0), int(row[2]))
        except ValueError:
            pass
for gpu in sorted(peak):
    print(f"GPU {gpu}: peak {peak[gpu]} MiB used")
PY
}

_finish() {
  local rc=$?
  gpu_watch_stop
  for p in "${_BG[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$WORK/summary.md" ] && cp "$WORK/summary.md" "$OUT/$NAME-summary.md"
  tar -czf "$OUT/$NAME.tar.gz" -C "$(dirname "$WORK")" --exclude='*.safetensors' --exclude='*.mkv' --exclude='*.mp4' \
      --exclude='*.pt' --exclude='*.bin' --exclude='global_step*' "$(basename "$WORK")" 2>/dev/null || true
  echo "== [$NAME +$((SECONDS - _T0)) s] exit $rc; logs: \$OUT/$NAME.tar.gz$( [ -f "$OUT/$NAME-summary.md" ] && echo ", \$OUT/$NAME-summary.md")"
  exit $rc
}
trap _finish EXIT
cd "$REPO"
