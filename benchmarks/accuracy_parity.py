"""Accuracy parity: does lesion-nas's fast `trainer.fit` reach the same val accuracy as a naive loop?

Usage: python benchmarks/accuracy_parity.py [--model scsonet] [--image-size H W] [--images 512]
       [--epochs 6] [--seeds 3] [--batch-size 8] [--device auto|cpu|cuda] [--threads N]
       [--data ../shared/data/isic2017]

    # the GPU figure of issue 7 (256x256 by default on CUDA):
    python benchmarks/accuracy_parity.py --device cuda --seeds 3

For each seed s = 0..--seeds-1, one model is built with `torch.manual_seed(s)` and both pipelines
start from a copy of it (same genotype, same initial weights), on the same device, with the same
torch thread count:

- naive: the loop of `benchmarks/trainer_throughput.py` (`naive_loader` + `naive_train`): PIL
  decodes, resizes and augments every sample in `__getitem__` (h/v flips, a free rotation with
  probability 0.5), a shuffling `DataLoader` (num_workers 0), fp32, AdamW lr 1e-3 wd 1e-2,
  BCE + Dice, cosine stepped once per epoch (T_max = epochs, as in the papers' public code).
  Python's `random` and torch's global RNG are seeded with s.
- lesion-nas: `trainer.fit` with the "scsonet" recipe (the same optimiser, loss, flips and free
  rotation, batched on the device; cosine stepped per optimiser step down to 1e-5), seed s,
  `amp` and `channels_last` on "auto" (bf16/fp16 autocast and channels_last on CUDA, fp32 on CPU).

Data: `load_data(--data, split="official", limit=--images)`: the first N official ISIC 2017
training images (sorted by id) train both pipelines (the naive loop reads the same ids from the
original files), and the official validation split (150 images) scores both. Same epochs, batch
size (drop_last) and image size for both.

Weights scored: the final epoch's, for both. `fit` keeps the best validated epoch; it is run with
`eval_every = epochs + 1`, so it validates only after the last epoch and that epoch is the one it
keeps. Both final models are then scored by the same call, `trainer.evaluate(model, val,
amp="off", channels_last="off")` (fp32, threshold 0.5) on the same uint8 val tensors from
`load_data`. Reported per pipeline: val Dice and val Jaccard as the mean over the 150 images of the
per-image value, then mean ± sample std over the seeds; training images/s (lesion-nas:
`FitResult.images_per_second`, training steps only; naive: whole epochs, data loading included).
The difference of means (lesion-nas - naive) comes with Welch's t-test over the per-seed values and
is called "within noise" when |difference| <= 2 standard errors, SE = sqrt(s1^2/n1 + s2^2/n2).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.common import header  # noqa: E402
from benchmarks.trainer_throughput import (  # noqa: E402
    DATA,
    config_for,
    genotype_for,
    naive_loader,
    naive_train,
)
from searchspace import build_model  # noqa: E402
from studies.evidence.stats import mean_std  # noqa: E402
from trainer import evaluate, fit, load_data, resolve_device  # noqa: E402
from trainer.data import describe_data, discover  # noqa: E402
from trainer.datatypes import SplitData  # noqa: E402

PIPELINES = ("naive", "lesion-nas")
LABELS = {"naive": "naive loop (PIL + DataLoader)", "lesion-nas": "lesion-nas `trainer.fit`"}
METRICS = ("dice_per_image_mean", "jaccard_per_image_mean")


@dataclasses.dataclass
class Run:
    pipeline: str
    seed: int
    dice: float
    jaccard: float
    images_per_second: float
    seconds: float


def model_for(name: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(genotype_for(name))


def score(model: nn.Module, val: SplitData, device: torch.device) -> dict[str, float]:
    """The one scoring call used for both pipelines' final models (fp32, threshold 0.5)."""
    metrics, _, _ = evaluate(
        model, val, device=device, batch_size=32, amp="off", channels_last="off", output="none"
    )
    return metrics


def run_naive(model, loader, epochs, device, val, seed) -> Run:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # the DataLoader's shuffling
    seconds, seen = naive_train(model, loader, epochs, device)
    m = score(model, val, device)
    return Run("naive", seed, m[METRICS[0]], m[METRICS[1]], seen / seconds, seconds)


def run_ours(model, config, data, device, val, seed) -> tuple[Run, float]:
    """(run, |fit's own last-epoch val Dice - the re-score|): a check that fit kept the last epoch
    and that the two scorings agree (exactly on CPU; on CUDA fit validates under autocast)."""
    t0 = time.perf_counter()
    result = fit(model, dataclasses.replace(config, seed=seed), data, device=device, progress=False)
    seconds = time.perf_counter() - t0
    if not result.ok:
        raise RuntimeError(f"fit failed (seed {seed}): {result.reason}")
    if result.best_epoch != config.epochs:
        raise RuntimeError(f"fit kept epoch {result.best_epoch}, not the last ({config.epochs})")
    m = score(model, val, device)
    gap = abs(result.val[METRICS[0]] - m[METRICS[0]])
    run = Run("lesion-nas", seed, m[METRICS[0]], m[METRICS[1]], result.images_per_second, seconds)
    return run, gap


