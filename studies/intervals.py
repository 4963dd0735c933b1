"""Summaries over seeds, the project's one implementation: ``mean_std``, its 95 % ``t_interval``
and the 95 % Welch interval of a difference of two means. A leaf of ``studies`` (no studies
import), so that the store (promotions), the search (its front) and the evidence verbs
(``studies.evidence.stats`` re-exports the first two) share it."""

from __future__ import annotations

import math
from typing import NamedTuple


class MeanStd(NamedTuple):
    mean: float | None  # None when no value is finite
    std: float | None  # sample standard deviation (ddof 1); 0.0 for one value
    n: int  # how many finite values


def finite(values) -> list[float]:
    """The finite values as floats; None and NaN (a seed that failed) are skipped."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def mean_std(values) -> MeanStd:
    """Mean, sample standard deviation (ddof 1, 0.0 for a single value) and count of the finite
    values; None and NaN are skipped (a seed that failed), and none left gives (None, None, 0)."""
    xs = finite(values)
    if not xs:
        return MeanStd(None, None, 0)
    mean = math.fsum(xs) / len(xs)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return MeanStd(mean, std, len(xs))


def t_interval(values) -> tuple[float, float, float]:
    """(mean, lower, upper) of a two-sided 95 % t-interval over ``mean_std``'s finite values
    (a single value: no width; none: NaN)."""
    from scipy import stats

    m = mean_std(values)
    if m.n == 0:
        return math.nan, math.nan, math.nan
    if m.n < 2:
        return m.mean, m.mean, m.mean
    half = float(stats.t.ppf(0.975, m.n - 1)) * m.std / math.sqrt(m.n)
    return m.mean, m.mean - half, m.mean + half


def welch_interval(a, b) -> tuple[float, float, float] | None:
    """(mean of a - mean of b, lower, upper): the two-sided 95 % Welch interval of the difference
    of two independent means over their finite values; None with fewer than two on either side
    (scipy's ``ttest_ind(equal_var=False).confidence_interval()``, kept here for scipy 1.10)."""
    from scipy import stats

    ma, mb = mean_std(a), mean_std(b)
    if ma.n < 2 or mb.n < 2:
        return None
    va, vb = ma.std**2 / ma.n, mb.std**2 / mb.n
    delta = ma.mean - mb.mean
    if va + vb == 0:
        return delta, delta, delta
    dof = (va + vb) ** 2 / (va**2 / (ma.n - 1) + vb**2 / (mb.n - 1))
    half = float(stats.t.ppf(0.975, dof)) * math.sqrt(va + vb)
    return delta, delta - half, delta + half
