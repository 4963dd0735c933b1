"""Latency of an untrained candidate at batch 1: the measurement behind the latency objectives.

Two runtimes, named in every label and attribute:

- ``ort_cpu``: ONNX Runtime on the CPU (the deployment case): the network exported with the
  TorchScript exporter (``trainer.export.onnx_bytes``, opset 17, batch 1), one session with
  ``intra_op_num_threads`` = ``threads`` (default 1) and one inter-op thread, default graph
  optimisations;
- ``torch_cpu``: PyTorch eager on the CPU with ``threads`` torch threads, under
  ``torch.inference_mode`` (``measure(..., runtime="torch_cpu", device="cuda")`` times it on a GPU,
  synchronised after every call, for benchmarks).

A measurement: ``warmup`` untimed calls, then ``repeats`` timed calls; the value is the median
in milliseconds, stored with its spread (the interquartile range, ms) and the repeats. Weights do
not change the time, so the network is built untrained (seed 0); the input is zeros. Threads are
pinned for the measurement and restored after. ``benchmarks/latency_objective.py`` measures how
repeatable this is across processes and whether a per-part lookup table could replace it.

``measure_latency_ms`` (torch eager, the report's "torch CPU latency" column) is kept for the
report and ablation tables.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch

from searchspace import Genotype, build_model

# runtime name -> how reports name it (the objectives table and the record schema read these)
RUNTIMES = {"ort_cpu": "ONNX Runtime CPU", "torch_cpu": "torch eager CPU"}
WARMUP, REPEATS = 5, 25


@dataclass(frozen=True)
class Latency:
    runtime: str
    median_ms: float
    iqr_ms: float
    repeats: int
    threads: int
    device: str

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _time(call: Callable[[], object], warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _summary(runtime: str, times: list[float], threads: int, device: str) -> Latency:
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return Latency(runtime, statistics.median(times), q[2] - q[0], len(times), threads, device)


def measure(
    genotype: Genotype,
    image_size: tuple[int, int],
    runtime: str = "ort_cpu",
    *,
    device: str = "cpu",
    threads: int = 1,
    warmup: int = WARMUP,
    repeats: int = REPEATS,
) -> Latency:
    """The latency of ``genotype``'s untrained network at 1 x C x H x W (module docstring)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"latency runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if repeats < 1 or warmup < 0 or threads < 1:
        raise ValueError("latency needs repeats >= 1, warmup >= 0 and threads >= 1")
    with _threads(threads):
        torch.manual_seed(0)
        model = build_model(genotype).eval()
        x = torch.zeros(1, genotype.in_channels, *image_size)
        if runtime == "ort_cpu":
            from trainer.export import onnx_bytes, ort_session

            with torch.inference_mode():
                data = onnx_bytes(model, x, 17)
            session = ort_session(data, threads=threads)
            name = session.get_inputs()[0].name
            feed = {name: x.numpy()}
            times = _time(lambda: session.run(None, feed), warmup, repeats)
            return _summary(runtime, times, threads, "cpu")
        dev = torch.device(device)
        model, x = model.to(dev), x.to(dev)

        def call() -> None:
            model(x)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

        with torch.inference_mode():
            times = _time(call, warmup, repeats)
        return _summary(runtime, times, threads, str(dev))


def measure_latency_ms(
    genotype: Genotype, image_size: tuple[int, int], *, repeats: int = 5, warmup: int = 2
) -> float:
    """Median milliseconds of ``repeats`` torch eager forward passes (after ``warmup``) on the
    CPU with torch's current number of threads (the report's "torch CPU latency" column)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    torch.manual_seed(0)
    model = build_model(genotype).eval()
    x = torch.rand(1, genotype.in_channels, *image_size)
    with torch.inference_mode():
        times = _time(lambda: model(x), warmup, repeats)
    return statistics.median(times)


def latency_note() -> str:
    return (
        f"torch eager CPU latency (not the search's latency objective): batch 1, "
        f"{torch.get_num_threads()} threads, median of 5 after 2 warm-up passes"
    )
