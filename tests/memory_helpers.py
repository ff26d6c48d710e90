"""Resident memory of this process, measured so that repetition tests can compare it: VmRSS from
/proc/self/status after a garbage collection and glibc's ``malloc_trim(0)`` (freed heap pages go
back to the system, so allocator caching is not counted), with glibc limited to two arenas
(short-lived threads would otherwise park freed memory in arenas of their own and move the
figure either way). Linux and glibc only."""

from __future__ import annotations

import ctypes
import gc
import sys
from typing import Callable

M_ARENA_MAX = -8
ON_LINUX = sys.platform.startswith("linux")


def glibc() -> ctypes.CDLL:
    """glibc, limited to two malloc arenas from now on."""
    lib = ctypes.CDLL("libc.so.6")
    lib.mallopt(M_ARENA_MAX, 2)
    return lib


def resident_mib(libc: ctypes.CDLL) -> float:
    gc.collect()
    libc.malloc_trim(0)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def stays_flat(libc: ctypes.CDLL, what: str, work: Callable[[], object], *, rounds: int = 50,
               limit_mib: float = 16.0, warmup: int = 3) -> None:
    """Runs ``work`` ``warmup`` times (codec tables, thread pools, lazy imports), then ``rounds``
    times, and asserts that resident memory grew by less than ``limit_mib`` over the rounds."""
    for _ in range(warmup):
        work()
    before = resident_mib(libc)
    for _ in range(rounds):
        work()
    after = resident_mib(libc)
    assert after - before < limit_mib, (
        f"{what}: resident memory grew {after - before:.1f} MiB over {rounds} rounds ({before:.1f} -> {after:.1f} MiB)")
