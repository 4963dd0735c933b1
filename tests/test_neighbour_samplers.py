"""The local-search and evolution samplers on hand-made studies: which candidate each proposes
is derived here by hand from the trials planted in the study (no training)."""

from __future__ import annotations

import optuna
import pytest

from searchspace.space import (
    choices_from_params,
    make_genotype,
    one_factor_neighbours,
    params_of,
    sample_choices,
)
from studies.hypervolume import nondominated_ranks
from studies.samplers import make_sampler
from studies.samplers.neighbour import TARGET, EvolutionSampler, LocalSearchSampler
from studies.search.run import make_spec, options_from
from studies.store import schema

BASE = {"layout": "malunet", "depth": 5, "base_width": 8, "stem": "plain", "block": "dsc",
        "bridge": "none", "upsample": "bilinear"}  # fmt: skip


def spec(sampler: str = "local", population: int = 4):
    return make_spec(
        options_from(budget_params="400k", sampler=sampler, population=population, objectives="accuracy,params")
    )  # fmt: skip


def plant(study: optuna.Study, choices: dict, dice: float, params: int, **extra) -> None:
    """A trained candidate as the search stores it: its parameters, genotype id and values."""
    g = make_genotype(choices)
    attrs = {
        schema.GENOTYPE_ID: g.id,
        schema.FEASIBLE: True,
        schema.VAL: {"dice_per_image_mean": dice},
        schema.PARAMS: params,
        schema.MACS_THOP: params * 10,
        **extra,
    }
    dists = {
        k: optuna.distributions.CategoricalDistribution([v]) for k, v in params_of(choices).items()
    }
    study.add_trial(
        optuna.trial.create_trial(
            params=params_of(choices), distributions=dists, values=[dice, params], user_attrs=attrs
        )
    )  # fmt: skip


def study_with(sampler) -> optuna.Study:
    return optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)


def target(study: optuna.Study, trial: optuna.Trial) -> dict | None:
    """The candidate the sampler chose for the trial (None: it left the draw random)."""
    return study._storage.get_trial(trial._trial_id).system_attrs.get(TARGET)


def propose(study: optuna.Study) -> dict:
    """Ask for one trial, sample it as the search does, return its choices."""
    trial = study.ask()
    return sample_choices(trial)


# four candidates that differ pairwise in stem, block and bridge: no network is a one-factor
# neighbour of two of them, so a proposal names its parent
M1 = BASE
M2 = {**BASE, "stem": "dsc", "block": "conv3", "bridge": "gate"}
M3 = {**BASE, "stem": "axial", "block": "ghpa", "bridge": "scab"}
M4 = {**BASE, "stem": "convstem", "block": "sdc", "bridge": "mlsffm"}


def parent_of(child: dict, members: list[dict]) -> dict:
    ids = make_genotype(child).id
    found = [m for m in members if ids in {make_genotype(n).id for n in one_factor_neighbours(m)}]
    assert len(found) == 1, found
    return found[0]


def test_params_round_trip_and_neighbours_change_one_factor():
    ecdf = {**BASE, "block": "ecdf", "compression": 4, "attention": "sa"}
    for c in (BASE, ecdf):
        assert choices_from_params(params_of(c)) == c
    ns = one_factor_neighbours(ecdf)
    # stem 3 + block 9 + bridge 4 (malunet: none, scab, mlsffm, gate, gab) + upsample 1 + N 4
    # + attention order 5
    assert len(ns) == 3 + 9 + 4 + 1 + 4 + 5
    to_dsc = [n for n in ns if n["block"] == "dsc"]
    assert to_dsc == [{**BASE}]  # leaving ECDF drops N and the order dsc does not take
    assert all(n["depth"] == 5 and n["base_width"] == 8 for n in ns)


def test_local_search_proposes_an_untried_neighbour_of_the_front():
    sampler = make_sampler(spec("local"))
    assert isinstance(sampler, LocalSearchSampler)
    study = study_with(sampler)
    plant(study, M1, 0.80, 10_000)
    plant(study, M2, 0.70, 20_000)  # worse and bigger: not on the front
    tried = {make_genotype(M1).id, make_genotype(M2).id}
    for _ in range(5):
        trial = study.ask()
        c = sample_choices(trial)
        assert parent_of(c, [M1, M2]) == M1  # a neighbour of the front member
        assert make_genotype(c).id not in tried  # never one tried before, failed ones included
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        tried.add(make_genotype(c).id)


