"""The noise-aware search (issue 30): front members promoted to a fuller fidelity during the
search. The rule on hand-made studies, the CI-carrying front on hand-made replicates, the
report's error bars, and the resume of a really promoted study (tiny synthetic data)."""

from __future__ import annotations

import dataclasses

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution as Cat

from searchspace.space import make_genotype
from studies import objectives
from studies.search import promotion
from studies.search.front import front_table, pareto_front, trained_records
from studies.search.run import make_spec, options_from, run_search
from studies.store import schema
from studies.store.promoted import Promotion, promoted
from studies.store.spec import PromotionPlan, StudySpec
from studies.store.storage import SpecMismatch

optuna.logging.set_verbosity(optuna.logging.WARNING)
METRIC = "dice_per_image_mean"
BLOCKS = ("dsc", "conv3", "scf", "ecdf", "msffm")


def _spec(**kw) -> StudySpec:
    return make_spec(options_from(promote="1:3", image_size=(64, 64), epochs=2, **kw))


def _add(study, dice: float, params: int, macs: int, block: str) -> None:
    """One trained candidate written as the search writes it."""
    g = make_genotype({"layout": "malunet", "depth": 5, "base_width": 8, "stem": "plain",
                       "bridge": "none", "block": block})  # fmt: skip
    attrs = {
        schema.GENOTYPE: g.to_dict(), schema.GENOTYPE_ID: g.id, schema.SUMMARY: g.summary(),
        schema.PARAMS: params, schema.MACS_THOP: macs, schema.MACS_TORCH: macs,
        schema.IMAGE_SIZE: [64, 64], schema.FEASIBLE: True, schema.VAL: {METRIC: dice},
        schema.TRAIN_SECONDS: 10.0,
    }  # fmt: skip
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE,
            values=[dice, params, macs],
            params={"block": block},
            distributions={"block": Cat(list(BLOCKS))},
            user_attrs=attrs,
        )  # fmt: skip
    )


def _promote(study, number: int, values: list[float], seconds: float = 100.0) -> None:
    r = next(r for r in trained_records(study) if r.number == number)
    stored = dict(study.user_attrs.get(schema.PROMOTED) or {})
    stored[r.genotype_id] = Promotion(r.genotype_id, number, "96x96-e10", list(values),
                                      [seconds] * len(values)).to_dict()  # fmt: skip
    study.set_user_attr(schema.PROMOTED, stored)


@pytest.fixture()
def hand():
    """Trial 0 is a lucky draw: best told score, cheapest of the good ones. Worked out by hand:
    at the search fidelity the front is {0, 2, 3} (1 is dominated by 0; 4 is below the floor
    0.6 when one is set)."""
    return _hand_study()


def _hand_study(storage: str | None = None, name: str | None = None) -> optuna.Study:
    study = optuna.create_study(
        storage=storage, study_name=name, directions=["maximize", "minimize", "minimize"]
    )
    _add(study, 0.84, 40_000, 3_000_000, "dsc")  # 0 lucky
    _add(study, 0.80, 50_000, 3_500_000, "conv3")  # 1 dominated by 0 at the search fidelity
    _add(study, 0.79, 30_000, 2_800_000, "scf")  # 2 cheaper, worse than 0 and 1
    _add(study, 0.86, 90_000, 6_000_000, "ecdf")  # 3 dearer, better
    _add(study, 0.50, 10_000, 1_000_000, "msffm")  # 4 cheapest, poor
    return study


def test_fidelity_top_retrains_the_network_the_search_handed_over(tmp_path):
    """``search.py fidelity --top 1`` on a promoted study: the handed-over network (1, the best
    fuller-fidelity mean), not the best told score (3)."""
    from studies.evidence.fidelity import select, union_entries

    url = f"sqlite:///{tmp_path / 'hand.db'}"
    study = _hand_study(url, "hand")
    study.set_user_attr(schema.STUDY_SPEC, _spec().to_dict())
    gid = {r.number: r.genotype_id[:12] for r in trained_records(study)}
    _, entries = union_entries(["hand"], url, tmp_path)
    assert select(entries, 3, None, 0)[0].name == gid[3]  # before: the told best
    _promote(study, 0, [0.77, 0.78, 0.79])
    _promote(study, 1, [0.82, 0.83, 0.84])
    _promote(study, 3, [0.80, 0.81, 0.82])
    _, entries = union_entries(["hand"], url, tmp_path)
    assert {e.name for e in entries if e.on_front} == {gid[n] for n in (0, 1, 2, 4)}
    top = select(entries, 3, None, 0)
    assert [e.name for e in top] == [gid[1], gid[0], gid[2]]  # promoted by fuller mean first
    assert top[0].fuller == pytest.approx(0.83) and top[2].fuller is None


