"""Several trials trained at once on one device: aggregate images/s, trials/hour, memory per trial.

Usage: python benchmarks/packing.py [--models scsonet,dsnet,searched] [--packs 1,2,4]
       [--image-size 256] [--images 512] [--epochs 2] [--batch-size 8] [--threads 1]
       [--device auto] [--data synthetic | ../shared/data/isic2017 --limit N] [--repeats 1]
       [--trial-epochs 20] [--trial-images 2000] [--no-warmup]

Each trial is `trainer.fit` (the "scsonet" recipe: AdamW, BCE + Dice, flips + free rotation on
the device, batch 8; `amp` / `channels_last` on "auto") in its own worker process, through
`trainer.packing.fit_packed` (the function the tests check for bitwise-identical results), all on
the same data (synthetic dermoscopy by default, or a dataset folder) and the same device; on CPU
each worker gets `--threads` torch threads. Why processes and not CUDA streams in one process:
see `trainer.packing` (one GIL for all host-side dispatch, process-wide seeds and settings in
`fit`; Ray fractional GPUs are processes too).

Measured, per pack size K (the K trials cycle through `--models`, trial i with seed i):

- K = 1: each model alone, one after another (its own process each time): the baseline.
- K > 1: the K trials in K processes started together (a barrier after start-up and, unless
  `--no-warmup`, one untimed warm-up step per worker, so process start, CUDA context creation and
  cuDNN autotuning are outside the window). Packed window = first fit start to last fit end.
- aggregate images/s = sum over trials of images trained / packed window; "vs 1 at a time" = the
  sum of the same models' K = 1 windows divided by the packed window (= the gain in trials per
  hour over running them one after another); per-trial images/s = its images / its own window,
  and its ratio to that model alone; trials/hour = aggregate images/s x 3600 / (trial-epochs x
  trial-images), a stated standard trial (default 20 epochs of the 2,000 ISIC 2017 training
  images, the `fast` recipe's length), validation and start-up not included;
- memory per trial: CUDA `torch.cuda.max_memory_allocated` during the fit in each process (the
  trial's data copy, weights, optimizer state, activations; the ~0.3-0.5 GB CUDA context per
  process is not in it); CPU: each worker's peak RSS (`ru_maxrss`, torch and the data included);
  "memory before fit" is the allocated CUDA memory / the RSS just before the timed fit.

Every fit's val Dice of trial 0 of a pack (models[0], seed 0) is compared with the same model
alone: on CPU with the same thread count they must be equal (they are bitwise: see the tests);
on CUDA, which is not bitwise reproducible across processes, within ``CUDA_DICE_TOLERANCE``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import header  # noqa: E402
from benchmarks.trainer_throughput import genotype_for, trimmed_val  # noqa: E402
from searchspace import build_model  # noqa: E402
from trainer import load_data, recipe, resolve_device  # noqa: E402
from trainer.packing import PackJob, PackOutcome, fit_packed  # noqa: E402

MB = 2**20


def make_jobs(models: list[str], k: int, config) -> list[PackJob]:
    return [
        PackJob(
            f"{models[i % len(models)]}#{i}",
            functools.partial(build_model, genotype_for(models[i % len(models)])),
            dataclasses.replace(config, seed=i),
        )
        for i in range(k)
    ]


def run(jobs: list[PackJob], data, args, device) -> list[PackOutcome]:
    outcomes = fit_packed(
        jobs,
        data,
        processes=len(jobs),
        device=device,
        threads=args.threads,
        warmup=not args.no_warmup,
    )
    for o in outcomes:
        if not o.ok:
            raise SystemExit(f"trial {o.name} failed: {o.error or o.result.reason}")
    return outcomes


def window(outcomes: list[PackOutcome]) -> float:
    return max(o.end for o in outcomes) - min(o.start for o in outcomes)


def mem(outcomes: list[PackOutcome], base: bool = False) -> str:
    values = [(o.base_memory_bytes if base else o.peak_memory_bytes) / MB for o in outcomes]
    lo, hi = min(values), max(values)
    return f"{hi:.0f}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f}"


def spread(values: list[float], digits: int = 1) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def load(args, size):
    if args.data == "synthetic":
        counts = (args.images, args.val_images, 0)
        return load_data("synthetic", image_size=size, synthetic_counts=counts, progress=False)
    data = load_data(args.data, image_size=size, limit=args.limit or args.images, progress=False)
    return trimmed_val(data, args.val_images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="scsonet,dsnet,searched")
    parser.add_argument("--packs", default="1,2,4", help="pack sizes K (1 is always measured)")
    parser.add_argument("--image-size", type=int, default=None, help="default 256 CUDA, 128 CPU")
    parser.add_argument("--images", type=int, default=None, help="train images per trial")
    parser.add_argument("--val-images", type=int, default=16, help="fit's one validation")
    parser.add_argument("--epochs", type=int, default=None, help="default 2 on CUDA, 1 on CPU")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per worker")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--data", default="synthetic", help="'synthetic' or a dataset folder")
    parser.add_argument("--limit", type=int, default=None, help="dataset: first N train images")
    parser.add_argument("--repeats", type=int, default=1, help="runs of every pack size")
    parser.add_argument("--trial-epochs", type=int, default=20, help="the standard trial's epochs")
    parser.add_argument("--trial-images", type=int, default=2000, help="... and its images")
    parser.add_argument("--no-warmup", action="store_true", help="no untimed warm-up step")
    args = parser.parse_args()

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    side = args.image_size or (256 if cuda else 128)
    args.images = args.images or (512 if cuda else 256)
    epochs = args.epochs or (2 if cuda else 1)
    models = args.models.split(",")
    packs = sorted({1, *(int(k) for k in args.packs.split(","))})
    config = recipe(
        "scsonet",
        epochs=epochs,
        batch_size=args.batch_size,
        image_size=(side, side),
        eval_every=epochs + 1,
        num_threads=args.threads,
    )
    data = load(args, (side, side))
    n_train = len(data.split("train"))
    print(header("packing several trials on one device", str(device)))
    print(
        f"workers: torch threads {args.threads} each ({os.cpu_count()} CPUs); data {args.data}: "
        f"{n_train} train images at {side}x{side} "
        f"({data.split('train').images.numel() / MB:.0f} MB uint8), {args.val_images} val; "
        f"batch {args.batch_size}, {epochs} epoch(s) per trial; packs {packs}; repeats "
        f"{args.repeats}; warm-up {not args.no_warmup}; load average {os.getloadavg()[0]:.2f}"
    )
    if cuda:
        print(f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")

    solo: dict[str, list[PackOutcome]] = {m: [] for m in models}
    packed: dict[int, list[list[PackOutcome]]] = {k: [] for k in packs if k > 1}
    for rep in range(args.repeats):
        order: list[str | int] = [*models, *packed]
        if rep % 2:  # alternate the order, so that a change of machine load hits all alike
            order.reverse()
        for what in order:
            if isinstance(what, str):
                solo[what].append(run(make_jobs([what], 1, config), data, args, device)[0])
            else:
                packed[what].append(run(make_jobs(models, what, config), data, args, device))

    alone = {m: statistics.median(o.end - o.start for o in solo[m]) for m in models}
    per_model_rate = {
        m: statistics.median(o.images_trained / (o.end - o.start) for o in solo[m]) for m in models
    }
    print("\nEach model alone (K = 1, one process):\n")
    print(
        "| model | params | images/s (window) | fit images/s (epochs only) | cores used | "
        "memory before fit MB | peak memory MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m in models:
        params = sum(p.numel() for p in build_model(genotype_for(m)).parameters())
        rates = [o.images_trained / (o.end - o.start) for o in solo[m]]
        fit_rates = [o.result.images_per_second for o in solo[m]]
        print(
            f"| {m} | {params:,} | {spread(rates)} | {spread(fit_rates)} | "
            f"{spread([o.cpu_seconds / (o.end - o.start) for o in solo[m]], 2)} | "
            f"{mem(solo[m], base=True)} | {mem(solo[m])} |"
        )

    per_trial = args.trial_epochs * args.trial_images
    print(f"\nPacks (trials/hour at {args.trial_epochs} epochs x {args.trial_images} images):\n")
    print(
        "| K | trials | window s | aggregate images/s | vs 1 at a time | per-trial images/s | "
        "per-trial vs alone | cores used | images per CPU-s | trials/hour | peak memory per "
        "trial MB |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    serial_images = sum(solo[m][0].images_trained for m in models)
    serial = sum(alone.values())
    solo_all = [o for m in models for o in solo[m]]
    solo_cpu = sum(o.cpu_seconds for o in solo_all)
    solo_cores = solo_cpu / sum(o.end - o.start for o in solo_all)
    solo_per_cpu = sum(o.images_trained for o in solo_all) / solo_cpu
    print(
        f"| 1 | {', '.join(models)} one at a time | {serial:.1f} | {serial_images / serial:.1f} | "
        f"1.00x | {', '.join(f'{per_model_rate[m]:.1f}' for m in models)} | 1.00x | "
        f"{solo_cores:.2f} | {solo_per_cpu:.1f} | {serial_images / serial * 3600 / per_trial:.1f} | "
        f"{mem([o for m in models for o in solo[m]])} |"
    )
    checks = []
    for k, runs in packed.items():
        names = [o.name.split("#")[0] for o in runs[0]]
        walls = [window(r) for r in runs]
        aggregate = [sum(o.images_trained for o in r) / window(r) for r in runs]
        gain = [sum(alone[m] for m in names) / w for w in walls]
        rates = [o.images_trained / (o.end - o.start) for r in runs for o in r]
        vs_alone = [
            o.images_trained / (o.end - o.start) / per_model_rate[o.name.split("#")[0]]
            for r in runs
            for o in r
        ]
        agg = statistics.median(aggregate)
        cores = [sum(o.cpu_seconds for o in r) / window(r) for r in runs]
        per_cpu = [sum(o.images_trained for o in r) / sum(o.cpu_seconds for o in r) for r in runs]
        print(
            f"| {k} | {', '.join(names)} | {spread(walls)} | {spread(aggregate)} | "
            f"{spread(gain, 2)}x | {statistics.mean(rates):.1f} ({min(rates):.1f}-"
            f"{max(rates):.1f}) | {statistics.mean(vs_alone):.2f}x | {spread(cores, 2)} | "
            f"{spread(per_cpu)} | {agg * 3600 / per_trial:.1f} | {mem([o for r in runs for o in r])} |"
        )
        first, ref = runs[0][0], solo[models[0]][0]
        a, b = first.result.val["dice_per_image_mean"], ref.result.val["dice_per_image_mean"]
        checks.append(
            f"K={k}: trial 0 ({models[0]}, seed 0) val Dice {a:.6f} vs alone {b:.6f}: "
            + same_result(a, b, first.result.val == ref.result.val, cuda=cuda)
        )
    print(
        "\nwindow, aggregate, 'vs 1 at a time', cores used (CPU seconds of the workers / window) "
        "and images per CPU-second: median (min-max) over repeats; per-trial images/s: mean "
        "(min-max) over trials and repeats. "
        f"Load average at end {os.getloadavg()[0]:.2f}."
    )
    print("same results packed and alone:\n" + "\n".join(checks))


# CUDA's kernels are not bitwise reproducible between processes (atomics, autotuned algorithms):
# packed and alone agree to within this much validation Dice, an order below the seed noise
CUDA_DICE_TOLERANCE = 0.005


def same_result(packed: float, alone: float, bitwise: bool, *, cuda: bool) -> str:
    """'equal' (bitwise, as CPU must be), 'within tolerance' on CUDA, else 'DIFFERENT'."""
    if bitwise:
        return "equal"
    if cuda and abs(packed - alone) <= CUDA_DICE_TOLERANCE:
        return f"within tolerance ({abs(packed - alone):.2g} <= {CUDA_DICE_TOLERANCE} Dice, CUDA)"
    return "DIFFERENT"


if __name__ == "__main__":
    main()
