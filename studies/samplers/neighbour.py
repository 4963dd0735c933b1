"""Samplers that move one factor at a time: multi-objective local search and regularised evolution.

Both are Optuna ``BaseSampler``s, so the Optuna workers and the Ray searcher use the same code
(``studies.samplers.make_sampler``). They choose a whole candidate before the trial samples
anything (``before_trial``) and then answer each ``suggest_categorical`` of
``searchspace.space.sample_choices`` with that candidate's value (``sample_independent``); a
parameter the candidate does not have falls back to the seeded random draw. A move is one of
``searchspace.space.one_factor_neighbours`` (the ablate verb's factors: stem, block, N,
attention order, bridge, up-sampling), on choices, so every neighbour is a point of the space.

- ``local``: the study's current Pareto front of trained candidates (the study's objectives,
  each pair judged at the fullest fidelity both have when the study promotes front members:
  ``studies.search.promotion``); the next candidate is an untried one-factor neighbour of a
  front member, drawn uniformly over all such neighbours. When every neighbour of every front
  member has been tried (a local optimum of the front), it restarts: a random candidate.
- ``evolution``: regularised (ageing) evolution. The population is the last ``population``
  trained candidates (by trial number); a tournament of ``max(2, population // 4)`` of them,
  drawn at random, picks as parent the one with the best non-dominated rank among them (ties:
  the first drawn); the child is an untried one-factor neighbour of the parent (a random
  candidate when it has none). Until the population is full it draws random candidates.

"Untried" means no trial of the study has the neighbour's genotype id (any state: running,
over budget, pruned). Every random choice comes from a generator seeded with (seed, trial
number), so a resumed search or another worker proposes the same candidate for trial k given the
same study. Presets enqueued by ``--include-presets`` are trials without parameters: they count
as tried genotypes and take part in the front and the tournaments through their results, but
being outside the choice space they cannot be mutated, so neither sampler moves from them.
"""

from __future__ import annotations

import abc
import hashlib
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from searchspace.space import (
    NEIGHBOUR_FACTORS,
    choices_from_params,
    make_genotype,
    one_factor_neighbours,
    params_of,
)
from studies import objectives
from studies.hypervolume import nondominated_ranks
from studies.samplers.seeded_random import TrialSeededRandomSampler
from studies.store import optuna_compat as compat
from studies.store import schema
from studies.store.promoted import promoted
from studies.store.spec import StudySpec

TARGET = "neighbour_sampler_target"  # trial system attribute: the chosen candidate's parameters


