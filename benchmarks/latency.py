"""Inference latency at batch 1: PyTorch eager vs ONNX Runtime, on the same weights and input.

Usage: python benchmarks/latency.py [--models scsonet,ulite,searched] [--image-size 256 [W]]
       [--device auto|cpu|cuda] [--threads N] [--repeats 50] [--warmup 10] [--block 5]

Each model is built with seed 0 (weights do not change the time), put in eval mode and exported
with `trainer.export.export_onnx` (TorchScript exporter, opset 17, batch fixed at 1, checked
against PyTorch in ONNX Runtime on 3 random inputs: the max difference is printed). Then the two
runtimes are timed on one standard-normal 1x3xHxW input:

- eager: `model(x)` under `torch.inference_mode()`, fp32; on CUDA the input lives on the GPU and
  every call ends with `torch.cuda.synchronize()`.
- ONNX Runtime: `InferenceSession.run` with the default graph optimisations (ORT_ENABLE_ALL). On
  CPU with the CPUExecutionProvider and a NumPy input. On CUDA with the CUDAExecutionProvider when
  onnxruntime-gpu provides it, input and output bound on the GPU with IO binding (so neither side
  copies to or from the host); when it does not, that is printed and the ORT column is left empty.

`--threads N` sets both `torch.set_num_threads(N)` and ORT's `intra_op_num_threads` (inter-op 1);
without it each library uses its own default (torch: one thread per core; ORT: one per physical
core), which are printed. After `--warmup` calls of each, the two runtimes alternate in blocks of
`--block` consecutive calls (which one goes first alternating too) until each has `--repeats`
timed calls: a change of machine load hits both alike, and each block runs with warm caches
(block sizes 1, 5 and 25 gave the same ratios within 10 % on CPU). Reported: median and p90
milliseconds per call and the ratio of medians eager / ORT (> 1: ORT is faster). The load
average is printed at start and end: on a shared machine, other processes move CPU figures a lot.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from benchmarks.common import header  # noqa: E402
from benchmarks.trainer_throughput import genotype_for  # noqa: E402
from runner.runs import check_image_size  # noqa: E402
from searchspace import build_model  # noqa: E402
from trainer import resolve_device  # noqa: E402
from trainer.export import INPUT_NAME, OUTPUT_NAME, export_onnx, ort_session  # noqa: E402


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def eager_call(model, x, cuda: bool):
    def call() -> None:
        model(x)
        if cuda:
            torch.cuda.synchronize()

    return call


def ort_call(path: Path, shape: tuple[int, ...], device: torch.device, threads: int | None):
    """(a no-argument callable running the ONNX graph once, its provider), or (None, why not)."""
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    if device.type != "cuda":
        session = ort_session(path, threads=threads)
        feeds = {INPUT_NAME: x}
        return (lambda: session.run([OUTPUT_NAME], feeds)), "CPUExecutionProvider"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return None, (
            f"onnxruntime {ort.__version__} has no CUDAExecutionProvider "
            f"(available: {', '.join(ort.get_available_providers())}); install onnxruntime-gpu"
        )
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]  # CPU: nodes CUDA lacks
    session = ort_session(path, threads=threads, providers=providers)
    if session.get_providers()[0] != "CUDAExecutionProvider":  # ORT falls back silently
        return None, f"the CUDAExecutionProvider did not load (session: {session.get_providers()})"
    binding = session.io_binding()
    binding.bind_ortvalue_input(INPUT_NAME, ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
    binding.bind_output(OUTPUT_NAME, "cuda", 0)

    def call() -> None:
        session.run_with_iobinding(binding)  # synchronous: returns when the GPU work is done

    return call, "CUDAExecutionProvider, IO binding"


def time_pair(a, b, repeats: int, warmup: int, block: int) -> tuple[list[float], list[float]]:
    """ms per call of `a` and `b`: blocks of `block` calls, alternating a/b (and which goes first),
    so machine-load drift hits both alike while each block runs with warm caches."""
    for fn in (a, b):
        for _ in range(warmup if fn is not None else 0):
            fn()
    times: dict[int, list[float]] = {0: [], 1: []}
    r = 0
    while len(times[0]) < repeats:
        order = ((0, a), (1, b)) if r % 2 == 0 else ((1, b), (0, a))
        for k, fn in order:
            for _ in range(min(block, repeats - len(times[k])) if fn is not None else 0):
                start = time.perf_counter()
                fn()
                times[k].append((time.perf_counter() - start) * 1e3)
        r += 1
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="scsonet,ulite,searched", help="presets or 'searched'")
    parser.add_argument("--image-size", type=int, nargs="+", default=[256], metavar="H [W]")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default: CUDA if any)")
    parser.add_argument("--threads", type=int, help="torch threads and ORT intra-op threads")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per runtime")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls per runtime first")
    parser.add_argument(
        "--block", type=int, default=5, help="consecutive calls of one runtime (default 5)"
    )
    args = parser.parse_args()
    if len(args.image_size) > 2 or min(args.image_size) < 1:
        parser.error("--image-size takes H or H W, positive")
    if args.repeats < 1 or args.warmup < 0 or args.block < 1:
        parser.error("--repeats and --block must be >= 1, --warmup >= 0")
    size = (args.image_size[0], args.image_size[-1])
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device")
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        genotypes = {name: genotype_for(name) for name in names}
        for genotype in genotypes.values():
            check_image_size(genotype, size)
    except (KeyError, ValueError) as e:
        parser.error(str(e.args[0] if isinstance(e, KeyError) and e.args else e))

    print(header("inference latency at batch 1: PyTorch eager vs ONNX Runtime", str(device)))
    print(
        f"onnx {onnx.__version__}, onnxruntime {ort.__version__} "
        f"(providers: {', '.join(ort.get_available_providers())})"
    )
    ort_threads = f"{args.threads}" if args.threads else "default (one per physical core)"
    print(
        f"1x3x{size[0]}x{size[1]} fp32, batch 1, eval mode; torch threads "
        f"{torch.get_num_threads()}, ORT intra-op threads {ort_threads}; "
        f"{args.warmup} warm-up + {args.repeats} timed calls each, alternating blocks of {args.block}"
    )
    print(f"load average at start {os.getloadavg()[0]:.2f}")

    rows = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lesion-nas-latency-") as tmp:
        for name, genotype in genotypes.items():
            torch.manual_seed(0)
            model = build_model(genotype).eval()
            path = Path(tmp) / f"{name}.onnx"
            report = export_onnx(model, path, size)
            model = model.to(device)
            x = torch.randn(1, genotype.in_channels, *size, device=device)
            ort_fn, provider = ort_call(path, tuple(x.shape), device, args.threads)
            notes.append(f"ORT provider: {provider}" if ort_fn else f"no ORT timing: {provider}")
            with torch.inference_mode():
                eager, onnx_times = time_pair(
                    eager_call(model, x, cuda), ort_fn, args.repeats, args.warmup, args.block
                )
            params = sum(p.numel() for p in model.parameters())
            rows.append((name, params, report.max_abs_diff, eager, onnx_times))

    print(f"load average at end {os.getloadavg()[0]:.2f}")
    for note in dict.fromkeys(notes):
        print(note)
    print(
        "\n| model | params | eager median ms | eager p90 ms | ORT median ms | ORT p90 ms "
        "| eager / ORT (medians) | max abs diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, params, diff, eager, onnx_times in rows:
        em = statistics.median(eager)
        if onnx_times:
            om = statistics.median(onnx_times)
            ort_cells = f"{om:.2f} | {p90(onnx_times):.2f} | {em / om:.2f}x"
        else:
            ort_cells = "- | - | -"
        print(f"| {name} | {params:,} | {em:.2f} | {p90(eager):.2f} | {ort_cells} | {diff:.1e} |")


if __name__ == "__main__":
    main()
