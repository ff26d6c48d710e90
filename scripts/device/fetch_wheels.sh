#!/usr/bin/env bash
# Gathers what a GPU-machine call carries (README of the device tool, Notes: wheels for cp312
# manylinux x86_64, installed there with `pip install --no-index --no-deps --target /tmp/site`).
#
#   bash scripts/device/fetch_wheels.sh [infer|train|media|av|all]     (default: all)
#
# Sets, each to be carried on its own (a call carries at most 64 MiB with the working tree):
#   .whl/infer  our wheel alone (dist/, from scripts/build_wheel.sh). numpy, tqdm and pillow,
#               its dependencies, are on the GPU image already.
#   .whl/train  our wheel + the ms-swift 3.10.3 training stack at the versions of
#               requirements/lock.txt, minus what the GPU image has at a compatible version
#               (KINDS.md, "Python packages already there"). See TRAIN below for the why of each.
#   .whl/media  test videos, reference decodes and a small SFT set (scripts/device/make_media.py:
#               made here, the GPU machine has no FFmpeg CLI).
#   .whl/av     PyAV alone (36 MB; its wheel bundles FFmpeg with libx264): what writes clip files
#               in GRPO rollouts and renders the synthetic videos of scripts/reproduce_mini.sh on
#               the device. Too big to travel with .whl/train: carry it in a second call while
#               the machine is still warm (install.sh adds it to the same /tmp/site).
# A call names the set(s) it needs in `carry`, e.g. [".whl/train", ".whl/media"], and begins
# with `source scripts/device/install.sh train`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
WHAT="${1:-all}"
PY="${PYTHON:-python3}"
DEV_PY="${DEV_PYTHON:-$ROOT/.venv/bin/python}"
LIMIT=$((64 * 1024 * 1024))

say() { printf '\033[1m[fetch_wheels]\033[0m %s\n' "$*"; }
die() { printf '[fetch_wheels] error: %s\n' "$*" >&2; exit 1; }

# The README's recipe, with manylinux2010 (= 2_12) added for decord's wheel.
PIP_DOWNLOAD=("$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all:
              --python-version 3.12 --implementation cp
              --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
              --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
              --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64
              --platform manylinux1_x86_64)

# What `swift sft` / `swift rlhf --rlhf_type grpo` (colocate, no vLLM, no DeepSpeed) import,
# that the GPU image lacks or has at a version ms-swift 3.10.3 cannot use. Found by running the
# CPU SFT and GRPO recipes of tests/ in an environment holding only the image's packages plus
# this list (see the report that came with this script), then adding the tiny declared ones.
TRAIN=(
  # ms-swift and the versions it pins (the image has transformers 5.17, huggingface-hub 1.33,
  # tokenizers 0.23.2: transformers 4.57.1 needs huggingface-hub < 1.0 and tokenizers <= 0.23.0)
  ms-swift==3.10.3 transformers==4.57.1 tokenizers==0.22.2 huggingface-hub==0.36.2
  trl==0.24.0 peft==0.17.1
  # datasets < 4 (trl, ms-swift) and its pins: fsspec <= 2025.3.0, dill < 0.3.9, multiprocess < 0.70.17
  datasets==3.6.0 fsspec==2025.3.0 dill==0.3.8 multiprocess==0.70.16
  # ms-swift imports modelscope at start-up; modelscope-hub imports cryptography
  modelscope==1.40.2 modelscope-hub==0.5.1 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12
  # swift.llm.infer.protocol (imported by sft and rlhf) needs pydantic
  pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5
  typing-extensions==4.16.0
  # imported by ms-swift's utils / GRPO rollout code
  json-repair==0.64.6 dacite==1.9.2 msgspec==0.22.0
  # the video path of the Qwen2.5-VL template: qwen-vl-utils reads videos with decord here
  # (torchvision 0.26 on the image has no read_video any more, torchcodec needs system FFmpeg)
  qwen-vl-utils==0.0.11 decord==0.6.0
  # declared by ms-swift, tiny, not imported in these runs
  addict==2.4.0 attrdict==2.0.1 binpacking==2.0.1
)
# Left out on purpose (declared by ms-swift or by our `train` extra, not needed for training
# steps, or no wheel): gradio, fastapi, uvicorn (web UI / deploy), openai (trl's judges, guarded),
# oss2, jieba (sdist), nltk, rouge (its wheel has a top-level `bin` package that clobbers the
# `bin` folder pip --target puts the `swift` command in), omegaconf (antlr4 sdist), cpm-kernels,
# transformers-stream-generator (sdist), zstandard (fsspec imports it only if present),
# importlib-metadata (stdlib suffices), deepspeed (sdist: run with DEEPSPEED=none), vllm, and
# av (PyAV, 36 MB: needed only where clips are *written* on the device, i.e. GRPO rollouts that
# call the tool; it does not fit in one call with the rest).

