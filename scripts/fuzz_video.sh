#!/usr/bin/env bash
# Coverage-guided fuzzing of the Rust video layer (libFuzzer through cargo-fuzz): mutated real
# container files through open / metadata / index (target open_index), open / index / seek /
# decode / sample (open_decode) and open / index / remux / reopen (remux). See
# fuzz/src/harness.rs for what an input does.
#
#   bash scripts/fuzz_video.sh                 # 1,000,000 executions: open_index 600k,
#                                              #   open_decode 250k, remux 150k
#   bash scripts/fuzz_video.sh --runs 20000    # a short campaign: that many per target
#   bash scripts/fuzz_video.sh --asan          # AddressSanitizer (memory errors too; ~3x slower)
#   bash scripts/fuzz_video.sh --seeds         # only (re)make the seed corpus fuzz/seeds/
#
# Sanitizers: with a nightly toolchain, targets build with LeakSanitizer by default (`-s leak`:
# leaks — FFmpeg objects not freed, buffers kept — reported at the input that leaks, at nearly
# full speed) or AddressSanitizer with --asan (out-of-bounds and use-after-free as well, plus
# leaks); on stable only, `-s none` (crashes, aborts, panics, hangs; no leak detection).
# Seeds: tiny generated videos (H.264 with B-frames in mp4/mov/ts/flv, HEVC in mkv, VP9 in webm,
# MPEG-4 with B-frames in avi, raw Y4M, a VFR mkv, a rotated mp4), committed in fuzz/seeds/ and
# remade with --seeds (needs the FFmpeg CLI). The growing corpus lives in fuzz/corpus/<target>/
# (not committed). A finding (crash, leak, timeout) lands in fuzz/artifacts/<target>/: fix it,
# then copy the input into fuzz/regressions/ — `cargo test --release -p videotemp-video --test
# fuzz_regressions` replays every file of fuzz/seeds/ and fuzz/regressions/ through both targets.
# Exit status: 0 when every target ran its executions without a finding.
#
# Environment: NICE (default 15), FUZZ_TIMEOUT seconds per input (default 20), FUZZ_MAX_LEN
# bytes (default 131072), FUZZ_RSS_MB (default 3072).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
declare -A RUNS=([open_index]=600000 [open_decode]=250000 [remux]=150000)
TIME=""
ONLY_SEEDS=0
ASAN=0
TARGETS=(open_index open_decode remux)
while (($#)); do
  case "$1" in
    --runs) for t in "${!RUNS[@]}"; do RUNS[$t]="$2"; done; shift 2;;
    --asan) ASAN=1; shift;;
    --time) TIME="$2"; shift 2;;
    --seeds) ONLY_SEEDS=1; shift;;
    --targets) IFS=, read -ra TARGETS <<<"$2"; shift 2;;
    -h|--help) sed -n '2,30p' "$0"; exit 0;;
    *) echo "fuzz_video: unknown argument $1 (see --help)" >&2; exit 2;;
  esac
done
say() { printf '\033[1m[fuzz_video]\033[0m %s\n' "$*"; }
die() { printf '[fuzz_video] error: %s\n' "$*" >&2; exit 1; }
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

