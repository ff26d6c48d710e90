#!/usr/bin/env bash
# Coverage-guided fuzzing of the protocol parsers and the GRPO rewards (scripts/fuzz_protocol.py).
#
#   bash scripts/fuzz_protocol.sh              # 1,000,000 inputs, niced
#   bash scripts/fuzz_protocol.sh 50000        # a short run
#   bash scripts/fuzz_protocol.sh 0 -max_total_time=3600   # one hour instead of a count
#
# Starts from realistic replies (render_turn outputs, the released model's sloppy forms, the
# shapes of issue #15) and the corpus earlier runs grew in .fuzz/protocol/corpus. Exits non-zero
# with the failing input in .fuzz/protocol/artifacts/ when a parser or reward raises, breaks an
# invariant, or takes longer than 10 s on one input. Inputs up to 2 kB keep the rate up (long
# seeds are cut); linear time on long replies is benches/parser_worst_case.py's and the
# regression tests' job. The closing "Done N runs" line is the execution count.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-1000000}"
shift || true

if ! .venv/bin/python -c "import atheris" 2>/dev/null; then
  echo "[fuzz] installing atheris (the fuzz extra)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/lock.txt atheris
fi
WORK=.fuzz/protocol
mkdir -p "$WORK/corpus" "$WORK/artifacts"
.venv/bin/python scripts/fuzz_protocol.py --prepare "$WORK/seeds" "$WORK/protocol.dict"
# Earlier findings are seeds too: the fuzzer starts where the regression tests are.
cp -n tests/data/fuzz_protocol/* "$WORK/seeds/" 2>/dev/null || true

runs=()
[ "$RUNS" != 0 ] && runs=(-runs="$RUNS")
exec nice -n 10 .venv/bin/python scripts/fuzz_protocol.py "$WORK/corpus" "$WORK/seeds" \
  -dict="$WORK/protocol.dict" -max_len=2048 -timeout=10 -rss_limit_mb=4096 \
  -artifact_prefix="$WORK/artifacts/" -print_final_stats=1 "${runs[@]}" "$@"
