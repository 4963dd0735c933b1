"""Reports: data extracted from small real Optuna studies (SQLite), tables, cards, index, CLI.

Plots are tested on their extracted data (Optuna's style) and on the figure's traces, never on
pixels. One end-to-end study holds real run folders trained for 1 epoch on tiny synthetic data.
"""

from __future__ import annotations

import math
import re
from html import unescape
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution as Cat

import search
from reports import ReportError, build_report, load_study_view
from reports.diagram import _get_diagram_data
from reports.extract import (
    factor_data,
    front_records,
    hypervolume_data,
    importance_data,
    pareto_data,
)
from reports.images import contour
from reports.plots import plot_importance, plot_pareto
from reports.study import parse_confirm
from reports.tables import front_table, trials_table, write_tables
from searchspace.presets import PRESETS
from searchspace.space import make_genotype
from studies.hypervolume import hypervolume, hypervolume_history
from studies.store import schema

optuna.logging.set_verbosity(optuna.logging.WARNING)
METRIC = "dice_per_image_mean"
CHOICES = {"layout": "malunet", "depth": 5, "base_width": 8, "stem": "plain", "bridge": "none"}
DISTS = {
    "layout": Cat(["malunet", "unet"]),
    "depth_malunet": Cat([5, 6]),
    "block": Cat(["dsc", "conv3", "scf"]),
    "upsample": Cat(["bilinear", "nearest"]),
}


def _spec(objectives=("dice", "params", "macs"), budgets=None, data=None, size=(32, 32)) -> dict:
    return {
        "budgets": budgets or {"params": None, "macs": None},
        "cost_counter": "thop",
        "objectives": list(objectives),
        "metric": METRIC,
        "image_size": list(size),
        "data": data or {"name": "synthetic", "fingerprint": "f" * 64, "synthetic": True},
    }


def _add(study, dice, params, macs, *, block="dsc", upsample="bilinear", state="COMPLETE",
         feasible=True, over=None, preset=None, duplicate_of=None, claimed=False) -> None:  # fmt: skip
    """One trial written as the search writes it (schema attributes)."""
    g = PRESETS[preset].genotype if preset else make_genotype({**CHOICES, "block": block, "upsample": upsample})  # fmt: skip
    attrs = {
        schema.GENOTYPE: g.to_dict(), schema.GENOTYPE_ID: g.id, schema.SUMMARY: g.summary(),
        schema.PARAMS: params, schema.MACS_THOP: macs, schema.MACS_TORCH: macs + 1,
        schema.ACT_BYTES: 2**20, schema.IMAGE_SIZE: [32, 32], schema.FEASIBLE: feasible,
    }  # fmt: skip
    if over:
        attrs[schema.OVER_BUDGET] = over
    if preset:
        attrs[schema.PRESET] = preset
    if duplicate_of is not None:
        attrs[schema.DUPLICATE_OF] = duplicate_of
    if claimed:
        attrs[schema.TRAIN_CLAIM] = True
    if dice is not None and not over:
        attrs[schema.VAL] = {METRIC: dice, "jaccard_per_image_mean": dice - 0.1}
        attrs[schema.TEST] = {METRIC: dice - 0.05}
    params_ = {} if preset else {"layout": "malunet", "depth_malunet": 5, "block": block, "upsample": upsample}  # fmt: skip
    st = optuna.trial.TrialState[state]
    values = None if st != optuna.trial.TrialState.COMPLETE else [0.0 if over else dice, params, macs][: len(study.directions)]  # fmt: skip
    study.add_trial(
        optuna.trial.create_trial(
            state=st,
            values=values,
            params=params_,
            distributions={k: DISTS[k] for k in params_},
            user_attrs=attrs,
        )  # fmt: skip
    )


def _study(tmp_path: Path, name: str, spec: dict, directions=("maximize", "minimize", "minimize")):
    storage = f"sqlite:///{tmp_path / (name + '.db')}"
    study = optuna.create_study(study_name=name, storage=storage, directions=list(directions))
    study.set_user_attr(schema.STUDY_SPEC, spec)
    return study, storage


