"""channels_last on CPU: is it faster, and for which networks? The measurement behind the rule.

Usage: python benchmarks/channels_last.py [--candidates 30] [--seed 0] [--budget-params 0.2M]
       [--image-size 64 64] [--batch-size 16] [--steps 30] [--threads 1]
       [--data ../shared/data/isic2017] [--presets]
       python benchmarks/channels_last.py --accuracy [--candidates 2] [--seeds 3] [--epochs 3]
       [--workers 2] [--out DIR]

For each network (the first ``--candidates`` random candidates of the space within the budget,
plus the presets with ``--presets``) it times ``--steps`` training steps of the ``fast`` recipe
(real augmentation, loss, AdamW step: `trainer.epoch.train_one_epoch` on a ``--steps``-batch
slice of the training split) with ``channels_last`` off and on, alternating the order, after one
untimed warm-up epoch slice each, with ``--threads`` torch threads. It prints the ratio
off/on (> 1: channels_last is faster) per network, whether the network holds any of the layer
kinds the rule looks at, and then the rule's choice against the measured winner.

The rule it supports (``trainer.evaluation.resolve_channels_last``, "auto"): CUDA: on; CPU: on
unless a module of the network declares ``channels_last_cpu = False`` (ODConv, whose per-sample
grouped convolution is the common factor of the networks that are slower in NHWC). Each line
says whether the network holds ODConv and what the rule chooses.

``--accuracy``: is channels_last's different summation order harmless for accuracy? The three
presets within 0.2 M params (scsonet, malunet, egeunet) and ``--candidates`` random candidates are
each trained with ``--seeds`` seeds, channels_last off and on (the ``fast`` recipe, ``--epochs``,
the whole training split, best epoch on the official validation split), ``--workers`` runs at a
time (1 thread each, the same for both settings). Printed: per network and seed the validation
Dice (per-image mean) off and on, then the paired differences on - off against the seed-to-seed
spread (the sd over seeds of the same network and setting).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import header  # noqa: E402
from searchspace import build_model  # noqa: E402
from searchspace.budget import parse_params  # noqa: E402
from searchspace.cost import count_cost  # noqa: E402
from searchspace.presets import PRESETS  # noqa: E402
from searchspace.space import random_genotypes  # noqa: E402
from trainer import load_data, recipe  # noqa: E402
from trainer.datatypes import SplitData  # noqa: E402
from trainer.epoch import make_train_parts, train_one_epoch  # noqa: E402
from trainer.evaluation import _slow_in_nhwc_on_cpu  # noqa: E402


def time_steps(genotype, config, split: SplitData, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(genotype)
    parts = make_train_parts(model, config, torch.device("cpu"), steps * 4)
    warm = SplitData(
        split.images[: config.batch_size * 2],
        split.masks[: config.batch_size * 2],
        split.ids[: config.batch_size * 2],
    )
    train_one_epoch(model, warm, config, parts)
    t0 = time.perf_counter()
    train_one_epoch(model, split, config, parts)
    return time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--candidates", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-params", default="0.2M")
    p.add_argument("--image-size", type=int, nargs=2, default=(64, 64))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default="../shared/data/isic2017")
    p.add_argument("--presets", action="store_true")
    p.add_argument("--accuracy", action="store_true", help="the accuracy check (see above)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", help="run folders (default: a temporary folder)")
    a = p.parse_args(argv)
    if a.accuracy:
        return accuracy(a)
    torch.set_num_threads(a.threads)
    size = tuple(a.image_size)
    print(header("channels_last on CPU: training-step time off / on"))
    print(
        f"{a.steps} steps of batch {a.batch_size} at {size[0]}x{size[1]}, {a.threads} thread(s), "
        f"data {a.data}"
    )
    data = load_data(a.data, image_size=size, progress=False)
    train = data.split("train")
    n = a.steps * a.batch_size
    split = SplitData(train.images[:n], train.masks[:n], train.ids[:n])
    budget = parse_params(a.budget_params)
    nets = []
    if a.presets:
        nets += [(name, p.genotype) for name, p in PRESETS.items()]
    drawn = [
        g
        for g in random_genotypes(a.candidates * 4, seed=a.seed)
        if count_cost(g, size).params <= budget
    ]
    nets += [(g.summary(), g) for g in drawn[: a.candidates]]
    ratios = []
    for i, (name, g) in enumerate(nets):
        times = {}
        for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
            cfg = recipe("fast", image_size=size, batch_size=a.batch_size, channels_last=mode)
            times[mode] = time_steps(g, cfg, split, a.steps)
        r = times["off"] / times["on"]
        ratios.append(r)
        od = bool(_slow_in_nhwc_on_cpu(build_model(g)))
        rule_ok = (r >= 1.0) != od
        print(
            f"{r:5.2f}  off {times['off']:6.2f}s on {times['on']:6.2f}s  odconv {'yes' if od else 'no '}"
            f" rule {'on ' if not od else 'off'} {'right' if rule_ok else 'WRONG'}  {name[:90]}",
            flush=True,
        )
    slower = sum(r < 1.0 for r in ratios)
    print(
        f"\n{len(ratios)} networks: median off/on {statistics.median(ratios):.2f}, "
        f"geometric mean {statistics.geometric_mean(ratios):.2f}, min {min(ratios):.2f}, "
        f"max {max(ratios):.2f}; channels_last slower for {slower} (ratio < 1), "
        f"slower by more than 5 % for {sum(r < 0.95 for r in ratios)}"
    )


CHANNELS_LAST_PAIR = (("off", {"channels_last": "off"}), ("on", {"channels_last": "on"}))


def accuracy(a, pair=CHANNELS_LAST_PAIR, title="channels_last on CPU: accuracy off vs on") -> None:
    """Train every network with ``a.seeds`` seeds under both settings of ``pair`` ((label,
    TrainConfig overrides) twice) and print the paired differences of validation Dice."""
    import functools
    import tempfile

    from runner.runs import train_runs

    size = tuple(a.image_size)
    (la, sa), (lb, sb) = pair
    print(header(f"{title}, paired by network and seed"))
    budget = parse_params(a.budget_params)
    nets = [(n, PRESETS[n].genotype) for n in ("scsonet", "malunet", "egeunet")]
    drawn = [
        g
        for g in random_genotypes(a.candidates * 4, seed=a.seed)
        if count_cost(g, size).params <= budget
    ]
    nets += [(g.id[:12], g) for g in drawn[: a.candidates]]
    print(
        f"{len(nets)} networks x {a.seeds} seeds x ({la}: {sa}, {lb}: {sb}), {a.epochs} epochs "
        f"at {size[0]}x{size[1]}, recipe fast, data {a.data}, {a.workers} runs at a time, 1 thread"
    )
    tmp = tempfile.mkdtemp() if not a.out else a.out
    runs = []
    for name, g in nets:
        for seed in range(a.seeds):
            for label, overrides in pair:
                cfg = recipe("fast", image_size=size, epochs=a.epochs, seed=seed, **overrides)
                runs.append((g, cfg, Path(tmp) / name / f"seed{seed}-{label}"))
    loader = functools.partial(load_data, a.data, image_size=size, progress=False)
    results = train_runs(runs, loader, workers=a.workers, threads=1, device="cpu")
    dice = [((m or {}).get("val") or {}).get("dice_per_image_mean") for m in results]
    diffs, spreads = [], []
    k = 0
    for name, _ in nets:
        per = {la: [], lb: []}
        for seed in range(a.seeds):
            x, y = dice[k], dice[k + 1]
            k += 2
            per[la].append(x)
            per[lb].append(y)
            diffs.append(y - x)
            print(f"{name:14s} seed {seed}: {la} {x:.4f} {lb} {y:.4f} ({lb} - {la} {y - x:+.4f})")
        for label in (la, lb):
            spreads.append(statistics.stdev(per[label]))
    from scipy import stats

    mean = statistics.mean(diffs)
    half = statistics.stdev(diffs) / len(diffs) ** 0.5 * stats.t.ppf(0.975, len(diffs) - 1)
    print(
        f"\npaired {lb} - {la} over {len(diffs)} (network, seed) pairs: mean {mean:+.4f}, sd "
        f"{statistics.stdev(diffs):.4f}, 95 % t-interval [{mean - half:+.4f}, {mean + half:+.4f}]"
        f"; seed-to-seed sd of one network and setting: mean {statistics.mean(spreads):.4f}"
    )


if __name__ == "__main__":
    main()
