#!/usr/bin/env bash
# Checks that the wheel built by scripts/build_wheel.sh stands alone and decodes like the
# developer install:
#   1. installs dist/videotemp_o3-*.whl (newest) with numpy into a fresh venv (WHEELTEST_VENV,
#      default /tmp/wheeltest; pip needs PyPI for numpy/tqdm/pillow);
#   2. `ldd` on the installed _core*.so: every libav*/libsw*/libdav1d must resolve into
#      videotemp_o3.libs/, none into the system;
#   3. makes test videos with the system `ffmpeg` CLI (through videotemp_o3.testing.videos in
#      .venv): H.264 with B-frames in mp4, HEVC in mkv, VP9 in webm, AV1 in mkv (when the wheel
#      has libdav1d and the CLI an AV1 encoder), MPEG-4 part 2 in avi, FFV1 (RGB, the training
#      clips' codec) in mkv;
#   4. in the wheel's venv (LD_LIBRARY_PATH empty, cwd outside the repo) and in .venv (the
#      editable install on the system FFmpeg): VideoReader(path).clip(1.0, 3.0), save_clip(1.0,
#      3.0, clip.mp4) and every frame of that clip; the wheel's process must map FFmpeg only from
#      videotemp_o3.libs (read from /proc/self/maps);
#   5. compares: frames, timestamps and indices must be identical.
# Exit status 0 only when every check passes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${WHEELTEST_VENV:-/tmp/wheeltest}"
DEV_PY="${DEV_PYTHON:-$ROOT/.venv/bin/python}"
BASE_PY="${PYTHON:-python3}"

say() { printf '\033[1m[check_wheel]\033[0m %s\n' "$*"; }
die() { printf '[check_wheel] FAIL: %s\n' "$*" >&2; exit 1; }

wheel="$(ls -t dist/videotemp_o3-*.whl 2>/dev/null | head -1 || true)"
[ -n "$wheel" ] || die "no wheel in dist/ (run scripts/build_wheel.sh)"
[ -x "$DEV_PY" ] || die "no developer install at $DEV_PY (run scripts/setup.sh)"
command -v ffmpeg >/dev/null || die "the ffmpeg CLI is needed to make the test videos"

# --- 1. fresh venv with the wheel ---------------------------------------------------------------
say "fresh venv $VENV with $wheel ($(du -h "$wheel" | cut -f1))"
rm -rf "$VENV"
"$BASE_PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$ROOT/$wheel" numpy

work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"   # nothing of the repo on sys.path

# --- 2. ldd -------------------------------------------------------------------------------------
core="$("$VENV/bin/python" -c 'import importlib.util as u; print(u.find_spec("videotemp_o3._core").origin)')"
say "ldd $core"
ldd_out="$(env LD_LIBRARY_PATH= ldd "$core")"
echo "$ldd_out" | sed 's/^/    /'
ffmpeg_lines="$(echo "$ldd_out" | grep -E 'lib(av|sw|dav1d)' || true)"
[ -n "$ffmpeg_lines" ] || die "ldd shows no FFmpeg library at all"
bad="$(echo "$ffmpeg_lines" | grep -v 'videotemp_o3.libs/' || true)"
[ -z "$bad" ] || die "FFmpeg libraries resolved outside the wheel: $bad"
echo "$ldd_out" | grep -q 'not found' && die "unresolved libraries"

# --- 3. test videos -----------------------------------------------------------------------------
cat >"$work/make_videos.py" <<'EOF'
import sys
from pathlib import Path
from videotemp_o3.testing import videos as V

out = Path(sys.argv[1])
V.CODECS.setdefault("mpeg4", ("mpeg4", {"bf": 2, "q:v": 3, "pix_fmt": "yuv420p"}))
V.CODECS.setdefault("ffv1", ("ffv1", {"pix_fmt": "bgr0"}))  # the training clips' codec
# (No MPEG-TS: the reader fails to decode the first GOP of a .ts, in both installs alike.)
specs = [("h264.mp4", "h264"), ("hevc.mkv", "hevc"), ("vp9.webm", "vp9"), ("mpeg4.avi", "mpeg4"),
         ("ffv1.mkv", "ffv1")]
if sys.argv[2] == "1" and V.use_available_av1_encoder():
    specs.append(("av1.mkv", "av1"))
for name, codec in specs:
    # 5 s at 30 fps, 2 s GOPs; 144x256 is below the budget's min_pixels, so clip() resizes.
    V.make_indexed_video(out / name, frames=150, fps=30.0, size=(144, 256), codec=codec, gop=60)
    print(name)
EOF
has_dav1d=0; ls "$(dirname "$core")/../videotemp_o3.libs/" | grep -q '^libdav1d' && has_dav1d=1
mkdir -p "$work/videos"
say "making test videos with $(ffmpeg -version | head -1 | cut -d' ' -f1-3)"
"$DEV_PY" "$work/make_videos.py" "$work/videos" "$has_dav1d" | sed 's/^/    /'

# --- 4. decode with both installs ---------------------------------------------------------------
cat >"$work/decode.py" <<'EOF'
import hashlib, json, os, sys
from pathlib import Path
import numpy as np
import videotemp_o3
from videotemp_o3.video import VideoReader
from videotemp_o3.testing.videos import read_index

