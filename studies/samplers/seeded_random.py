"""Random search whose draw for trial k depends on (seed, k, parameter name) only."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial


class TrialSeededRandomSampler(optuna.samplers.RandomSampler):
    """Random search whose draw for trial k depends on (seed, k, parameter name) only.

    Optuna's ``RandomSampler`` draws from one generator per sampler object, so two workers with
    the same seed draw the same candidates, and a resumed search replays them. Here every value
    comes from its own generator seeded with sha256(seed, trial number, name): any number of
    workers, in any order, and a resumed search give trial k the same candidate, so a random
    search with N workers tries the same set of genotypes as with one. Each draw is uniform over
    the distribution (categorical: every choice equally likely; int: every step; float, log:
    uniform in log space)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.base_seed = int(seed)

    def _trial_rng(self, trial: FrozenTrial, name: str) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.base_seed}:{trial.number}:{name}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        rng = self._trial_rng(trial, param_name)
        d = param_distribution
        if isinstance(d, CategoricalDistribution):
            return d.choices[int(rng.integers(len(d.choices)))]
        if isinstance(d, IntDistribution):
            if d.log:
                value = math.exp(rng.uniform(math.log(d.low), math.log(d.high + 1)))
                return int(min(d.high, max(d.low, math.floor(value))))
            return d.low + d.step * int(rng.integers((d.high - d.low) // d.step + 1))
        if isinstance(d, FloatDistribution):
            if d.log:
                return float(math.exp(rng.uniform(math.log(d.low), math.log(d.high))))
            if d.step is not None:
                return d.low + d.step * int(rng.integers(round((d.high - d.low) / d.step) + 1))
            return float(rng.uniform(d.low, d.high))
        raise TypeError(f"unsupported distribution {d!r}")
