"""The objectives table: every entry through a tiny search (values, directions, the front, Optuna's
metric names, the plot's panels), labels by the metric, the one front function, old studies."""

from __future__ import annotations

import optuna
import pytest

import studies.search.trial as objective
from reports import load_study_view
from reports.extract import front_records, pareto_data
from searchspace.cost import count_cost
from studies import objectives
from studies.search.front import pareto_front, trained_records
from studies.search.run import make_spec, options_from, run_search
from studies.store import schema
from trainer import FitResult

TINY = dict(image_size=(32, 32), limit=32, epochs=1, progress=False, report=False,
            sampler="random", workers="1")  # fmt: skip


def fake(metric: str):
    def train(genotype, config, data, *, out_dir, device, progress, on_epoch):
        score = 0.9 - count_cost(genotype, (32, 32)).params / 2e6
        row = {"epoch": 1, f"val_{metric}": score}
        if on_epoch is not None:
            on_epoch(1, dict(row))
        return FitResult("completed", "fake", 1, {metric: score}, None, [row], 1, 0.01, 0.0,
                         out_dir)  # fmt: skip

    return train


SUBSETS = [
    ("accuracy,params", "dice_per_image_mean"),
    ("dice,macs", "dice_per_image_mean"),  # "dice": the old name of accuracy
    ("accuracy,params,macs", "jaccard_per_image_mean"),
    ("accuracy", "dice_pooled"),
    ("accuracy,memory", "dice_per_image_mean"),
]


@pytest.mark.parametrize("names, metric", SUBSETS)
def test_every_objective_through_a_search(names, metric, tmp_path, monkeypatch):
    monkeypatch.setattr(objective, "train_genotype", fake(metric))
    out = run_search(options_from(objectives=names, metric=metric, trials=5, seed=2,
                                  out=str(tmp_path), **TINY))  # fmt: skip
    spec = make_spec(options_from(objectives=names, metric=metric, **TINY))
    assert spec.objectives == objectives.parse(names)
    study = optuna.load_study(study_name=out.study_name, storage=out.storage)
    assert study.metric_names == objectives.metric_names(spec)
    assert [d.name.lower() for d in study.directions] == [o.direction for o in objectives.of(spec)]
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        assert tuple(t.values) == pytest.approx(objectives.values(spec, t.user_attrs))
    # one front function: the search's, the report's, and the table's on the trials agree
    records = trained_records(study)
    search_front = {r.number for r in pareto_front(spec, records)}
    view = load_study_view(out.study_name, out.storage)
    assert {r.number for r in front_records(view)} == search_front == {r.number for r in out.front}
    by_table = objectives.pareto_front(spec, records, lambda r: r.attrs)
    assert {r.number for r in by_table} == search_front
    # brute force: nothing on the front is dominated, everything off it is
    losses = {r.number: objectives.loss_vector(spec, r.attrs) for r in records}
    for n, v in losses.items():
        dominated = any(objectives.dominates(w, v) for m, w in losses.items() if m != n)
        assert dominated == (n not in search_front)
    # the plot: one panel per cost objective (params and MACs for an accuracy-only study)
    data = pareto_data(view)
    expected = [o.name for o in objectives.costs(spec)] or ["params", "macs"]
    assert [p.name for p in data.panels] == expected
    # labelled by the metric, never "dice" for another metric
    labels = " ".join(
        [*data.objectives, *study.metric_names, *out.front_csv.read_text().split(",")[:3]]
    )
    assert metric in " ".join(study.metric_names)
    if not metric.startswith("dice"):
        assert "dice" not in labels.lower() and "Dice" not in data.metric_label


def test_parse_and_old_names():
    assert objectives.parse("dice,params") == ("accuracy", "params")
    for bad in ("params", "accuracy,flops", "accuracy,accuracy", "", "dice,dice"):
        with pytest.raises(ValueError, match="--objectives"):
            objectives.parse(bad)
    spec = make_spec(options_from(objectives="dice,params,macs"))
    stored = spec.to_dict()
    stored["objectives"] = ["dice", "params", "macs"]  # a study made before the table
    assert spec.differences(stored) == []
    assert type(spec).from_dict(stored).objectives == ("accuracy", "params", "macs")


def test_a_study_stored_before_a_new_train_field_still_resumes_and_compares():
    from studies.store.spec import check_comparable

    spec = make_spec(options_from())
    stored = spec.to_dict()
    del stored["train_config"]["optimizer_impl"]  # a study made before the field existed
    assert spec.differences(stored) == []
    check_comparable([("old", stored), ("new", spec.to_dict())])
    stored["train_config"]["optimizer_impl"] = "forloop"  # asked for another one: differs
    assert spec.differences(stored) == ["train_config"]
    assert "optimizer_impl 'forloop' vs 'auto'" in spec.describe_difference(stored, "train_config")
    with pytest.raises(ValueError, match="optimizer_impl"):
        check_comparable([("old", stored), ("new", spec.to_dict())])


def test_budgets_and_costs_read_the_table():
    spec = make_spec(options_from(budget_params="50k", budget_gflops="0.01", cost_counter="torch",
                                  objectives="accuracy,macs"))  # fmt: skip
    assert [(o.name, b) for o, b in objectives.budgets(spec)] == [("params", 5e4), ("macs", 1e7)]
    assert [o.name for o in objectives.costs(spec)] == ["macs"]
    attrs = {schema.PARAMS: 10, schema.MACS_THOP: 100, schema.MACS_TORCH: 200,
             schema.VAL: {spec.metric: 0.5}}  # fmt: skip
    assert objectives.values(spec, attrs) == (0.5, 200.0)  # the torch counter
    assert objectives.loss_vector(spec, attrs) == (-0.5, 200.0)
    assert objectives.cost_vector(spec, attrs) == (200.0,)
    assert objectives.values(spec, {schema.PARAMS: 10}) is None


