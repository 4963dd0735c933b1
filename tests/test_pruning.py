"""The multi-objective pruner's rule on hand-made learning curves (no training)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studies.search.pruning import (
    Reference,
    best_so_far,
    costs_of,
    prune_decision,
    references_from_trials,
)
from studies.store import schema
from studies.store.spec import PruneSettings, StudySpec

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
        budgets={"params": 400_000},
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


# ------------------------------------------------------------- multi-objective successive halving
SH = PruneSettings(rule="sh", eta=3, min_resource=1)


def _ref(number: int, accuracy: float, params: float, epochs: int = 1) -> Reference:
    return Reference(number, (params,), (accuracy,) * epochs)


def test_rungs_are_min_resource_times_powers_of_eta_below_the_last_epoch():
    from studies.search.pruning import rungs

    assert rungs(SH, 10) == [1, 3, 9]
    assert rungs(SH, 9) == [1, 3]
    assert rungs(PruneSettings(rule="sh", eta=2, min_resource=2), 20) == [2, 4, 8, 16]


def test_halving_keeps_the_best_third_by_accuracy_when_costs_are_equal():
    refs = [_ref(i, a, 1000) for i, a in enumerate((0.9, 0.8, 0.7, 0.6, 0.5))]
    # 6 points with mine, keep 6 // 3 = 2: only the two best accuracies pass the rung
    low = prune_decision((1000,), [0.55], 1, 10, refs, SH)
    assert low.prune and "not among the best 2 of the 6" in low.reason
    assert not prune_decision((1000,), [0.85], 1, 10, refs, SH).prune
    assert not prune_decision((1000,), [0.55, 0.55], 2, 10, refs, SH).prune  # 2 is no rung
    assert prune_decision((1000,), [0.55], 1, 10, refs[:3], SH).prune  # n = 4 > eta: keep 1
    assert not prune_decision((1000,), [0.1], 1, 10, refs[:2], SH).prune  # n = 3 <= eta: pass


def test_halving_breaks_a_tied_rank_by_hypervolume_contribution():
    # Four mutually non-dominated points, keep 4 // 3 = 1. As (-accuracy, log10 params), with
    # the reference (0, 1 + 4 = 5), sorted by accuracy: (-.9, 4), (-.7, 3), (-.6, 2), (-.5, 1).
    # 2-D contributions (width to the next point's x or 0, times height to the previous y or 5):
    # .2 x 1 = .2, .1 x 1 = .1, .1 x 1 = .1, .5 x 1 = .5: the 0.5-accuracy, 10-param point wins.
    points = {(0.9, 1e4), (0.7, 1e3), (0.6, 1e2), (0.5, 1e1)}
    for mine in points:
        refs = [_ref(i, a, p) for i, (a, p) in enumerate(sorted(points - {mine}))]
        d = prune_decision((mine[1],), [mine[0]], 1, 10, refs, SH)
        assert d.prune == (mine != (0.5, 1e1)), mine


def test_halving_compares_with_pruned_trials_that_reached_the_rung():
    import optuna

    from studies.search.run import make_spec, options_from

    spec = make_spec(options_from(budget_params="400k", prune_rule="sh"))
    attrs = {schema.FEASIBLE: True, schema.PARAMS: 10, schema.MACS_THOP: 10, schema.VAL: {}}
    done = optuna.trial.create_trial(
        values=[0.5, 10, 10], user_attrs={**attrs, schema.CURVE: [0.4, 0.5]}
    )
    pruned = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, user_attrs={**attrs, schema.CURVE: [0.3]}
    )
    assert [r.curve for r in references_from_trials(spec, [done, pruned])] == [(0.4, 0.5), (0.3,)]
    dominance = make_spec(options_from(budget_params="400k"))
    assert len(references_from_trials(dominance, [done, pruned])) == 1  # COMPLETE only


def test_a_stored_spec_from_before_the_halving_fields_still_matches():
    from studies.search.run import make_spec, options_from

    spec = make_spec(options_from(budget_params="400k"))
    stored = spec.to_dict()
    for key in ("rule", "eta", "min_resource"):
        stored["pruning"].pop(key)
    assert spec.differences(stored) == []
    sh = make_spec(options_from(budget_params="400k", prune_rule="sh"))
    assert sh.differences(stored) == ["pruning"]
    with pytest.raises(ValueError, match="unknown pruning rule"):
        PruneSettings(rule="asha")