def _numbers(records) -> set[int]:
    return {r.number for r in records}


def test_each_pair_is_judged_at_the_fullest_fidelity_both_have():
    # (-accuracy, params): a is dearer and better at the search fidelity, b cheaper and worse;
    # promoted, b is better: then b dominates a. c was never promoted: it meets both at the
    # search fidelity, where neither dominates it.
    low = [(-0.80, 20.0), (-0.75, 10.0), (-0.79, 15.0), None]
    fuller = [(-0.70, 20.0), (-0.78, 10.0), None, (-0.99, 1.0)]
    assert objectives.pareto_indices_fullest(low, [None] * 4) == [0, 1, 2]
    assert objectives.pareto_indices_fullest(low, fuller) == [1, 2]  # d: below the floor (None)
    # one promoted candidate alone is still judged at the search fidelity against the others
    assert objectives.pareto_indices_fullest(low, [fuller[0], None, None, None]) == [0, 1, 2]
    with pytest.raises(ValueError, match="fuller-fidelity"):
        objectives.pareto_indices_fullest(low, fuller[:2])


def test_a_round_promotes_the_k_best_unpromoted_front_members_above_the_floor(hand):
    spec = _spec()
    records = trained_records(hand)
    assert _numbers(pareto_front(spec, records)) == {0, 2, 3, 4}
    assert [r.number for r in promotion.pick(spec, records, {}, 2)] == [3, 0]
    floor = dataclasses.replace(spec, min_accuracy=0.6)
    assert [r.number for r in promotion.pick(floor, records, {}, 5)] == [3, 0, 2]  # never 4
    # before any promotion the search hands over the best told score
    assert promotion.chosen(spec, pareto_front(spec, records), {}).number == 3
    # promoted: the lucky 0 falls to 0.78 and 1 reaches 0.83: 1 (dearer, better) no longer
    # loses to 0; 3 measures 0.81 at the fuller fidelity
    _promote(hand, 0, [0.77, 0.78, 0.79])
    _promote(hand, 1, [0.82, 0.83, 0.84])
    _promote(hand, 3, [0.80, 0.81, 0.82])
    promos = promoted(hand)
    assert _numbers(pareto_front(spec, records, promos)) == {1, 0, 2, 3, 4} - {3}
    # 3 (90 k) lost to 1 (50 k) at the fuller fidelity; 0 stays: cheaper than 1
    assert [r.number for r in promotion.pick(spec, records, promos, 3)] == [2, 4]
    front = pareto_front(spec, records, promos)
    assert promotion.chosen(spec, front, promos).number == 1
    # the promotions' seconds count beside the trained candidates' (--budget-hours)
    assert promotion.spent_seconds(hand) == (50.0, 900.0)


def test_local_search_moves_from_the_fullest_front(hand):
    """The sampler's own front: after promotion it moves from 1 (a better network at the fuller
    fidelity) and no longer from 3."""
    from studies.samplers.neighbour import _Trained, front_of

    spec = _spec()
    trials = [t for t in hand.get_trials() if t.state.name == "COMPLETE"]
    before = front_of([_Trained(t, spec) for t in trials])
    assert before == [0, 2, 3, 4]
    _promote(hand, 0, [0.77, 0.78, 0.79])
    _promote(hand, 1, [0.82, 0.83, 0.84])
    _promote(hand, 3, [0.80, 0.81, 0.82])
    after = front_of([_Trained(t, spec, promoted(hand)) for t in trials])
    assert after == [0, 1, 2, 4]


