#!/usr/bin/env bash
# The decoding benchmark of the GPU machine, in one call (< 9 min): makes the 30-minute input there,
# measures (benches/compare/device.py), writes $OUT/decode-summary.md and $OUT/decode.tar.gz, and
# prints the tables. Needs the `bench` stack (our wheel, PyAV, decord) from the device pool:
#
#   source scripts/device/install.sh bench && bash benches/compare/device.sh
#
# Knobs (environment): DECODE_SECONDS (input length, default 1800), DECODE_THREADS (default
# "1,16"), DECODE_BUDGET_S (seconds for everything, default 510), OUT (default benches/out/device).
# Here, at small scale:  DECODE_SECONDS=120 DECODE_THREADS=1,2 DECODE_BUDGET_S=300 bash benches/compare/device.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && [ -z "${PYTHONPATH:-}" ] && PY=.venv/bin/python
OUT="${OUT:-benches/out/device}"
mkdir -p "$OUT"
log="$OUT/decode.log"
echo "[decode] $(date -u +%FT%TZ) on $(nproc) cores; python: $PY" | tee "$log"
"$PY" benches/compare/device.py --out "$OUT" --seconds "${DECODE_SECONDS:-1800}" \
    --threads "${DECODE_THREADS:-1,16}" --budget-s "${DECODE_BUDGET_S:-510}" 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ] && [ -f "$OUT/decode-results.json" ]; then
    # Stopped early: the tables of what was measured.
    "$PY" benches/compare/device.py --render "$OUT/decode-results.json" --out "$OUT" 2>&1 | tee -a "$log"
fi
tar -czf "$OUT/decode.tar.gz" -C "$OUT" $(cd "$OUT" && ls decode-results.json decode-summary.md decode.log 2>/dev/null)
echo "[decode] wrote $OUT/decode-summary.md and $OUT/decode.tar.gz (exit $rc)"
[ "$rc" -eq 0 ] || echo "[decode] FAILED (exit $rc): see the log's tail above"
exit "$rc"