# ------------------------------------------------------------------------------ memory
def test_memory_budget_parses_measures_and_refuses():
    """The activation-memory objective (added as docs/extending.md says: one table entry): its
    budget's parser, the pre-screen measuring it only when asked, and the refusal's wording."""
    from searchspace.presets import PRESETS
    from studies.search.trial import prescreen

    parse = objectives.OBJECTIVES["memory"].budget.parse
    assert parse("8MiB") == 8 * 2**20 and parse("512KiB") == 2**19 and parse("8") == 8 * 2**20
    assert parse("1.5GB") == 1.5e9 and parse(" 3 mib ") == 3 * 2**20
    for bad in ("0", "-1MiB", "lots", "8 parsecs"):
        with pytest.raises(ValueError, match="--budget-memory"):
            parse(bad)
    g = PRESETS["egeunet"].genotype
    exact = count_cost(g, (32, 32), memory=True).act_bytes
    assert exact > 0
    plain = make_spec(options_from(**TINY))
    assert prescreen(plain, g).attrs[schema.ACT_BYTES] is None  # not measured when not asked
    tight = make_spec(options_from(budget_memory=f"{exact - 1}B", **TINY))
    screen = prescreen(tight, g)
    assert screen.attrs[schema.ACT_BYTES] == exact
    assert not screen.feasible and "activation memory" in screen.reason
    assert screen.constraints == (pytest.approx((exact - 1 + 1) / (exact - 1) - 1),)
    loose = make_spec(options_from(budget_memory=f"{exact}B", **TINY))
    assert prescreen(loose, g).feasible and loose.budgets == {"memory": exact}


# ------------------------------------------------------------------------------ latency
def test_latency_parse_and_measure():
    from runner.latency import measure
    from searchspace.budget import parse_latency_ms
    from searchspace.presets import PRESETS

    assert parse_latency_ms("15ms") == 15 and parse_latency_ms("0.015s") == 15
    assert parse_latency_ms("1500us") == pytest.approx(1.5) and parse_latency_ms(" 2 ") == 2
    for bad in ("0", "-1ms", "fast", "15 min"):
        with pytest.raises(ValueError, match="--budget-latency"):
            parse_latency_ms(bad)
    g = PRESETS["egeunet"].genotype
    for runtime in ("ort_cpu", "torch_cpu"):
        lat = measure(g, (32, 32), runtime, repeats=5, warmup=1)
        assert lat.runtime == runtime and lat.median_ms > 0 and lat.iqr_ms >= 0
        assert lat.repeats == 5 and lat.threads == 1
    with pytest.raises(ValueError, match="runtime"):
        measure(g, (32, 32), "tpu")


def test_latency_budget_refuses_and_records_like_the_params_budget():
    from searchspace.presets import PRESETS
    from studies.search.trial import prescreen

    g = PRESETS["egeunet"].genotype
    tight = make_spec(options_from(budget_latency="0.001ms", objectives="accuracy,params", **TINY))
    screen = prescreen(tight, g)
    assert not screen.feasible and "latency ONNX Runtime CPU" in screen.reason
    assert screen.constraints[-1] > 0 and screen.attrs[schema.latency_attr("ort_cpu")] > 0
    assert screen.attrs[schema.latency_attr("ort_cpu") + "_detail"]["repeats"] > 0
    loose = make_spec(options_from(budget_latency="10s", objectives="accuracy,latency", **TINY))
    ok = prescreen(loose, g)
    assert ok.feasible and ok.constraints[-1] < 0
    # over the params budget: the latency budget is not measured (constraint 0), unless latency
    # is an objective
    cheap = make_spec(options_from(budget_params="1k", budget_latency="10s", **TINY))
    skipped = prescreen(cheap, g)
    assert not skipped.feasible and skipped.constraints == (
        pytest.approx(52.374),
        0.0,
    )  # 53,374 / 1,000 - 1
    assert schema.latency_attr("ort_cpu") not in skipped.attrs


def test_a_latency_search_values_and_front(tmp_path, monkeypatch):
    monkeypatch.setattr(objective, "train_genotype", fake("dice_per_image_mean"))
    out = run_search(options_from(objectives="accuracy,latency", trials=3, seed=5,
                                  out=str(tmp_path), **TINY))  # fmt: skip
    study = optuna.load_study(study_name=out.study_name, storage=out.storage)
    assert study.metric_names == ["val_dice_per_image_mean", "latency_ort_cpu_ms"]
    done = [t for t in study.get_trials() if t.state.name == "COMPLETE"]
    assert done
    for t in done:
        assert t.values[1] == t.user_attrs[schema.latency_attr("ort_cpu")] > 0
    view = load_study_view(out.study_name, out.storage)
    assert [p.name for p in pareto_data(view).panels] == ["latency_ort_cpu_ms"]
    assert "latency ONNX Runtime CPU" in out.front_csv.read_text()


def test_layering_is_one_way():
    """Each layer imports only those below it (searchspace, trainer < runner < studies < reports
    < cli < search.py): an AST scan of every import statement, lazy ones inside functions
    included."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    forbidden = {
        "reports": {"cli", "search"},
        "studies": {"reports", "cli", "search"},
        "runner": {"reports", "studies", "cli", "search", "optuna", "ray"},
        "searchspace": {"reports", "studies", "runner", "trainer", "cli", "search"},
        "trainer": {
            "reports",
            "studies",
            "runner",
            "searchspace",
            "cli",
            "search",
            "optuna",
            "ray",
        },
    }
    bad = []
    for package, banned in forbidden.items():
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                bad += [
                    f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in banned
                ]
    assert bad == []
