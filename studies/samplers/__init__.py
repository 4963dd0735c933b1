"""The samplers of a search: NSGA-II, multi-objective TPE, random, and the one-factor samplers
``local`` and ``evolution`` (``studies.samplers.neighbour``); budgets told as constraints.

Over-budget candidates are completed with positive ``schema.CONSTRAINTS`` (Optuna's convention:
<= 0 is satisfied). NSGA-II and TPE read them, from the trial (``Trial.set_constraint``, Optuna
>= 5, done by ``trial.record_screen``) or through ``constraints_func`` (older Optuna), and
then prefer feasible parents / the feasible region. The random sampler ignores constraints.

Presets hidden from the sampler. A preset enqueued by ``--include-presets`` is not a point of the
space: its trial has no sampled parameters. NSGA-II crosses parents on the *intersection* of the
parameters of all complete trials, which one parameter-less trial empties, turning the search
into random sampling. ``PresetBlindSampler`` therefore shows the wrapped sampler a view of the
study without preset trials; everything else (storage writes, constraints) goes to the study.
``local`` and ``evolution`` are not wrapped: they read the presets' results themselves (a preset
can be on the front or win a tournament), though they cannot mutate a preset.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
)
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from studies.samplers.neighbour import EvolutionSampler, LocalSearchSampler
from studies.samplers.seeded_random import TrialSeededRandomSampler
from studies.store import optuna_compat as compat
from studies.store import schema
from studies.store.spec import StudySpec


def constraints_of(n: int, trial: FrozenTrial) -> tuple[float, ...]:
    """The trial's stored constraints (zeros, i.e. feasible, when it has none)."""
    values = trial.user_attrs.get(schema.CONSTRAINTS)
    if not values or len(values) != n:
        return (0.0,) * n
    return tuple(float(v) for v in values)


# Optuna >= 5 stores constraints on the trial (``Trial.set_constraint``) and deprecates
# ``constraints_func``; older versions only have the function.
CONSTRAINTS_ON_TRIAL = hasattr(optuna.trial.Trial, "set_constraint")


def constraint_names(spec: StudySpec) -> tuple[str, ...]:
    """One constraint per budget (``objectives.budgets``): ``value / budget - 1``."""
    from studies.objectives import budgets

    return tuple(o.name for o, _ in budgets(spec))


def n_constraints(spec: StudySpec) -> int:
    return len(constraint_names(spec))


def sampler_seed(spec: StudySpec, salt: int | str = 0) -> int:
    """``spec.seed`` for a new study (salt 0); a derived seed otherwise, so that a resumed
    search (or a second worker) does not replay the first run's random candidates."""
    if salt in (0, "0"):
        return spec.seed
    digest = hashlib.sha256(f"{spec.seed}:{salt}".encode()).hexdigest()
    return int(digest[:8], 16)


def make_sampler(spec: StudySpec, *, salt: int | str = 0) -> BaseSampler:
    """The spec's sampler, seeded, constrained by the budgets, blind to preset trials."""
    seed = sampler_seed(spec, salt)
    n = n_constraints(spec)
    constraints = functools.partial(constraints_of, n) if n and not CONSTRAINTS_ON_TRIAL else None
    if spec.sampler == "nsga2":
        inner: BaseSampler = optuna.samplers.NSGAIISampler(
            population_size=spec.population_size, seed=seed, constraints_func=constraints
        )
    elif spec.sampler == "tpe":
        inner = optuna.samplers.TPESampler(
            seed=seed, constraints_func=constraints, n_startup_trials=spec.population_size
        )
    elif spec.sampler == "random":
        inner = TrialSeededRandomSampler(seed=spec.seed)
    elif spec.sampler in ("local", "evolution"):
        kind = LocalSearchSampler if spec.sampler == "local" else EvolutionSampler
        # these read the presets' results themselves (they cannot move from them)
        return kind(spec)
    else:
        raise ValueError(f"unknown sampler {spec.sampler!r}")
    return PresetBlindSampler(inner)


class _WithoutPresets:
    """A read view of a study whose trial lists leave out preset trials."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    @staticmethod
    def _keep(trials: list[FrozenTrial]) -> list[FrozenTrial]:
        return [t for t in trials if schema.PRESET not in t.user_attrs]

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        return self._keep(compat.get_trials(self._study, deepcopy, states, use_cache))

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._keep(self._study.get_trials(deepcopy=deepcopy, states=states))

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


class PresetBlindSampler(BaseSampler):
    """Delegates to a sampler, showing it the study without preset trials."""

    def __init__(self, inner: BaseSampler) -> None:
        self.inner = inner

    def __str__(self) -> str:
        return str(self.inner)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(_WithoutPresets(study), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.inner.sample_relative(_WithoutPresets(study), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.inner.sample_independent(
            _WithoutPresets(study), trial, param_name, param_distribution
        )

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
