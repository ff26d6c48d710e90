#!/usr/bin/env bash
# Builds a self-contained, small wheel of videotemp-o3 into dist/.
#
# `maturin build` against Debian's FFmpeg bundles libavcodec's whole dependency closure (x265,
# codec2, ICU, librsvg, SVT-AV1, gnutls, ...): a 67 MB wheel. Instead this script
#   1. fetches Debian's own FFmpeg source package (the same 5.1.x the system -dev headers are;
#      Debian's patches applied) into target/ffmpeg-src,
#   2. builds a decode-only, LGPL, shared FFmpeg from it into target/ffmpeg-min: the video
#      decoders, parsers and demuxers a video-QA user meets, the mp4/mov/matroska/webm muxers for
#      clip export (stream copy), the file protocol, swscale; AV1 through libdav1d when
#      libdav1d-dev is installed (Debian: `apt-get install libdav1d-dev`),
#   3. runs `maturin build --release` with pkg-config pointed only at that build (in its own
#      cargo target dir, target/wheel, so the developer build in target/ is left alone), and
#      maturin's auditwheel repair copies just those libraries (and libdav1d) into the wheel.
# Steps 1 and 2 are cached: a later run reuses them unless the configure flags change.
#
# Environment:
#   PYTHON            interpreter with maturin (default: .venv/bin/python, else python3)
#   MANYLINUX         platform tag asked of maturin (default: manylinux_2_35, the lowest this build allows: built
#                     on Debian 12, the extension needs glibc 2.34 symbols and libm's hypot
#                     in libavformat/libavutil GLIBC_2.35; Ubuntu 24.04 has glibc 2.39)
#   FFMPEG_DEB_VERSION  Debian source version to fetch (default: the installed libavcodec-dev's)
#   JOBS              parallel make jobs (default: nproc)
#   NO_APT=1          never apt-get install missing build tools (fail instead)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

say() { printf '\033[1m[build_wheel]\033[0m %s\n' "$*"; }
die() { printf '[build_wheel] error: %s\n' "$*" >&2; exit 1; }

SRC_CACHE="$ROOT/target/ffmpeg-src"
BUILD_DIR="$ROOT/target/ffmpeg-build"
PREFIX="$ROOT/target/ffmpeg-min"
WHEEL_TARGET="$ROOT/target/wheel"
MANYLINUX="${MANYLINUX:-manylinux_2_35}"
JOBS="${JOBS:-$(nproc)}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
command -v cargo >/dev/null || die "cargo not found (install Rust: https://rustup.rs)"
"$PYTHON" -m maturin --version >/dev/null 2>&1 || die "$PYTHON has no maturin (pip install 'maturin>=1.7,<2')"

