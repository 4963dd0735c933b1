"""The ablation runner on tiny synthetic runs: resume, one trial per (variant, seed), statistics."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

import studies.ablation.run as ablation
from searchspace.presets import get_preset
from studies.ablation import AblationSettings, ablation_table, run_ablation, write_ablation_report
from studies.ablation.plan import neighbours
from trainer import load_data, recipe


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic", image_size=(32, 32), synthetic_counts=(16, 12, 4), progress=False)


def _settings(tmp_path, seeds=(0, 1)):
    config = recipe("fast", epochs=1, batch_size=8, image_size=(32, 32))
    return AblationSettings(seeds=seeds, config=config, out_root=tmp_path / "runs", progress=False)


def test_ablation_resumes_and_pairs_by_image_and_seed(tmp_path, data, monkeypatch):
    base = get_preset("egeunet").genotype
    variants = [v for v in neighbours(base, ["stem"]) if v.genotype is not None][:2]
    url = f"sqlite:///{tmp_path / 'ab.db'}"
    settings = _settings(tmp_path)
    original = ablation._train_one
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        if calls["n"] == 2:
            raise KeyboardInterrupt
        calls["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(ablation, "_train_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_ablation(variants, data, settings, study_name="ab", storage_url=url)
    study = optuna.load_study(study_name="ab", storage=url)
    before = {(t.user_attrs["variant"], t.user_attrs["seed"]): t.value for t in study.trials}
    assert len(before) == 2
    monkeypatch.setattr(ablation, "_train_one", original)
    study = run_ablation(variants, data, settings, study_name="ab", storage_url=url)
    after = {}
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        key = (t.user_attrs["variant"], t.user_attrs["seed"])
        assert key not in after, f"{key} trained twice"
        after[key] = t.value
    assert set(after) == {(v.name, s) for v in variants for s in (0, 1)}
    assert all(after[k] == v for k, v in before.items())  # earlier results kept as they were

    table = ablation_table(study, variants, latency=False)
    row = table[table["variant"] == variants[1].name].iloc[0]
    assert row["seeds"] == 2
    per = {
        (t.user_attrs["variant"], t.user_attrs["seed"]): np.array(
            t.user_attrs["per_image_val"]["dice"]
        )
        for t in study.trials
        if t.state.name == "COMPLETE"
    }
    by_hand = np.mean([per[(variants[1].name, s)] - per[(variants[0].name, s)] for s in (0, 1)])
    assert row["Δ Dice"] == pytest.approx(by_hand, abs=1e-12)
    assert row["pairs"] == 2 * 12
    means = [per[(variants[1].name, s)].mean() for s in (0, 1)]
    assert row["val Dice mean"] == pytest.approx(np.mean(means))
    assert row["val Dice std"] == pytest.approx(np.std(means, ddof=1))

    out = write_ablation_report(study, variants, tmp_path / "report", latency=False)
    text = (out / "ablation.md").read_text()
    assert variants[0].name == "base (egeunet)" and f"| {variants[0].name} " in text
    assert "(base) (base)" not in text and "2 seeds" in text and "SYNTHETIC" in text
    assert (out / "ablation.tex").read_text().startswith("\\begin{tabular}")


def test_ablation_refuses_other_settings(tmp_path, data):
    base = get_preset("egeunet").genotype
    variants = neighbours(base, ["upsample"])[:1]
    url = f"sqlite:///{tmp_path / 'ab.db'}"
    run_ablation(variants, data, _settings(tmp_path, seeds=(0,)), study_name="ab", storage_url=url)
    with pytest.raises(ValueError, match="seeds differ"):
        run_ablation(
            variants, data, _settings(tmp_path, seeds=(0, 1)), study_name="ab", storage_url=url
        )
    study = optuna.load_study(study_name="ab", storage=url)
    assert len(study.trials) == 1


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_killed_ablation_leaves_a_trial_that_goes_stale_and_is_retrained(
    tmp_path, data, monkeypatch, kind
):
    """A process killed while training leaves its trial RUNNING; stamped by a heartbeat, it goes
    stale and the next run marks it FAIL and trains the pair again (Optuna never counts a RUNNING
    trial that has no heartbeat as stale: without one it stayed RUNNING for good)."""
    import time

    from studies.store.storage import STALE_REASON

    monkeypatch.setenv("LESION_NAS_HEARTBEAT", "1")
    variants = neighbours(get_preset("egeunet").genotype, ["upsample"])[:1]
    url = (
        f"sqlite:///{tmp_path / 'ab.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'ab.log'}"
    )
    settings = _settings(tmp_path, seeds=(0,))

    def killed(*args, **kwargs):  # the process dies mid-training: nothing below runs
        raise KeyboardInterrupt

    monkeypatch.setattr(ablation, "train_genotype", killed)
    with pytest.raises(KeyboardInterrupt):
        run_ablation(variants, data, settings, study_name="ab", storage_url=url)
    monkeypatch.undo()
    monkeypatch.setenv("LESION_NAS_HEARTBEAT", "1")
    from studies.store.storage import open_storage

    study = optuna.load_study(study_name="ab", storage=open_storage(url))
    assert [t.state.name for t in study.trials] == ["RUNNING"]
    time.sleep(3)  # past the grace period (2 heartbeats) with nobody stamping it
    study = run_ablation(variants, data, settings, study_name="ab", storage_url=url)
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "COMPLETE"]
    assert study.trials[0].user_attrs["fail_reason"] == STALE_REASON


def test_base_from_a_study_trial_a_file_or_a_preset(tmp_path):
    from searchspace.space import make_genotype
    from studies.ablation import resolve_base
    from studies.store import schema

    g = make_genotype(
        {
            "layout": "unet",
            "depth": 3,
            "base_width": 8,
            "stem": "plain",
            "block": "dsc",
            "bridge": "none",
        }
    )
    url = f"sqlite:///{tmp_path / 'runs' / 's1' / 'study.db'}"
    (tmp_path / "runs" / "s1").mkdir(parents=True)
    study = optuna.create_study(study_name="s1", storage=url)
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={schema.GENOTYPE: g.to_dict()}))
    assert resolve_base("s1:0", None, tmp_path / "runs").id == g.id
    path = tmp_path / "g.json"
    path.write_text(g.to_json())
    assert resolve_base(str(path), None, tmp_path).id == g.id
    assert resolve_base("scsonet", None, tmp_path).name == "scsonet"
    with pytest.raises(ValueError, match="has no trial 7"):
        resolve_base("s1:7", None, tmp_path / "runs")
    with pytest.raises(ValueError, match="neither a preset"):
        resolve_base("nothing", None, tmp_path)
