"""``bash benchmarks/gpu.sh``: the smoke path on CPU runs every measurement and writes every
section; and the ``pytest -m gpu`` cases of the CUDA paths, which run the day a GPU is there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "## trainer throughput vs the naive loop",
    "## packing trials per GPU, without MPS",
    "## packing trials per GPU, with MPS",
    "## cuDNN autotune over many candidates",
    "## trained candidates per hour of a search",
    "## evaluation on the GPU vs the CPU",
)


def test_the_smoke_run_on_cpu_writes_every_section(tmp_path):
    out = tmp_path / "RESULTS-gpu.md"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", "benchmarks/gpu.sh", "--smoke", "--device", "cpu", "--out",
                           str(out)], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = out.read_text()
    for section in SECTIONS:
        assert section in text
    assert "SMOKE SIZES" in text and "FAILED" not in text
    assert "ratio of medians" in text  # trainer vs naive
    assert "| 2 | scsonet, scsonet |" in text  # a pack of 2
    assert "not measured: no CUDA" in text  # MPS
    assert "ratio off / on of the total" in text and "(not measured)" in text  # cuDNN on CPU
    assert "new / baseline:" in text  # candidates per hour, workers auto vs 1
    assert ": PARITY" in text  # CPU scoring twice is the same scoring


@pytest.mark.parametrize(
    "args, message",
    [
        (["--only", "speed"], "--only 'speed'"),
        (["--device", "cuda"], "no CUDA device"),
    ],
)
def test_bad_requests_are_one_line_and_exit_2(args, message, capsys):
    from benchmarks import gpu_suite

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert gpu_suite.main(args) == 2
    assert message in capsys.readouterr().err


gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@gpu
def test_odconv_keeps_channels_last_on_cuda():
    from searchspace import build_model
    from searchspace.presets import PRESETS

    model = build_model(PRESETS["scsonet"].genotype).cuda().to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64, device="cuda").to(memory_format=torch.channels_last)
    odconv = [m for m in model.modules() if type(m).__name__ == "ODConv3"]
    assert odconv
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o)) for m in odconv]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    assert seen and all(o.is_contiguous(memory_format=torch.channels_last) for o in seen)


@pytest.mark.gpu
@gpu
def test_evaluation_on_cuda_matches_the_cpu(tmp_path):
    from benchmarks import gpu_suite

    text = gpu_suite.evaluation("cuda", 64, 32, 1, tmp_path)
    assert ": PARITY" in text


@pytest.mark.gpu
@gpu
def test_workers_spread_over_the_real_gpus():
    from runner.devices import place

    n = torch.cuda.device_count()
    devices = place(2 * n, "cuda")
    assert sorted(set(devices)) == [f"cuda:{i}" for i in range(n)]
