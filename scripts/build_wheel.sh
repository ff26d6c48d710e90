#!/usr/bin/env bash
# Builds a self-contained, small wheel of videotemp-o3 into dist/.
#
# `maturin build` against Debian's FFmpeg bundles libavcodec's whole dependency closure (x265,
# codec2, ICU, librsvg, SVT-AV1, gnutls, ...): a 67 MB wheel. Instead this script
#   1. fetches Debian's own FFmpeg source package (the same 5.1.x the system -dev headers are;
#      Debian's patches applied) into target/ffmpeg-src; on a machine without `deb-src` lines (a
#      fresh Debian) through a private apt state with the deb-src twins of its Debian entries,
#      leaving the system's sources untouched,
#   2. builds a decode-only, LGPL, shared FFmpeg from it into target/ffmpeg-min: the video
#      decoders, parsers and demuxers a video-QA user meets, the mp4/mov/matroska/webm muxers for
#      clip export (stream copy), the file protocol, swscale; AV1 through libdav1d when
#      libdav1d-dev is installed (Debian: `apt-get install libdav1d-dev`),
#   3. runs `maturin build --release` with pkg-config pointed only at that build (in its own
#      cargo target dir, target/wheel, so the developer build in target/ is left alone), and
#      maturin's auditwheel repair copies just those libraries (and libdav1d) into the wheel,
#   4. adds the licence texts of what it bundles (FFmpeg LGPL 2.1, dav1d, zlib) and how FFmpeg was
#      built to the wheel's .dist-info/licenses/.
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
# A fresh Debian machine has only `deb` lines, and `apt-get source` needs `deb-src` ones. Rather
# than edit the system's sources, the `deb-src` twins of its Debian archive entries (deb822
# stanzas or one-line entries whose URI names a Debian archive; deb.debian.org for the release in
# /etc/os-release when there are none) go into a private apt state under target/apt-src, used
# for this one download.
private_apt_sources() {
  local dir="$1" f
  rm -rf "$dir"; mkdir -p "$dir/lists/partial" "$dir/sources.list.d" "$dir/cache/archives/partial"
  : >"$dir/sources.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         /(^|\n)URIs:[^\n]*debian/ && !/(^|\n)Enabled: *no/ { sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' \
      "$f" >>"$dir/sources.list.d/debian-src.sources"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -n 's/^[[:space:]]*deb[[:space:]]\+\(.*debian.*\)$/deb-src \1/p' "$f" >>"$dir/sources.list"
  done
  if [ ! -s "$dir/sources.list" ] && [ ! -s "$dir/sources.list.d/debian-src.sources" ]; then
    local codename; codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
    printf 'deb-src http://deb.debian.org/debian %s main\ndeb-src http://deb.debian.org/debian %s-updates main\ndeb-src http://deb.debian.org/debian-security %s-security main\n' \
      "$codename" "$codename" "$codename" >"$dir/sources.list"
  fi
}
fetch_ffmpeg_source() {  # $1: ffmpeg or ffmpeg=VERSION; downloads the .dsc and its tarballs into $SRC_CACHE
  local spec="$1" apt_dir="$ROOT/target/apt-src" log="$SRC_CACHE/apt-get-source.log"
  say "apt-get source --download-only $spec -> $SRC_CACHE"
  if (cd "$SRC_CACHE" && apt-get source --download-only "$spec") >"$log" 2>&1; then return 0; fi
  say "  no usable deb-src entry on this machine: a private apt state with deb-src lines ($apt_dir)"
  private_apt_sources "$apt_dir"
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Debug::NoLocking=1")
  apt-get "${opts[@]}" -qq update >>"$log" 2>&1 || { tail -5 "$log" >&2; die "apt-get update with the private deb-src lines failed (see $log)"; }
  if (cd "$SRC_CACHE" && apt-get "${opts[@]}" source --download-only "$spec") >>"$log" 2>&1; then return 0; fi
  # The installed headers' version has left the archive (a later point release replaced it):
  # the archive's current FFmpeg of the same release builds the same decoders.
  if [ "$spec" != ffmpeg ]; then
    say "  $spec is no longer in the archive; taking the archive's current ffmpeg source"
    (cd "$SRC_CACHE" && apt-get "${opts[@]}" source --download-only ffmpeg) >>"$log" 2>&1 && return 0
  fi
  tail -5 "$log" >&2
  die "could not download Debian's ffmpeg source package (see $log)"
}
if [ -z "$dsc" ]; then
  spec="ffmpeg"; [ -n "$FFMPEG_DEB_VERSION" ] && spec="ffmpeg=$FFMPEG_DEB_VERSION"
  fetch_ffmpeg_source "$spec"
  dsc="$(cd "$SRC_CACHE" && ls $dsc_glob 2>/dev/null | sort -V | tail -1 || true)"
  [ -n "$dsc" ] || dsc="$(cd "$SRC_CACHE" && ls ffmpeg_*.dsc 2>/dev/null | sort -V | tail -1 || true)"
  [ -n "$dsc" ] || die "apt-get source ffmpeg gave no .dsc (see $SRC_CACHE/apt-get-source.log)"
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

