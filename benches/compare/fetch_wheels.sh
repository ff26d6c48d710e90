#!/usr/bin/env bash
# Gathers .whl/bench: what benches/compare needs on the GPU machine (cp312 manylinux x86_64; no
# package registry there, no FFmpeg CLI): our wheel (dist/, scripts/build_wheel.sh), PyAV (its
# wheel carries libx264, which makes the inputs there), decord and qwen-vl-utils at the versions
# of requirements/lock.txt. torch, torchvision, numpy and matplotlib are on the image.
# Not carried: torchcodec (it needs a system FFmpeg, which the image lacks) and video-reader-rs
# (it needs libglib-2.0, which the image lacks); run.py lists both as not run, with the reason.
#
#   bash benches/compare/fetch_wheels.sh         # then carry ".whl/bench"
#
# On the machine: source scripts/device/install.sh bench && python3 benches/compare/run.py ...
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
say() { printf '\033[1m[fetch_wheels bench]\033[0m %s\n' "$*"; }
die() { printf '[fetch_wheels bench] error: %s\n' "$*" >&2; exit 1; }
wheel="$(ls -t dist/videotemp_o3-*.whl 2>/dev/null | head -1 || true)"
[ -n "$wheel" ] || die "no wheel in dist/: run scripts/build_wheel.sh first"
pin() { grep -i "^$1==" requirements/lock.txt | head -1 || die "$1 is not pinned in requirements/lock.txt"; }
rm -rf .whl/bench && mkdir -p .whl/bench
specs=("$(pin av)" "$(pin decord)" "$(pin qwen-vl-utils)")
say "pip download ${specs[*]} -> .whl/bench"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64 \
    -d .whl/bench "${specs[@]}"
cp "$wheel" .whl/bench/
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || grep -qx '/.whl/' .gitignore || echo /.whl/ >> .git/info/exclude
size="$(du -sb .whl/bench | cut -f1)"
say "$(ls .whl/bench | tr '\n' ' ')"
say "$(awk -v b="$size" 'BEGIN{printf "%.1f MiB", b/1048576}') (a call carries at most 64 MiB with the working tree)"
[ "$size" -lt $((60 * 1024 * 1024)) ] || die ".whl/bench is too large to carry"
