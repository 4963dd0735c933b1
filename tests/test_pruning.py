"""The multi-objective pruner's rule on hand-made learning curves (no training)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studies import schema
from studies.pruning import (
    Reference,
    best_so_far,
    costs_of,
    prune_decision,
    references_from_trials,
)
from studies.spec import PruneSettings, StudySpec

ON = PruneSettings(enabled=True, warmup_epochs=1, margin=0.05, min_references=1)


def decide(costs, curve, epoch, refs, settings=ON, total=10):
    return prune_decision(costs, curve, epoch, total, refs, settings, ("params", "macs"))


CHEAP_GOOD = Reference(1, (100.0, 10.0), (0.5, 0.7, 0.8, 0.85))


def test_prunes_when_a_cheaper_trial_was_better_by_the_margin_at_the_same_epoch():
    d = decide((200.0, 20.0), [0.3, 0.4, 0.45], 3, [CHEAP_GOOD])
    assert d.prune
    assert "trial 1" in d.reason and "epoch 3" in d.reason


def test_equal_costs_count_as_no_more_expensive():
    d = decide((100.0, 10.0), [0.3, 0.4], 2, [CHEAP_GOOD])
    assert d.prune


def test_never_prunes_against_a_trial_that_costs_more_on_any_objective():
    pricier_params = Reference(2, (300.0, 10.0), (0.9, 0.95, 0.97))
    pricier_macs = Reference(3, (100.0, 30.0), (0.9, 0.95, 0.97))
    d = decide((200.0, 20.0), [0.1, 0.1, 0.1], 3, [pricier_params, pricier_macs])
    assert not d.prune


def test_never_prunes_within_the_margin():
    # the cheaper trial leads by 0.04 < 0.05 at epoch 3
    d = decide((200.0, 20.0), [0.3, 0.5, 0.76], 3, [CHEAP_GOOD])
    assert not d.prune


def test_never_prunes_during_warm_up_or_at_the_last_epoch():
    settings = PruneSettings(warmup_epochs=2, margin=0.05, min_references=1)
    assert not decide((200.0, 20.0), [0.0], 1, [CHEAP_GOOD], settings).prune
    assert not decide((200.0, 20.0), [0.0, 0.0], 2, [CHEAP_GOOD], settings).prune
    assert decide((200.0, 20.0), [0.0, 0.0, 0.0], 3, [CHEAP_GOOD], settings).prune
    # last epoch: nothing left to save
    assert not decide((200.0, 20.0), [0.0, 0.0, 0.0], 3, [CHEAP_GOOD], settings, total=3).prune


def test_compares_at_the_same_epoch_not_with_the_reference_s_final_value():
    # at epoch 2 the reference had 0.7; the trial's 0.68 is within the margin although the
    # reference ended at 0.85
    assert not decide((200.0, 20.0), [0.5, 0.68], 2, [CHEAP_GOOD]).prune


def test_uses_the_best_value_so_far_not_the_last_epoch():
    # a dip at epoch 3 (0.2) does not count: the best so far is 0.78, within the margin of 0.8
    assert not decide((200.0, 20.0), [0.6, 0.78, 0.2], 3, [CHEAP_GOOD]).prune
    assert best_so_far([0.6, None, 0.78, 0.2], 4) == 0.78
    assert best_so_far([None, float("nan")], 2) is None


def test_needs_min_references_beaters():
    two = PruneSettings(warmup_epochs=1, margin=0.05, min_references=2)
    other = Reference(4, (150.0, 15.0), (0.6, 0.75, 0.8))
    expensive = Reference(5, (900.0, 90.0), (0.9, 0.9, 0.9))
    assert not decide((200.0, 20.0), [0.3, 0.4, 0.45], 3, [CHEAP_GOOD, expensive], two).prune
    assert decide((200.0, 20.0), [0.3, 0.4, 0.45], 3, [CHEAP_GOOD, other], two).prune


def test_disabled_or_without_a_finite_value_never_prunes():
    off = PruneSettings(enabled=False)
    assert not decide((200.0, 20.0), [0.0, 0.0, 0.0], 3, [CHEAP_GOOD], off).prune
    assert not decide((200.0, 20.0), [None, None, None], 3, [CHEAP_GOOD]).prune
    assert not decide((200.0, 20.0), [0.0, 0.0, 0.0], 3, []).prune


def test_a_shorter_reference_curve_counts_with_its_final_best():
    # a reference that stopped early at epoch 2 (early stopping) keeps its best, 0.7
    short = Reference(6, (100.0, 10.0), (0.5, 0.7))
    assert decide((200.0, 20.0), [0.1, 0.2, 0.3, 0.4], 4, [short]).prune


def test_without_cost_objectives_every_trial_is_a_reference():
    d = prune_decision((), [0.2, 0.3], 2, 10, [Reference(7, (), (0.5, 0.6))], ON, ())
    assert d.prune


def _spec(**kw) -> StudySpec:
    base = dict(
        budget_params=400_000,
        budget_macs=None,
        data_name="synthetic",
        data_fingerprint="f",
        split_hash="h",
        synthetic=True,
        image_size=(64, 64),
        train_config={"epochs": 3},
    )
    return StudySpec(**{**base, **kw})


def _trial(number, state, **attrs):
    return SimpleNamespace(number=number, state=SimpleNamespace(name=state), user_attrs=attrs)


def test_references_are_complete_feasible_trained_non_duplicate_trials_with_a_curve():
    spec = _spec(cost_counter="torch")
    common = {schema.PARAMS: 10, schema.MACS_THOP: 1, schema.MACS_TORCH: 2}
    trials = [
        _trial(0, "COMPLETE", **common, **{schema.FEASIBLE: True, schema.CURVE: [0.5]}),
        _trial(1, "PRUNED", **common, **{schema.FEASIBLE: True, schema.CURVE: [0.9]}),
        _trial(2, "COMPLETE", **common, **{schema.FEASIBLE: False, schema.CURVE: [0.9]}),
        _trial(
            3,
            "COMPLETE",
            **common,
            **{schema.FEASIBLE: True, schema.DUPLICATE_OF: 0, schema.CURVE: [0.5]},
        ),
        _trial(4, "COMPLETE", **common, **{schema.FEASIBLE: True}),
    ]
    refs = references_from_trials(spec, trials)
    assert [r.number for r in refs] == [0]
    assert refs[0].costs == (10.0, 2.0)  # params, then MACs of the torch counter
    assert costs_of(_spec(objectives=("dice", "macs")), common) == (1.0,)


def test_prune_settings_refuse_nonsense():
    with pytest.raises(ValueError):
        PruneSettings(margin=-0.1)
    with pytest.raises(ValueError):
        PruneSettings(min_references=0)
