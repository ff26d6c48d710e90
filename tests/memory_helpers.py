"""Resident memory of this process, measured so that repetition tests can compare it: the resident
pages of every mapping in /proc/self/smaps except shared libraries' (see :func:`resident_parts_mib`),
after a garbage collection and glibc's ``malloc_trim(0)`` (freed heap pages go back to the
system, so allocator caching is not counted), with glibc limited to two arenas (short-lived
threads would otherwise park freed memory in arenas of their own and move the figure either way).
Linux and glibc only."""

from __future__ import annotations

import ctypes
import gc
import re
import sys
from typing import Callable

M_ARENA_MAX = -8
ON_LINUX = sys.platform.startswith("linux")


def glibc() -> ctypes.CDLL:
    """glibc, limited to two malloc arenas from now on."""
    lib = ctypes.CDLL("libc.so.6")
    lib.mallopt(M_ARENA_MAX, 2)
    return lib


SHARED_OBJECT = re.compile(r"\.so(\.[0-9.]+)?$|/bin/python[0-9.]*$")
MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def resident_parts_mib(libc: ctypes.CDLL) -> dict[str, float]:
    """Resident MiB by kind of mapping — ``data`` (anonymous memory: heap, arenas, stacks, tensors),
    ``files`` (other file mappings, such as a memory-mapped video) and ``code`` (shared libraries and
    the interpreter) — after a garbage collection and ``malloc_trim(0)``.

    A leak grows ``data`` or ``files``; :func:`stays_flat` counts those two. ``code`` (405 MiB of
    the 900 MiB of a process running the tiny model: torch, MKL, FFmpeg) is file-backed, shared
    and evictable, and becomes resident the first time a code path runs: a sampled reply of a new
    length can reach a math-library kernel no earlier question reached, tens of MiB at once, on
    some CPUs and not others (CI saw +40 MiB of VmRSS in a run this machine measures flat). That
    growth is bounded by the libraries' size and belongs to no question."""
    gc.collect()
    libc.malloc_trim(0)
    parts = {"data": 0, "files": 0, "code": 0}
    kind = "data"
    with open("/proc/self/smaps") as f:
        for line in f:
            if MAPPING.match(line):
                fields = line.split(maxsplit=5)
                path = fields[5].strip() if len(fields) > 5 else ""
                kind = "code" if SHARED_OBJECT.search(path) else "files" if path.startswith("/") else "data"
            elif line.startswith("Rss:"):
                parts[kind] += int(line.split()[1])
    return {k: v / 1024 for k, v in parts.items()}


def stays_flat(libc: ctypes.CDLL, what: str, work: Callable[[], object], *, rounds: int = 50,
               limit_mib: float = 16.0, warmup: int = 3) -> None:
    """Runs ``work`` ``warmup`` times (codec tables, thread pools, lazy imports), then ``rounds``
    times, and asserts that resident data and file memory (:func:`resident_parts_mib`) grew by less
    than ``limit_mib`` over the rounds; the message gives each kind's growth."""
    for _ in range(warmup):
        work()
    before = resident_parts_mib(libc)
    for _ in range(rounds):
        work()
    after = resident_parts_mib(libc)
    grown = {k: after[k] - before[k] for k in before}
    assert grown["data"] + grown["files"] < limit_mib, (
        f"{what}: resident memory grew {grown['data'] + grown['files']:.1f} MiB over {rounds} rounds "
        f"({before['data'] + before['files']:.1f} -> {after['data'] + after['files']:.1f} MiB; by kind: "
        + ", ".join(f"{k} {grown[k]:+.1f}" for k in grown) + " MiB, code not counted)")