@pytest.fixture()
def hand(tmp_path):
    """Nine trials with hand-chosen numbers; front = {0, 1, 3} (worked out by hand)."""
    study, storage = _study(
        tmp_path, "hand", _spec(budgets={"params": 100_000, "macs": 80_000_000})
    )
    confirm = {"seeds": [0, 1, 2], "val": [{METRIC: v} for v in (0.78, 0.80, 0.82)]}
    study.set_user_attr(schema.CONFIRM, {"0": confirm})  # confirm's results: study-level
    _add(study, 0.80, 50_000, 40_000_000, block="scf")  # 0 front
    _add(study, 0.70, 20_000, 30_000_000, block="dsc")  # 1 front (cheaper)
    _add(study, 0.75, 60_000, 50_000_000, block="conv3")  # 2 dominated by 0
    _add(study, 0.60, 10_000, 60_000_000, block="dsc")  # 3 front (fewest params)
    _add(study, None, 150_000, 20_000_000, feasible=False, over="params 150,000 > 100,000")  # 4
    _add(study, 0.80, 50_000, 40_000_000, block="scf", duplicate_of=0)  # 5 duplicate of 0
    _add(study, 0.65, 53_374, 35_000_000, preset="egeunet")  # 6 published, dominated by 1
    _add(study, None, 0, 0, state="FAIL", feasible=True)  # 7 failed
    _add(study, 0.50, 30_000, 25_000_000, state="PRUNED")  # 8 pruned with a val score
    return storage


def test_the_report_counts_trials_as_the_search_summary_does(tmp_path):
    """One tally (``studies.store.trial_state.tally``): a pruned duplicate is a duplicate, not also a
    pruned trained candidate (the report used to count it twice: 48 of 47 trials)."""
    from reports.html import state_counts
    from studies.search.run import study_counts

    study, storage = _study(tmp_path, "tally", _spec())
    _add(study, 0.80, 50_000, 40_000_000, block="scf", claimed=True)  # 0 trained
    _add(study, 0.50, 30_000, 25_000_000, block="dsc", state="PRUNED", claimed=True)  # 1 pruned
    _add(study, 0.50, 30_000, 25_000_000, block="dsc", state="PRUNED", duplicate_of=1)  # 2 dup
    _add(study, 0.80, 50_000, 40_000_000, block="scf", duplicate_of=0)  # 3 duplicate of 0
    _add(study, None, 150_000, 20_000_000, feasible=False, over="params")  # 4 over budget
    rows = dict(state_counts(load_study_view("tally", storage)))
    counts = study_counts(optuna.load_study(study_name="tally", storage=storage))
    assert rows["trials"] == counts["trials"] == 5
    assert rows["trained (what --trials counts)"] == counts["trained"] == 2
    assert rows["  of them pruned"] == counts["pruned"] == 1
    assert rows["duplicates (not trained)"] == counts["duplicate"] == 2
    assert rows["over budget (not trained)"] == counts["over_budget"] == 1
    assert rows["scored within budget, unique (plotted)"] == 1


def test_pareto_data_groups_match_a_hand_computed_front(hand):
    view = load_study_view("hand", hand)
    data = pareto_data(view)
    numbers = lambda idx: sorted(data.points[i].number for i in idx)  # noqa: E731
    assert numbers(data.front) == [0, 1, 3]
    assert numbers(data.dominated) == [2, 6]
    assert numbers(data.over_budget) == [4]
    assert numbers(data.pruned) == [8]
    assert numbers(data.presets) == [6]
    assert data.points[data.presets[0]].label == "egeunet"
    assert {p.number for p in data.points}.isdisjoint({5, 7})  # duplicate and failed: not drawn
    over = data.points[data.over_budget[0]]
    assert over.accuracy is None and over.params == 150_000
    assert [p.budget for p in data.panels] == [100_000, 80_000_000]
    (c,) = [data.points[i] for i in data.confirmed]
    assert c.number == 0 and c.confirm_seeds == 3
    assert c.confirm_mean == pytest.approx(0.80) and c.confirm_std == pytest.approx(0.02)
    hover = data.points[data.front[0]].hover
    assert "params 50,000" in hover and "MACs thop 40,000,000" in hover and "enc " in hover