# --- seeds --------------------------------------------------------------------------------------
make_seeds() {
  command -v ffmpeg >/dev/null || die "making seeds needs the FFmpeg CLI (apt-get install ffmpeg)"
  mkdir -p fuzz/seeds
  "$PY" - fuzz/seeds <<'EOPY'
import subprocess, sys, tempfile
from pathlib import Path
from videotemp_o3.testing.videos import make_indexed_video

EXT = ["mp4", "mkv", "ts", "webm", "avi", "y4m", "mov", "flv"]
out = Path(sys.argv[1])
tmp = Path(tempfile.mkdtemp())
specs = [  # (name, codec, extension, extra)
    ("h264_bframes", "h264", "mp4", {}), ("h264_mov_rot90", "h264", "mov", {"rotation": 90}),
    ("h264_ts", "h264", "ts", {}), ("h264_flv", "h264", "flv", {}), ("hevc", "hevc", "mkv", {}),
    ("vp9", "vp9", "webm", {}), ("mpeg4_bframes_no_pts", "mpeg4_bframes", "avi", {}),
    ("vfr", "h264", "mkv", {"timestamps": [0.0, 0.1, 0.5, 0.55, 1.0, 1.2, 2.0, 2.04, 2.5, 3.0]}),
]
for name, codec, ext, extra in specs:
    src = tmp / f"{name}.{ext}"
    try:
        make_indexed_video(src, frames=10, fps=10, size=(48, 64), codec=codec, gop=4, **extra)
    except Exception as e:  # an encoder this FFmpeg lacks: that seed is skipped
        print(f"  skipped {name}: {str(e).splitlines()[0][:100]}")
        continue
    (out / f"{name}.{ext}.seed").write_bytes(bytes([EXT.index(ext), 0]) + src.read_bytes())
    print(f"  {name}.{ext}: {src.stat().st_size} bytes")
y4m = tmp / "raw.y4m"
subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(tmp / "h264_bframes.mp4"),
                "-frames:v", "3", "-pix_fmt", "yuv420p", str(y4m)], check=True)
(out / "raw.y4m.seed").write_bytes(bytes([EXT.index("y4m"), 0]) + y4m.read_bytes())
print(f"  raw.y4m: {y4m.stat().st_size} bytes")
EOPY
}
if ((ONLY_SEEDS)) || [ -z "$(ls fuzz/seeds 2>/dev/null)" ]; then
  say "making the seed corpus in fuzz/seeds/"
  make_seeds
  ((ONLY_SEEDS)) && exit 0
fi

# --- build --------------------------------------------------------------------------------------
command -v cargo-fuzz >/dev/null || { say "cargo install cargo-fuzz"; cargo install cargo-fuzz --locked; }
if rustup run nightly rustc --version >/dev/null 2>&1; then
  TOOLCHAIN=(+nightly)
  if ((ASAN)); then SAN=address; say "nightly toolchain: AddressSanitizer (+ leaks)"
  else SAN=leak; say "nightly toolchain: LeakSanitizer"; fi
else
  TOOLCHAIN=(); SAN=none; say "stable toolchain only: -s none (crashes, aborts, panics, hangs; no leak detection)"
fi
NICE="${NICE:-15}"
# cargo fuzz build takes one target (or none: all); after the first, only the target itself builds.
for t in "${TARGETS[@]}"; do
  (cd fuzz && nice -n "$NICE" cargo "${TOOLCHAIN[@]}" fuzz build -O -s "$SAN" "$t") || die "building the fuzz target $t failed"
done

# --- run ----------------------------------------------------------------------------------------
total=0; findings=0
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  limit=(-runs="${RUNS[$t]}"); [ -n "$TIME" ] && limit=(-max_total_time="$TIME")
  log="fuzz/artifacts/$t/fuzz.log"
  say "$t: ${limit[*]} (log $log)"
  set +e
  (cd fuzz && nice -n "$NICE" cargo "${TOOLCHAIN[@]}" fuzz run -O -s "$SAN" "$t" "corpus/$t" seeds regressions -- \
      "${limit[@]}" -timeout="${FUZZ_TIMEOUT:-20}" -max_len="${FUZZ_MAX_LEN:-131072}" -rss_limit_mb="${FUZZ_RSS_MB:-3072}" \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/") >"$log" 2>&1
  rc=$?
  set -e
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  runs="${runs:-0}"; total=$((total + runs))
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1)"
  if [ "$rc" -ne 0 ]; then
    findings=$((findings + 1))
    say "$t: FINDING after $runs executions (exit $rc):"
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -8 | sed 's/^/    /'
  else
    say "$t: $runs executions, $cov, no finding"
  fi
done
say "total: $total executions, $findings target(s) with a finding"
exit $((findings > 0))
