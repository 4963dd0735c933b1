"""The tuned allocator (trainer/malloc.py): it keeps freed tensor memory, changes no number, and
can be turned off. Each case runs in a fresh interpreter, since the setting is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.malloc import ENV, TUNED

ROOT = Path(__file__).resolve().parents[1]

# A training step's pattern: many buffers of mixed sizes (1-20 MiB), all touched, then all freed;
# the minor page faults of steps 2..N are counted (a page fault per fresh 4 KiB page).
PROBE = """
import json, resource, sys, torch
sys.path.insert(0, {root!r})
from trainer.malloc import tune_malloc
state = tune_malloc()
def step():
    bufs = [torch.empty(mib << 18).fill_(1.0) for mib in range(1, 21)]
    del bufs
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(json.dumps({{"state": state, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}}))
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_tuned_allocator_keeps_freed_memory_and_off_leaves_glibc_as_it_is():
    tuned, off = probe(None), probe("off")
    assert tuned["state"] == TUNED
    assert off["state"].startswith("default") and ENV in off["state"]
    # 20 steps x 210 MiB = 1,075,200 pages: glibc's defaults hand many of them back and fault them
    # in again; tuned, the heap is reused
    assert off["faults"] > 60_000  # measured 108,000-1,002,000
    assert tuned["faults"] < 25_000  # measured 5,000-10,000


def test_a_bad_setting_is_one_clear_error():
    env = {**os.environ, ENV: "sometimes"}
    out = subprocess.run(
        [sys.executable, "search.py", "presets"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {ENV} must be auto, on or off, got 'sometimes'"