def test_the_front_carries_mean_and_ci_of_hand_made_replicates(hand):
    p = Promotion("x", 0, "96x96-e10", [0.80, 0.82, 0.84, None])
    mean, lo, hi = p.interval()  # a failed seed (None) is left out
    # scipy.stats.t.interval(0.95, 2, loc=0.82, scale=0.02 / sqrt(3))
    assert (mean, lo, hi) == pytest.approx((0.82, 0.7703172457649934, 0.8696827542350065))
    q = Promotion("y", 1, "96x96-e10", [0.70, 0.71, 0.72])
    # scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval()
    assert promotion.difference(p, q) == pytest.approx((0.11, 0.06844600496817504,
                                                         0.15155399503182493))  # fmt: skip
    assert promotion.difference(p, Promotion("z", 2, "96x96-e10", [0.7])) is None
    spec = _spec()
    _promote(hand, 0, [0.77, 0.78, 0.79])
    _promote(hand, 1, [0.82, 0.83, 0.84])
    _promote(hand, 3, [0.82, 0.84, 0.86])  # the dearest, now the best fuller-fidelity mean
    promos = promoted(hand)
    front = pareto_front(spec, trained_records(hand), promos)
    assert _numbers(front) == {0, 1, 2, 3, 4}
    df = front_table(spec, front, promos).set_index("trial")
    assert df.loc[3, "handed_over"] and not df.loc[1, "handed_over"]
    assert (df.loc[3, "fidelity"], df.loc[3, "seeds"]) == ("96x96-e10", 3)
    assert df.loc[3, "mean"] == pytest.approx(0.84)
    assert df.loc[3, "ci_low"] == pytest.approx(0.84 - 0.0496828, abs=1e-4)
    assert df.loc[4, "fidelity"] == "64x64-e2" and pd.isna(df.loc[4, "ci_low"])
    assert df.loc[4, "mean"] == pytest.approx(0.50)
    assert df.loc[0, "vs_handed_over"].endswith(" distinguishable")  # 0.78 vs 0.84
    assert df.loc[1, "vs_handed_over"].endswith("indistinguishable")  # 0.83 vs 0.84
    assert df.loc[1, "vs_handed_over"].startswith("-0.0100 [")
    assert df.loc[2, "vs_handed_over"] == df.loc[4, "vs_handed_over"] == "not comparable"
    assert df.loc[3, "vs_handed_over"] == ""


def test_the_report_draws_promoted_members_with_error_bars(tmp_path, hand):
    from reports import load_study_view
    from reports.extract import handed_over, pareto_data
    from reports.plots import plot_pareto
    from reports.tables import display_table
    from reports.tables import front_table as report_front

    storage = f"sqlite:///{tmp_path / 'p.db'}"
    study = optuna.create_study(study_name="p", storage=storage, directions=hand.directions)
    for t in hand.get_trials():
        study.add_trial(t)
    study.set_user_attr(schema.STUDY_SPEC, _spec().to_dict())
    _promote(study, 0, [0.77, 0.78, 0.79])
    _promote(study, 1, [0.82, 0.83, 0.84])
    view = load_study_view("p", storage)
    assert handed_over(view).number == 1
    data = pareto_data(view)
    shown = [data.points[i] for i in data.promoted_points]
    assert sorted(p.number for p in shown) == [0, 1]
    assert data.fuller_fidelity == "96x96-e10"
    fig = plot_pareto(data)
    bars = [t for t in fig.data if t.name and t.name.startswith("promoted to 96x96-e10")]
    assert bars and list(bars[0].y) == pytest.approx([0.78, 0.83])
    assert list(bars[0].error_y.array) == pytest.approx([0.0248414] * 2, abs=1e-6)
    df = report_front(view)
    row = df[df["trial"] == 1].iloc[0]
    assert bool(row["handed over"]) and row["fullest seeds"] == 3
    text = display_table(df, view)
    assert "(handed over)" in " ".join(text.iloc[:, -2])
    from reports import build_report

    index = build_report("p", storage, tmp_path / "report", latency=False) / "index.html"
    assert "the network handed over is #1 (the best promoted mean)" in index.read_text()


def test_the_plan_is_part_of_the_spec_and_bad_plans_are_refused():
    spec = _spec()
    assert spec.promotion == PromotionPlan(1, 3, 10, (96, 96), 10)
    stored = spec.to_dict()
    assert StudySpec.from_dict(stored) == spec
    old = {k: v for k, v in stored.items() if k != "promotion"}  # a study from before plans
    assert make_spec(options_from(image_size=(64, 64), epochs=2)).differences(old) == []
    assert spec.differences(old) == ["promotion"]
    changed = make_spec(options_from(promote="2:3", image_size=(64, 64), epochs=2))
    assert "k 1 vs 2" in changed.describe_difference(stored, "promotion")
    for kw, match in (
        (dict(promote="0:3"), "--promote must be K:S"),
        (dict(promote="2"), "--promote must be K:S"),
        (dict(promote="2:3", promote_fidelity="96x96"), "HxW:EPOCHS"),
        (dict(promote_every=5), "need --promote"),
        (dict(promote="2:3", promote_fidelity="64x64:2"), "not fuller"),
        (dict(promote="2:3", promote_fidelity="80x80:10"), "multiple of 32"),
        (dict(promote="2:3", promote_every=0), "promote-every >= 1"),
    ):
        with pytest.raises(ValueError, match=match):
            make_spec(options_from(image_size=(64, 64), epochs=2, **kw))


