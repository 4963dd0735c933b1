"""Summary statistics: ``mean_std`` and its ``t_interval`` (from ``studies.intervals``, the
project's one), and paired statistics for ablations, a variant against its base on the same images and seeds.

Per-image Dice of the variant and of the base are paired on (seed, image): the same validation
image scored by the two models trained with the same seed. The differences d = variant - base are
tested with the Wilcoxon signed-rank test (two-sided; zero differences dropped, scipy's
``zero_method="wilcox"``), and the mean difference gets a percentile bootstrap confidence interval
that resamples *images* (each with all its seeds), since the seeds of one image are not
independent. A row is marked significant when p < alpha and the interval excludes 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studies.intervals import MeanStd, mean_std, t_interval  # noqa: F401  (the evidence verbs' names)


@dataclass(frozen=True)
class PairedComparison:
    n_pairs: int
    mean_delta: float
    ci_low: float
    ci_high: float
    statistic: float  # Wilcoxon W: the smaller of the positive and negative rank sums
    p_value: float
    significant: bool


def paired_comparison(
    variant: np.ndarray,
    base: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> PairedComparison:
    """Compare per-image scores shaped (seeds, images), paired element by element."""
    from scipy.stats import wilcoxon

    v = np.asarray(variant, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    if v.shape != b.shape or v.ndim != 2:
        raise ValueError(f"paired scores must both be (seeds, images), got {v.shape} and {b.shape}")
    d = v - b
    flat = d.ravel()
    if np.all(flat == 0):
        statistic, p = 0.0, 1.0
    else:
        result = wilcoxon(flat, zero_method="wilcox", alternative="two-sided")
        statistic, p = float(result.statistic), float(result.pvalue)
    rng = np.random.default_rng(seed)
    n_images = d.shape[1]
    picks = rng.integers(0, n_images, size=(n_boot, n_images))
    boot = d[:, picks].mean(axis=(0, 2))  # (n_boot,)
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return PairedComparison(
        n_pairs=int(flat.size),
        mean_delta=float(flat.mean()),
        ci_low=float(low),
        ci_high=float(high),
        statistic=statistic,
        p_value=p,
        significant=bool(p < alpha and (low > 0 or high < 0)),
    )
