"""The Ray Tune backend: a real local Ray (2 CPUs) writing the shared Optuna study, and the
searcher / scheduler logic (pruning, duplicates, trial count) driven by hand without Ray."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest

pytest.importorskip("ray.tune")

from ray import tune  # noqa: E402
from ray.tune.schedulers import TrialScheduler  # noqa: E402
from ray.tune.search import Searcher  # noqa: E402

from searchspace import Genotype  # noqa: E402
from searchspace.space import sample_genotype  # noqa: E402
from studies import ray_tune as ray_backend  # noqa: E402
from studies.ray_tune.trainable import _Reporter  # noqa: E402
from studies.store import schema  # noqa: E402
from studies.store.spec import PruneSettings, StudySpec  # noqa: E402
from studies.store.storage import open_study  # noqa: E402
from studies.store.trial_state import count_trained  # noqa: E402
from trainer import load_data, recipe  # noqa: E402

SIZE = (32, 32)
COUNTS = (24, 8, 8)
BUDGET = 140_000  # with the random sampler's seed 3: two candidates trained, two over budget
SCREEN_ATTRS = (
    schema.GENOTYPE,
    schema.GENOTYPE_ID,
    schema.SUMMARY,
    schema.PARAMS,
    schema.MACS_THOP,
    schema.MACS_TORCH,
    schema.IMAGE_SIZE,
    schema.FEASIBLE,
    schema.CONSTRAINTS,
)


def make_spec(epochs: int = 1, budget: int | None = BUDGET, **kw) -> StudySpec:
    data = load_data("synthetic", image_size=SIZE, synthetic_counts=COUNTS, progress=False)
    config = recipe("fast", epochs=epochs, image_size=SIZE, batch_size=8)
    return StudySpec(
        budgets={"params": budget},
        data_name=data.name,
        data_fingerprint=data.fingerprint,
        split_hash=str(data.split_info["hash"]),
        synthetic=True,
        image_size=SIZE,
        train_config=config.to_dict(),
        sampler="random",
        seed=3,
        data_source="synthetic",
        synthetic_counts=COUNTS,
        **kw,
    )


class Replay:
    """A trial that answers ``suggest_*`` from stored params (to re-derive a genotype)."""

    def __init__(self, params: dict) -> None:
        self.params = params

    def suggest_categorical(self, name: str, choices: list) -> object:
        return self.params[name]


def snapshot(study: optuna.Study) -> dict[int, tuple]:
    return {
        t.number: (t.state.name, t.values, json.dumps(t.user_attrs, sort_keys=True))
        for t in study.get_trials()
    }


def test_run_ray_writes_the_shared_study_and_resumes(tmp_path: Path) -> None:
    import ray

    spec = make_spec()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    try:
        study = ray_backend.run_ray(
            spec,
            "ray-test",
            url,
            trials=4,
            timeout=None,
            out_root=tmp_path,
            num_cpus=2,
            progress=False,
        )
        assert not ray.is_initialized()  # the local Ray it started is shut down
        trials = study.get_trials()
        assert all(t.state.name == "COMPLETE" for t in trials)
        trained = [t for t in trials if t.user_attrs[schema.FEASIBLE]]
        over = [t for t in trials if not t.user_attrs[schema.FEASIBLE]]
        # --trials counts trained candidates; over-budget ones are drawn on top
        assert len(trained) == count_trained(study) == 4 and over
        assert all(t.user_attrs[schema.TRAIN_CLAIM] for t in trained)
        for t in trials:
            a = t.user_attrs
            assert all(k in a for k in SCREEN_ATTRS), sorted(a)
            assert Genotype.from_dict(a[schema.GENOTYPE]).id == a[schema.GENOTYPE_ID]
            # the genotype is the one Ray's OptunaSearch sampled on this very trial
            assert sample_genotype(Replay(t.params)).id == a[schema.GENOTYPE_ID]
        for t in trained:
            a = t.user_attrs
            assert a[schema.PARAMS] <= BUDGET and max(a[schema.CONSTRAINTS]) <= 0
            run = Path(a[schema.RUN_DIR])
            assert (run / "model.pt").is_file() and (run / "metrics.json").is_file()
            assert a[schema.EPOCHS_RUN] == 1 and a[schema.CURVE] == [a[schema.VAL][spec.metric]]
            assert t.values == pytest.approx(
                [a[schema.VAL][spec.metric], a[schema.PARAMS], a[schema.MACS_THOP]]
            )
        for t in over:
            a = t.user_attrs
            assert a[schema.PARAMS] > BUDGET and a[schema.CONSTRAINTS][0] > 0
            assert "budget" in a[schema.OVER_BUDGET] and schema.RUN_DIR not in a
            assert schema.VAL not in a and t.values == [0.0, a[schema.PARAMS], a[schema.MACS_THOP]]
        folders = sorted(p.name for p in (tmp_path / "ray-test" / "trials").iterdir())
        assert [f[:4] for f in folders] == [f"{t.number:04d}" for t in trained]
        assert len({t.user_attrs[schema.GENOTYPE_ID] for t in trained}) == len(trained)
        assert any((tmp_path / "ray-test" / "ray").iterdir())  # Tune's own records

        before = snapshot(study)
        study = ray_backend.run_ray(
            spec,
            "ray-test",
            url,
            trials=6,
            timeout=None,
            out_root=tmp_path,
            num_cpus=2,
            progress=False,
        )
        assert count_trained(study) == 6
        after = snapshot(study)
        assert {n: after[n] for n in before} == before  # resumed: old trials intact
        for t in study.get_trials():
            a = t.user_attrs
            assert a[schema.PARAMS] <= BUDGET if a[schema.FEASIBLE] else schema.RUN_DIR not in a
    finally:
        ray.shutdown()


# ------------------------------------------------------------------------------ without Ray
class FakeTrial:
    """What Ray's schedulers read of a Tune trial."""

    def __init__(self, trial_id: str, config: dict) -> None:
        self.trial_id, self.config = trial_id, config


