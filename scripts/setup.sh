#!/usr/bin/env bash
# Installs everything VideoTemp-o3 needs on a fresh Debian/Ubuntu machine, idempotently:
#   - system packages: the FFmpeg CLI and -dev libraries, clang (bindgen), pkg-config, patchelf;
#     Chromium and a font for the report's headless-browser test
#   - a Rust toolchain check (rustup's cargo must be on PATH) and its clippy and rustfmt
#     components (the gates of scripts/gates.sh)
#   - a virtual environment at .venv with the package built by maturin (release mode) and the
#     extras named in VIDEOTEMP_EXTRAS (default: everything the tests need), versions pinned
#     by requirements/lock.txt. pip's cache makes the multi-GB torch wheel a one-time download.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="${VIDEOTEMP_EXTRAS:-infer,eval,train,test}"
PYTHON="${PYTHON:-python3}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- system packages ---------------------------------------------------------------------------
APT_PACKAGES=(ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev
              libavdevice-dev libswresample-dev clang libclang-dev pkg-config patchelf)
# Debian's browser, driven by playwright (tests/test_report.py); playwright never downloads one.
if [[ "$EXTRAS" == *test* ]]; then APT_PACKAGES+=(chromium fonts-dejavu-core); fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (https://rustup.rs) and rerun" >&2; exit 1; }
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
  command -v rustup >/dev/null 2>&1 || { echo "cargo clippy / cargo fmt not found and no rustup to add them: install Rust with rustup (https://rustup.rs) and rerun" >&2; exit 1; }
  say "adding the clippy and rustfmt components"
  rustup component add clippy rustfmt
fi

# --- Python environment ------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PYTHON --version)"
  $PYTHON -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip wheel
# The package and its extras, pinned; maturin builds the Rust extension (abi3) in release mode.
say "installing videotemp-o3[$EXTRAS] (first run downloads torch and ms-swift; later runs use the cache)"
"${PIP[@]}" install -q -c requirements/lock.txt maturin
"${PIP[@]}" install -q -c requirements/lock.txt -e ".[$EXTRAS]"
# The engine must be right under transformers 4.x (what ms-swift 3.10 pins) and 5.x: a small
# overlay with transformers 5 lets the tests run the engine again under it (tests/test_transformers5.py).
if [ ! -f .tf5/.complete ] && [[ "$EXTRAS" == *test* ]]; then
  say "installing the transformers 5 overlay (.tf5) for the engine tests"
  rm -rf .tf5
  "${PIP[@]}" install -q --no-deps --target .tf5 "transformers==5.17.0" "huggingface-hub==1.33.0" "tokenizers==0.23.2"
  touch .tf5/.complete
fi
# Training must work under ms-swift 3.10 (the release's, in .venv) and 4.x (today's): a second
# overlay, pinned in requirements/swift4-overlay.txt, on the same torch (no second torch download),
# lets tests/test_swift4.py rerun the CPU SFT and GRPO runs under ms-swift 4.
overlay_pins="$(grep -v '^#' requirements/swift4-overlay.txt | sha256sum | cut -c1-16)"
if [[ "$EXTRAS" == *test* ]] && [[ "$EXTRAS" == *train* ]] && [ "$(cat .swift4/.complete 2>/dev/null)" != "$overlay_pins" ]; then
  say "installing the ms-swift 4 overlay (.swift4) for the training tests"
  rm -rf .swift4
  "${PIP[@]}" install -q --no-deps --target .swift4 -r requirements/swift4-overlay.txt
  echo "$overlay_pins" > .swift4/.complete
fi
.venv/bin/python -c "import videotemp_o3.video as v; print('[setup] videotemp_o3 ready:', v.FrameBudget())"
