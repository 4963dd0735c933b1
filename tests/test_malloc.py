"""The tuned allocator (trainer/malloc.py): it keeps freed tensor memory, it can be turned off,
and a bad setting is one clear error. Each case runs in a fresh interpreter, since the setting
is process-wide."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.malloc import ENV, TUNED

ROOT = Path(__file__).resolve().parents[1]

# Two checks in a fresh process. (1) glibc's own bookkeeping (mallinfo2): 2,000 blocks of 120 KiB
# (below any mmap threshold, so on the heap in both settings; 234 MiB) are allocated and freed.
# glibc's defaults trim the heap's top once it exceeds the trim threshold, which glibc raises at
# most to 64 MiB on its own; tuned (1 GiB) keeps all of it. A 16 MiB block is then taken from
# the heap when tuned (32 MiB mmap threshold; the defaults' adaptive one is not asserted). (2) A
# training step's pattern in torch: 200 buffers of 1 MiB, touched, freed, repeated; tuned, the
# first step's heap is reused, so steps 2..11 fault few fresh 4 KiB pages (measured 256-1,800;
# 51,400-511,700 under the defaults, except that glibc's dynamic thresholds sometimes adapt, so
# the defaults' count is not asserted).
PROBE = """
import ctypes, json, resource, sys
sys.path.insert(0, {root!r})
from trainer.malloc import tune_malloc
state = tune_malloc()
import torch
libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
ptrs = (ctypes.c_void_p * 2000)()
heap = libc.mallinfo2().arena
for i in range(2000):
    ptrs[i] = libc.malloc(120 << 10)
grown = libc.mallinfo2().arena - heap
for i in range(2000):
    libc.free(ptrs[i])
kept = libc.mallinfo2().arena - heap
mapped = libc.mallinfo2().hblks
big = libc.malloc(16 << 20)
mapped = libc.mallinfo2().hblks - mapped
libc.free(big)
def step():
    bufs = [torch.empty(1 << 18).fill_(1.0) for _ in range(200)]
    del bufs
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({{"state": state, "grown_mib": grown >> 20, "kept_mib": kept >> 20,
                   "mapped": mapped, "faults": faults}}))
"""


def probe(setting: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if setting is not None:
        env[ENV] = setting
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(root=str(ROOT))],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")  # glibc >= 2.33
    except OSError:
        return False


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _has_mallinfo2(), reason="needs glibc >= 2.33"
)
def test_tuned_allocator_keeps_freed_memory_and_off_leaves_glibc_as_it_is():
    tuned, off = probe(None), probe("off")
    assert tuned["state"] == TUNED
    assert off["state"].startswith("default") and ENV in off["state"]
    assert tuned["grown_mib"] >= 230 and off["grown_mib"] >= 230  # the blocks were on the heap
    assert tuned["kept_mib"] >= 230, tuned  # not trimmed: below the 1 GiB trim threshold
    assert off["kept_mib"] <= 64, off  # trimmed: glibc's own threshold never exceeds 64 MiB
    assert tuned["mapped"] == 0, tuned  # 16 MiB < the tuned 32 MiB mmap threshold: from the heap
    assert tuned["faults"] < 10_000, tuned


def test_a_bad_setting_is_one_clear_error():
    env = {**os.environ, ENV: "sometimes"}
    out = subprocess.run(
        [sys.executable, "search.py", "presets"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {ENV} must be auto, on or off, got 'sometimes'"
