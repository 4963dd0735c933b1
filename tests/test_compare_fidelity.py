"""compare (hypervolume per group against hand-computed values, refusals, files) and fidelity
(rank correlations against hand-computed values, selection, a real retraining and its resume)."""

from __future__ import annotations

import json
import math

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial

import runner.runs as runs_mod
import search as cli
from reports.compare import compare, parse_groups, run_compare
from studies.evidence.fidelity import Entry, rank_correlations, run_fidelity, select
from studies.search.run import make_spec, options_from, run_search
from studies.store import schema


def _study(url: str, name: str, spec: dict, points: list[tuple]) -> None:
    """A stored study with hand-made trials: (dice, params, feasible) each, in order."""
    study = optuna.create_study(study_name=name, storage=url, directions=["maximize", "minimize"])
    study.set_user_attr(schema.STUDY_SPEC, spec)
    for i, (dice, params, feasible) in enumerate(points):
        attrs = {
            schema.FEASIBLE: feasible,
            schema.PARAMS: params,
            schema.MACS_THOP: 10 * params,
            schema.MACS_TORCH: 10 * params,
            schema.GENOTYPE_ID: f"{name}-{i}",
        }
        if feasible:
            attrs.update({schema.TRAIN_CLAIM: True, schema.VAL: {"dice_per_image_mean": dice}})
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=[dice if feasible else 0.0, float(params)],
                user_attrs=attrs,
            )
        )


def _spec(**changes) -> dict:
    o = options_from(**{"budget_params": "100k", "objectives": "dice,params", "sampler": "random",
                        **changes})  # fmt: skip
    return make_spec(o).to_dict()


def test_compare_hypervolume_by_hand_and_files(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    # reference point: (0 = worst Dice, log10(budget 100k) = 5)
    _study(url, "a1", _spec(seed=0), [(0.5, 10_000, True), (0.8, 1_000, True)])
    _study(url, "b1", _spec(seed=1, sampler="tpe"), [(0.9, 10**4.5, True), (0.0, 500_000, False)])
    _study(url, "b2", _spec(seed=2, sampler="tpe"), [(0.5, 10_000, True), (0.6, 10_000, True)])
    cmp = compare({"a": ["a1"], "b": ["b1", "b2"]}, url)
    assert cmp.reference == pytest.approx((0.0, 5.0))
    (a1,) = cmp.groups["a"]
    b1, b2 = cmp.groups["b"]
    # A: 0.5 x (5 - 4) = 0.5; then B dominates A: 0.8 x (5 - 3) = 1.6
    assert a1.hv_by_trained == pytest.approx([0.5, 1.6]) and a1.trained == 2
    # C: 0.9 x (5 - 4.5) = 0.45; the over-budget trial is not a trained candidate
    assert b1.hv_by_trained == pytest.approx([0.45]) and b1.trained == 1
    assert b2.hv_by_trained == pytest.approx([0.5, 0.6])
    assert cmp.at == 1  # the fewest trained candidates of any study
    (test,) = cmp.tests
    assert test["a"] == "a" and test["b"] == "b" and 0.0 <= test["mannwhitney_p"] <= 1.0

    _, folder, _ = run_compare(["a=a1", "b=b1,b2"], url, str(tmp_path / "out"), at=1)
    table = pd.read_csv(folder / "compare.csv")
    assert list(table["study"]) == ["a1", "b1", "b2"]
    assert table["hv_at_1"].tolist() == pytest.approx([0.5, 0.45, 0.5])
    md = (folder / "compare.md").read_text()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in md.splitlines()]
    # the per-group table: group, studies, HV mean (b: (0.45 + 0.5) / 2), HV sd, 95 % CI
    assert ["a", "1", "0.5000", "0.0000", "[0.5000, 0.5000]"] in [r[:5] for r in cells]
    assert ["b", "2", "0.4750", "0.0354"] in [r[:4] for r in cells]
    assert (folder / "compare.html").is_file()


