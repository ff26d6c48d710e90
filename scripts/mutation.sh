#!/usr/bin/env bash
# Mutation testing (mutmut) of the core modules: does every plausible bug in them make a test fail?
#
#   bash scripts/mutation.sh                     # protocol (parsing), segments, benchmarks.metrics, training.rewards
#   bash scripts/mutation.sh 'videotemp_o3.segments.*'     # only the mutants matching a pattern
#   bash scripts/mutation.sh --results           # the survivors of the last run, and the score
#
# mutmut copies the sources to mutants/ and imports them from ./, src/ or source/ only, so the
# run happens in a staging folder (.mutation/) that holds the package as src/videotemp_o3 and a
# copy of tests/. Hypothesis runs derandomised and short there (profile "mutation",
# tests/conftest.py), so that a mutant is killed or survives the same way every time.
# Niced; two workers. Every mutant a run selects is tested again (mutmut reruns the mutants it is
# named), so name the survivors to retest only them; --results shows the last verdicts.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if ! .venv/bin/python -c "import mutmut" 2>/dev/null; then
  echo "[mutation] installing mutmut (the mutation extra)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements/lock.txt mutmut
fi

STAGE=.mutation
# Fresh copies; mutmut notices changed sources itself (it keeps mutants/ between runs).
rm -rf "$STAGE/src" "$STAGE/tests" "$STAGE/eval"
mkdir -p "$STAGE/src"
cp -a python/videotemp_o3 "$STAGE/src/"
cp -a tests "$STAGE/tests"
cp -a eval "$STAGE/eval"  # tests run eval/score.py
# mutmut re-copies changed Python sources into mutants/, not the compiled extension: refresh it.
if [ -d "$STAGE/mutants/src/videotemp_o3" ]; then
  cp -a python/videotemp_o3/_core*.so "$STAGE/mutants/src/videotemp_o3/"
fi
cat > "$STAGE/pyproject.toml" <<'EOF'
[tool.mutmut]
source_paths = ["src"]
also_copy = ["eval"]
only_mutate = ["src/videotemp_o3/protocol.py", "src/videotemp_o3/segments.py",
               "src/videotemp_o3/benchmarks/metrics.py", "src/videotemp_o3/training/rewards.py"]
# The unit tests of these modules and of their callers that run in this process (a test that
# runs a script in a subprocess imports the original code and cannot kill a mutant).
# A mutant's CPU-time limit is 2 x multiplier x (its tests' time + 1 s): mutmut's default
# multiplier of 15 lets a mutant that loops forever (a search that stops advancing) run for
# half an hour of CPU where the tests take a minute.
timeout_multiplier = 2.0
pytest_add_cli_args_test_selection = [
    "tests/test_protocol.py", "tests/test_protocol_properties.py", "tests/test_prompt_profile.py",
    "tests/test_segments.py",
    "tests/test_metrics.py",
    "tests/test_rewards.py", "tests/test_benchmarks_common.py", "tests/test_benchmarks_charades.py",
    "tests/test_benchmarks_lvbench.py", "tests/test_benchmarks_mlvu.py",
    "tests/test_benchmarks_nextgqa.py", "tests/test_benchmarks_videomme.py",
    "tests/test_benchmarks_videommmu.py", "tests/test_benchmarks_videotemp.py",
]
# Left out: tests that run a script in a subprocess, and one that reads the source tree by path
# (python/…, which the staging folder holds as src/).
pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-x", "-m", "not slow",
                       "-k", "not runs_as_a_program and not cli_text_json_plot and not registry_knows_no_benchmark_by_name"]

[tool.pytest.ini_options]
testpaths = ["tests"]
markers = ["slow: minutes of CPU (model training, servers)"]
EOF

export HYPOTHESIS_PROFILE=mutation PYTHONDONTWRITEBYTECODE=1
cd "$STAGE"
if [ "${1:-}" = "--results" ]; then
  exec "$ROOT/.venv/bin/mutmut" results
fi
# Default selection: the parsing functions of protocol.py (its prompt texts are wording, not
# logic), and all of segments.py, benchmarks/metrics.py and training/rewards.py.
if [ $# -eq 0 ]; then
  set -- 'videotemp_o3.protocol.x_parse*' 'videotemp_o3.protocol.x__read_think*' \
    'videotemp_o3.protocol.x__spans_from_arguments*' 'videotemp_o3.protocol.x__to_seconds*' \
    'videotemp_o3.protocol.x__json_too_deep*' \
    'videotemp_o3.protocol.x__decode_json*' 'videotemp_o3.protocol.x__short_form*' \
    'videotemp_o3.protocol.x__shorten*' 'videotemp_o3.protocol.x_validate_call*' \
    'videotemp_o3.protocol.x_format_seconds*' 'videotemp_o3.protocol.x_render*' \
    'videotemp_o3.protocol.x_call_error_feedback*' 'videotemp_o3.protocol.x_tool_feedback*' \
    'videotemp_o3.protocol.x_clip_feedback*' 'videotemp_o3.protocol.x__span_text*' \
    'videotemp_o3.protocol.xǁ*' \
    'videotemp_o3.segments.*' 'videotemp_o3.benchmarks.metrics.*' 'videotemp_o3.training.rewards.*'
fi
# A mutant that loops forever while allocating (say, a search that no longer advances) would
# exhaust the machine's memory long before mutmut's CPU-time limit stops it: past
# MUTANT_RSS_MB (default 2048) of resident memory it gets that limit's signal (SIGXCPU), so
# mutmut records it as a timeout — the tests caught it hanging.
watch_memory() {
  local limit_kb=$(( ${MUTANT_RSS_MB:-2048} * 1024 )) pid rss
  while sleep 3; do
    for pid in $(pgrep -f "^mutmut: " || true); do
      rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
      if [ -n "$rss" ] && [ "$rss" -gt "$limit_kb" ]; then
        echo "[mutation] $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null): ${rss} kB resident, stopped as a timeout" >&2
        kill -XCPU "$pid" 2>/dev/null || true
      fi
    done
  done
}
watch_memory &
watcher=$!
trap 'kill "$watcher" 2>/dev/null' EXIT
nice -n 10 "$ROOT/.venv/bin/mutmut" run --max-children 2 "$@"
