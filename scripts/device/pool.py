#!/usr/bin/env python3
"""The GPU machine's side of scripts/device/stage.py: receive carried chunks, install stacks.

    python3 scripts/device/pool.py receive            # in each call that carries a chunk
    python3 scripts/device/pool.py status             # what has arrived, what each stack lacks
    source scripts/device/install.sh STACK            # = eval "$(pool.py install STACK)"

``receive`` checks every file of each carried chunk folder (``.whl/c*``) against its SHA-256 and
copies it into the pool (``/tmp/pool``, kept while the machine stays warm; ``VIDEOTEMP_POOL``
overrides), then puts together files whose parts have all arrived. It prints, per stack, what
is still missing and in which chunk.

``install STACK`` installs the stack's wheels with ``pip install --no-index --no-deps --target
/tmp/site-STACK`` (the device tool's recipe; skipped when that exact list is installed already),
unpacks ``media.tar`` to ``/tmp/videotemp-media`` (the path the carried data files name), and
prints the shell lines that put the stack first on ``PYTHONPATH`` and its commands (``swift``,
``vllm``, ``deepspeed``) first on ``PATH``, set ``PYTHON=python3`` for the repository's scripts
(which otherwise look for a .venv), keep the machine's NVLink-multicast switches off (KINDS.md)
and the hubs offline. Messages go to stderr; a missing file is named with the chunk that
carries it, and nothing is installed then (exit status 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POOL = Path(os.environ.get("VIDEOTEMP_POOL", "/tmp/pool"))
SITE_ROOT = Path(os.environ.get("VIDEOTEMP_SITE_ROOT", "/tmp"))
MEDIA_DIR = Path(os.environ.get("VIDEOTEMP_MEDIA", "/tmp/videotemp-media"))
# Shared GPUs of the multi-GPU hosts: NVLink multicast stays off in every process (KINDS.md).
SAFE_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
               "TRL_EXPERIMENTAL_SILENCE": "1", "PYTHONUNBUFFERED": "1"}


def log(msg: str) -> None:
    print(f"[pool] {msg}", file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest() -> dict:
    path = POOL / "pool.json"
    if not path.is_file():
        raise SystemExit("[pool] no chunk has been received yet: carry .whl/c1 and run "
                         "`python3 scripts/device/pool.py receive` (scripts/device/PLAN.md)")
    return json.loads(path.read_text())


def assemble(man: dict) -> None:
    """Join every file whose parts are all in the pool; check it against the manifest."""
    for name, info in man["files"].items():
        target = POOL / name
        if target.is_file():
            continue
        pieces = man["pieces"].get(name, [name])
        if pieces == [name]:
            continue
        parts = [POOL / p for p in pieces]
        if not all(p.is_file() for p in parts):
            continue
        tmp = target.with_name(target.name + ".joining")
        with open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        if sha256(tmp) != info["sha256"]:
            tmp.unlink()
            raise SystemExit(f"[pool] {name}: its {len(parts)} parts do not join into the staged file "
                             "(SHA-256 differs): stage again (scripts/device/stage.py) and resend")
        tmp.replace(target)
        for p in parts:
            p.unlink()
        log(f"joined {name} from {len(parts)} parts")


def missing(man: dict, stack: str) -> list[str]:
    names = list(man["stacks"][stack])
    if man.get("media"):
        names.append(man["media"])
    return [n for n in names if not (POOL / n).is_file()]


def describe_missing(man: dict, names: list[str]) -> str:
    """Each missing file with the chunk(s) still to carry for it (its pieces not yet received)."""
    out = []
    for n in names:
        todo = sorted({man["chunk_of"].get(p, 0) for p in man["pieces"].get(n, [n]) if not (POOL / p).is_file()})
        out.append(f"{n} (chunk {'/'.join(f'c{c}' if c else '?' for c in todo)})")
    return ", ".join(out)


def receive(folders: list[Path]) -> int:
    if not folders:
        folders = sorted((REPO / ".whl").glob("c[0-9]*"), key=lambda p: int(p.name[1:]))
    folders = [f for f in folders if (f / "chunk.json").is_file()]
    if not folders:
        log("no chunk folder here (.whl/c*/chunk.json): name one in the call's carry")
        return 2
    POOL.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        listing = json.loads((folder / "chunk.json").read_text())
        got = 0
        for name, info in listing["files"].items():
            dst = POOL / name
            if dst.is_file() and dst.stat().st_size == info["size"]:
                got += 1
                continue
            src = folder / name
            if not src.is_file() or sha256(src) != info["sha256"]:
                log(f"{folder.name}/{name}: missing or damaged in transit (SHA-256 differs): carry the chunk again")
                return 1
            tmp = dst.with_name(dst.name + ".copying")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
            got += 1
        shutil.copyfile(folder / "pool.json", POOL / "pool.json")
        log(f"{folder.name} (chunk {listing['chunk']} of {listing['of']}): {got} files in {POOL}")
    man = manifest()
    assemble(man)
    return status(man)


def status(man: dict | None = None) -> int:
    man = man or manifest()
    for stack in sorted(man["stacks"]):
        lack = missing(man, stack)
        log(f"stack {stack}: " + ("complete" if not lack else f"{len(lack)} files to come: "
                                  + describe_missing(man, lack)))
    extra = man.get("extra") or []
    if extra:
        lack = [n for n in extra if not (POOL / n).is_file()]
        log(f"other files ({', '.join(extra)}): " + ("all here, in " + str(POOL) if not lack
                                                       else "to come: " + describe_missing(man, lack)))
    return 0


def overlay_package(site: Path) -> None:
    """The carried working tree's Python package over the wheel's, keeping the wheel's compiled
    extension: a Python fix made after staging reaches the machine with the next call's working
    tree, without building and carrying the wheel again (only a change to crates/ needs that)."""
    repo_pkg = Path(__file__).resolve().parents[2] / "python" / "videotemp_o3"
    site_pkg = site / "videotemp_o3"
    if not (repo_pkg.is_dir() and site_pkg.is_dir()):
        return
    shutil.copytree(repo_pkg, site_pkg, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("_core*.so", "__pycache__", "*.pyc"))
    log(f"package sources from {repo_pkg} over the wheel's (its compiled extension kept)")


def install(stack: str) -> int:
    man = manifest()
    if stack not in man["stacks"]:
        log(f"unknown stack {stack!r}; staged: {', '.join(sorted(man['stacks']))}")
        return 2
    assemble(man)
    lack = missing(man, stack)
    if lack:
        log(f"stack {stack} is not complete; still to carry: {describe_missing(man, lack)}")
        return 2
    site = SITE_ROOT / f"site-{stack}"
    wheels = [POOL / n for n in man["stacks"][stack]]
    stamp = hashlib.sha256("\n".join(man["files"][n]["sha256"] for n in man["stacks"][stack]).encode()).hexdigest()
    marker = site / ".videotemp-installed"
    if not (marker.is_file() and marker.read_text().strip() == stamp):
        shutil.rmtree(site, ignore_errors=True)
        log(f"installing {len(wheels)} wheels of stack {stack} into {site} ...")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "--root-user-action=ignore", "--no-index", "--no-deps", "--no-compile",
                            "--no-cache-dir", "--target", str(site), *map(str, wheels)],
                           stdout=sys.stderr)
        if r.returncode:
            log(f"pip install of stack {stack} failed (exit {r.returncode})")
            return 1
        marker.write_text(stamp + "\n")
    else:
        log(f"stack {stack} already installed in {site}")
    overlay_package(site)
    media = man.get("media")
    if media:
        media_stamp = man["files"][media]["sha256"]
        mark = MEDIA_DIR / ".videotemp-media"
        if not (mark.is_file() and mark.read_text().strip() == media_stamp):
            shutil.rmtree(MEDIA_DIR, ignore_errors=True)
            MEDIA_DIR.mkdir(parents=True)
            with tarfile.open(POOL / media) as tar:
                tar.extractall(MEDIA_DIR, filter="data")
            mark.write_text(media_stamp + "\n")
            log(f"media unpacked to {MEDIA_DIR}")
    env = {"PYTHONPATH": f"{site}" + (f":{os.environ['PYTHONPATH']}" if os.environ.get("PYTHONPATH") else ""),
           "PATH": f"{site}/bin:{os.environ.get('PATH', '')}", "PYTHON": "python3",
           "VIDEOTEMP_STACK": stack, "VIDEOTEMP_MEDIA": str(MEDIA_DIR), **SAFE_ENV, **OFFLINE_ENV}
    for k, v in env.items():
        print(f"export {k}={shlex.quote(v)}")
    log(f"stack {stack} ready: PYTHONPATH={site}")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("receive", "status", "install"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    if argv[0] == "receive":
        return receive([Path(a) for a in argv[1:]])
    if argv[0] == "status":
        return status()
    if len(argv) != 2:
        log("usage: pool.py install STACK")
        return 2
    return install(argv[1])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
