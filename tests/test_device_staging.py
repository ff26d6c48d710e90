"""The GPU-machine logistics (scripts/device/): staging into chunks, receiving and installing them,
the vLLM repack, the run summaries — everything that can run without the GPU machine.

Wheels here are real, small wheels written by the test; pip installs them for real."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEVICE = REPO / "scripts" / "device"
sys.path.insert(0, str(DEVICE))
sys.path.insert(0, str(REPO / "benches" / "gpu"))

import stage  # noqa: E402


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel: the files, METADATA, WHEEL and a RECORD with their hashes."""
    info = f"{name}-{version}.dist-info"
    members = dict(files)
    members[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    members[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{p},{record_hash(d)},{len(d)}\n" for p, d in members.items()) + f"{info}/RECORD,,\n"
    members[f"{info}/RECORD"] = record.encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, d in members.items():
            z.writestr(p, d)
    return path


def test_stacks_pin_one_version_of_each_package():
    for name, specs in stage.STACKS.items():
        seen: dict[str, str] = {}
        for spec in specs:
            pkg, sep, version = spec.partition("==")
            assert sep and version, f"{name}: {spec} is not pinned"
            key = stage.norm(pkg)
            assert seen.get(key, version) == version, f"{name}: two versions of {pkg}"
            seen[key] = version
    # The two training stacks carry the two ms-swift releases, vLLM only in today's.
    assert "ms-swift==3.10.3" in stage.STACKS["train"] and "ms-swift==4.6.0" in stage.STACKS["latest"]
    assert any(s.startswith("vllm==") for s in stage.STACKS["latest"])
    assert not any(s.startswith("vllm==") for s in stage.STACKS["train"])


def test_pack_splits_large_files_and_fills_chunks(tmp_path):
    sizes = {"a.whl": 70, "b.whl": 40, "c.whl": 30, "d.whl": 25, "e.whl": 5}
    files = []
    for n, s in sizes.items():
        (tmp_path / n).write_bytes(bytes([len(files)]) * s)
        files.append(tmp_path / n)
    chunks = stage.pack(files, 50)
    pieces = [p for c in chunks for p in c]
    assert all(sum(p["size"] for p in c) <= 50 for c in chunks)
    parts = sorted((p for p in pieces if p.get("of") == "a.whl"), key=lambda p: p["part"])
    assert [p["size"] for p in parts] == [35, 35] and [p["offset"] for p in parts] == [0, 35]
    assert sorted(p["name"] for p in pieces if "of" not in p) == ["b.whl", "c.whl", "d.whl", "e.whl"]
    assert sum(p["size"] for p in pieces) == sum(sizes.values())
    # First fit decreasing: [40, 5], [35], [35], [30], [25] — no two of 35, 30, 25 share a chunk.
    assert [sorted(p["size"] for p in c) for c in chunks] == [[5, 40], [35], [35], [30], [25]]


@pytest.fixture()
def staged(tmp_path):
    """Two stacks sharing a wheel, one wheel split over two chunks, and a media tarball."""
    src = tmp_path / "src"
    src.mkdir()
    big = make_wheel(src, "bigpkg", "1.0", {"bigpkg/__init__.py": b"VALUE = 'big'\n",
                                            "bigpkg/blob.bin": os.urandom(120_000)})
    shared = make_wheel(src, "sharedpkg", "2.0", {"sharedpkg/__init__.py": b"VALUE = 'shared'\n"})
    only = make_wheel(src, "onlypkg", "3.0", {"onlypkg/__init__.py": b"VALUE = 'only'\n"})
    media_dir = tmp_path / "media_src"
    (media_dir / "serve").mkdir(parents=True)
    (media_dir / "serve" / "data.jsonl").write_text('{"uid": "x"}\n')
    media = tmp_path / "media.tar"
    with tarfile.open(media, "w") as tar:
        tar.add(media_dir / "serve", arcname="serve")
    files = [big, shared, only, media]
    manifest = {"stacks": {"one": sorted([big.name, shared.name]), "two": sorted([shared.name, only.name])},
                "files": {f.name: {"sha256": stage.sha256(f), "size": f.stat().st_size} for f in files},
                "media": "media.tar"}
    chunks = stage.pack(files, 70_000)
    stage.describe_pieces(manifest, chunks)
    out = tmp_path / "whl"
    stage.write_chunks(out, chunks, manifest)
    env = dict(os.environ, VIDEOTEMP_POOL=str(tmp_path / "pool"), VIDEOTEMP_SITE_ROOT=str(tmp_path / "sites"),
               VIDEOTEMP_MEDIA=str(tmp_path / "media"))
    return out, env, manifest, tmp_path


def pool(env, *args):
    return subprocess.run([sys.executable, str(DEVICE / "pool.py"), *map(str, args)], env=env,
                          capture_output=True, text=True)


def test_receive_install_round_trip(staged):
    out, env, manifest, tmp = staged
    chunk_dirs = sorted(out.glob("c*"), key=lambda p: int(p.name[1:]))
    assert len(chunk_dirs) >= 3
    big_parts = manifest["pieces"]["bigpkg-1.0-py3-none-any.whl"]
    assert len(big_parts) == 2  # the big wheel travels in parts
    # Before the chunk carrying the big wheel's second part arrives, stack one is refused,
    # naming what is missing and where it travels.
    last_big = manifest["chunk_of"][big_parts[1]]
    for d in chunk_dirs:
        if int(d.name[1:]) != last_big:
            r = pool(env, "receive", d)
            assert r.returncode == 0, r.stderr
    r = pool(env, "install", "one")
    assert r.returncode == 2
    assert f"bigpkg-1.0-py3-none-any.whl (chunk c{last_big}" in r.stderr
    r = pool(env, "receive", out / f"c{last_big}")
    assert r.returncode == 0 and "joined bigpkg-1.0-py3-none-any.whl from 2 parts" in r.stderr
    assert "stack one: complete" in r.stderr and "stack two: complete" in r.stderr
    r = pool(env, "install", "one")
    assert r.returncode == 0, r.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in r.stdout.splitlines())
    site = tmp / "sites" / "site-one"
    assert exports["PYTHONPATH"].split(":")[0] == str(site)
    assert exports["NCCL_NVLS_ENABLE"] == "0" and exports["PYTHON"] == "python3"
    probe = subprocess.run([sys.executable, "-c", "import bigpkg, sharedpkg; print(bigpkg.VALUE, sharedpkg.VALUE)"],
                           env=dict(env, PYTHONPATH=str(site)), capture_output=True, text=True)
    assert probe.stdout.split() == ["big", "shared"], probe.stderr
    assert not (site / "onlypkg").exists()
    assert (tmp / "media" / "serve" / "data.jsonl").read_text() == '{"uid": "x"}\n'
    # A second install of the same list is a no-op.
    again = pool(env, "install", "one")
    assert again.returncode == 0 and "already installed" in again.stderr
    assert pool(env, "install", "nope").returncode == 2


def test_receive_refuses_a_damaged_chunk(staged):
    out, env, manifest, _ = staged
    victim = next(p for p in sorted((out / "c1").iterdir()) if p.name not in ("chunk.json", "pool.json"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    r = pool(env, "receive", out / "c1")
    assert r.returncode == 1 and "damaged in transit" in r.stderr and victim.name in r.stderr


def test_install_before_any_chunk_says_what_to_carry(tmp_path):
    env = dict(os.environ, VIDEOTEMP_POOL=str(tmp_path / "empty"))
    r = pool(env, "install", "latest")
    assert r.returncode != 0 and "no chunk has been received yet" in r.stderr + r.stdout


def test_install_sh_exports_into_the_calling_shell(staged):
    out, env, _, tmp = staged
    for d in out.glob("c*"):
        assert pool(env, "receive", d).returncode == 0
    script = f"source {DEVICE / 'install.sh'} two && python3 -c 'import onlypkg; print(onlypkg.VALUE)' && echo $VIDEOTEMP_STACK"
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == ["only", "two"]
    r = subprocess.run(["bash", "-c", f"source {DEVICE / 'install.sh'} missing; echo rc=$?"], env=env,
                       capture_output=True, text=True)
    assert "rc=2" in r.stdout  # a failed install returns, it does not kill the calling shell


def test_repack_vllm_drops_the_kernels_and_keeps_a_consistent_record(tmp_path):
    import repack_vllm

    files = {"vllm/__init__.py": b"__version__ = '0.26.0'\n",
             "vllm/_C_stable_libtorch.abi3.so": b"core" * 100,
             "vllm/_moe_C_stable_libtorch.abi3.so": b"moe" * 100,
             "vllm/vllm_flash_attn/__init__.py": b"",
             "vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so": b"fa2" * 100,
             "vllm/vllm_flash_attn/_vllm_fa3_C.abi3.so": b"fa3" * 100,
             "vllm/vllm_flash_attn/ops/triton/rotary.py": b"# triton rotary\n",
             "vllm/vllm-rs": b"rust",
             "vllm/third_party/deep_gemm/__init__.py": b"",
             "vllm/third_party/fmha_sm100/api.py": b""}
    src = make_wheel(tmp_path, "vllm", "0.26.0", files)
    out = repack_vllm.repack(src, tmp_path / "out")
    assert out.name == src.name
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        # FlashAttention 3 stays: vLLM imports a FlashAttention build on any CUDA machine.
        kept = {"vllm/__init__.py", "vllm/_C_stable_libtorch.abi3.so", "vllm/vllm_flash_attn/__init__.py",
                "vllm/vllm_flash_attn/_vllm_fa3_C.abi3.so", "vllm/vllm_flash_attn/ops/triton/rotary.py"}
        assert kept <= names
        assert not {n for n in files if n not in kept} & names
        record = z.read("vllm-0.26.0.dist-info/RECORD").decode().splitlines()
        listed = {line.split(",")[0]: line.split(",")[1] for line in record}
        for name in names:
            if not name.endswith("RECORD"):
                assert listed[name] == record_hash(z.read(name)), name
        note = z.read("vllm/REPACKED.txt").decode()
        assert "_vllm_fa2_C" in note and "vllm-rs" in note and "vllm/_C_stable_libtorch" not in note
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                        str(site), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (site / "vllm" / "_C_stable_libtorch.abi3.so").exists()
    assert not (site / "vllm" / "vllm_flash_attn" / "_vllm_fa2_C.abi3.so").exists()
    assert (site / "vllm" / "vllm_flash_attn" / "_vllm_fa3_C.abi3.so").exists()
    (tmp_path / "other").mkdir()
    plain = make_wheel(tmp_path / "other", "vllm", "0.26.0", {"vllm/__init__.py": b""})
    with pytest.raises(SystemExit, match="not the wheel"):
        repack_vllm.repack(plain, tmp_path / "out2")


def logging_file(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_summaries_of_sft_and_grpo_logs(tmp_path):
    import summarize

    one = logging_file(tmp_path / "one.jsonl", [{"loss": 2.0, "global_step/max_steps": "1/2", "train_speed(s/it)": 0.5},
                                                {"loss": 1.5, "global_step/max_steps": "2/2", "train_speed(s/it)": 0.4}])
    two = logging_file(tmp_path / "two.jsonl", [{"loss": 2.0, "global_step/max_steps": "1/2"},
                                                {"loss": 1.25, "global_step/max_steps": "2/2"}])
    r = subprocess.run([sys.executable, str(DEVICE / "summarize.py"), "compare", f"1 GPU={one}", f"ZeRO-2={two}"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "| 2 | 1.50000 | 1.25000 | 2.50e-01 |" in r.stdout
    assert "largest loss difference over 2 steps: 2.50e-01" in r.stdout
    grpo = logging_file(tmp_path / "grpo.jsonl", [
        {"loss": 0.1, "global_step/max_steps": "1/2", "rewards/AccuracyReward/mean": 0.25,
         "rewards/FormatReward/mean": 1.0, "reward": 1.25, "num_turns": 2.0, "train_speed(s/it)": 3.0},
        {"eval": True}])
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "a.mkv").write_bytes(b"x")
    r = subprocess.run([sys.executable, str(DEVICE / "summarize.py"), "grpo", str(grpo), "--clips", str(clips)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "| step | loss | AccuracyReward | FormatReward | reward | turns |" in r.stdout
    assert "| 1/2 | 0.1000 | 0.250 | 1.000 | 1.250 | 2.0 | 3.0 |" in r.stdout
    assert "clip files written by the environment: 1" in r.stdout
    empty = logging_file(tmp_path / "empty.jsonl", [{"eval": True}])
    assert summarize.main(["steps", str(empty)]) == 1


class _Metrics(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200 if self.path == "/metrics" else 404)
        self.end_headers()
        self.wfile.write(self.body if self.path == "/metrics" else b"")

    def log_message(self, *args):
        pass


def test_serve_bench_reads_vllm_request_counters():
    import httpx
    import serve_7b

    _Metrics.body = (b'# HELP vllm:request_prefill_time_seconds x\n'
                     b'vllm:request_prefill_time_seconds_sum{engine="0",model_name="m"} 1.5\n'
                     b'vllm:request_prefill_time_seconds_count{engine="0",model_name="m"} 2\n'
                     b'vllm:request_prefill_time_seconds_bucket{engine="0",le="0.3"} 1\n'
                     b'vllm:e2e_request_latency_seconds_sum{engine="0"} 4.25\n'
                     b'vllm:request_decode_time_seconds_sum{engine="0"} 2.0\n'
                     b'vllm:request_decode_time_seconds_sum{engine="1"} 0.5\n')
    server = http.server.HTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx.Client() as client:
            got = serve_7b.read_counters(client, f"http://127.0.0.1:{server.server_port}/v1")
            assert got == {"vllm:e2e_request_latency_seconds": 4.25, "vllm:request_queue_time_seconds": 0.0,
                           "vllm:request_prefill_time_seconds": 1.5, "vllm:request_decode_time_seconds": 2.5}
            _Metrics.body = b"no metrics here\n"  # swift deploy: no vLLM counters
            assert serve_7b.read_counters(client, f"http://127.0.0.1:{server.server_port}") is None
    finally:
        server.shutdown()
        server.server_close()


def test_run_scripts_parse_and_refuse_the_wrong_stack(tmp_path):
    for script in ("serve_7b.sh", "rl_2gpu.sh", "deepspeed_2gpu.sh", "common.sh", "install.sh", "train_smoke.sh"):
        assert subprocess.run(["bash", "-n", str(DEVICE / script)]).returncode == 0, script
    env = {k: v for k, v in os.environ.items() if k != "VIDEOTEMP_STACK"}
    env["OUT"] = str(tmp_path / "out")
    for script, stack in (("serve_7b.sh", "latest"), ("rl_2gpu.sh", "latest"), ("deepspeed_2gpu.sh", "latest")):
        r = subprocess.run(["bash", str(DEVICE / script)], env=dict(env, WORK=str(tmp_path / script)),
                           capture_output=True, text=True)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"source scripts/device/install.sh {stack}" in r.stderr
        # Even a run that stops at once leaves its packed logs where the device tool collects them.
        assert (tmp_path / "out" / f"{script.removesuffix('.sh')}.tar.gz").is_file()
