#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs (scripts/setup.sh), then runs
# the Rust tests (cargo test) and the Python tests (pytest). Fails if any fails or none ran.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

echo "[test] cargo test (Rust core)"
cargo test --release --locked

echo "[test] pytest"
set +e
.venv/bin/python -m pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[test] pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$rc"
