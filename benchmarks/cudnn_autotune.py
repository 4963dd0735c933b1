"""cuDNN's autotuner in a search of many architectures: does ``--cudnn-benchmark on`` pay?

Usage: python benchmarks/cudnn_autotune.py [--candidates 20] [--image-size 128] [--epochs 2]
       [--images 256] [--batch-size 8] [--budget-params 0.4M] [--seed 0] [--repeats 1]
       [--device auto] [--out FILE]

A search trains many different networks one after another in one worker process; with the
autotuner on, cuDNN times its algorithms for every new layer shape of every candidate (and for
every odd last-batch shape) before it can use the fastest. Whether the tuning pays back within a
candidate's training is what this measures: the first ``--candidates`` random candidates of the
space within ``--budget-params`` are each trained with ``trainer.fit`` (recipe ``fast``, synthetic
data, ``--images`` training images, ``--epochs`` epochs, a last batch of odd size on purpose)
one after another, in a fresh process per setting (a search worker's situation: the tuner's
cache starts empty and fills across candidates), once with ``cudnn_benchmark="off"`` and once
``"on"``, alternating which runs first over ``--repeats``. Printed: wall seconds per candidate
and in all for each setting, and the ratio off / on of the totals (> 1: autotuning pays). On a
machine without CUDA cuDNN is not used: the same code runs (the smoke path of
``benchmarks/gpu.sh``) and the ratio is only the noise of two identical runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def candidates(n: int, budget: str, seed: int):
    from searchspace.budget import parse_params
    from searchspace.cost import count_params
    from searchspace.space import random_genotypes

    limit = parse_params(budget)
    out = []
    for g in random_genotypes(n * 6, seed=seed):
        if count_params(g) <= limit:
            out.append(g)
        if len(out) == n:
            break
    if len(out) < n:
        raise SystemExit(f"only {len(out)} of {n} candidates fit {budget} params")
    return out


def child(a) -> None:
    """Train every candidate with one setting; print one JSON line of seconds per candidate."""
    import torch

    from searchspace import build_model
    from trainer import fit, load_data, recipe

    device = a.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    size = (a.image_size, a.image_size)
    # an odd last batch, as a search's data split usually has
    counts = (a.images + a.batch_size // 2 + 1, 16, 16)
    data = load_data("synthetic", image_size=size, synthetic_counts=counts, progress=False)
    seconds = []
    for i, g in enumerate(candidates(a.candidates, a.budget_params, a.seed)):
        torch.manual_seed(i)
        model = build_model(g)
        config = recipe("fast", image_size=size, epochs=a.epochs, batch_size=a.batch_size,
                        seed=i, cudnn_benchmark=a.child)  # fmt: skip
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fit(model, config, data, device=device, progress=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
    print(json.dumps({"setting": a.child, "device": device, "seconds": seconds}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--candidates", type=int, default=20)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--budget-params", default="0.4M")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", help="also write the result as Markdown here")
    p.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(a)
        return 0
    from benchmarks.common import header

    base = [sys.executable, str(Path(__file__).resolve())]
    flags = ["--candidates", str(a.candidates), "--image-size", str(a.image_size), "--epochs",
             str(a.epochs), "--images", str(a.images), "--batch-size", str(a.batch_size),
             "--budget-params", a.budget_params, "--seed", str(a.seed), "--device", a.device]  # fmt: skip
    totals: dict[str, list[float]] = {"off": [], "on": []}
    per: dict[str, list[list[float]]] = {"off": [], "on": []}
    used = "cpu"
    for r in range(a.repeats):
        for setting in ("off", "on") if r % 2 == 0 else ("on", "off"):
            done = subprocess.run([*base, *flags, "--child", setting], capture_output=True,
                                  text=True, check=False)  # fmt: skip
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                print(f"error: the {setting} run failed (exit {done.returncode})", file=sys.stderr)
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            used = result["device"]
            totals[setting].append(sum(result["seconds"]))
            per[setting].append(result["seconds"])
    ratio = statistics.median(totals["off"]) / statistics.median(totals["on"])
    lines = [
        header("cuDNN autotune over many candidates: off / on", used),
        f"{a.candidates} random candidates (params <= {a.budget_params}, seed {a.seed}), each "
        f"trained {a.epochs} epoch(s) on {a.images + a.batch_size // 2 + 1} synthetic images at "
        f"{a.image_size}x{a.image_size}, batch {a.batch_size}, recipe fast, on {used}; one "
        f"fresh process per setting, {a.repeats} repeat(s)",
        "",
        "| setting | total seconds (median over repeats) | median seconds per candidate |",
        "|---|---:|---:|",
    ]
    for s in ("off", "on"):
        flat = [x for run in per[s] for x in run]
        lines.append(
            f"| {s} | {statistics.median(totals[s]):.2f} | {statistics.median(flat):.3f} |"
        )
    if used.startswith("cuda"):
        verdict = (
            "autotuning pays" if ratio > 1.02 else "autotuning costs" if ratio < 0.98 else "even"
        )
        note = ""
    else:
        verdict, note = "not measured", ": no CUDA, cuDNN unused; the ratio is run-to-run noise"
    lines += ["", f"ratio off / on of the total: **{ratio:.3f}** ({verdict}){note}"]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
