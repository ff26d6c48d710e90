#!/usr/bin/env bash
# The static gates, run by scripts/test.sh before the tests (and on their own, after
# scripts/setup.sh, with `bash scripts/gates.sh`). Each fails the run on any finding:
#
#   ruff check .                       lint of every Python file ([tool.ruff] in pyproject.toml)
#   mypy                               types of the package python/videotemp_o3 ([tool.mypy])
#   cargo fmt --check                  Rust formatting (rustfmt.toml), the fuzz crate included
#   cargo clippy ... -D warnings       Rust lints, every crate and target, warnings as errors
#
# Fix a finding rather than silencing it; where a rule is wrong for one line, say why on that
# line (`# noqa: RULE — why`, `#[allow(clippy::rule)]` with a comment).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

gate() {
  local name="$1"; shift
  local start=$SECONDS
  echo "[gates] $name"
  "$@"
  echo "[gates] $name: ok ($((SECONDS - start)) s)"
}

gate "ruff" .venv/bin/ruff check .
gate "mypy" .venv/bin/mypy
gate "cargo fmt" cargo fmt --check
gate "cargo fmt (fuzz)" cargo fmt --check --manifest-path fuzz/Cargo.toml
# --release shares the build scripts' outputs (FFmpeg bindings) with `cargo test --release`.
# PYO3_PYTHON: the binding crate's build script asks this interpreter about Python.
gate "cargo clippy" env PYO3_PYTHON="$PWD/.venv/bin/python" \
  cargo clippy --release --locked --workspace --all-targets -- -D warnings