# --- build tools -------------------------------------------------------------------------------
# nasm: FFmpeg's x86 SIMD (without it decoding is several times slower, and swscale takes other
# code paths than the system FFmpeg does). libdav1d-dev: optional, AV1.
need=()
for p in nasm pkg-config make gcc clang libclang-dev dpkg-dev xz-utils patchelf; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
want_dav1d=0
if ! dpkg -s libdav1d-dev >/dev/null 2>&1 && apt-cache show libdav1d-dev >/dev/null 2>&1; then want_dav1d=1; fi
if { ((${#need[@]})) || ((want_dav1d)); } && [ "${NO_APT:-0}" != 1 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  pkgs=("${need[@]}"); ((want_dav1d)) && pkgs+=(libdav1d-dev)
  say "apt-get install ${pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null \
    || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
fi
command -v nasm >/dev/null || die "nasm is missing (apt-get install nasm)"

# --- 1. Debian's FFmpeg source -----------------------------------------------------------------
if [ -z "${FFMPEG_DEB_VERSION:-}" ]; then
  FFMPEG_DEB_VERSION="$(dpkg-query -W -f='${source:Version}' libavcodec-dev 2>/dev/null || true)"
fi
mkdir -p "$SRC_CACHE"
dsc_glob="ffmpeg_${FFMPEG_DEB_VERSION#*:}.dsc"; [ -n "$FFMPEG_DEB_VERSION" ] || dsc_glob="ffmpeg_*.dsc"
dsc="$(cd "$SRC_CACHE" && ls $dsc_glob 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$dsc" ]; then
  spec="ffmpeg"; [ -n "$FFMPEG_DEB_VERSION" ] && spec="ffmpeg=$FFMPEG_DEB_VERSION"
  say "apt-get source --download-only $spec -> $SRC_CACHE"
  (cd "$SRC_CACHE" && apt-get source --download-only "$spec" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  dsc="$(cd "$SRC_CACHE" && ls $dsc_glob 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$dsc" ]; then
    # No deb-src line on this machine: the same archives as deb-src, in a private apt state
    # under target/ (the system's sources and lists are left as they are).
    apt_dir="$ROOT/target/apt-src"
    rm -rf "$apt_dir" && mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial"
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] && sed 's/^Types:.*$/Types: deb-src/' "$f" > "$apt_dir/parts/$(basename "$f")"
    done
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list 2>/dev/null > "$apt_dir/sources.list" || true
    apt_opts=(-o Dir::Etc::SourceParts="$apt_dir/parts" -o Dir::Etc::SourceList="$apt_dir/sources.list"
              -o Dir::State::Lists="$apt_dir/lists")
    say "no deb-src configured: fetching the source through a private deb-src list ($apt_dir)"
    apt-get "${apt_opts[@]}" update -qq >/dev/null 2>&1 || true
    (cd "$SRC_CACHE" && apt-get "${apt_opts[@]}" source --download-only "$spec" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    dsc="$(cd "$SRC_CACHE" && ls $dsc_glob 2>/dev/null | sort -V | tail -1 || true)"
  fi
  [ -n "$dsc" ] || die "apt-get source ffmpeg gave no .dsc (is a deb-src line configured?)"
fi
deb_version="${dsc#ffmpeg_}"; deb_version="${deb_version%.dsc}"
SRC="$SRC_CACHE/ffmpeg-$deb_version"
if [ ! -x "$SRC/configure" ]; then
  say "unpacking $dsc (with Debian's patches)"
  rm -rf "$SRC"
  (cd "$SRC_CACHE" && dpkg-source --no-check -x "$dsc" "$SRC" >/dev/null)
fi
upstream_version="$(cat "$SRC/RELEASE")"

# --- 2. decode-only FFmpeg ---------------------------------------------------------------------
DECODERS=(h264 hevc vp8 vp9 mpeg4 mpeg1video mpeg2video mjpeg h263 h263p flv vc1 wmv3 wmv1 wmv2
          msmpeg4v1 msmpeg4v2 msmpeg4v3 prores theora vp6 vp6f vp6a rawvideo
          ffv1)  # ffv1: the lossless clips videotemp_o3.training.swift_media writes (FFV1 in mkv)
# Parsers: the video ones for the decoders, the audio ones so that probing a file's audio streams
# (which we do not decode) ends quickly with complete parameters.
PARSERS=(h264 hevc vp8 vp9 mpeg4video mpegvideo mjpeg h263 vc1 av1
         aac aac_latm ac3 mpegaudio opus vorbis flac dca)
DEMUXERS=(mov matroska avi mpegts flv ivf ogg asf mpegps mpegvideo h264 hevc m4v rawvideo
          mjpeg obu vc1 yuv4mpegpipe)
MUXERS=(mp4 mov matroska webm)
# Bitstream filters the muxers insert on their own (the decoders' are selected by configure).
BSFS=(aac_adtstoasc vp9_superframe h264_mp4toannexb hevc_mp4toannexb extract_extradata)

CONF=(--prefix="$PREFIX" --enable-shared --disable-static --enable-pic
      --disable-programs --disable-doc --disable-network --disable-autodetect --disable-everything
      --disable-avdevice --disable-avfilter --disable-swresample --disable-postproc
      --enable-avcodec --enable-avformat --enable-swscale
      --enable-pthreads --enable-zlib
      --enable-protocol=file
      --disable-debug
      --extra-ldflags=-Wl,--as-needed)
for d in "${DECODERS[@]}"; do CONF+=(--enable-decoder="$d"); done
for p in "${PARSERS[@]}"; do CONF+=(--enable-parser="$p"); done
for d in "${DEMUXERS[@]}"; do CONF+=(--enable-demuxer="$d"); done
for m in "${MUXERS[@]}"; do CONF+=(--enable-muxer="$m"); done
for b in "${BSFS[@]}"; do CONF+=(--enable-bsf="$b"); done
AV1="not included (libdav1d-dev is not installed)"
if pkg-config --exists dav1d; then
  CONF+=(--enable-libdav1d --enable-decoder=libdav1d)
  AV1="libdav1d $(pkg-config --modversion dav1d)"
fi

stamp="$PREFIX/.videotemp-build-stamp"
want_stamp="$deb_version ${CONF[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] && [ -f "$PREFIX/lib/pkgconfig/libavcodec.pc" ]; then
  say "reusing $PREFIX (FFmpeg $upstream_version, Debian $deb_version)"
else
  say "configuring FFmpeg $upstream_version (Debian $deb_version), decode-only, in $BUILD_DIR"
  rm -rf "$BUILD_DIR" "$PREFIX"
  mkdir -p "$BUILD_DIR"
  (cd "$BUILD_DIR" && "$SRC/configure" "${CONF[@]}" >configure.log 2>&1) \
    || { tail -30 "$BUILD_DIR/configure.log" >&2; tail -30 "$BUILD_DIR/ffbuild/config.log" >&2 || true; die "FFmpeg configure failed"; }
  grep -q '^HAVE_PTHREADS=yes\|#define HAVE_PTHREADS 1' "$BUILD_DIR/config.h" || die "FFmpeg configured without pthreads"
  grep -q '#define HAVE_X86ASM 1' "$BUILD_DIR/config.h" || die "FFmpeg configured without x86 assembly"
  say "building FFmpeg with $JOBS jobs (several minutes)"
  make -C "$BUILD_DIR" -j"$JOBS" >"$BUILD_DIR/make.log" 2>&1 || { tail -40 "$BUILD_DIR/make.log" >&2; die "FFmpeg build failed"; }
  make -C "$BUILD_DIR" install >>"$BUILD_DIR/make.log" 2>&1 || { tail -20 "$BUILD_DIR/make.log" >&2; die "FFmpeg install failed"; }
  strip --strip-unneeded "$PREFIX"/lib/lib*.so.*.*.*
  echo "$want_stamp" >"$stamp"
  # New libraries: regenerate the bindings and relink (cargo does not watch the .so files).
  cargo clean -q --release -p ffmpeg-sys-next --target-dir "$WHEEL_TARGET" 2>/dev/null || true
fi

# --- 3. the wheel ------------------------------------------------------------------------------
# pkg-config sees only the minimal build (PKG_CONFIG_LIBDIR replaces the system search path), so
# ffmpeg-sys-next links it and bindgen reads its headers; LD_LIBRARY_PATH makes maturin's repair
# step resolve (and bundle) these copies of libav*/libsw*, not the system's of the same soname.
say "maturin build --release --compatibility $MANYLINUX (cargo target dir $WHEEL_TARGET)"
mkdir -p dist
# maturin's repair patches the linked extension in place, and cargo's copy of it is the same file
# (a hard link): relink it on every run, or the next run finds its NEEDED entries already renamed.
cargo clean -q --release -p videotemp-py --target-dir "$WHEEL_TARGET" 2>/dev/null || true
rm -rf "$WHEEL_TARGET/maturin"
before="$(ls dist/*.whl 2>/dev/null || true)"
env PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig" PKG_CONFIG_PATH= \
    LD_LIBRARY_PATH="$PREFIX/lib" \
    CARGO_TARGET_DIR="$WHEEL_TARGET" \
    "$PYTHON" -m maturin build --release --strip --compatibility "$MANYLINUX" --auditwheel repair --out dist
wheel="$(ls -t dist/videotemp_o3-*.whl | head -1)"

# --- checks on the wheel ------------------------------------------------------------------------
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$PYTHON" -m zipfile -e "$ROOT/$wheel" .)
core="$(ls "$tmp"/videotemp_o3/_core*.so)"
libs_dir="$tmp/videotemp_o3.libs"
[ -d "$libs_dir" ] || die "the wheel bundles no libraries (videotemp_o3.libs missing)"
bundled="$(ls "$libs_dir")"
for lib in avcodec avformat avutil swscale; do
  echo "$bundled" | grep -q "^lib$lib" || die "lib$lib is not bundled"
done
unexpected="$(echo "$bundled" | grep -Ev '^lib(avcodec|avformat|avutil|swscale|dav1d|z)[-.]' || true)"
[ -z "$unexpected" ] || die "unexpected libraries bundled: $unexpected"
# Every libav*/libsw* the extension needs must be a bundled copy (hash-renamed by the repair),
# and its RUNPATH must point into the wheel only.
needed="$(patchelf --print-needed "$core")"
if echo "$needed" | grep -E '^lib(av|sw)' | grep -vq -- '-'; then die "_core needs an unbundled FFmpeg library: $needed"; fi
rpath="$(patchelf --print-rpath "$core")"
case "$rpath" in *"$ROOT"*|*/usr/*) die "_core has an RPATH outside the wheel: $rpath";; esac
for so in "$libs_dir"/*.so*; do
  r="$(patchelf --print-rpath "$so")"
  case "$r" in *"$ROOT"*|*/usr/*) die "$(basename "$so") has an RPATH outside the wheel: $r";; esac
done

size_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN{printf "%.1f MB", b/1e6}'; }
unpacked="$(du -sb "$tmp" | awk '{printf "%.1f MB", $1/1e6}')"
say "wheel: $wheel ($(size_mb "$wheel"), $unpacked unpacked)"
say "  FFmpeg $upstream_version (Debian $deb_version), AV1: $AV1"
say "  _core NEEDED: $(echo $needed)"
say "  _core RUNPATH: $rpath"
say "  bundled: $(echo $bundled)"
say "  decoders: ${DECODERS[*]}$(pkg-config --exists dav1d && echo ' libdav1d(av1)')"
say "  demuxers: ${DEMUXERS[*]}"
say "  muxers: ${MUXERS[*]}; protocol: file"
for w in $before; do [ "$w" = "$wheel" ] || say "  (older wheel left in dist/: $w)"; done
