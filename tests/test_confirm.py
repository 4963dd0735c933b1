"""confirm: retrain the front and the presets of a tiny study with several seeds, test once."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pandas as pd
import pytest

import runner.runs as runs_mod
import search as cli
from studies.evidence.confirm import run_confirm
from studies.evidence.stats import mean_std
from studies.search.run import options_from, run_search
from studies.store import schema


def test_mean_std_is_the_sample_standard_deviation_of_finite_values():
    assert mean_std([0.5, 0.7, None, float("nan")]) == (0.6, pytest.approx(math.sqrt(0.02)), 2)
    assert mean_std([0.4]) == (0.4, 0.0, 1)
    assert mean_std([]) == (None, None, 0)


def test_confirm_retrains_front_and_presets_with_seeds(tmp_path, capsys, monkeypatch):
    outcome = run_search(
        options_from(
            budget_params="60k",
            trials=3,
            epochs=1,
            include_presets=True,
            image_size=(32, 32),
            limit=32,
            sampler="random",
            seed=3,
            out=str(tmp_path),
            progress=False,
            report=False,
            workers="1",
        )
    )
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    front = {r.number for r in outcome.front}
    presets = {t.number for t in study.get_trials() if t.user_attrs.get(schema.PRESET) == "egeunet"}
    assert front and presets

    code = cli.main(
        ["confirm", "--study", outcome.study_name, "--seeds", "2", "--epochs", "1",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    shown = capsys.readouterr().out
    assert "±" in shown and "SYNTHETIC" in shown

    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    stored = study.user_attrs[schema.CONFIRM]
    assert {int(k) for k in stored} == front | presets
    table = pd.read_csv(tmp_path / outcome.study_name / "confirm.csv")
    assert set(table["trial"]) == front | presets and (table["seeds"] == 2).all()
    for number, record in stored.items():
        assert record["seeds"] == [3, 4] and record["epochs"] == 1
        assert len(record["val"]) == 2 and len(record["test"]) == 2  # synthetic has a test split
        tests = [d["dice_per_image_mean"] for d in record["test"]]
        mean, std, n = mean_std(tests)
        row = table[table["trial"] == int(number)].iloc[0]
        assert n == 2 and row["test_dice_per_image_mean_mean"] == pytest.approx(mean)
        assert row["test_dice_per_image_mean_std"] == pytest.approx(std)
        for run_dir in record["run_dirs"]:
            assert (Path(run_dir) / "metrics.json").is_file()

    # --published: the published models the front undercuts are retrained with the same seeds
    # and paired with their cheaper rivals on the validation images
    from studies.evidence.rivals import VERDICTS, published_models

    code = cli.main(
        ["confirm", "--study", outcome.study_name, "--seeds", "1", "--epochs", "1",
         "--out", str(tmp_path), "--published", "--workers", "1"]
    )  # fmt: skip
    assert code == 0
    before = pd.read_csv(tmp_path / outcome.study_name / "confirm.csv")
    shown = capsys.readouterr().out
    assert "published models and their cheaper rivals" in shown
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    rivals = study.user_attrs[schema.RIVALS]
    records = [schema.record_from_trial(t) for t in study.get_trials()]
    costs = {p.name: p for p in published_models(records, (32, 32), "dice_per_image_mean")}
    assert rivals and set(rivals) <= set(costs)
    stored = study.user_attrs[schema.CONFIRM]
    by_number = {r.number: r for r in records}
    for name, results in rivals.items():
        p = costs[name]
        assert (f"preset:{name}" in stored) or any(
            by_number[int(k)].preset == name for k in stored if k.isdigit()
        )
        for number, result in results.items():
            rival = by_number[int(number)]
            assert rival.params <= p.params and rival.macs_thop <= p.macs_thop
            assert result["pairs"] == 100  # 1 seed x the 100 synthetic validation images
            assert result["ci"][0] <= result["delta"] <= result["ci"][1]
            # the two means of the pairs: their difference is the mean paired delta
            assert result["dice"] - result["published_dice"] == pytest.approx(result["delta"])
            assert result["verdict"] in VERDICTS and "32x32, 1 epochs" in result["fidelity"]

    # --published NAME --rivals 1: that published model and its best cheaper rival only (the
    # runs of the command above reused: same seed, same folders), paired; names checked first
    from studies.evidence.rivals import cheaper_rivals
    from studies.search.front import pareto_front, trained_records
    from studies.store.promoted import promoted
    from studies.store.storage import load_spec

    name = sorted(rivals)[0]
    spec = load_spec(study)
    front_now = pareto_front(spec, trained_records(study), promoted(study))
    found = [r for r in cheaper_rivals(front_now, costs[name], "dice_per_image_mean")
             if not by_number[r.number].preset]  # fmt: skip
    best = found[0].number  # the best found rival: a published model on the front is no find
    own = [
        k
        for k in stored
        if k == f"preset:{name}" or (k.isdigit() and by_number[int(k)].preset == name)
    ]
    only = run_confirm(outcome.study_name, seeds=1, epochs=1, out_root=tmp_path, progress=False,
                       workers=1, published=name, rivals=1)  # fmt: skip
    keys = {str(k) for k in only.records}
    assert keys == {str(best), *own}
    # confirm.csv keeps the models of the first command beside the subset's (one row each)
    after = pd.read_csv(only.csv)
    assert set(after["genotype_id"]) == set(before["genotype_id"])
    assert len(after) == len(before) and after["genotype_id"].is_unique
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    merged = study.user_attrs[schema.RIVALS]  # the subset's verdicts replaced, the others kept
    assert set(merged) == set(rivals) and set(merged[name]) == {str(best)}
    assert all(merged[n] == rivals[n] for n in rivals if n != name)
    # --rivals IDS: the named found front members only, here one ranked below the best (the
    # run of the whole-front command above reused), by trial number or by genotype id
    chosen = found[-1]
    for key in (f"#{chosen.number}", chosen.genotype_id):
        named = run_confirm(outcome.study_name, seeds=1, epochs=1, out_root=tmp_path,
                            progress=False, workers=1, published=name, rivals=key)  # fmt: skip
        assert {str(k) for k in named.records} == {str(chosen.number), *own}
        study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
        assert set(study.user_attrs[schema.RIVALS][name]) == {str(chosen.number)}
    for bad, said in ((["--published", name, "--rivals", "ffffffffffff"], "not a found front"),
                      (["--published", name, "--rivals", "#1x"], "give a count K"),
                      (["--published", "nope", "--rivals", "1"], "unknown published model"),
                      (["--published=", "--rivals", "1"], "(none given)"),
                      (["--rivals", "1"], "--rivals K needs --published")):  # fmt: skip
        assert (
            cli.main(["confirm", "--study", outcome.study_name, "--out", str(tmp_path), *bad]) == 2
        )
        assert said in capsys.readouterr().err

    # a second confirm with the same settings reuses the finished run folders
    def no_training(*args, **kwargs):
        raise AssertionError("confirm retrained a finished run")

    monkeypatch.setattr(runs_mod, "train_genotype", no_training)
    again = run_confirm(outcome.study_name, seeds=2, epochs=1, out_root=tmp_path, progress=False,
                        workers=1)  # fmt: skip
    assert again.records.keys() == {int(k) for k in stored if k.isdigit()}
    # a confirm.csv that is not a confirm table: one error naming it before any training (the
    # patched trainer would raise), and the file left as it was
    table_file = tmp_path / outcome.study_name / "confirm.csv"
    kept = table_file.read_bytes()
    for text, said in (
        ("a,b\n1,2\n3,4,5,6\n", "Expected 2 fields"),
        ("x,y\n1,2\n", "no genotype_id"),
    ):
        table_file.write_text(text)
        args = ["confirm", "--study", outcome.study_name, "--out", str(tmp_path), "--seeds", "2",
                "--epochs", "1", "--workers", "1"]  # fmt: skip
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert str(table_file) in err and said in err and "move it aside" in err
        assert table_file.read_text() == text
    table_file.write_bytes(kept)
    monkeypatch.undo()

    # --image-size: a fuller fidelity than the search's, in its own folder, the size recorded
    code = cli.main(
        ["confirm", "--study", outcome.study_name, "--seeds", "1", "--epochs", "1",
         "--out", str(tmp_path), "--workers", "1", "--image-size", "64", "64"]
    )  # fmt: skip
    assert code == 0
    table = pd.read_csv(tmp_path / outcome.study_name / "confirm-64x64.csv")
    assert (table["image_size"] == "64x64").all() and set(table["trial"]) == front | presets
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    for number in front:
        record = study.user_attrs[schema.CONFIRM][str(number)]
        assert record["image_size"] == [64, 64]
        run_dir = Path(record["run_dirs"][0])
        assert run_dir.parts[-3] == "confirm-64x64"
        import json

        assert json.loads((run_dir / "train_config.json").read_text())["image_size"] == [64, 64]
    assert (
        cli.main(
            ["confirm", "--study", outcome.study_name, "--out", str(tmp_path), "--image-size", "40"]
        )
        == 2
    )  # not a multiple of the stride: one error


def test_confirm_of_a_missing_study_is_one_clear_error(tmp_path, capsys):
    assert cli.main(["confirm", "--study", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope" in err
