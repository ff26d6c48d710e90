"""The checked-in type stub of the extension (python/videotemp_o3/_core.pyi) is what
scripts/gen_stubs.py generates from the built module: a binding change without regenerating
the stub fails here."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_stubs", REPO / "scripts" / "gen_stubs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_checked_in_stub_matches_the_extension():
    gen = _generator()
    assert (REPO / "python" / "videotemp_o3" / "py.typed").exists()
    text = gen.render()
    assert gen.STUB.read_text() == text, "python/videotemp_o3/_core.pyi is stale: run python scripts/gen_stubs.py"
    tree = ast.parse(text)
    declared = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    import videotemp_o3._core as core

    assert declared == {n for n in vars(core) if not n.startswith("_")}


def test_generator_refuses_an_unannotated_callable():
    gen = _generator()

    def f(x):
        """No type line."""

    f.__text_signature__ = "(x)"
    with pytest.raises(gen.StubError, match="rtype"):
        gen._function("f", f, "", False, "f")
    f.__doc__ = "Typed.\n\n:rtype: int"
    with pytest.raises(gen.StubError, match="without annotation"):
        gen._function("f", f, "", False, "f")


@pytest.mark.skipif(shutil.which("mypy") is None and importlib.util.find_spec("mypy") is None, reason="mypy not installed")
def test_stub_type_checks():
    p = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", str(REPO / "python" / "videotemp_o3" / "_core.pyi")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