def test_a_promoted_study_resumes_with_its_promotions_and_refuses_another_plan(tmp_path, capsys):
    """Real training on tiny synthetic data: a run stopped by --budget-hours before its first
    round; resumed, the due round runs, the study grows to 4 with a round at 4; a changed plan is
    refused and the stored promotions are untouched."""
    base = dict(image_size=(32, 32), limit=32, progress=False, report=False, sampler="local",
                workers="1", epochs=1, out=str(tmp_path), study="promo", promote="1:2",
                promote_every=2, promote_fidelity="32x32:2")  # fmt: skip
    run_search(options_from(trials=4, budget_hours=1e-9, **base))
    study = optuna.load_study(study_name="promo", storage=f"sqlite:///{tmp_path}/promo/study.db")
    assert len(trained_records(study)) == 2 and promoted(study) == {}
    assert "training budget reached" in capsys.readouterr().out
    outcome = run_search(options_from(trials=4, **base))
    out = capsys.readouterr().out
    study = optuna.load_study(study_name="promo", storage=outcome.storage)
    promos = promoted(study)
    assert promotion.rounds_done(study) == {2, 4}
    assert 1 <= len(promos) <= 2 and len(trained_records(study)) == 4
    for p in promos.values():
        assert p.fidelity == "32x32-e2" and len(p.scores) == 2 and all(s > 0 for s in p.seconds)
        for run_dir in p.run_dirs:
            assert (tmp_path / "promo" / "promote" / "32x32-e2").as_posix() in run_dir
    assert "handed over: trial" in out and "promotions: " in out
    before = dict(study.user_attrs[schema.PROMOTED])
    run_search(options_from(trials=4, **base))  # resumed, finished: nothing new
    study = optuna.load_study(study_name="promo", storage=outcome.storage)
    assert study.user_attrs[schema.PROMOTED] == before
    with pytest.raises(SpecMismatch, match="promotion"):
        run_search(options_from(trials=6, **{**base, "promote": "2:2"}))
    study = optuna.load_study(study_name="promo", storage=outcome.storage)
    assert study.user_attrs[schema.PROMOTED] == before and len(trained_records(study)) == 4


def test_the_ray_backend_runs_the_same_rounds(tmp_path):
    """A real local Ray: candidates trained by Tune in rounds of 1 on one Ray session, promotions
    trained on the driver between them, the same study attributes as the Optuna backend."""
    pytest.importorskip("ray.tune")
    import ray

    outcome = run_search(
        options_from(
            backend="ray",
            trials=2,
            promote="1:1",
            promote_every=1,
            promote_fidelity="32x32:2",
            image_size=(32, 32),
            limit=24,
            epochs=1,
            sampler="random",
            progress=False,
            report=False,
            out=str(tmp_path),
            study="ray-promo",
        )  # fmt: skip
    )
    assert not ray.is_initialized()  # the session it started is shut down
    study = optuna.load_study(study_name="ray-promo", storage=outcome.storage)
    assert len(trained_records(study)) == 2
    assert promotion.rounds_done(study) == {1, 2}
    promos = promoted(study)
    assert 1 <= len(promos) <= 2
    assert all(p.fidelity == "32x32-e2" and len(p.scores) == 1 for p in promos.values())


def test_a_round_is_claimed_once_under_the_study_lock(tmp_path):
    """Two commands on one storage: the second to reach a round finds it claimed."""
    from studies.search.run import _claim_round

    url = f"sqlite:///{tmp_path / 'c.db'}"
    study = optuna.create_study(study_name="c", storage=url, directions=["maximize"])
    other = optuna.load_study(study_name="c", storage=url)  # another command's handle
    assert _claim_round(study, url, "c", [10])
    assert not _claim_round(other, url, "c", [10])
    assert _claim_round(other, url, "c", [10, 20])  # 20 was not claimed yet
    assert promotion.rounds_done(study) == {10, 20}
