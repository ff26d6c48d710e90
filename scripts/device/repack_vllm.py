#!/usr/bin/env python3
"""Repack vLLM's wheel without the kernels that serving Qwen2.5-VL on an H100 never loads.

    python3 scripts/device/repack_vllm.py vllm-0.26.0-cp38-abi3-manylinux_2_28_x86_64.whl OUT_DIR

The GPU machine takes at most 64 MiB per call, and vLLM 0.26's wheel is 289 MiB. What is left
out (sizes compressed, as in the 0.26.0 wheel), and why nothing of it is loaded when the server
runs with ``--attention-backend TRITON_ATTN --mm-encoder-attn-backend TORCH_SDPA`` (the flags
scripts/device/serve_7b.sh passes):

* ``vllm_flash_attn/_vllm_fa2_C`` (124 MiB): the FlashAttention 2 build; only the FLASH_ATTN
  backends call into it. The FlashAttention 3 build (``_vllm_fa3_C``, 37 MiB) is *kept*: on a
  CUDA machine ``vllm_flash_attn/__init__`` raises ImportError unless one of the two is present,
  and ``layers/attention/mm_encoder_attention.py`` imports it whatever backend is chosen (found
  on the GPU machine: an import check without CUDA does not take that path). FA3 is the build
  for Hopper (H100/H200). The package's Python files stay: the vision tower's rotary embedding
  uses its Triton kernel (``vllm_flash_attn/ops/triton/rotary.py``).
* ``_moe_C_stable_libtorch`` (39 MiB): fused-MoE kernels; ``CudaPlatform.import_kernels``
  imports it under ``contextlib.suppress(ImportError)``; Qwen2.5-VL is a dense model.
* ``vllm-rs`` (15 MiB): the Rust front end, started only with ``VLLM_USE_RUST_FRONTEND=1``.
* ``third_party/deep_gemm`` (6 MiB): FP8 GEMMs, imported by ``utils/deep_gemm.py`` inside
  ``try`` (bf16 never asks); ``third_party/fmha_sm100`` (4 MiB): Blackwell-only attention of
  MiniMax-M3.

Kept: ``_C_stable_libtorch`` (55 MiB; the core ops: RMSNorm, activations, KV-cache writes,
sampling helpers), the small quantisation and MLA extensions, all Python.
The result keeps the wheel's name and version (pip installs it as vLLM 0.26.0); its RECORD lists
exactly the files it holds, and ``vllm/REPACKED.txt`` names what was removed. Deterministic:
the same input gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zipfile
from pathlib import Path

LEFT_OUT = (
    # (member path prefix, why) — the module docstring has the long form
    ("vllm/vllm_flash_attn/_vllm_fa2_C.", "FlashAttention 2 build (FLASH_ATTN backends only)"),
    ("vllm/_moe_C_stable_libtorch.", "fused-MoE kernels (import suppressed; dense model)"),
    ("vllm/vllm-rs", "Rust front end (VLLM_USE_RUST_FRONTEND=1 only)"),
    ("vllm/third_party/deep_gemm/", "DeepGEMM FP8 kernels (optional import)"),
    ("vllm/third_party/fmha_sm100/", "Blackwell attention of MiniMax-M3"),
)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def repack(src: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / src.name
    if dst.resolve() == src.resolve():
        raise SystemExit(f"repack_vllm: OUT_DIR must differ from the wheel's folder ({src.parent})")
    removed: dict[str, list[tuple[str, int]]] = {why: [] for _, why in LEFT_OUT}
    with zipfile.ZipFile(src) as zin:
        names = zin.namelist()
        record_name = next((n for n in names if n.endswith(".dist-info/RECORD")), None)
        if record_name is None or not any(n.startswith("vllm/") for n in names):
            raise SystemExit(f"repack_vllm: {src} is not a vLLM wheel (no vllm/ or no RECORD)")
        kept: list[zipfile.ZipInfo] = []
        for info in zin.infolist():
            why = next((w for prefix, w in LEFT_OUT if info.filename.startswith(prefix)), None)
            if why is None:
                kept.append(info)
            else:
                removed[why].append((info.filename, info.compress_size))
        if not removed[LEFT_OUT[0][1]]:
            raise SystemExit(f"repack_vllm: {src} has no {LEFT_OUT[0][0]}*: not the wheel this "
                             "script was written for (check LEFT_OUT against its contents)")
        note = ["vLLM wheel repacked by VideoTemp-o3 scripts/device/repack_vllm.py; left out:"]
        for why, files in removed.items():
            for name, size in files:
                note.append(f"{name}\t{size} bytes compressed\t{why}")
        note_bytes = ("\n".join(note) + "\n").encode()
        record_lines = []
        tmp = dst.with_suffix(".partial")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zout:
            for info in kept:
                if info.filename == record_name:
                    continue
                data = zin.read(info)
                zi = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
                zi.external_attr = info.external_attr
                zi.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(zi, data)
                if not info.filename.endswith("/"):
                    record_lines.append(f"{info.filename},{_record_hash(data)},{len(data)}")
            zi = zipfile.ZipInfo("vllm/REPACKED.txt", date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, note_bytes, zipfile.ZIP_DEFLATED)
            record_lines.append(f"vllm/REPACKED.txt,{_record_hash(note_bytes)},{len(note_bytes)}")
            record_lines.append(f"{record_name},,")
            zi = zipfile.ZipInfo(record_name, date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, "\n".join(record_lines) + "\n", zipfile.ZIP_DEFLATED)
        tmp.replace(dst)
    saved = sum(size for files in removed.values() for _, size in files)
    print(f"repack_vllm: {src.name}: {src.stat().st_size / 2**20:.1f} MiB -> "
          f"{dst.stat().st_size / 2**20:.1f} MiB ({saved / 2**20:.1f} MiB of kernels left out)")
    for why, files in removed.items():
        print(f"  - {sum(s for _, s in files) / 2**20:6.1f} MiB  {why} ({len(files)} files)")
    return dst


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    src = Path(argv[0])
    if not src.is_file():
        print(f"repack_vllm: no such wheel: {src}", file=sys.stderr)
        return 2
    repack(src, Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