def test_an_accuracy_floor_keeps_low_scores_off_the_front_and_out_of_the_hypervolume(tmp_path):
    """Trial 3 (0.60 Dice, the fewest params) is on the front without a floor; with
    ``min_accuracy`` 0.65 it is not, and the hypervolume's reference accuracy is 0.65."""
    from studies.hypervolume import hypervolume

    def study_with(floor):
        spec = {**_spec(budgets={"params": 100_000, "macs": 80_000_000}), "min_accuracy": floor}
        study, storage = _study(tmp_path, f"floor{floor}", spec)
        _add(study, 0.80, 50_000, 40_000_000, block="scf")  # 0
        _add(study, 0.70, 20_000, 30_000_000, block="dsc")  # 1
        _add(study, 0.60, 10_000, 60_000_000, block="conv3")  # 3 in the hand study
        return load_study_view(f"floor{floor}", storage)

    without, floor = study_with(None), study_with(0.65)
    assert [r.number for r in front_records(without)] == [0, 1, 2]
    assert [r.number for r in front_records(floor)] == [0, 1]
    hv = hypervolume_data(floor)
    assert hv.reference[0] == pytest.approx(-0.65)
    # by hand: the front {0, 1} above -0.65 on the accuracy axis, log10 costs to the budgets
    ref = hv.reference
    points = [
        (-0.80, math.log10(50_000), math.log10(40e6)),
        (-0.70, math.log10(20_000), math.log10(30e6)),
    ]
    assert hv.values[-1] == pytest.approx(hypervolume(points, ref))
    assert hypervolume_data(without).reference[0] == 0.0


def test_pareto_figure_draws_the_data(hand):
    data = pareto_data(load_study_view("hand", hand))
    fig = plot_pareto(data)
    front = [t for t in fig.data if t.name == "Pareto front"]
    assert len(front) == 2  # one per panel
    assert sorted(front[0].x) == [10_000, 20_000, 50_000]
    assert sorted(front[1].x) == [30_000_000, 40_000_000, 60_000_000]
    greyed = {t.name for t in fig.data if t.marker.color in ("#cfcfcf", "#9e9e9e", "white")}
    assert any(n.startswith("dominated") for n in greyed) and any(
        n.startswith("over budget") for n in greyed
    )
    (bars,) = [t for t in fig.data if t.name.startswith("confirmed")][:1]
    assert list(bars.error_y.array) == pytest.approx([0.02]) and list(bars.y) == pytest.approx(
        [0.8]
    )
    lines = sorted(s.x0 for s in fig.layout.shapes)
    assert lines == [100_000, 80_000_000]  # budget lines at the spec's budgets
    texts = [a.text for a in fig.layout.annotations]
    assert any("budget 0.1 M params" in t for t in texts)
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"
    anchors = [t for t in fig.data if t.name.startswith("published models (in")]
    assert list(anchors[0].text) == ["egeunet"]


def test_hypervolume_matches_hand_computed_values():
    # 2-D: (1, -0.6) covers 3 x 0.6 = 1.8; (2, -0.8) adds 2 x 0.2 = 0.4; (3, -0.7) is dominated.
    pts = [(2.0, -0.8), (1.0, -0.6), (3.0, -0.7)]
    assert hypervolume(pts, (4.0, 0.0)) == pytest.approx(2.2)
    assert hypervolume_history([pts[0], None, pts[1], pts[2]], (4.0, 0.0)) == pytest.approx(
        [1.6, 1.6, 2.2, 2.2]
    )
    # 3-D: two boxes of volume 2 overlapping in a unit cube.
    assert hypervolume([(0, 1, 1), (1, 0, 1)], (2, 2, 2)) == pytest.approx(3.0)
    assert hypervolume([(3, 0, 0)], (2, 2, 2)) == 0.0  # outside the reference box
    rng = np.random.default_rng(0)
    cloud = rng.random((25, 3))
    try:
        from optuna._hypervolume import compute_hypervolume
    except ImportError:  # private API: the hand-computed cases above still stand
        return
    assert hypervolume(cloud, (1.1, 1.1, 1.1)) == pytest.approx(
        compute_hypervolume(cloud, np.full(3, 1.1))
    )


