"""Shared fixtures: the tiny random Qwen2.5-VL (built once per session) and generated videos."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A random-initialised tiny Qwen2.5-VL with tokenizer, processor and chat template,
    built offline (videotemp_o3.testing.tiny_model)."""
    from videotemp_o3.testing.tiny_model import ensure_tiny_model

    return ensure_tiny_model(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def local_engine(tiny_model_dir):
    """The embedded transformers engine on the tiny model (CPU)."""
    from videotemp_o3.engines.local import LocalEngine

    with LocalEngine(tiny_model_dir, device="cpu") as engine:
        yield engine