def test_compare_refuses_incompatible_studies_and_bad_groups(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    _study(url, "x", _spec(seed=0), [(0.5, 10_000, True)])
    _study(url, "y", _spec(seed=1, epochs=5), [(0.5, 10_000, True)])
    with pytest.raises(ValueError, match=r"not comparable: train_config differs \(epochs"):
        compare({"a": ["x"], "b": ["y"]}, url)
    for bad in (["a=x"], ["a=x", "a=y"], ["a=", "b=y"], ["a=x", "b=x"], ["nogroup", "b=y"]):
        with pytest.raises(ValueError):
            parse_groups(bad)
    code = cli.main(["compare", "--group", "a=x", "--group", "b=y", "--storage", url])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err


def test_rank_correlations_by_hand():
    low, high = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    stats = rank_correlations(low, high)
    assert stats["spearman"] == pytest.approx(0.8)  # 1 - 6 * 4 / (5 * 24)
    assert stats["kendall"] == pytest.approx(0.6)  # (8 concordant - 2 discordant) / 10
    lo, hi = stats["spearman_ci"]
    assert lo <= stats["spearman"] <= hi and -1 <= lo and hi <= 1
    assert stats["high_best_rank_at_low"] == 1 and stats["high_best_in_low_top3"]
    worst = rank_correlations([5, 4, 3, 2, 1], [1, 2, 3, 4, 5])
    assert worst["spearman"] == pytest.approx(-1) and worst["high_best_rank_at_low"] == 5
    assert not worst["high_best_in_low_top3"] and worst["high_best_in_low_top5"]  # 5th of 5
    with pytest.raises(ValueError):
        rank_correlations([1, 2], [1, 2])


def _entry(name, low, front=False, preset=None):
    return Entry(name, None, low, (name,), front, preset, 1)


def test_selection_front_first_then_best_or_strata():
    entries = [_entry("f1", 0.9, True), _entry("f2", 0.7, True), _entry("p", 0.6, preset="egeunet")]
    entries += [_entry(f"d{i}", 0.1 * i) for i in range(6)]
    top = select(entries, 4, None, 0)
    assert [e.name for e in top] == ["f1", "f2", "d5", "d4", "p"]
    sample = select(entries, None, 5, 0)
    names = [e.name for e in sample]
    # all 8 non-presets sorted by score, 5 strata: the best kept, one drawn from each other
    assert names[0] == "f1" and names[-1] == "p" and len(names) == 6
    strata = [{"d5"}, {"d4", "d3"}, {"d2"}, {"d1", "d0"}]
    assert all(n in st for n, st in zip(names[1:5], strata, strict=True))
    assert select(entries, None, 5, 0) == sample  # seeded
    assert [e.name for e in select(entries, 2, None, 0)] == ["f1", "f2", "p"]
    with pytest.raises(ValueError, match=">= 3"):
        select([e for e in entries if e.preset is None], 1, None, 0)
    with pytest.raises(ValueError, match=">= 1"):
        select(entries, 0, None, 0)
    with pytest.raises(ValueError):
        select(entries, 3, 3, 0)


def test_fidelity_retrains_reports_and_resumes(tmp_path, monkeypatch):
    outcome = run_search(
        options_from(
            trials=4,
            epochs=1,
            image_size=(32, 32),
            limit=32,
            sampler="random",
            seed=7,
            workers="1",
            progress=False,
            report=False,
            out=str(tmp_path),
        )  # fmt: skip
    )
    kw = dict(top=3, image_size=(64, 64), epochs=1, seeds=1, out_root=tmp_path, progress=False,
              workers=1)  # fmt: skip
    stats = run_fidelity([outcome.study_name], **kw)
    folder = tmp_path / outcome.study_name / "fidelity" / "64x64-e1-fast"
    table = pd.read_csv(folder / "top3-seeds1" / "fidelity.csv")
    assert len(table) == 3 and (table["high_seeds"] == 1).all()
    from scipy import stats as sps

    low = table["low_val_dice_per_image_mean"]
    high = table["high_val_dice_per_image_mean_mean"]
    assert stats["spearman"] == pytest.approx(sps.spearmanr(low, high).statistic)
    assert stats["kendall"] == pytest.approx(sps.kendalltau(low, high).statistic)
    assert json.loads((folder / "top3-seeds1" / "fidelity.json").read_text())["n"] == 3
    for name in table["name"]:
        config = json.loads((folder / name / "seed7" / "train_config.json").read_text())
        assert config["image_size"] == [64, 64] and config["epochs"] == 1

    def no_training(*a, **k):
        raise AssertionError("fidelity retrained a finished run")

    monkeypatch.setattr(runs_mod, "train_genotype", no_training)
    again = run_fidelity([outcome.study_name], **kw)
    assert again["spearman"] == stats["spearman"] or (
        math.isnan(again["spearman"]) and math.isnan(stats["spearman"])
    )
    # against a reference: per-image scores give back each run's own validation Dice, and the
    # paired delta (one seed) is the difference of the two means
    ref = table["name"][0]
    paired = run_fidelity([outcome.study_name], **kw, reference=ref)["paired"]
    assert list(paired["name"]) == list(table["name"])
    for row in paired.to_dict("records"):
        val = json.loads((folder / row["name"] / "seed7" / "metrics.json").read_text())["val"]
        assert row["dice_mean"] == pytest.approx(val["dice_per_image_mean"], abs=1e-6)
        assert row["jaccard_mean"] == pytest.approx(val["jaccard_per_image_mean"], abs=1e-6)
    base = paired.set_index("name")["dice_mean"][ref]
    others = paired[paired["name"] != ref]
    assert others["delta_dice_vs_ref"].to_numpy() == pytest.approx(
        (others["dice_mean"] - base).to_numpy(), abs=1e-9
    )
    assert (others["pairs"] == 100).all()  # the synthetic validation split: 100 images x 1 seed
    assert math.isnan(paired.set_index("name")["delta_dice_vs_ref"][ref])
    assert (folder / f"top3-seeds1-vs-{ref}" / "paired.csv").is_file()
    assert not (folder / "top3-seeds1" / "paired.csv").exists()  # the first report is kept
