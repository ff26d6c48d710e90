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
