#!/usr/bin/env bash
# The miniature reproduction (scripts/reproduce_mini.sh) in one device call of at most 10 minutes,
# after the pool's calls (scripts/device/PLAN.md) on the same warm machine:
#
#   S=$(date +%s); source scripts/device/install.sh train && MINI_CALL_START=$S VIDEOTEMP_COMMIT=<sha> bash scripts/device/mini.sh
#
# The run stops itself inside the call: the driver's hard stop is 570 s after MINI_CALL_START
# (the call's start, so that the install counts), less a margin; its budget (evaluations still
# running are stopped, what they answered is scored) ends 50 s before that, for the scoring,
# the plot and the packing. A stopped driver (SIGTERM) still writes results.json and logs.tar.gz.
# Everything it writes lives in /tmp/mini-work (removed first); what comes back is $OUT:
# table.md, results.json, plot.png, logs.tar.gz (the driver's log in logs/driver.log),
# best.tar.gz[.partN] — at most 7 files, each below 15 MiB. With several GPUs the driver deals its
# processes over them (python/videotemp_o3/mini.py, Runner).
set -uo pipefail
cd "$(dirname "$0")/../.."
[ "${VIDEOTEMP_STACK:-}" = train ] || { echo "mini.sh: run \`source scripts/device/install.sh train\` first" >&2; exit 2; }
: "${OUT:?mini.sh: set OUT, the folder whose files come back}"
START="${MINI_CALL_START:-$(date +%s)}"
HARD_STOP_S=$(( 570 - ($(date +%s) - START) ))
export WORK=/tmp/mini-work MINI_BUDGET_S=$(( HARD_STOP_S - 50 )) PYTHONUNBUFFERED=1
rm -rf "$WORK"
mkdir -p "$WORK/logs" "$OUT"
nvidia-smi -L || true
echo "== mini: budget $MINI_BUDGET_S s, hard stop $HARD_STOP_S s, $(nproc) cores, commit ${VIDEOTEMP_COMMIT:-unknown}"
timeout -s TERM -k 10 "$HARD_STOP_S" bash scripts/reproduce_mini.sh 2>&1 | tee "$WORK/logs/driver.log"
rc=$?
if [ ! -f "$OUT/results.json" ]; then   # killed before it could write its own
  echo "== mini: the driver left no results.json: packing what it wrote into \$OUT/logs.tar.gz"
  (cd "$WORK" && tar czf "$OUT/logs.tar.gz" logs $(ls -d eval 2>/dev/null)) || true
fi
echo "== mini: exit $rc; in \$OUT:"
ls -la "$OUT"
exit $rc
