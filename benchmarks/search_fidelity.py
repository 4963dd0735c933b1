"""Seconds per candidate at a search fidelity: what a search of N trials costs on this device.

Trains a few random candidates of the space that fit a parameter budget, exactly as the search
does (the ``fast`` recipe, one seed), on synthetic data sized like ISIC 2017 (2000 train, 150
val, 600 test) at the given image size and epochs, and projects the time of 100 trials (every
candidate trained to the end: pruning and over-budget candidates only make it shorter). Needs no
Optuna (a stand-in trial draws the choices), so it runs on a bare GPU machine.

    python benchmarks/search_fidelity.py --device cuda --image-size 128 --epochs 20
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import header  # noqa: E402
from runner.runs import train_genotype  # noqa: E402
from searchspace.budget import format_count, parse_params  # noqa: E402
from searchspace.cost import count_params  # noqa: E402
from searchspace.space import make_genotype, sample_choices  # noqa: E402
from trainer import load_data, recipe  # noqa: E402


class RandomTrial:
    """Just enough of an Optuna trial for ``sample_choices``: uniform categorical draws."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def suggest_categorical(self, name, choices):
        return self.rng.choice(list(choices))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--candidates", type=int, default=6)
    p.add_argument("--budget-params", default="0.4M")
    p.add_argument("--counts", type=int, nargs=3, default=(2000, 150, 600))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    size = (args.image_size, args.image_size)
    budget = parse_params(args.budget_params)
    t0 = time.perf_counter()
    data = load_data(
        "synthetic", image_size=size, synthetic_counts=tuple(args.counts), progress=False
    )
    load_s = time.perf_counter() - t0
    config = recipe("fast", epochs=args.epochs, image_size=size)
    rng = random.Random(args.seed)
    print(header("search fidelity: seconds per candidate", args.device))
    print(
        f"synthetic {args.counts} images at {size[0]}x{size[1]} (generated in {load_s:.0f} s), "
        f"recipe fast, {args.epochs} epochs, batch {config.batch_size}, budget "
        f"{format_count(budget)} params"
    )
    times = []
    while len(times) < args.candidates:
        g = make_genotype(sample_choices(RandomTrial(rng)))
        params = count_params(g)
        if params > budget:
            continue
        t = time.perf_counter()
        r = train_genotype(g, config, data, out_dir=None, device=args.device, progress=False)
        times.append(time.perf_counter() - t)
        print(
            f"  {g.id} {format_count(params):>8} params: {times[-1]:6.1f} s, {r.status}, "
            f"val dice {r.val.get('dice_per_image_mean', float('nan')):.3f}  ({g.summary()})"
        )
    mean = statistics.mean(times)
    print(
        f"mean {mean:.1f} s per candidate (median {statistics.median(times):.1f} s): 100 trials "
        f"trained to the end = {100 * mean / 3600:.1f} h"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