# --- licences of the bundled libraries ----------------------------------------------------------
# FFmpeg is LGPL 2.1+ (built without GPL parts), dav1d BSD-2-Clause, zlib the zlib licence: their
# texts go into the wheel's .dist-info/licenses/ (PEP 639, listed as License-File in METADATA),
# with how FFmpeg was built and where its exact source is (the LGPL asks for both).
lic="$(mktemp -d)"
mkdir -p "$lic/ffmpeg"
cp "$SRC/COPYING.LGPLv2.1" "$SRC/LICENSE.md" "$lic/ffmpeg/"
cat >"$lic/ffmpeg/BUILD.txt" <<EOT
FFmpeg $upstream_version, built unmodified from Debian's source package ffmpeg $deb_version
(Debian's patches applied; https://deb.debian.org/debian/pool/main/f/ffmpeg/ or
https://snapshot.debian.org/package/ffmpeg/$deb_version/), by scripts/build_wheel.sh of
videotemp-o3 with:
  configure ${CONF[*]}
The libraries bundled in videotemp_o3.libs/ (libavcodec, libavformat, libavutil, libswscale)
are under the GNU LGPL 2.1 or later (COPYING.LGPLv2.1, LICENSE.md); they are dynamically linked
and may be replaced by compatible builds.
EOT
bundled_now="$("$PYTHON" -m zipfile -l "$wheel" | awk '{print $1}' | sed -n 's|^videotemp_o3.libs/||p')"
if echo "$bundled_now" | grep -q '^libdav1d'; then
  dav1d_doc="$(ls -d /usr/share/doc/libdav1d*/copyright 2>/dev/null | head -1 || true)"
  [ -n "$dav1d_doc" ] || die "libdav1d is bundled but its copyright file (/usr/share/doc/libdav1d*/copyright) is missing"
  mkdir -p "$lic/dav1d"; cp "$dav1d_doc" "$lic/dav1d/copyright"
fi
if echo "$bundled_now" | grep -q '^libz'; then
  mkdir -p "$lic/zlib"; cp /usr/share/doc/zlib1g/copyright "$lic/zlib/copyright"
fi
"$PYTHON" - "$wheel" "$lic" <<'EOPY'
import base64, hashlib, os, sys, zipfile
from pathlib import Path

wheel, lic = Path(sys.argv[1]), Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    items = [(i, z.read(i)) for i in z.infolist()]
dist_info = next(i.filename.split("/")[0] for i, _ in items if i.filename.endswith(".dist-info/METADATA"))
added = {f"{dist_info}/licenses/{p.relative_to(lic).as_posix()}": p.read_bytes() for p in sorted(lic.rglob("*")) if p.is_file()}
out, record = [], []
for info, data in items:
    name = info.filename
    if name == f"{dist_info}/RECORD" or name in added:
        continue
    if name == f"{dist_info}/METADATA":
        head, sep, body = data.decode().partition("\n\n")
        head = "\n".join(l for l in head.splitlines() if not l.startswith("License-File: "))
        head += "".join(f"\nLicense-File: {n.split('/licenses/', 1)[1]}" for n in added)
        data = (head + sep + body).encode()
    out.append((info, data))
out += [(zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0)), d) for n, d in added.items()]
tmp = wheel.with_suffix(".tmp")
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
    for info, data in out:
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{info.filename},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    z.writestr(zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0)), "\n".join(record) + "\n")
os.replace(tmp, wheel)
print("licences added: " + ", ".join(n.split("/licenses/", 1)[1] for n in added))
EOPY
rm -rf "$lic"

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
for f in ffmpeg/COPYING.LGPLv2.1 ffmpeg/BUILD.txt; do
  [ -f "$tmp"/videotemp_o3-*.dist-info/licenses/$f ] || die "licence file $f missing from the wheel"
done
if echo "$bundled" | grep -q '^libdav1d'; then
  [ -f "$tmp"/videotemp_o3-*.dist-info/licenses/dav1d/copyright ] || die "dav1d's licence is missing from the wheel"
fi
grep -q '^License-File: ffmpeg/COPYING.LGPLv2.1' "$tmp"/videotemp_o3-*.dist-info/METADATA || die "METADATA lists no License-File"
say "wheel: $wheel ($(size_mb "$wheel"), $unpacked unpacked)"
say "  FFmpeg $upstream_version (Debian $deb_version), AV1: $AV1"
say "  _core NEEDED: $(echo $needed)"
say "  _core RUNPATH: $rpath"
say "  bundled: $(echo $bundled)"
say "  decoders: ${DECODERS[*]}$(pkg-config --exists dav1d && echo ' libdav1d(av1)')"
say "  demuxers: ${DEMUXERS[*]}"
say "  muxers: ${MUXERS[*]}; protocol: file"
say "  licences: $(cd "$tmp"/videotemp_o3-*.dist-info/licenses && find . -type f | sed 's|^./||' | sort | tr '\n' ' ')"
for w in $before; do [ "$w" = "$wheel" ] || say "  (older wheel left in dist/: $w)"; done