def compare(ours: list[float], naive: list[float]) -> tuple[float, float, float, bool | None]:
    """(difference of means ours - naive, standard error, Welch p, within 2 SE)."""
    diff = statistics.fmean(ours) - statistics.fmean(naive)
    if len(ours) < 2 or len(naive) < 2:
        return diff, math.nan, math.nan, None
    se = math.sqrt(statistics.variance(ours) / len(ours) + statistics.variance(naive) / len(naive))
    if se == 0:
        return diff, 0.0, (1.0 if diff == 0 else 0.0), diff == 0
    p = float(stats.ttest_ind(ours, naive, equal_var=False).pvalue)
    return diff, se, p, abs(diff) <= 2 * se


def fmt(mean: float, std: float, n: int, digits: int = 4) -> str:
    return f"{mean:.{digits}f}" if n < 2 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="scsonet", help="a preset name or 'searched'")
    parser.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=None,
        help="default 96 128 on CPU, 256 256 on CUDA",
    )
    parser.add_argument("--images", type=int, default=512, help="first N official train images")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1, each for both")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads for both (default 1 on CPU)"
    )
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()

    device = resolve_device(args.device)
    if args.threads is None and device.type == "cpu":
        args.threads = 1
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    size = tuple(args.image_size or ((256, 256) if device.type == "cuda" else (96, 128)))
    print(header("accuracy parity: lesion-nas fit vs the naive loop", str(device)))

    data = load_data(
        args.data, image_size=size, split="official", limit=args.images, progress=False
    )
    print(describe_data(data))
    train, val = data.split("train"), data.split("val")
    by_id = {s.id: s for s in discover(args.data).samples}
    pairs = [(by_id[i].image_path, by_id[i].mask_path) for i in train.ids]
    loader = naive_loader(pairs, size, args.batch_size, workers=0)
    config = config_for(args, size)  # the "scsonet" recipe, eval_every = epochs + 1
    params = sum(p.numel() for p in model_for(args.model, 0).parameters())
    amp = "bf16/fp16 autocast + channels_last" if device.type == "cuda" else "fp32"
    print(
        f"model {args.model} ({params:,} params); {len(train)} train images, {len(val)} val "
        f"images, {size[0]}x{size[1]}, batch {args.batch_size}, {args.epochs} epoch(s), seeds "
        f"0..{args.seeds - 1}; torch threads {torch.get_num_threads()}; lesion-nas trains in {amp}; "
        f"load average at start {os.getloadavg()[0]:.2f}"
    )

    runs: dict[str, list[Run]] = {p: [] for p in PIPELINES}
    gaps = []
    start = time.perf_counter()
    for seed in range(args.seeds):
        initial = model_for(args.model, seed)
        order = PIPELINES if seed % 2 == 0 else PIPELINES[::-1]
        for pipeline in order:  # alternate which goes first: machine load hits both alike
            model = copy.deepcopy(initial)
            if pipeline == "naive":
                run = run_naive(model, loader, args.epochs, device, val, seed)
            else:
                run, gap = run_ours(model, config, data, device, val, seed)
                gaps.append(gap)
            runs[pipeline].append(run)
            print(
                f"seed {seed} {pipeline:>10}: val Dice {run.dice:.4f}, Jaccard {run.jaccard:.4f}, "
                f"{run.images_per_second:.1f} train images/s, {run.seconds:.1f} s",
                flush=True,
            )
    print(
        f"total {time.perf_counter() - start:.0f} s; load average at end {os.getloadavg()[0]:.2f}; "
        f"fit's own last-epoch val Dice vs the re-score: max |diff| {max(gaps):.2e}"
    )

    n = args.seeds
    print(
        "\n| pipeline | seeds | val Dice, per-image mean | val Jaccard, per-image mean | "
        "train images/s |"
    )
    print("|---|---:|---:|---:|---:|")
    for p in PIPELINES:
        r = runs[p]
        dice = fmt(*mean_std([x.dice for x in r]))
        jac = fmt(*mean_std([x.jaccard for x in r]))
        ips = fmt(*mean_std([x.images_per_second for x in r]), digits=1)
        print(f"| {LABELS[p]} | {n} | {dice} | {jac} | {ips} |")

    print("\n| metric | lesion-nas - naive | 2 SE | Welch p | within noise (abs diff <= 2 SE) |")
    print("|---|---:|---:|---:|---|")
    for label, key in (("val Dice", "dice"), ("val Jaccard", "jaccard")):
        ours = [getattr(x, key) for x in runs["lesion-nas"]]
        naive = [getattr(x, key) for x in runs["naive"]]
        diff, se, p, ok = compare(ours, naive)
        verdict = "n/a (needs >= 2 seeds)" if ok is None else ("yes" if ok else "NO")
        print(f"| {label} | {diff:+.4f} | {2 * se:.4f} | {p:.3g} | {verdict} |")
    print(
        f"\nval = the {len(val)} official ISIC 2017 validation images at {size[0]}x{size[1]}; "
        "each value is the mean over images of the per-image score of the final epoch's weights, "
        f"then mean ± std over {n} seeds; images/s: mean ± std over seeds (lesion-nas: training "
        "steps only; naive: whole epochs, data loading included)."
    )


if __name__ == "__main__":
    main()
