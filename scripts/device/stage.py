#!/usr/bin/env python3
"""Stage everything the GPU machine needs as numbered chunks, each small enough for one call.

    python3 scripts/device/stage.py [--out DIR] [--stacks train,latest,bench] [--extra FILE ...]

The GPU machine has no network and takes at most 64 MiB per call (the working tree included),
so wheels and test media travel as a *pool* of files split over chunks ``DIR/c1``, ``DIR/c2``,
… (default DIR: ``.whl`` of this checkout, which git ignores). Each call carries one chunk and
runs ``bash scripts/device/receive.sh``, which checks every file against its SHA-256 and keeps
it in ``/tmp/pool`` (the machine keeps ``/tmp`` while it stays warm). Once all chunks are there,
``source scripts/device/install.sh STACK`` installs one *stack* — a list of pool files — into
``/tmp/site-STACK`` (scripts/device/pool.py does both). A file is carried once even when several
stacks use it; a file larger than a chunk travels in parts and is put back together there.

Stacks (what each is for; the lists below say why each package is there):

``train``
    The release's stack: ms-swift 3.10.3 with transformers 4.57.1 and trl 0.24, DeepSpeed,
    PyAV, our wheel — SFT and GRPO without vLLM (scripts/device/train_smoke.sh, the miniature
    SFT -> GRPO reproduction, sft/sft.sh under ZeRO-2/3).
``latest``
    Today's stack: ms-swift 4.6 on the image's transformers 5.17 and torch 2.11, vLLM 0.26
    (repacked without unused kernels: scripts/device/repack_vllm.py), DeepSpeed, PyAV,
    decord, our wheel — `vllm serve`, `swift deploy`, `swift rollout` + `swift rlhf`.
``bench``
    Video decoding on the machine: our wheel and the peers that run there (PyAV, decord,
    qwen-vl-utils).
``media`` (a file, not a stack: ``media.tar``)
    Test videos, reference decodes, SFT and RL data (scripts/device/make_media.py), and the
    long 720p videos of the serving benchmark; unpacked to /tmp/videotemp-media.

Everything the machine's image already holds at a usable version is left out (the image's
package list: /work/shared/gpu-machine/pip-list.txt as read on the machine; KINDS.md). What
each stack imports was found by importing its entry points (vllm serve, the Qwen2.5-VL model,
the V1 engine core and GPU worker, swift sft/rlhf/rollout/deploy, DeepSpeed) in an environment
holding only the image's packages plus the stack (see scripts/device/PLAN.md, "How the lists
were found").

Downloads are cached (``--cache``, default target/device-cache) and our own wheel comes from
``dist/`` (scripts/build_wheel.sh). Prints the size of each chunk with the working tree
and fails when one would not fit a call.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

# The pool's own checksum (pool.py, next to this script, checks what this one writes).
from pool import sha256

REPO = Path(__file__).resolve().parents[2]
REPACK = REPO / "scripts/device/repack_vllm.py"
CALL_LIMIT = 64 * 2**20

# --- what each stack holds --------------------------------------------------------------------
# Shared by the training stacks: ms-swift's own imports at start-up and the video readers.
COMMON = [
    # ms-swift imports modelscope at start-up; modelscope-hub imports cryptography
    "modelscope==1.40.2", "modelscope-hub==0.5.1", "cryptography==50.0.2", "cffi==2.1.1", "pycparser==3.12",
    # swift's protocol classes and DeepSpeed's config are pydantic models
    "pydantic==2.14.4", "pydantic-core==2.50.5", "annotated-types==0.8.0", "typing-inspection==0.4.5",
    # imported by ms-swift's utils / GRPO rollout code; declared, tiny
    "json-repair==0.64.6", "dacite==1.9.2", "msgspec==0.22.0", "addict==2.4.0", "attrdict==2.0.1",
    "binpacking==2.0.1",
    # the video path of ms-swift's Qwen2.5-VL template: qwen-vl-utils reads videos with decord (the
    # image's torchvision 0.26 has no read_video, torchcodec needs system FFmpeg, which it lacks)
    "qwen-vl-utils==0.0.11", "decord==0.6.0",
    # PyAV (bundles its FFmpeg): the OpenAI engine's FFV1 client path and the RL clip files
    "av==18.1.0",
    # DeepSpeed is built here as a pure-Python wheel (DS_BUILD_OPS=0: ZeRO-2/3 with the torch
    # optimizer need no prebuilt op); hjson is its config reader
    "deepspeed==0.19.8", "hjson==3.1.0",
]
STACKS: dict[str, list[str]] = {
    "train": COMMON + [
        # ms-swift 3.10.3 and the versions it pins (the image has transformers 5.17,
        # huggingface-hub 1.33, tokenizers 0.23.2: transformers 4.57.1 needs hub < 1.0, tokenizers <= 0.23.0)
        "ms-swift==3.10.3", "transformers==4.57.1", "tokenizers==0.22.2", "huggingface-hub==0.36.2",
        "trl==0.24.0", "peft==0.17.1",
        # datasets < 4 (trl, ms-swift) and its pins
        "datasets==3.6.0", "fsspec==2025.3.0", "dill==0.3.8", "multiprocess==0.70.16",
        "typing-extensions==4.16.0",
    ],
    "latest": COMMON + [
        # ms-swift 4.6 on the image's transformers 5.17 / tokenizers 0.23.2 / hub 1.33; GRPO needs
        # trl >= 0.26 (swift.rlhf_trainers.arguments), ms-swift declares peft < 0.21 (image: 0.21.0)
        "ms-swift==4.6.0", "trl==0.29.1", "peft==0.20.0",
        "datasets==4.8.4", "dill==0.3.8", "multiprocess==0.70.16",
        # vLLM 0.26 (pins torch 2.11.0, the image's), repacked; then what `vllm serve` and the
        # V1 engine import that the image lacks
        "vllm==0.26.0",
        "fastapi==0.136.3", "starlette==1.10.0", "uvicorn==0.54.0", "watchfiles==1.3.0",
        "prometheus-fastapi-instrumentator==8.1.0",  # imported when the app is built
        "model-hosting-container-standards==0.1.16", "jmespath==1.1.0",  # api_server's SageMaker routes
        "openai==3.57.0", "httpx2==2.16.2", "sniffio==1.3.1",  # protocol types
        "openai-harmony==0.0.8",  # vllm.entrypoints.mcp, imported by the chat server
        "partial-json-parser==0.2.1.1.post7", "cachetools==8.0.2",
        "pyzmq==27.3.0", "cbor2==6.3.0", "pybase64==1.5.1",  # engine IPC, hashing, data: URLs
        "blake3==1.0.11",  # multimodal input hashing (the default algorithm)
        # structured-output backends: imported by the engine core's scheduler at start-up
        "xgrammar==0.2.7", "apache-tvm-ffi==0.1.10", "llguidance==1.7.6",
    ],
    "bench": ["av==18.1.0", "decord==0.6.0", "qwen-vl-utils==0.0.11"],
}
OURS = {"train", "latest", "bench"}  # stacks that get our wheel (dist/videotemp_o3-*.whl)
BUILT_HERE = {"vllm": "repacked from PyPI's wheel", "deepspeed": "built with DS_BUILD_OPS=0"}
MEDIA_NAME = "media.tar"

PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (39, 35, 34, 31, 28, 27, 26, 24, 17, 12, 5)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def say(msg: str) -> None:
    print(f"\033[1m[stage]\033[0m {msg}", flush=True)


def die(msg: str) -> None:
    print(f"[stage] error: {msg}", file=sys.stderr)
    raise SystemExit(1)


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_key(filename: str) -> tuple[str, str]:
    """(normalised distribution name, version) of a wheel file name."""
    parts = filename[:-4].split("-")
    return norm(parts[0]), parts[1]


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


# --- gathering --------------------------------------------------------------------------------

def pip_download(specs: list[str], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp", "-d", str(dest)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    r = subprocess.run(cmd + specs)
    if r.returncode:
        die(f"pip download failed for {' '.join(specs)} (a version with no cp312 manylinux wheel?)")


def find_wheel(folder: Path, spec: str) -> Path | None:
    name, version = spec.split("==")
    for w in sorted(folder.glob("*.whl")):
        if wheel_key(w.name) == (norm(name), version):
            return w
    return None


def gather_wheels(stacks: list[str], cache: Path) -> dict[str, list[Path]]:
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wanted = sorted({s for st in stacks for s in STACKS[st]})
    plain = [s for s in wanted if s.split("==")[0] not in BUILT_HERE]
    missing = [s for s in plain if find_wheel(wheels, s) is None]
    if missing:
        say(f"pip download {len(missing)} wheels (cp312, manylinux x86_64) -> {wheels}")
        # pip refuses two versions of one name in a single call, even with --no-deps
        batches: list[list[str]] = []
        for spec in missing:
            name = norm(spec.split("==")[0])
            batch = next((b for b in batches if all(norm(x.split("==")[0]) != name for x in b)), None)
            if batch is None:
                batches.append(batch := [])
            batch.append(spec)
        for batch in batches:
            pip_download(batch, wheels)
    for spec in wanted:
        name, version = spec.split("==")
        stamp = wheels / f"vllm-{version}.repacked-by"
        if name == "vllm" and (find_wheel(wheels, spec) is None
                               or not stamp.is_file() or stamp.read_text() != sha256(REPACK)):
            # A wheel repacked by an older repack_vllm.py may lack what the current one keeps
            # (the FlashAttention 3 build once was): repack again when the script changed.
            stale = find_wheel(wheels, spec)
            if stale is not None:
                stale.unlink()
            orig = cache / "orig"
            orig.mkdir(exist_ok=True)
            if find_wheel(orig, spec) is None:
                say(f"pip download {spec} (the whole wheel, to repack)")
                pip_download([spec], orig)
            subprocess.run([sys.executable, str(REPACK), str(find_wheel(orig, spec)), str(wheels)], check=True)
            stamp.write_text(sha256(REPACK))
        if name == "deepspeed" and find_wheel(wheels, spec) is None:
            say(f"building {spec} as a pure-Python wheel (DS_BUILD_OPS=0)")
            env = dict(os.environ, DS_BUILD_OPS="0", DS_ACCELERATOR="cuda")
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            spec, "-w", str(wheels)], check=True, env=env)
    out: dict[str, list[Path]] = {}
    for st in stacks:
        files = []
        for spec in STACKS[st]:
            w = find_wheel(wheels, spec)
            if w is None:
                die(f"no wheel for {spec} in {wheels}")
            files.append(w)
        out[st] = files
    return out


def our_wheel() -> Path:
    found = sorted((REPO / "dist").glob("videotemp_o3-*.whl"), key=lambda p: p.stat().st_mtime)
    if not found:
        die("no wheel of ours in dist/: run scripts/build_wheel.sh first")
    return found[-1]


def make_media(cache: Path, refresh: bool) -> Path:
    """media.tar: make_media.py's folder (it builds under /tmp/videotemp-media, the path the
    data files name), packed deterministically."""
    tar_path = cache / MEDIA_NAME
    folder = cache / "media"
    if refresh or not (folder / "manifest.json").is_file():
        dev_py = REPO / ".venv/bin/python"
        if not dev_py.exists():
            die("making the media needs the developer install (.venv: bash scripts/setup.sh)")
        shutil.rmtree(folder, ignore_errors=True)
        say("making test media (scripts/device/make_media.py)")
        subprocess.run([str(dev_py), str(REPO / "scripts/device/make_media.py"), str(folder)], check=True)
        tar_path.unlink(missing_ok=True)
    if not tar_path.exists():
        tmp = tar_path.with_suffix(".partial")
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for p in sorted(folder.rglob("*")):
                info = tar.gettarinfo(str(p), arcname=str(p.relative_to(folder)))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if p.is_file():
                    with open(p, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
        tmp.replace(tar_path)
    return tar_path


# --- packing ----------------------------------------------------------------------------------

def check_one_version(stack: str, files: list[Path]) -> None:
    seen: dict[str, str] = {}
    for f in files:
        name, version = wheel_key(f.name)
        if name in seen and seen[name] != version:
            die(f"stack {stack} holds two versions of {name}: {seen[name]} and {version}")
        seen[name] = version


def pack(files: list[Path], chunk_bytes: int) -> list[list[dict]]:
    """First-fit decreasing into chunks of at most ``chunk_bytes``; a larger file is cut into
    parts. Each entry: {"src", "name", "size", "offset"?, "part"?, "parts"?}."""
    pieces = []
    for f in files:
        size = f.stat().st_size
        if size <= chunk_bytes:
            pieces.append({"src": f, "name": f.name, "size": size})
            continue
        n = -(-size // chunk_bytes)
        step = -(-size // n)
        for k in range(n):
            off = k * step
            pieces.append({"src": f, "name": f"{f.name}.part{k + 1:02d}", "size": min(step, size - off),
                           "offset": off, "part": k + 1, "parts": n, "of": f.name})
    pieces.sort(key=lambda p: (-p["size"], p["name"]))
    chunks: list[list[dict]] = []
    room: list[int] = []
    for p in pieces:
        for i, r in enumerate(room):
            if p["size"] <= r:
                chunks[i].append(p)
                room[i] -= p["size"]
                break
        else:
            chunks.append([p])
            room.append(chunk_bytes - p["size"])
    return chunks


def describe_pieces(manifest: dict, chunks: list[list[dict]]) -> None:
    """Adds to ``manifest`` where each piece travels: ``pieces`` (file -> its pieces in order: the
    file itself, or its parts) and ``chunk_of`` (piece -> chunk number)."""
    manifest["chunk_of"], manifest["pieces"] = {}, {}
    for i, chunk in enumerate(chunks, 1):
        for p in chunk:
            manifest["chunk_of"][p["name"]] = i
    for chunk in chunks:
        for p in chunk:
            manifest["pieces"].setdefault(p.get("of", p["name"]), []).append((p.get("part", 0), p["name"]))
    manifest["pieces"] = {f: [n for _, n in sorted(v)] for f, v in manifest["pieces"].items()}


def tree_size() -> int:
    """What travels besides carried paths: tracked and untracked-not-ignored files."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, check=True).stdout
    total = 0
    for name in out.split(b"\0"):
        p = REPO / os.fsdecode(name)
        if name and p.is_file():
            total += p.stat().st_size
    return total