def test_hypervolume_data_over_a_two_objective_study(tmp_path):
    spec = _spec(objectives=("dice", "params"), budgets={"params": 10_000, "macs": None})
    study, storage = _study(tmp_path, "hv", spec, directions=("maximize", "minimize"))
    _add(study, 0.8, 100, 5)
    _add(study, None, 50_000, 5, feasible=False, over="params over budget")
    _add(study, 0.6, 10, 5)
    _add(study, 0.7, 1000, 5)
    data = hypervolume_data(load_study_view("hv", storage))
    assert data.reference == pytest.approx((0.0, 4.0))  # worst Dice, log10 of the budget
    assert data.trial_numbers == [0, 1, 2, 3]
    assert data.values == pytest.approx([1.6, 1.6, 2.2, 2.2])


def test_importance_needs_enough_trials_and_then_ranks_the_right_factor(tmp_path, hand):
    few = importance_data(load_study_view("hand", hand))
    assert few.importances == [] and "at least 10" in few.message and plot_importance(few) is None
    study, storage = _study(tmp_path, "imp", _spec())
    dice = {"scf": 0.8, "dsc": 0.6, "conv3": 0.4}
    for _ in range(2):  # untrained trials first: trained ones are not numbered from 0
        _add(study, None, 50_000_000, 5, feasible=False, over="params over budget")
    for i in range(12):
        block, up = ("dsc", "conv3", "scf")[i % 3], ("bilinear", "nearest")[(i // 3) % 2]
        params = 1000 * (1 + i % 2) * (10 if up == "nearest" else 1)
        _add(study, dice[block] + 0.001 * i, params, params * 100, block=block, upsample=up)
    data = importance_data(load_study_view("imp", storage))
    assert data.message is None and data.n_trials == 12 and len(data.importances) == 3
    dice_imp, params_imp = data.importances[0], data.importances[1]
    assert max(dice_imp, key=dice_imp.get) == "block"
    assert max(params_imp, key=params_imp.get) == "upsample"
    assert plot_importance(data) is not None


def test_factor_data_best_and_median_per_value(hand):
    data = factor_data(load_study_view("hand", hand))
    blocks = {lv.value: lv for lv in data.factors["block"]}
    assert set(blocks) == {"conv3", "dsc", "scf"}  # the preset has no searched block
    assert sorted(blocks["dsc"].accuracies) == [0.6, 0.7] and blocks["dsc"].numbers == [1, 3]
    assert blocks["dsc"].best == 0.7 and blocks["dsc"].median == pytest.approx(0.65)
    layouts = {lv.value: len(lv.accuracies) for lv in data.factors["layout"]}
    assert layouts == {"malunet": 5}  # 0, 1, 2, 3 + the preset (read off its genotype)


def test_tables_rows_columns_and_seeds(hand, tmp_path):
    view = load_study_view("hand", hand)
    trials = trials_table(view)
    assert list(trials["number"]) == list(range(9))
    assert trials.loc[4, "over_budget"].startswith("params") and not trials.loc[4, "feasible"]
    assert trials.loc[6, "preset"] == "egeunet" and trials.loc[5, "duplicate_of"] == 0
    assert trials.loc[1, "val_" + METRIC] == 0.70 and trials.loc[
        1, "test_" + METRIC
    ] == pytest.approx(0.65)
    front = front_table(view, latency_ms={0: 3.5})
    assert list(front["trial"]) == [0, 1, 3, 6]
    assert list(front["role"]) == ["front", "front", "front", "published"]
    label = "val Dice (per-image mean)"
    assert front.loc[0, label] == pytest.approx(0.80) and front.loc[0, "val seeds"] == 3
    assert front.loc[0, label + " std"] == pytest.approx(0.02) and front.loc[1, "val seeds"] == 1
    assert front.loc[0, "report-time torch eager CPU latency, batch 1 (ms, median)"] == 3.5
    assert pd.isna(front.loc[1, "report-time torch eager CPU latency, batch 1 (ms, median)"])
    assert {"MACs (thop)", "MACs (torch)", "train activations per image (MiB, fp32)"} <= set(front)
    write_tables(view, tmp_path, trials, front)
    md = (tmp_path / "front.md").read_text()
    assert "0.8000 ± 0.0200 (3 seeds)" in md and "| egeunet | published |" in md
    tex = (tmp_path / "front.tex").read_text()
    assert r"\toprule" in tex and r"\#0" in tex and "egeunet" in tex
    assert len(pd.read_csv(tmp_path / "trials.csv")) == 9


def test_parse_confirm_accepts_both_forms():
    payload = {
        "seeds": [1, 2],
        "val": [{"d": 0.5}, {"d": 0.7}],
        "test": None,
        "recipe": "fast",
        "epochs": 20,
    }  # fmt: skip  (as studies/evidence/confirm.py writes it)
    per_seed = parse_confirm(payload, "d")
    assert per_seed.seeds == 2 and per_seed.val_mean == pytest.approx(0.6)
    assert per_seed.detail == "recipe fast, 20 epochs"
    assert per_seed.val_std == pytest.approx(math.sqrt(0.02)) and per_seed.test_mean is None
    summary = parse_confirm({"val": {"d": {"mean": 0.6, "std": 0.1, "n": 5}}}, "d")
    assert (summary.seeds, summary.val_mean, summary.val_std) == (5, 0.6, 0.1)
    assert (
        parse_confirm({"val": [{"other": 1.0}]}, "d") is None and parse_confirm(None, "d") is None
    )


def test_contour_is_the_inner_boundary():
    mask = np.zeros((7, 7), bool)
    mask[1:6, 1:6] = True
    edge = contour(mask)
    assert edge.sum() == 16 and not edge[3, 3] and edge[1, 1] and not edge[0, 0]


@pytest.mark.parametrize("name", ["malunet", "lmsaunet", "ulite"])
def test_stage_diagram_places_every_block(name):
    g = PRESETS[name].genotype
    data = _get_diagram_data(g)
    assert len(data.boxes) == len(g.slots()) + 1  # + the head
    decoders = [b for b in data.boxes if b.role == "decoder"]
    assert len(data.skips) == len(decoders) == len(g.decoder)
    for a, b in data.skips:  # a skip joins an encoder and a decoder at the same resolution
        assert data.boxes[a].role == "encoder" and data.boxes[a].level == data.boxes[b].level
    assert min(b.level for b in decoders) == 0


def test_missing_or_empty_study_is_one_error_and_writes_nothing(tmp_path, capsys):
    missing = tmp_path / "nothing.db"
    with pytest.raises(ReportError, match="no study storage"):
        build_report("x", f"sqlite:///{missing}", tmp_path / "out")
    assert not missing.exists() and not (tmp_path / "out").exists()
    study, storage = _study(tmp_path, "empty", _spec())
    _add(study, None, 0, 0, state="FAIL")
    with pytest.raises(ReportError, match="no complete trial"):
        build_report("empty", storage, tmp_path / "out")
    with pytest.raises(ReportError, match="no study 'other'.*studies there: empty"):
        build_report("other", storage, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert search.main(["report", "--study", "other", "--storage", storage]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no study 'other'") and "\n" not in err


def test_journal_storage_is_read_and_never_created(tmp_path):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    log = tmp_path / "journal.log"
    storage = JournalStorage(JournalFileBackend(str(log)))
    study = optuna.create_study(study_name="j", storage=storage, directions=["maximize"] + ["minimize"] * 2)  # fmt: skip
    study.set_user_attr(schema.STUDY_SPEC, _spec())
    _add(study, 0.7, 1000, 10_000)
    view = load_study_view("j", f"journal:{log}")
    assert [r.number for r in view.records] == [0] and view.accuracy(view.records[0]) == 0.7
    with pytest.raises(ReportError, match="no study storage"):
        load_study_view("j", f"journal:{tmp_path / 'other.log'}")
    assert not (tmp_path / "other.log").exists()


def test_cards_say_why_there_are_no_images(hand, tmp_path):
    from reports.cards import card_html
    from reports.images import Samples, load_samples

    view = load_study_view("hand", hand)
    note = load_samples(tmp_path / "gone").note
    assert note.startswith("no validation images") and "split.json" in note
    html = unescape(card_html(view, view.records[0], role="front", latency_ms=None, samples=Samples(None, note)))  # fmt: skip
    assert note in html and "data:image/png" not in html and "<svg" in html
    assert "0.8000 ± 0.0200" in html  # the confirm result


# ------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A study of 3 trained genotypes (real run folders, 1 epoch, 32x32 synthetic) + 1 over budget."""
    from runner.runs import train_genotype
    from searchspace.cost import count_cost
    from trainer import load_data, recipe

    root = tmp_path_factory.mktemp("e2e")
    size = (32, 32)
    data = load_data("synthetic", image_size=size, synthetic_counts=(16, 8, 8), progress=False)
    spec = _spec(budgets={"params": 300_000, "macs": None},
                 data={"name": data.name, "fingerprint": data.fingerprint, "synthetic": True})  # fmt: skip
    study, storage = _study(root, "e2e", spec)
    config = recipe("fast", epochs=1, image_size=size, batch_size=8)
    for i, (block, preset) in enumerate([("dsc", None), ("conv3", None), (None, "malunet")]):
        g = PRESETS[preset].genotype if preset else make_genotype({**CHOICES, "block": block})
        cost = count_cost(g, size, memory=True)
        run = root / f"trial-{i}"
        fit = train_genotype(g, config, data, out_dir=run, device="cpu", progress=False)
        attrs = {
            schema.GENOTYPE: g.to_dict(),
            schema.GENOTYPE_ID: g.id,
            schema.SUMMARY: g.summary(),
            schema.PARAMS: cost.params,
            schema.MACS_THOP: cost.macs_thop,
            schema.MACS_TORCH: cost.macs_torch,
            schema.IMAGE_SIZE: list(size),
            schema.FEASIBLE: True,
            schema.VAL: fit.val,
            schema.TEST: fit.test,
            schema.RUN_DIR: str(run),
        }  # fmt: skip  (ACT_BYTES left out: the report reads it from cost.json)
        if preset:
            attrs[schema.PRESET] = preset
        params = {} if preset else {"layout": "malunet", "depth_malunet": 5, "block": block}
        study.add_trial(
            optuna.trial.create_trial(
                values=[fit.val[METRIC], cost.params, cost.macs_thop],
                params=params,
                distributions={k: DISTS[k] for k in params},
                user_attrs=attrs,
            )  # fmt: skip
        )
    _add(study, None, 900_000, 10**9, feasible=False, over="params 900,000 > 300,000")
    return root, storage


def _hrefs(html: str) -> list[str]:
    return re.findall(r"href='([^']+)'", html)


def test_cli_report_writes_a_complete_offline_report(trained, monkeypatch, capsys):
    root, storage = trained
    monkeypatch.setenv("BROWSER_PATH", str(root / "no-chrome"))  # PNG export: tested elsewhere
    out = root / "report"
    assert search.main(["report", "--study", "e2e", "--storage", storage, "--out", str(out)]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    index = (out / "index.html").read_text()
    assert "pareto.png was not written" in index and "SYNTHETIC" in index
    assert f"optuna-dashboard {storage}" in index
    for href in _hrefs(index):  # every link of the index resolves to a file of the report
        assert (out / href.split("#")[0]).is_file(), href
    pareto = (out / "pareto.html").read_text()
    assert "Plotly.newPlot" in pareto and not re.search(r"<script[^>]+src=\"http", pareto)
    assert len(pareto) > 1_000_000  # plotly.js inlined: opens with no network
    analysis = (out / "analysis.html").read_text()
    assert "needs at least 10 trained trials" in analysis and analysis.count("Plotly.newPlot") == 2
    front = pd.read_csv(out / "front.csv")
    view = load_study_view("e2e", storage)
    trained_rows = front[front["trial"].notna()]
    assert set(trained_rows["trial"].astype(int)) >= {r.number for r in view.records if r.preset}
    assert (trained_rows["report-time torch eager CPU latency, batch 1 (ms, median)"] > 0).all()
    assert (trained_rows["train activations per image (MiB, fp32)"] > 0).all()  # from cost.json
    refs = front[front["role"].str.contains("costs only")]
    assert "scsonet" in set(refs["model"]) and "malunet" not in set(refs["model"])
    cards = sorted((out / "cards").glob("*.html"))
    assert len(cards) == len(trained_rows)
    for card in cards:
        html = unescape(card.read_text())
        assert html.count("data:image/png;base64,") == 4 and "<svg" in html
        assert "synthetic_val_" in html and '"layout": "malunet"' in html
    # A second build replaces the report; a foreign folder is never overwritten.
    build_report("e2e", storage, out, latency=False, references=False)
    assert "costs only" not in (out / "front.csv").read_text()
    foreign = root / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ReportError, match="not a lesion-nas report"):
        build_report("e2e", storage, foreign, latency=False, references=False)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_verdicts_of_a_paired_delta():
    from studies.evidence.rivals import verdict

    assert verdict(0.001, 0.02) == "beats"
    assert verdict(-0.004, 0.004) == "matches" and verdict(-0.005, 0.005) == "matches"
    assert verdict(-0.02, -0.001) == "loses"
    assert verdict(-0.01, 0.004) == "inconclusive" and verdict(-0.001, 0.006) == "inconclusive"


def test_the_rivals_section_lists_cheaper_front_members_and_stored_verdicts(tmp_path):
    """Published models costed at the study's 32x32; front members cheaper on both axes are
    their rivals (* when they reach the published model's search-fidelity score, known only
    for a preset the study trained); a stored ``confirm --published`` result gives the verdict."""
    from reports.tables import rivals_table
    from searchspace.cost import count_cost

    ege = count_cost(PRESETS["egeunet"].genotype, (32, 32))
    mal = count_cost(PRESETS["malunet"].genotype, (32, 32))
    study, storage = _study(tmp_path, "rivals", _spec())
    _add(study, 0.70, ege.params, ege.macs_thop, preset="egeunet")  # 0: trained here
    _add(study, 0.72, 20_000, ege.macs_thop // 2, block="scf")  # 1: beats egeunet's 0.70
    _add(study, 0.60, 10_000, ege.macs_thop // 4, block="dsc")  # 2: cheaper, does not reach
    _add(study, 0.80, ege.params + 1, ege.macs_thop + 1, block="conv3")  # 3: dearer than ege
    _add(study, 0.50, 30_000, 2 * mal.macs_thop, upsample="nearest")  # 4: dominated
    study.set_user_attr(
        schema.RIVALS,
        {"egeunet": {"1": {"delta": 0.012, "ci": [0.004, 0.02], "pairs": 300, "verdict": "beats",
                           "params": 20_000, "macs_thop": ege.macs_thop // 2,
                           "dice": 0.812, "published_dice": 0.8,
                           "fidelity": "32x32, 1 epochs"},
                     "2": {"delta": -0.03, "ci": [-0.05, -0.01], "pairs": 300,
                           "verdict": "loses", "fidelity": "32x32, 1 epochs"}}},
    )  # fmt: skip
    view = load_study_view("rivals", storage)
    table = rivals_table(view).set_index("published")
    row = table.loc["egeunet"]
    assert row["params"] == ege.params and row["MACs (thop)"] == ege.macs_thop
    assert row["val (search fidelity)"] == pytest.approx(0.70)
    assert row["cheaper front members (* reach it)"] == "#1*, #2"
    assert row["best confirmed rival"] == "#1" and row["verdict"] == "beats"
    assert row["Δ Dice (rival − published)"] == pytest.approx(0.012)
    assert row["Dice (confirmed)"] == pytest.approx(0.8)
    assert row["rival Dice (confirmed)"] == pytest.approx(0.812)
    assert row["rival params"] == 20_000 and row["rival MACs (thop)"] == ege.macs_thop // 2
    from reports.tables import write_rivals

    write_rivals(view, tmp_path, rivals_table(view))
    md = (tmp_path / "rivals.md").read_text()
    assert "nan" not in md and "| +0.0120 " in md and "| 20,000 " in md and "| 0.8120 " in md
    # every row confirmed (no "-" in a column): the shown text stays as shown, signs and digits
    confirmed = rivals_table(view)
    (tmp_path / "one").mkdir()
    write_rivals(view, tmp_path / "one", confirmed[confirmed["published"] == "egeunet"])
    md = (tmp_path / "one" / "rivals.md").read_text()
    assert "| +0.0120 " in md and "| +0.0040 " in md and "| +0.0200 " in md
    # malunet was not trained here: its rivals are listed unmarked, no verdict yet
    mrow = table.loc["malunet"]
    assert pd.isna(mrow["val (search fidelity)"]) and pd.isna(mrow["verdict"])
    assert mrow["cheaper front members (* reach it)"] == "#3, #1, #2"  # #0 is dominated by #1
    assert set(table.index) >= {"scsonet", "malunet", "egeunet"}
