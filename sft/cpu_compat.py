"""Loaded by ``sft.sh`` with ``--external_plugins`` when ``DEVICE=cpu``: applies the CPU shim of
:mod:`videotemp_o3.training.swift_compat` (the module says why)."""

import videotemp_o3.training.swift_compat  # noqa: F401
