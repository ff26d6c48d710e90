#!/usr/bin/env python3
"""Stand-in for the GPU machine's Python, here: find what a stack must carry, without device time.

    # once: a scratch venv that holds the image's heavy packages (torch 2.11, ...) and more, e.g.
    #   python3 -m venv /tmp/full && /tmp/full/bin/pip install vllm==0.26.0 transformers==5.17.0 ...
    /tmp/full/bin/python scripts/device/image_env.py link /work/shared/gpu-machine/pip-list.txt /tmp/img
    # then, for a candidate stack installed with `pip install --no-deps --target /tmp/site WHEELS`:
    /tmp/img/bin/python scripts/device/image_env.py imports /tmp/site vllm.entrypoints.openai.api_server ...

``link`` (run with the scratch venv's python) makes ``OUT/site`` hold links to exactly the
distributions of the image's ``pip list`` that the scratch venv has (the image's versions where
the venv was made so), and ``OUT/bin/python`` a bare interpreter that sees only them; it lists the
image's packages the venv lacks (install those into the venv and link again when an import needs
one). ``imports SITE MODULE...`` (run with ``OUT/bin/python``) puts SITE first on the path,
imports each module and prints, per failure, the missing module and the distribution of the
scratch venv that provides it — the next wheel to add to the stack. Exit status 0 when all import.

Modules that load CUDA libraries at import (vLLM's ``platforms.cuda``, its extensions) need a
``libcuda.so.1`` on the loader path: ``--stub-cuda`` builds one here whose functions return an
error code (imports succeed; nothing may call it), from the symbols the stack's ``.so`` files need.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def link(pip_list: Path, out: Path) -> int:
    image = {}
    for line in pip_list.read_text().splitlines():
        if "==" in line:
            name, version = line.strip().split("==", 1)
            image[norm(name)] = version
    site = out / "site"
    site.mkdir(parents=True, exist_ok=True)
    for entry in site.iterdir():
        if entry.is_symlink():
            entry.unlink()
    have = {}
    for dist in md.distributions():
        name = norm(dist.metadata["Name"])
        if name not in image:
            continue
        have[name] = dist.version
        base = Path(dist.locate_file(""))
        for top in {Path(f).parts[0] for f in dist.files or [] if Path(f).parts and Path(f).parts[0] != ".."}:
            if (base / top).exists() and not (site / top).exists():
                os.symlink(base / top, site / top)
    # A bare interpreter (no packages of its own) that adds OUT/site as a site directory.
    if not (out / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(out)], check=True)
    purelib = subprocess.run([str(out / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "image_env.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    missing = sorted(n for n in image if n not in have)
    differ = sorted(f"{n} (image {image[n]}, here {have[n]})" for n in have if have[n] != image[n])
    print(f"linked {len(have)} of the image's {len(image)} distributions into {site}; python: {out}/bin/python")
    if missing:
        print(f"the image's packages this venv lacks ({len(missing)}): {' '.join(missing)}")
    if differ:
        print(f"at other versions here ({len(differ)}): {', '.join(differ)}")
    return 0


def stub_cuda(site: Path, out: Path) -> Path:
    """libcuda.so.1 exporting every cu* symbol the .so files under ``site`` need (each returns 999)."""
    symbols = set()
    for so in site.rglob("*.so"):
        r = subprocess.run(["nm", "-D", "--undefined-only", str(so)], capture_output=True, text=True)
        symbols |= {line.split()[-1].split("@")[0] for line in r.stdout.splitlines()
                    if re.match(r"^\s*U cu[A-Z]", line)}
    out.mkdir(parents=True, exist_ok=True)
    src = out / "stub.c"
    src.write_text("".join(f"int {s}(void) {{ return 999; }}\n" for s in sorted(symbols)))
    subprocess.run(["cc", "-shared", "-o", str(out / "libcuda.so.1"), str(src)], check=True)
    return out


def imports(site: Path, modules: list[str], scratch_python: str | None) -> int:
    sys.path.insert(0, str(site))
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
            print(f"ok    {name}")
        except BaseException as e:  # noqa: BLE001 — every failure is reported
            failed.append((name, e))
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL  {name}: {type(e).__name__}: {e}  ({where.filename}:{where.lineno})")
    lacking = sorted({e.name.split(".")[0] for _, e in failed if isinstance(e, ModuleNotFoundError) and e.name})
    if lacking and scratch_python:
        r = subprocess.run([scratch_python, "-c", "import importlib.metadata as m, sys; d = m.packages_distributions(); "
                            "print('\\n'.join(f'{x} -> {\",\".join(d.get(x, [\"?\"]))}' for x in sys.argv[1:]))", *lacking],
                           capture_output=True, text=True)
        print("missing modules -> distributions of the scratch venv:\n" + r.stdout)
    elif lacking:
        print("missing modules: " + " ".join(lacking))
    return 1 if failed else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    lk = sub.add_parser("link")
    lk.add_argument("pip_list", type=Path)
    lk.add_argument("out", type=Path)
    im = sub.add_parser("imports")
    im.add_argument("site", type=Path)
    im.add_argument("modules", nargs="+")
    im.add_argument("--scratch-python", help="the scratch venv's python, to name the distribution of a missing module")
    im.add_argument("--stub-cuda", type=Path, metavar="DIR", help="build a stub libcuda.so.1 in DIR and use it")
    a = ap.parse_args(argv)
    if a.cmd == "link":
        return link(a.pip_list, a.out)
    if a.stub_cuda and os.environ.get("_IMAGE_ENV_STUB") != "1":
        stub = stub_cuda(a.site, a.stub_cuda)
        env = dict(os.environ, LD_LIBRARY_PATH=f"{stub}:{os.environ.get('LD_LIBRARY_PATH', '')}", _IMAGE_ENV_STUB="1")
        return subprocess.run([sys.executable, *sys.argv], env=env).returncode
    return imports(a.site, a.modules, a.scratch_python)


if __name__ == "__main__":
    raise SystemExit(main())