def _rng(seed: int, number: int, salt: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}:{number}:{salt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class _Trained:
    """A trained candidate as the samplers see it: its choices (None for a preset), its loss
    vector on the study's objectives and its trial number."""

    def __init__(self, trial: FrozenTrial, spec: StudySpec, promoted: dict | None = None) -> None:
        self.number = trial.number
        preset = schema.PRESET in trial.user_attrs
        self.choices = None if preset else choices_from_params(trial.params)
        self.loss = objectives.loss_vector(spec, trial.user_attrs)
        # the loss vector at the fuller fidelity when a promotion round measured it (None: not)
        p = (promoted or {}).get(trial.user_attrs.get(schema.GENOTYPE_ID) or "")
        self.fuller = objectives.with_accuracy(spec, self.loss, p.mean if p else None)


def front_of(trained: list[_Trained]) -> list[int]:
    """The front among trained candidates, each pair judged at the fullest fidelity both have
    (``objectives.pareto_indices_fullest``; the search-fidelity front when none was promoted)."""
    return objectives.pareto_indices_fullest([c.loss for c in trained],
                                             [c.fuller for c in trained])  # fmt: skip


class NeighbourSampler(BaseSampler):
    """Base of the two: candidate choice in ``propose``, the rest shared."""

    def __init__(self, spec: StudySpec, *, seed: int | None = None) -> None:
        self.spec = spec
        self.seed = int(spec.seed if seed is None else seed)
        self.population = int(spec.population_size)
        self.factors: tuple[str, ...] = NEIGHBOUR_FACTORS  # which factors a move may change
        self.random = TrialSeededRandomSampler(seed=self.seed)

    # --- what the study holds ---
    def _history(self, study: optuna.Study) -> tuple[list[_Trained], set[str]]:
        trained, tried = [], set()
        promos = promoted(study.user_attrs) if self.spec.promotion is not None else {}
        for t in study.get_trials(deepcopy=False):
            gid = t.user_attrs.get(schema.GENOTYPE_ID)
            if gid:
                tried.add(gid)
            target = t.system_attrs.get(TARGET)
            if target and not gid:  # proposed, not recorded yet (or ended before it was)
                tried.add(make_genotype(choices_from_params(target)).id)
            if t.state != TrialState.COMPLETE:
                continue
            r = schema.record_from_trial(t)
            if r.trained and r.duplicate_of is None:  # as ``front.trained_records`` counts
                c = _Trained(t, self.spec, promos)
                if c.loss is not None:
                    trained.append(c)
        return trained, tried

    def untried(self, choices: dict, tried: set[str]) -> list[dict]:
        moves = one_factor_neighbours(choices, self.factors)
        return [n for n in moves if make_genotype(n).id not in tried]

    @abc.abstractmethod
    def propose(
        self, trained: list[_Trained], tried: set[str], rng: np.random.Generator
    ) -> dict | None:
        """The next candidate's choices, or None for a random one."""

    # --- Optuna's sampler contract ---
    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        enqueued = trial.params or "fixed_params" in trial.system_attrs
        if enqueued or schema.PRESET in trial.user_attrs:  # a preset, a warm start: as it is
            return
        trained, tried = self._history(study)
        target = self.propose(trained, tried, _rng(self.seed, trial.number, type(self).__name__))
        if target is not None:
            compat.set_system_attr(trial, study, TARGET, params_of(target))

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        return {}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        target = trial.system_attrs.get(TARGET) or {}
        value = target.get(param_name)
        d = param_distribution
        if isinstance(d, CategoricalDistribution) and value in d.choices:
            return value
        return self.random.sample_independent(study, trial, param_name, d)

    def after_trial(self, study, trial, state, values) -> None:
        return None

    def reseed_rng(self) -> None:
        self.random.reseed_rng()


class LocalSearchSampler(NeighbourSampler):
    """Multi-objective local search over one-factor neighbours of the front (see the module)."""

    def propose(self, trained, tried, rng) -> dict | None:
        movable = [c for c in trained if c.choices is not None]
        if not movable:
            return None  # nothing to move from yet: a random candidate
        front = front_of(trained)
        pool = []
        for i in front:
            if trained[i].choices is not None:
                pool += self.untried(trained[i].choices, tried)
        if not pool:
            return None  # every neighbour of the front tried: restart at random
        return pool[int(rng.integers(len(pool)))]


class EvolutionSampler(NeighbourSampler):
    """Regularised evolution with non-dominated-rank tournaments (see the module)."""

    @property
    def tournament(self) -> int:
        return max(2, self.population // 4)

    def propose(self, trained, tried, rng) -> dict | None:
        if len(trained) < self.population:
            return None  # the first population is random
        population = sorted(trained, key=lambda c: c.number)[-self.population :]
        picks = rng.choice(len(population), size=self.tournament, replace=False)
        sample = [population[int(i)] for i in picks]
        ranks = nondominated_ranks([c.loss for c in sample])
        order = sorted(range(len(sample)), key=lambda i: ranks[i])  # stable: ties keep draw order
        for i in order:  # the best-ranked parent that can be mutated and has an untried child
            parent = sample[i]
            if parent.choices is None:
                continue
            children = self.untried(parent.choices, tried)
            if children:
                return children[int(rng.integers(len(children)))]
        return None