def add_reference(study: optuna.Study, accuracy: float, cost: int) -> None:
    attrs = {
        schema.FEASIBLE: True,
        schema.PARAMS: cost,
        schema.MACS_THOP: cost,
        schema.MACS_TORCH: cost,
        schema.CURVE: [accuracy] * 3,
        schema.VAL: {"dice_per_image_mean": accuracy},
        schema.GENOTYPE_ID: "ref",
    }
    study.add_trial(optuna.trial.create_trial(values=[accuracy, cost, cost], user_attrs=attrs))


def result_row(spec: StudySpec, config: dict, curve: list, final: dict | None = None) -> dict:
    reporter = _Reporter(spec, config)
    reporter.curve, reporter.val = list(curve), {"dice_per_image_mean": max(curve)}
    return reporter.row(len(curve), final)


def test_searcher_and_scheduler_prune_dedup_and_count(tmp_path: Path, monkeypatch) -> None:
    spec = make_spec(epochs=3, budget=None, pruning=PruneSettings(warmup_epochs=1, margin=0.05))
    study = open_study(spec, "unit", optuna.storages.InMemoryStorage())
    add_reference(study, 0.9, 10)  # cheaper than any candidate, far more accurate
    # a study with trials salts its sampler's seed with its trial count (never a process id),
    # so the random candidates and the trial numbers asserted below are the same in every run
    searcher = ray_backend.StudySearcher(spec, study, trials=3, timeout=None, out_root=tmp_path)
    scheduler = ray_backend.ParetoStop(searcher)

    first = searcher.suggest("a")
    number = first["number"]
    assert first["run_dir"].startswith(str(tmp_path / "unit" / "trials" / f"{number:04d}-"))
    # the worker's reporter: one report per epoch but the last, curve and best metrics in it
    reports: list[dict] = []
    monkeypatch.setattr(tune, "report", reports.append)
    reporter = _Reporter(spec, first)
    reporter(1, {"val_dice_per_image_mean": 0.1, "val_loss": 2.0, "epoch_seconds": 0.5})
    reporter(2, {"val_dice_per_image_mean": 0.2, "val_loss": 1.0, "epoch_seconds": 0.5})
    reporter(3, {"val_dice_per_image_mean": 0.15, "val_loss": 1.5, "epoch_seconds": 0.5})
    assert [r["epoch"] for r in reports] == [1, 2] and reports[-1][ray_backend.METRIC] == 0.2
    assert reports[-1]["params"] == first["cost_attrs"]["params"]
    payload = json.loads(reporter.row(3)[ray_backend.PAYLOAD])
    assert payload["curve"] == [0.1, 0.2, 0.15] and payload["val"] == {
        "dice_per_image_mean": 0.2,
        "loss": 1.0,
    }

    # epoch 1 is warm-up; at epoch 2 the cheaper reference is 0.7 ahead: stop and prune
    tune_a = FakeTrial("a", first)
    assert scheduler.on_trial_result(None, tune_a, reports[0]) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, tune_a, reports[1]) == TrialScheduler.STOP
    assert "trial 0" in searcher.stop_reasons["a"]
    searcher.on_trial_complete("a", reports[1])
    pruned = study.trials[number]
    assert pruned.state.name == "PRUNED" and "trial 0" in pruned.user_attrs[schema.PRUNE_REASON]
    assert (
        pruned.user_attrs[schema.CURVE] == [0.1, 0.2] and pruned.user_attrs[schema.EPOCHS_RUN] == 2
    )

    # the same genotype again: pruned again without training; the next sample is returned
    study.enqueue_trial(pruned.params)
    second = searcher.suggest("b")
    again = study.trials[number + 1]
    assert again.state.name == "PRUNED" and again.user_attrs[schema.DUPLICATE_OF] == number
    assert second["number"] == number + 2
    # a twin of a candidate still training waits for it and takes over its result
    study.enqueue_trial(study.trials[second["number"]].params)
    third = searcher.suggest("c")
    twin = study.trials[second["number"] + 1]
    assert twin.state.name == "RUNNING" and third["number"] == second["number"] + 2
    # 3 trained candidates (the pruned one, two training); the reference, the duplicate and the
    # twin are not trained candidates
    assert searcher.suggest("d") == Searcher.FINISHED

    fit = {
        "status": "completed",
        "reason": "done",
        "best_epoch": 3,
        "epochs_run": 3,
        "val": {"dice_per_image_mean": 0.5},
        "test": None,
        "train_seconds": 1.5,
        "images_per_second": 10.0,
        "out_dir": second["run_dir"],
    }
    searcher.on_trial_complete("b", result_row(spec, second, [0.3, 0.4, 0.5], fit))
    done, twin = study.trials[second["number"]], study.trials[second["number"] + 1]
    assert done.state.name == twin.state.name == "COMPLETE"
    costs = second["cost_attrs"]
    assert done.values == [0.5, costs["params"], costs["macs_thop"]] == twin.values
    assert twin.user_attrs[schema.DUPLICATE_OF] == done.number
    assert done.user_attrs[schema.CURVE] == [0.3, 0.4, 0.5]

    searcher.fail_open("test ended")
    left = study.trials[third["number"]]
    assert left.state.name == "FAIL" and left.user_attrs[schema.FAIL_REASON] == "test ended"
    assert not any(math.isnan(v) for t in study.trials if t.values for v in t.values)


