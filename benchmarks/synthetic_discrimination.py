"""Does the built-in synthetic data tell architectures apart the way real dermoscopy does?

Usage: python benchmarks/synthetic_discrimination.py [--seeds 1] [--workers 2]
       [--data ../shared/data/isic2017] [--limit 400] [--out runs/bench/synthetic-discrimination]

The seven published presets are trained with the default demo's recipe (the search verb's
defaults on synthetic data: recipe ``fast``, 64x64, 6 epochs, batch 16, best epoch on
validation; pruning off) on

- the built-in synthetic data at the demo's size (400 / 100 / 100 images), and
- the ISIC 2017 sample: the first ``--limit`` official training images (400, as many as the
  demo's synthetic training split) and the 150 official validation images,

``--seeds`` seeds each, ``--workers`` runs at a time (one torch thread each). Printed: each
preset's validation Dice (per-image mean, mean over seeds) on both, the synthetic spread
(max - min over presets), and Spearman's rho between the two rankings. The issue's targets
(issue 20): spread >= 0.15 and rho >= 0.6. Runs live in ``--out`` and are reused: re-running
trains only what is missing; the synthetic runs are keyed by the generator version, so a new
generator retrains only them.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import header  # noqa: E402

SIZE = (64, 64)
EPOCHS = 6


def load(source: str, limit: int | None):
    from trainer.data import load_data

    return load_data(source, image_size=SIZE, limit=limit, progress=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", default="../shared/data/isic2017")
    ap.add_argument("--limit", type=int, default=400)
    ap.add_argument("--presets", default=None, help="comma-separated subset (default: all 7)")
    ap.add_argument("--only", choices=("both", "synthetic", "real"), default="both")
    ap.add_argument("--out", default="runs/bench/synthetic-discrimination")
    a = ap.parse_args(argv)

    import numpy as np
    from scipy.stats import spearmanr

    from runner.runs import train_runs
    from searchspace.presets import PRESETS
    from trainer import recipe
    from trainer.data import synthetic as synth

    print(header("Synthetic data vs ISIC 2017: do the presets spread and rank alike?"))
    names = a.presets.split(",") if a.presets else list(PRESETS)
    out = Path(a.out)
    sources = {
        "synthetic": ("synthetic", None, f"synthetic-v{synth.GENERATOR_VERSION}"),
        "isic2017": (a.data, a.limit, f"isic2017-limit{a.limit}"),
    }
    if a.only == "synthetic":
        sources.pop("isic2017")
    elif a.only == "real":
        sources.pop("synthetic")
    scores: dict[str, dict[str, list[float]]] = {}
    for key, (source, limit, tag) in sources.items():
        runs = []
        for name in names:
            for seed in range(a.seeds):
                config = recipe("fast", image_size=SIZE, epochs=EPOCHS, seed=seed)
                runs.append((PRESETS[name].genotype, config, out / tag / f"{name}-s{seed}"))
        t0 = time.perf_counter()
        results = train_runs(
            runs, partial(load, source, limit), workers=a.workers, threads=1, device="cpu"
        )
        print(f"{key}: {len(runs)} runs in {time.perf_counter() - t0:.0f} s ({tag})")
        per = scores.setdefault(key, {})
        for (_g, _c, run_dir), r in zip(runs, results, strict=True):
            name = run_dir.name.rsplit("-s", 1)[0]
            value = np.nan if r is None else r["val"]["dice_per_image_mean"]
            per.setdefault(name, []).append(value)
    print()
    print("| preset | " + " | ".join(f"{k} val Dice" for k in scores) + " |")
    print("|---|" + "---|" * len(scores))
    means = {k: {n: float(np.mean(v)) for n, v in per.items()} for k, per in scores.items()}
    for name in names:
        print(f"| {name} | " + " | ".join(f"{means[k][name]:.4f}" for k in scores) + " |")
    for k, m in means.items():
        values = list(m.values())
        print(f"{k}: spread (max - min) {max(values) - min(values):.4f}, max {max(values):.4f}")
    if len(means) == 2:
        syn, real = (means[k] for k in ("synthetic", "isic2017"))
        rho = spearmanr([syn[n] for n in names], [real[n] for n in names]).statistic
        print(f"Spearman rho (synthetic vs ISIC 2017, {len(names)} presets): {rho:.3f}")
    print(
        f"(validation Dice per-image mean, mean of {a.seeds} seed(s); recipe fast, "
        f"{SIZE[0]}x{SIZE[1]}, {EPOCHS} epochs; synthetic 400/100/100, ISIC 2017 first "
        f"{a.limit} training images + 150 validation)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
