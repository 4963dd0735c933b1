"""Where worker processes train: every visible GPU busy, round robin, or the ones ``--gpus`` names.

``CUDA_VISIBLE_DEVICES`` is respected the way torch respects it: the GPUs it leaves are numbered
0..n-1 and ``--gpus`` indexes those. Workers are spread round robin, so with 8 workers on 4 GPUs
each GPU gets 2. Without a GPU (or with ``--device cpu``) every worker gets the one device asked
for. The search's header says where the workers went and whether NVIDIA's MPS daemon (which lets
several processes share a GPU's cores concurrently) is running: ``nvidia-cuda-mps-control -d``
starts it (docs/search.md).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

MPS_PIPE_ENV = "CUDA_MPS_PIPE_DIRECTORY"
MPS_DEFAULT_PIPE = "/tmp/nvidia-mps"


def cuda_count() -> int:
    """GPUs torch sees (after ``CUDA_VISIBLE_DEVICES``); 0 without CUDA."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def wants_cuda(device: str) -> bool:
    """Whether ``--device`` (auto, cpu, cuda, cuda:K) means training on a GPU here."""
    return device.startswith("cuda") or (device == "auto" and cuda_count() > 0)


def parse_gpus(text: str | None, count: int | None = None) -> list[int]:
    """``--gpus 0,2`` -> [0, 2] (indexes among the visible GPUs); None or "" -> every visible
    GPU. One clear error for a malformed list or a GPU that is not there."""
    count = cuda_count() if count is None else count
    if text is None or not str(text).strip():
        return list(range(count))
    try:
        gpus = [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--gpus must be comma-separated GPU indexes, got {text!r}") from None
    if not gpus:
        raise ValueError(f"--gpus names no GPU: {text!r}")
    missing = [g for g in gpus if g < 0 or g >= count]
    if missing:
        seen = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f" (CUDA_VISIBLE_DEVICES={seen})" if seen is not None else ""
        raise ValueError(
            f"--gpus {text}: GPU {missing[0]} is not visible; {count} GPU(s) are{where}, "
            f"numbered 0..{count - 1}"
            if count
            else f"--gpus {text}: no GPU is visible here{where}"
        )
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpus {text}: a GPU is named twice")
    return gpus


def place(workers: int, device: str, gpus: str | None = None) -> list[str]:
    """The device of each of ``workers`` workers: round robin over the chosen GPUs when the
    device is a GPU (an explicit ``cuda:K`` pins every worker to K), else ``device`` for all."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not wants_cuda(device):
        if gpus:
            raise ValueError("--gpus needs a GPU device (--device cuda or auto with a GPU)")
        return [device] * workers
    if ":" in device:
        if gpus:
            raise ValueError(f"--gpus and --device {device} both choose the GPU: give one")
        return [device] * workers
    chosen = parse_gpus(gpus)
    if not chosen:
        raise ValueError(f"--device {device}: no GPU is visible here")
    return [f"cuda:{chosen[i % len(chosen)]}" for i in range(workers)]


def mps_running() -> bool:
    """Whether an MPS control daemon is listening (its pipe directory holds ``control``)."""
    return (Path(os.environ.get(MPS_PIPE_ENV) or MPS_DEFAULT_PIPE) / "control").exists()


def placement_text(devices: list[str]) -> str:
    """``2 workers on cuda:0, 2 on cuda:1; MPS off`` (for the search's header)."""
    counts = Counter(devices)
    parts = [f"{n} worker{'s' if n > 1 else ''} on {d}" for d, n in counts.items()]
    text = ", ".join(parts)
    if any(d.startswith("cuda") for d in devices):
        text += f"; MPS {'on' if mps_running() else 'off'}"
    return text