videos, out, label = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
out.mkdir(parents=True, exist_ok=True)
print(f"[{label}] videotemp_o3 from {os.path.dirname(videotemp_o3.__file__)}")
summary = {}
for src in sorted(videos.iterdir()):
    r = VideoReader(src)
    c = r.clip(1.0, 3.0)
    # mp4 for all, but FFV1, which the mp4 muxer does not take: Matroska.
    saved = out / (src.stem + ("_clip.mkv" if r.metadata.codec == "ffv1" else "_clip.mp4"))
    span = r.save_clip(1.0, 3.0, saved)
    s = VideoReader(saved)
    every = s.frames_at_indices(range(s.num_frames))
    # The spelled index of each frame survives coding, so a frame decoded in the wrong place
    # shows; reported (it is a decoder-layer matter, the same in both installs), the comparison
    # between the installs is what passes or fails this check.
    wrong = []
    spelled = [read_index(f) for f in c.frames]
    if spelled != c.indices.tolist():
        wrong.append(f"clip(): spelled {spelled} for indices {c.indices.tolist()}")
    first = int(round(span[0] * r.metadata.avg_fps))
    spelled_saved = [read_index(f) for f in every.frames]
    if spelled_saved != list(range(first, first + len(every))):
        bad = [(i, v) for i, v in enumerate(spelled_saved) if v != first + i]
        wrong.append(f"saved clip: {len(bad)} of {len(every)} frames wrong, (index, spelled) {bad[:4]}{' ...' if len(bad) > 4 else ''}")
    np.savez(out / (src.stem + ".npz"), clip=c.frames, ts=c.timestamps, idx=c.indices,
             saved=every.frames, saved_ts=every.timestamps, span=np.array(span))
    summary[src.name] = dict(codec=r.metadata.codec, clip=list(c.frames.shape), indices=[int(c.indices[0]), int(c.indices[-1])],
                             saved_span=[round(x, 3) for x in span], saved_frames=len(every),
                             saved_sha256=hashlib.sha256(saved.read_bytes()).hexdigest()[:16], wrong=wrong)
    for line in wrong:
        print(f"[{label}] WARNING {src.name}: {line}")
    print(f"[{label}] {src.name}: {r.metadata.codec}, clip {tuple(c.frames.shape)} frames {c.indices[0]}..{c.indices[-1]}, "
          f"save_clip -> {saved.name} {span[0]:.3f}-{span[1]:.3f} s, {len(every)} frames")
maps = [l.split()[-1] for l in open("/proc/self/maps") if l.rstrip().endswith((".so",)) or ".so." in l]
libs = sorted({m for m in maps if any(k in os.path.basename(m) for k in ("libavcodec", "libavformat", "libavutil", "libswscale", "libswresample", "libdav1d"))})
summary["_ffmpeg_mapped"] = libs
(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(f"[{label}] FFmpeg libraries mapped: " + ", ".join(libs))
EOF
say "decoding with the wheel (LD_LIBRARY_PATH empty)"
env LD_LIBRARY_PATH= PYTHONPATH= "$VENV/bin/python" "$work/decode.py" "$work/videos" "$work/wheel" wheel
say "decoding with the developer install ($DEV_PY)"
env PYTHONPATH= "$DEV_PY" "$work/decode.py" "$work/videos" "$work/dev" dev

# --- 5. compare ---------------------------------------------------------------------------------
say "comparing"
"$DEV_PY" - "$work" "$VENV" <<'EOF'
import json, sys
from pathlib import Path
import numpy as np
work, venv = Path(sys.argv[1]), sys.argv[2]
ok = True
w = json.loads((work / "wheel/summary.json").read_text())
d = json.loads((work / "dev/summary.json").read_text())
mapped = w.pop("_ffmpeg_mapped"); d.pop("_ffmpeg_mapped")
outside = [m for m in mapped if "/videotemp_o3.libs/" not in m or not m.startswith(venv)]
if outside or not mapped:
    ok = False; print("    FAIL: the wheel's process mapped FFmpeg from outside the wheel:", outside or "nothing")
for npz in sorted((work / "wheel").glob("*.npz")):
    a, b = np.load(npz), np.load(work / "dev" / npz.name)
    same = {k: (a[k].shape == b[k].shape and np.array_equal(a[k], b[k])) for k in a.files}
    name = npz.stem
    file_same = [k for k, v in w.items() if k.startswith(name + ".")]
    bytes_same = all(w[k]["saved_sha256"] == d[k]["saved_sha256"] for k in file_same)
    status = "identical" if all(same.values()) else "DIFFERENT " + str([k for k, v in same.items() if not v])
    ok &= all(same.values())
    print(f"    {name}: clip {a['clip'].shape}, saved clip {a['saved'].shape}: {status}"
          f"; saved file bytes {'identical' if bytes_same else 'differ (Matroska writes random UIDs; frames compared above)'}")
    for k in file_same:
        if w[k]["wrong"] or d[k]["wrong"]:
            print(f"      note: wrong frames, wheel {w[k]['wrong']} / developer install {d[k]['wrong']}")
sys.exit(0 if ok else 1)
EOF
say "PASS: $wheel stands alone and decodes exactly like the developer install"
