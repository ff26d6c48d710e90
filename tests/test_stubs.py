"""The checked-in type stub of the extension (python/videotemp_o3/_core.pyi) is what
scripts/gen_stubs.py generates from the built module: a binding change without regenerating
the stub fails here."""

from __future__ import annotations

import ast
import importlib.util
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


def test_stub_annotations_are_valid_type_expressions():
    """Every annotation in the stub evaluates, with the stub's own imports and classes in scope
    (a misspelt type in a Rust text_signature or :rtype: line fails here)."""
    gen = _generator()
    tree = ast.parse(gen.STUB.read_text())
    namespace: dict = {}
    imports = ast.Module([n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[])
    exec(compile(imports, "imports", "exec"), namespace)
    namespace.update({n.name: type(n.name, (), {}) for n in tree.body if isinstance(n, ast.ClassDef)})
    checked = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for ann in [a.annotation for a in node.args.args + node.args.kwonlyargs] + [node.returns]:
                if ann is not None:
                    eval(compile(ast.Expression(ann), "annotation", "eval"), namespace)
                    checked += 1
    assert checked > 50
