"""CPU latency at batch 1: the median wall time of a few forward passes of a freshly built model."""

from __future__ import annotations

import statistics
import time

import torch

from searchspace import Genotype, build_model


def measure_latency_ms(
    genotype: Genotype, image_size: tuple[int, int], *, repeats: int = 5, warmup: int = 2
) -> float:
    """Median milliseconds of ``repeats`` forward passes (after ``warmup``) on the CPU.

    Weights do not change the time, so the network is built untrained; it runs in eval mode
    under ``torch.inference_mode`` with torch's current number of CPU threads.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    torch.manual_seed(0)
    model = build_model(genotype).eval()
    x = torch.rand(1, genotype.in_channels, *image_size)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def latency_note() -> str:
    return f"CPU, batch 1, {torch.get_num_threads()} threads, median of 5 after 2 warm-up passes"