def test_asha_stops_below_the_rung_but_never_a_preset_or_the_end(tmp_path: Path) -> None:
    spec = make_spec(epochs=3, budget=None, pruning=PruneSettings(warmup_epochs=1))
    study = open_study(spec, "asha", optuna.storages.InMemoryStorage())
    searcher = ray_backend.StudySearcher(spec, study, trials=4, timeout=None, out_root=tmp_path)
    asha = ray_backend.make_scheduler("asha", searcher)
    trials = [FakeTrial("a", {}), FakeTrial("b", {}), FakeTrial("p", {"preset": True})]
    for t in trials:
        asha.on_trial_add(None, t)
    row = {"epoch": 1, ray_backend.METRIC: 0.8}
    assert asha.on_trial_result(None, trials[0], row) == TrialScheduler.CONTINUE
    low = {"epoch": 1, ray_backend.METRIC: 0.1}
    assert asha.on_trial_result(None, trials[1], low) == TrialScheduler.STOP
    assert searcher.stop_reasons["b"].startswith("ASHA at epoch 1")
    assert asha.on_trial_result(None, trials[2], low) == TrialScheduler.CONTINUE
    assert "p" not in searcher.stop_reasons
    # the last epoch's report ends a trial (ASHA's max_t) without being a prune
    assert asha.on_trial_result(None, trials[0], {"epoch": 3, ray_backend.METRIC: 0.9}) == "STOP"
    assert "a" not in searcher.stop_reasons
    no_prune = make_spec(epochs=3, budget=None, pruning=PruneSettings(enabled=False))
    searcher.spec = no_prune
    assert type(ray_backend.make_scheduler("pareto", searcher)).__name__ == "FIFOScheduler"


def test_ray_define_by_run_space_is_the_studys_own():
    """OptunaSearch's define-by-run function draws from the spec's space (bound by the searcher
    with functools.partial, which pickles as Tune needs); an enqueued preset suggests nothing."""
    import functools
    import pickle

    from studies.ray_tune.searcher import define_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    wide = pickle.loads(pickle.dumps(functools.partial(define_space, space="wide")))
    drawn = wide(study.ask())
    assert "width_profile" in drawn and "base_width" in drawn
    base = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    assert "width_profile" not in define_space(base.ask())
    preset = base.ask()
    preset.set_user_attr(schema.PRESET, "malunet")
    assert define_space(preset) is None