our_wheel() {
  local w
  w="$(ls -t "$ROOT"/dist/videotemp_o3-*.whl 2>/dev/null | head -1 || true)"
  [ -n "$w" ] || die "no wheel in dist/: run scripts/build_wheel.sh first"
  echo "$w"
}

set_size() { du -sb "$1" | cut -f1; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f MiB", b/1048576}'; }
tree_size() {
  # What travels besides carried paths: tracked and untracked-not-ignored files.
  git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1
}

check_one_version() {
  local dir="$1" dup
  dup="$(ls "$dir"/*.whl | xargs -n1 basename | cut -d- -f1 | tr 'A-Z_.' 'a-z--' | sort | uniq -d)"
  [ -z "$dup" ] || die "$dir holds two versions of: $dup"
}

fetch_infer() {
  rm -rf .whl/infer && mkdir -p .whl/infer
  cp "$(our_wheel)" .whl/infer/
  check_one_version .whl/infer
}

fetch_train() {
  mkdir -p .whl/train
  # Keep what is already downloaded (pip skips it), drop what is no longer in the list.
  local want=() w keep
  for spec in "${TRAIN[@]}"; do want+=("$(echo "${spec%%==*}" | tr 'A-Z_.' 'a-z--')-${spec##*==}"); done
  for w in .whl/train/*.whl; do
    [ -e "$w" ] || continue
    keep=0
    local base; base="$(basename "$w" | tr 'A-Z_.' 'a-z--')"
    for x in "${want[@]}"; do case "$base" in "$x"-*) keep=1;; esac; done
    case "$base" in videotemp-o3-*) keep=0;; esac
    ((keep)) || rm -f "$w"
  done
  say "pip download ${#TRAIN[@]} wheels (cp312, manylinux x86_64) -> .whl/train"
  "${PIP_DOWNLOAD[@]}" -d .whl/train "${TRAIN[@]}"
  cp "$(our_wheel)" .whl/train/
  check_one_version .whl/train
}

fetch_av() {
  mkdir -p .whl/av
  local spec
  spec="$(grep -E '^av==' requirements/lock.txt | head -1)"
  [ -n "$spec" ] || die "requirements/lock.txt pins no av"
  say "pip download $spec (cp312, manylinux x86_64) -> .whl/av"
  rm -f .whl/av/*.whl
  "${PIP_DOWNLOAD[@]}" -d .whl/av "$spec"
}

fetch_media() {
  [ -x "$DEV_PY" ] || die "making the media needs the developer install ($DEV_PY)"
  command -v ffmpeg >/dev/null || die "making the media needs the ffmpeg CLI"
  say "making test media (scripts/device/make_media.py)"
  "$DEV_PY" scripts/device/make_media.py .whl/media
}

# Our wheel goes into every set that carries it: refresh it wherever it is, so that a rebuilt
# dist/ wheel never travels beside a stale copy.
refresh_our_wheel() {
  local d
  for d in .whl/infer .whl/train; do
    [ -d "$d" ] || continue
    rm -f "$d"/videotemp_o3-*.whl
    cp "$(our_wheel)" "$d"/
  done
}

grep -qx '/.whl/' .git/info/exclude 2>/dev/null || grep -qx '/.whl/' .gitignore || echo /.whl/ >> .git/info/exclude
case "$WHAT" in
  infer) fetch_infer ;;
  train) fetch_train ;;
  media) fetch_media ;;
  av) fetch_av ;;
  all) fetch_infer; fetch_train; fetch_media; fetch_av ;;
  *) die "usage: $0 [infer|train|media|av|all]" ;;
esac
refresh_our_wheel

tree="$(tree_size)"
say "working tree that travels with every call: $(mib "$tree")"
status=0
for s in infer train media av; do
  [ -d ".whl/$s" ] || continue
  n="$(set_size ".whl/$s")"
  say ".whl/$s: $(mib "$n") in $(ls ".whl/$s" | wc -l) entries"
done
for combo in "infer media" "train media" "av"; do
  total="$tree"; names=()
  for s in $combo; do [ -d ".whl/$s" ] || continue; total=$((total + $(set_size ".whl/$s"))); names+=("\".whl/$s\""); done
  ((${#names[@]})) || continue
  verdict="fits"; ((total > LIMIT)) && { verdict="OVER the 64 MiB limit"; status=1; }
  say "carry [$(IFS=,; echo "${names[*]}")] + working tree = $(mib "$total"): $verdict"
done
exit "$status"
