"""The search on tiny synthetic data: hard budgets, resume, spec check, dedup, faults, pruning."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

import search as cli
import studies.search.trial as trial_steps
from searchspace.cost import count_cost
from studies.hypervolume import dominates
from studies.search.front import pareto_front
from studies.search.run import make_spec, options_from, run_search
from studies.store import schema
from studies.store.storage import SpecMismatch
from trainer import FitResult

TINY = dict(
    image_size=(32, 32), limit=32, progress=False, report=False, sampler="random", workers="1"
)


def load(outcome) -> optuna.Study:
    return optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)


def by_state(study, state: str):
    return [t for t in study.get_trials() if t.state.name == state]


def fake_training(curve_of):
    """A stand-in for ``train_genotype``: replays ``curve_of(genotype)`` through ``on_epoch``."""
    calls = []

    def train(genotype, config, data, *, out_dir, device, progress, on_epoch):
        calls.append(genotype.id)
        curve = curve_of(genotype)
        history, status = [], "completed"
        for epoch in range(1, config.epochs + 1):
            row = {"epoch": epoch, "val_dice_per_image_mean": curve[epoch - 1]}
            history.append(row)
            if on_epoch is not None and on_epoch(epoch, dict(row)) is True:
                status = "stopped"
                break
        best = max(r["val_dice_per_image_mean"] for r in history)
        return FitResult(
            status,
            "fake",
            epoch,
            {"dice_per_image_mean": best},
            None,
            history,
            epoch,
            0.01,
            0.0,
            out_dir,
        )

    return train, calls


# ------------------------------------------------------------------------------ budgets, CLI
@pytest.mark.parametrize(
    "args",
    [
        ["--budget-params", "0.4X"],
        ["--budget-params=-1M"],
        ["--budget-params", "abc"],
        ["--budget-gflops", "0.4X"],
        ["--budget-params", "0.4M", "--objectives", "dice,flops"],
        ["--budget-params", "0.4M", "--metric", "hd95_per_image_mean"],
        ["--budget-params", "0.4M", "--image-size", "48"],
    ],
)
def test_bad_options_are_one_error_exit_2_and_nothing_written(args, tmp_path, capsys):
    out = tmp_path / "runs"
    assert cli.main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert not out.exists()


def test_budgets_are_hard_and_over_budget_candidates_are_never_trained(tmp_path):
    budget = 60_000
    outcome = run_search(
        options_from(
            budget_params="60k",
            trials=5,
            epochs=1,
            include_presets=True,
            seed=3,
            out=str(tmp_path),
            **TINY,
        )
    )
    study = load(outcome)
    trials = study.get_trials()
    trained = [t for t in trials if t.state.name == "COMPLETE" and t.user_attrs[schema.FEASIBLE]]
    over = [t for t in trials if not t.user_attrs.get(schema.FEASIBLE, True)]
    # --trials counts trained candidates: over-budget ones are drawn on top of them
    assert outcome.counts["trained"] == 5 == len(trained) and len(trials) == 5 + len(over)
    assert over and outcome.counts["over_budget"] == len(over)
    for t in trained:
        assert t.user_attrs[schema.PARAMS] <= budget
        assert Path(t.user_attrs[schema.RUN_DIR]).is_dir()
        assert t.values[0] == t.user_attrs[schema.VAL]["dice_per_image_mean"]
    for t in over:
        a = t.user_attrs
        assert t.state.name == "COMPLETE" and a[schema.PARAMS] > budget
        assert schema.RUN_DIR not in a and schema.VAL not in a
        assert "params" in a[schema.OVER_BUDGET] and a[schema.CONSTRAINTS][0] > 0
        assert tuple(t.values) == (0.0, a[schema.PARAMS], a[schema.MACS_THOP])
        assert not any(
            p.name.startswith(f"{t.number:04d}-")
            for p in (tmp_path / outcome.study_name / "trials").iterdir()
        )
    # the published models within budget at 32x32 were enqueued and trained like the rest
    presets = {t.user_attrs[schema.PRESET]: t for t in trials if schema.PRESET in t.user_attrs}
    fitting = {"egeunet"}  # 53,374 params; every other preset is over 60k
    assert set(presets) == fitting and presets["egeunet"].state.name == "COMPLETE"
    assert study.user_attrs[schema.PRESETS_ENQUEUED]  # every preset considered once
    spec = study.user_attrs[schema.STUDY_SPEC]
    assert spec["budgets"] == {"params": budget} and spec["synthetic"]
    assert (tmp_path / outcome.study_name / "front.csv").is_file()

    # resume: same command, more trials; earlier trials untouched, presets not re-enqueued
    before = {t.number: (t.state, t.values) for t in trials}
    study.enqueue_trial({}, user_attrs={schema.PRESET: "egeunet"})  # the same genotype again
    again = run_search(
        options_from(
            budget_params="60k",
            trials=7,
            epochs=1,
            include_presets=True,
            seed=3,
            out=str(tmp_path),
            **TINY,
        )
    )
    study = load(again)
    after = study.get_trials()
    assert again.counts["trained"] == 7
    assert {t.number: (t.state, t.values) for t in after[: len(before)]} == before
    egeunet = [t for t in after if t.user_attrs.get(schema.PRESET) == "egeunet"]
    assert len(egeunet) == 2  # the one enqueued by --include-presets, and ours: not re-enqueued
    first, dup = egeunet
    assert dup.user_attrs[schema.DUPLICATE_OF] == first.number
    assert dup.values == first.values and dup.user_attrs[schema.TRAIN_SECONDS] == 0.0
    assert dup.user_attrs[schema.RUN_DIR] == first.user_attrs[schema.RUN_DIR]
    assert not (tmp_path / again.study_name / "trials" / f"{dup.number:04d}-egeunet").exists()

    # resuming with other settings is refused, naming the field; the study is left alone
    attrs_before = dict(study.user_attrs)
    with pytest.raises(SpecMismatch, match=r"train_config \(epochs 1 vs 2"):
        run_search(
            options_from(
                budget_params="60k",
                trials=9,
                epochs=2,
                include_presets=True,
                seed=3,
                out=str(tmp_path),
                **TINY,
            )
        )
    study = load(again)
    assert len(study.get_trials()) == len(after) and dict(study.user_attrs) == attrs_before


def test_a_genotype_is_never_trained_twice(tmp_path, monkeypatch):
    train, calls = fake_training(lambda g: [0.5, 0.6])
    monkeypatch.setattr(trial_steps, "train_genotype", train)
    study_out = run_search(options_from(trials=2, epochs=2, out=str(tmp_path), **TINY))
    study = load(study_out)
    for _ in range(3):
        study.enqueue_trial({}, user_attrs={schema.PRESET: "scsonet"})
    run_search(options_from(trials=5, epochs=2, out=str(tmp_path), **TINY))
    study = load(study_out)
    scsonet = [t for t in study.get_trials() if t.user_attrs.get(schema.PRESET) == "scsonet"]
    assert len(scsonet) == 3 and calls.count(scsonet[0].user_attrs[schema.GENOTYPE_ID]) == 1
    assert [t.user_attrs.get(schema.DUPLICATE_OF) for t in scsonet] == [
        None,
        scsonet[0].number,
        scsonet[0].number,
    ]


def test_failures_are_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    ok, _ = fake_training(lambda g: [0.5])
    behaviour = iter(["oom", "nan", "bug"])

    def flaky(genotype, config, data, **kw):
        what = next(behaviour, "ok")
        if what == "oom":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if what == "nan":
            return FitResult(
                "failed",
                "loss became NaN at epoch 1 step 3",
                None,
                {},
                None,
                [],
                1,
                0.1,
                0.0,
                kw["out_dir"],
            )
        if what == "bug":
            raise ZeroDivisionError("division by zero")
        return ok(genotype, config, data, **kw)

    monkeypatch.setattr(trial_steps, "train_genotype", flaky)
    outcome = run_search(options_from(trials=4, epochs=1, out=str(tmp_path), **TINY))
    study = load(outcome)
    reasons = [t.user_attrs.get(schema.FAIL_REASON) for t in by_state(study, "FAIL")]
    assert len(reasons) == 3 and len(by_state(study, "COMPLETE")) == 1
    assert reasons[0].startswith("out of memory: CUDA out of memory")
    assert reasons[1] == "loss became NaN at epoch 1 step 3"
    assert reasons[2] == "ZeroDivisionError: division by zero"
    # failures in training count as trained candidates (they were trained, and failed)
    assert outcome.counts == {
        "trials": 4,
        "trained": 4,
        "running": 0,
        "over_budget": 0,
        "duplicate": 0,
        "pruned": 0,
        "failed": 3,
        "retried": 0,
    }


def test_trials_that_cannot_reach_the_front_are_pruned(tmp_path, monkeypatch):
    # Cheaper networks learn better here, so a costlier one trailing a finished cheaper one by
    # more than the margin at epoch 2 of 3 is stopped.
    def curve(g):
        a = max(0.0, 0.9 - count_cost(g, (32, 32)).params / 1e6)
        return [a * 0.5, a * 0.8, a]

    train, _ = fake_training(curve)
    monkeypatch.setattr(trial_steps, "train_genotype", train)
    outcome = run_search(options_from(trials=8, epochs=3, seed=1, out=str(tmp_path), **TINY))
    study = load(outcome)
    pruned = by_state(study, "PRUNED")
    assert pruned and outcome.counts["pruned"] == len(pruned)
    completed = {t.number: t for t in by_state(study, "COMPLETE")}
    for t in pruned:
        a = t.user_attrs
        assert len(a[schema.CURVE]) == 2 and a[schema.EPOCHS_RUN] == 2
        ref = completed[int(a[schema.PRUNE_REASON].split("below trial ")[1].split("'")[0])]
        assert ref.number < t.number
        assert ref.user_attrs[schema.PARAMS] <= a[schema.PARAMS]
        assert ref.user_attrs[schema.MACS_THOP] <= a[schema.MACS_THOP]
        assert ref.user_attrs[schema.CURVE][1] >= a[schema.CURVE][1] + 0.05
    for t in completed.values():
        assert len(t.user_attrs[schema.CURVE]) == 3


def test_journal_storage_and_the_front(tmp_path, monkeypatch):
    train, _ = fake_training(lambda g: [0.9 - count_cost(g, (32, 32)).params / 2e6])
    monkeypatch.setattr(trial_steps, "train_genotype", train)
    journal = tmp_path / "j" / "study.log"
    outcome = run_search(
        options_from(
            trials=4, epochs=1, study="j", storage=f"journal:{journal}", out=str(tmp_path), **TINY
        )
    )
    assert journal.is_file()
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    study = optuna.load_study(study_name="j", storage=storage)
    done = by_state(study, "COMPLETE")
    assert len(done) == 4 and all(schema.HEARTBEAT in t.user_attrs for t in done)
    records = [schema.record_from_trial(t) for t in done]
    from studies.store.storage import load_spec

    spec = load_spec(study)
    front = pareto_front(spec, records)
    assert [r.number for r in front] == [r.number for r in outcome.front]
    # losses (smaller is better on every axis), as studies.hypervolume.dominates takes them
    vec = {r.number: (-r.val["dice_per_image_mean"], r.params, r.macs_thop) for r in records}
    for r in records:
        dominated = any(dominates(vec[o.number], vec[r.number]) for o in records)
        assert (r in front) == (not dominated)
    assert all(math.isfinite(r.val["dice_per_image_mean"]) for r in front)


def test_the_accuracy_floor_is_part_of_the_study_and_keeps_the_front_above_it(
    tmp_path, monkeypatch, capsys
):
    """Candidates score by their parameter count (the cheapest worst): with --min-accuracy the
    front holds no candidate below it, the summary says how many are below, local search's own
    front (its loss vectors) leaves them out, and a resume with another floor is refused."""
    from searchspace.cost import count_params
    from studies import objectives
    from studies.search.front import trained_records

    def score(g):
        v = min(0.9, 0.4 + count_params(g) / 400_000)
        return [v, v]

    train, _ = fake_training(score)
    monkeypatch.setattr(trial_steps, "train_genotype", train)
    options = dict(trials=6, epochs=2, out=str(tmp_path), prune=False, **TINY)
    outcome = run_search(options_from(min_accuracy=0.6, study="floor", **options))
    out = capsys.readouterr().out
    study = load(outcome)
    spec_floor = study.user_attrs[schema.STUDY_SPEC]["min_accuracy"]
    assert spec_floor == 0.6
    records = trained_records(study)
    scores = {r.number: r.val["dice_per_image_mean"] for r in records}
    below = [n for n, v in scores.items() if v < 0.6]
    assert below, scores  # the draw holds candidates below the floor
    assert f"; {len(below)} below the accuracy floor 0.6, never on it" in out
    front = {r.number for r in outcome.front}
    assert front and front.isdisjoint(below)
    spec = make_spec(options_from(min_accuracy=0.6, study="floor", **options))
    assert all(objectives.loss_vector(spec, r.attrs) is None for r in records if r.number in below)
    with pytest.raises(SpecMismatch, match="min_accuracy"):
        run_search(options_from(min_accuracy=0.5, study="floor", **options))


def test_included_genotypes_are_trained_first_once_and_bad_files_refused(tmp_path, monkeypatch):
    """--include-genotype: the committed winner (51,441 params) is trained as the first trial,
    with the sampler's own parameters; the 164,694-param one is over the 0.1 M budget and
    skipped; a resumed command enqueues nothing again; a file that is not a network of the
    space is refused before the study is touched."""
    from searchspace import Genotype
    from searchspace.presets import get_preset

    evidence = Path(__file__).resolve().parents[1] / "docs" / "evidence"
    fits, over = evidence / "found-2d26ca2191b0.json", evidence / "lesionbench-93d70b7e6499.json"
    train, calls = fake_training(lambda g: [0.5, 0.6])
    monkeypatch.setattr(trial_steps, "train_genotype", train)
    options = dict(TINY, sampler="local", budget_params="0.1M", epochs=2, out=str(tmp_path),
                   study="included", include_genotypes=[str(fits), str(over)])  # fmt: skip
    study = load(run_search(options_from(trials=2, **options)))
    first = study.get_trials()[0]
    wanted = Genotype.from_json(fits.read_text()).id
    assert first.user_attrs[schema.INCLUDED_FROM] == str(fits)
    assert first.user_attrs[schema.GENOTYPE_ID] == wanted and calls[0] == wanted
    assert first.params  # a normal trial to the sampler: its parameters are the space's choices
    assert sum(schema.INCLUDED_FROM in t.user_attrs for t in study.get_trials()) == 1
    study = load(run_search(options_from(trials=3, **options)))
    assert sum(schema.INCLUDED_FROM in t.user_attrs for t in study.get_trials()) == 1
    assert calls.count(wanted) == 1
    n = len(study.get_trials())
    ulite = tmp_path / "ulite.json"
    ulite.write_text(get_preset("ulite").genotype.to_json())
    for bad, said in ((ulite, "not a network of the base search space"),
                      (tmp_path / "none.json", "does not exist")):  # fmt: skip
        with pytest.raises(ValueError, match=said):
            run_search(options_from(trials=4, **{**options, "include_genotypes": [str(bad)]}))
    assert len(load(run_search(options_from(trials=3, **options))).get_trials()) == n


def test_a_wide_space_search_draws_width_profiles_and_a_changed_space_is_refused(
    tmp_path, monkeypatch
):
    """--space wide: the spec says so, every sampled candidate carries a width profile (local
    search's moves too), a genotype of the wide space only is refused by a base study with a hint
    and trained first by a wide one, and resuming with the other space is refused, the study left
    as it was."""
    from searchspace.space import make_genotype

    train, calls = fake_training(lambda g: [0.5, 0.5 + 1e-7 * g.widths[0]])
    monkeypatch.setattr(trial_steps, "train_genotype", train)
    flat = make_genotype({"layout": "malunet", "depth": 5, "base_width": 12,
                          "width_profile": "flat", "stem": "plain", "block": "dsc",
                          "bridge": "none", "upsample": "bilinear"})  # fmt: skip
    path = tmp_path / "flat.json"
    path.write_text(flat.to_json())
    options = dict(TINY, sampler="local", budget_params="0.1M", epochs=2, out=str(tmp_path),
                   study="wide", include_genotypes=[str(path)])  # fmt: skip
    with pytest.raises(ValueError, match=r"not a network of the base search space \(it is one "):
        run_search(options_from(trials=4, **options))
    for bad in ({"include_genotypes": []}, {}):  # refused by the spec, or by the genotype check
        with pytest.raises(ValueError, match="search space 'huge'|--space must be one of"):
            run_search(options_from(trials=4, space="huge", **{**options, **bad}))
    assert not (tmp_path / "wide").exists()  # no study was made
    study = load(run_search(options_from(trials=8, space="wide", **options)))
    assert study.user_attrs[schema.STUDY_SPEC]["space"] == "wide"
    trials = study.get_trials()
    assert trials[0].user_attrs[schema.GENOTYPE_ID] == flat.id and calls[0] == flat.id
    sampled = [t for t in trials if t.params]
    assert len(sampled) >= 8 and all("width_profile" in t.params for t in sampled)
    n = len(trials)
    with pytest.raises(SpecMismatch, match="space"):
        run_search(options_from(trials=9, **{**options, "include_genotypes": []}))
    assert len(load(run_search(options_from(trials=8, space="wide", **options))).get_trials()) == n