def test_local_search_restarts_at_random_when_the_front_has_no_untried_neighbour():
    study = study_with(LocalSearchSampler(spec("local"), seed=3))
    plant(study, BASE, 0.80, 10_000)
    for i, n in enumerate(one_factor_neighbours(BASE)):
        plant(study, n, 0.10 + i * 1e-3, 50_000)  # every neighbour tried, all dominated
    trial = study.ask()
    assert target(study, trial) is None  # no candidate chosen: the draw is random
    sample_choices(trial)


def test_proposals_depend_on_seed_and_trial_number_only():
    def first_proposal(seed):
        study = study_with(LocalSearchSampler(spec("local"), seed=seed))
        plant(study, BASE, 0.8, 10_000)
        return propose(study)

    assert first_proposal(0) == first_proposal(0)
    assert len({make_genotype(first_proposal(s)).id for s in range(6)}) > 1


def test_nondominated_ranks_by_hand():
    # losses (minimise both): a=(0,3) b=(1,1) c=(2,2) d=(3,3) e=(4,0)
    losses = [(0, 3), (1, 1), (2, 2), (3, 3), (4, 0)]
    assert nondominated_ranks(losses) == [0, 0, 1, 2, 0]


def test_evolution_is_random_until_the_population_is_full_then_mutates_a_tournament_winner():
    sampler = make_sampler(spec("evolution", population=4))
    assert isinstance(sampler, EvolutionSampler) and sampler.tournament == 2
    study = study_with(sampler)
    for c, dice in ((M1, 0.5), (M2, 0.6), (M3, 0.7)):
        plant(study, c, dice, 10_000)
    trial = study.ask()
    assert target(study, trial) is None  # 3 trained < population 4: random
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    plant(study, M4, 0.95, 5_000)  # dominates the others; ranks: M4 0, M3 1, M2 2, M1 3
    members, tried, parents = [M1, M2, M3, M4], {make_genotype(m).id for m in (M1, M2, M3, M4)}, []
    for _ in range(8):
        trial = study.ask()
        c = sample_choices(trial)
        assert make_genotype(c).id not in tried
        parents.append(parent_of(c, members))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        tried.add(make_genotype(c).id)
    assert M1 not in parents  # the worst member loses every tournament of 2
    assert M4 in parents  # the best wins every tournament it is drawn into (half of them)


def test_evolution_population_ages_out_the_oldest():
    study = study_with(EvolutionSampler(spec("evolution", population=2), seed=0))
    plant(study, M4, 0.99, 1_000)  # the best, but the oldest: aged out of a population of 2
    plant(study, M2, 0.5, 10_000)
    plant(study, M3, 0.6, 10_000)  # dominates M2: the tournament of both picks it
    assert parent_of(propose(study), [M2, M3, M4]) == M3


@pytest.mark.parametrize("name", ["local", "evolution"])
def test_presets_are_seen_but_not_moved_from(name):
    study = study_with(make_sampler(spec(name, population=2)))
    plant(study, M1, 0.5, 10_000)
    plant(study, M2, 0.4, 20_000)
    # a preset's trial has no parameters; it dominates both but cannot be mutated
    study.add_trial(
        optuna.trial.create_trial(
            params={}, distributions={}, values=[0.99, 1_000],
            user_attrs={schema.GENOTYPE_ID: "preset-id", schema.FEASIBLE: True, schema.PRESET: "malunet",
                        schema.VAL: {"dice_per_image_mean": 0.99}, schema.PARAMS: 1_000, schema.MACS_THOP: 1},
        )
    )  # fmt: skip
    trial = study.ask()
    c = sample_choices(trial)
    if name == "local":  # the preset alone is on the front: nothing to move from, random
        assert target(study, trial) is None
    else:  # population = M2 and the preset; the preset wins and is skipped: M2 is mutated
        assert parent_of(c, [M1, M2]) == M2
