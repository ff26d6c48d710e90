"""eval/7b_deploy_256.sh passes only flags that ms-swift 3.10's `swift deploy` knows."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "7b_deploy_256.sh"


def test_deploy_flags_are_swift_deploy_arguments():
    swift = pytest.importorskip("swift.llm")
    fields = {f.name for f in dataclasses.fields(swift.DeployArguments)}
    flags = set(re.findall(r"^\s*--([a-z_]+)", SCRIPT.read_text(), re.M))
    assert {"vllm_max_model_len", "infer_backend", "temperature"} <= flags
    assert flags <= fields, sorted(flags - fields)


def test_deploy_script_says_what_is_missing():
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "set MODEL" in r.stderr


def test_deploy_loads_the_plugin_that_fixes_video_rates(tmp_path):
    """swift deploy must load rl/plugin.py: under ms-swift 4 + transformers 5 its template wrapper
    is what turns the per-video fps list (refused by the processor) into video_metadata."""
    recorder = tmp_path / "swift"
    recorder.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD_TO"\n')
    recorder.chmod(0o755)
    record = tmp_path / "argv.txt"
    r = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "SWIFT": str(recorder), "MODEL": "m", "RECORD_TO": str(record)})
    assert r.returncode == 0, r.stderr
    argv = record.read_text().splitlines()
    plugin = Path(argv[argv.index("--external_plugins") + 1])
    assert plugin == SCRIPT.parents[1] / "rl" / "plugin.py" and plugin.is_file()
    assert "videotemp_o3.training.swift_plugin" in plugin.read_text()