def write_chunks(out: Path, chunks: list[list[dict]], manifest: dict) -> list[int]:
    for old in out.glob("c[0-9]*"):
        shutil.rmtree(old)
    sizes = []
    for i, chunk in enumerate(chunks, 1):
        d = out / f"c{i}"
        d.mkdir(parents=True)
        for p in chunk:
            if "part" in p:
                with open(p["src"], "rb") as src, open(d / p["name"], "wb") as dst:
                    src.seek(p["offset"])
                    dst.write(src.read(p["size"]))
            else:
                try:
                    os.link(p["src"], d / p["name"])
                except OSError:
                    shutil.copy2(p["src"], d / p["name"])
        listing = {p["name"]: {"sha256": sha256(d / p["name"]), "size": p["size"],
                               **({"of": p["of"], "part": p["part"], "parts": p["parts"]} if "part" in p else {})}
                   for p in chunk}
        (d / "chunk.json").write_text(json.dumps({"chunk": i, "of": len(chunks), "files": listing}, indent=1))
        (d / "pool.json").write_text(json.dumps(manifest, indent=1))
        sizes.append(sum(f.stat().st_size for f in d.iterdir()))
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / ".whl"), help="where the chunk folders go (default .whl)")
    ap.add_argument("--cache", default=str(REPO / "target/device-cache"), help="download/build cache")
    ap.add_argument("--stacks", default="train,latest,bench", help="comma-separated stacks to stage")
    ap.add_argument("--no-media", action="store_true", help="leave media.tar out")
    ap.add_argument("--refresh-media", action="store_true", help="remake the media")
    ap.add_argument("--extra", action="append", default=[], metavar="FILE",
                    help="another file for the pool (e.g. a tarball of benchmark inputs): carried in the "
                         "chunks like the wheels, found on the machine as /tmp/pool/<its name>")
    ap.add_argument("--chunk-mib", type=float, default=52.0,
                    help="largest chunk (MiB); with the working tree it must stay under 64 MiB")
    a = ap.parse_args(argv)
    stacks = [s for s in a.stacks.split(",") if s]
    unknown = [s for s in stacks if s not in STACKS]
    if unknown:
        die(f"--stacks: unknown stack(s) {unknown}; choose from {sorted(STACKS)}")
    cache, out = Path(a.cache), Path(a.out)
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    per_stack = gather_wheels(stacks, cache)
    ours = our_wheel() if OURS & set(stacks) else None
    for st in stacks:
        if st in OURS:
            per_stack[st].append(ours)
        check_one_version(st, per_stack[st])
    files = sorted({f for fs in per_stack.values() for f in fs}, key=lambda p: p.name)
    if not a.no_media:
        files.append(make_media(cache, a.refresh_media))
    extras = [Path(x).resolve() for x in a.extra]
    for x in extras:
        if not x.is_file():
            die(f"--extra: no such file: {x}")
        if any(f.name == x.name for f in files):
            die(f"--extra: {x.name} is already in the pool (rename it)")
    files += extras

    manifest = {
        "stacks": {st: sorted(f.name for f in fs) for st, fs in per_stack.items()},
        "files": {f.name: {"sha256": sha256(f), "size": f.stat().st_size} for f in files},
        "media": None if a.no_media else MEDIA_NAME,
        "extra": [x.name for x in extras],
    }
    chunks = pack(files, int(a.chunk_mib * 2**20))
    describe_pieces(manifest, chunks)
    sizes = write_chunks(out, chunks, manifest)

    tree = tree_size()
    say(f"working tree that travels with every call: {mib(tree)}")
    ok = True
    for i, (chunk, size) in enumerate(zip(chunks, sizes), 1):
        total = tree + size
        verdict = "fits" if total <= CALL_LIMIT else "OVER the 64 MiB limit"
        ok &= total <= CALL_LIMIT
        say(f"c{i}: {mib(size)} in {len(chunk)} files (+ tree = {mib(total)}: {verdict}): "
            + ", ".join(p["name"].split("-")[0] + (f" part {p['part']}/{p['parts']}" if "part" in p else "")
                        for p in chunk))
    for st, fs in per_stack.items():
        say(f"stack {st}: {len(fs)} wheels, {mib(sum(f.stat().st_size for f in fs))}")
    if not a.no_media:
        say(f"{MEDIA_NAME}: {mib(manifest['files'][MEDIA_NAME]['size'])}")
    say(f"{len(chunks)} chunks, {mib(sum(sizes))} in all, under {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
