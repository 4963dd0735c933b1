"""The whole space as a cost table: its size, and sums equal to per-candidate counts."""

from __future__ import annotations

import itertools

import pytest

from searchspace.cost import PART_CACHE, count_cost
from searchspace.space import make_genotype, sample_choices
from searchspace.table import CHOICE_COLUMNS, cost_table, missing_parts, space_choices


def test_space_enumeration_covers_what_the_sampler_can_draw():
    import optuna

    every = list(space_choices())
    assert len(every) == 43120  # combinations of the choices, conditional ones where they apply
    keys = {tuple(sorted(c.items())) for c in every}
    assert len(keys) == len(every)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(50):
        trial = study.ask()
        drawn = sample_choices(trial)
        study.tell(trial, 0.0)
        assert tuple(sorted(drawn.items())) in keys


def test_space_enumeration_refuses_an_unknown_layout():
    with pytest.raises(ValueError, match="unknown layout 'vit'"):
        list(space_choices(["vit"]))


def test_table_in_worker_processes_equals_count_cost(tmp_path, monkeypatch):
    monkeypatch.setenv("LESION_NAS_CACHE", str(tmp_path))
    PART_CACHE.clear()
    chosen = list(itertools.islice(space_choices(["unet"]), 0, 4000, 400))
    df = cost_table((64, 96), choices=chosen, workers=2)
    assert list(df.columns) == ["genotype_id", *CHOICE_COLUMNS, "params", "macs_thop", "macs_torch"]
    assert len(df) == len({make_genotype(c).id for c in chosen})
    # everything was measured by the workers and saved: nothing is missing any more
    assert missing_parts([make_genotype(c) for c in chosen], (64, 96)) == []
    assert list(tmp_path.glob("part-costs-*.json"))
    rows = df.set_index("genotype_id")
    for c in chosen[:3]:
        g = make_genotype(c)
        whole = count_cost(g, (64, 96), method="whole")
        row = rows.loc[g.id]
        assert (row.params, row.macs_thop, row.macs_torch) == (
            whole.params,
            whole.macs_thop,
            whole.macs_torch,
        )
    PART_CACHE.clear()


def test_space_verb_counts_the_candidates_within_a_budget(tmp_path, monkeypatch, capsys):
    import pandas as pd

    import search
    import searchspace.table as table

    chosen = list(itertools.islice(space_choices(["unet"]), 0, 4000, 500))
    spaces = []  # the space the verb asks for: base unless --space says otherwise

    def choices_of(layouts=None, space="base"):
        spaces.append(space)
        return iter(chosen)

    monkeypatch.setattr(table, "space_choices", choices_of)
    costs = {make_genotype(c).id: count_cost(make_genotype(c), (64, 64)) for c in chosen}
    budget = sorted(c.params for c in costs.values())[len(costs) // 2]
    out = tmp_path / "space.csv"
    argv = ["space", "--image-size", "64", "--budget-params", str(budget), "--workers", "1"]
    assert search.main([*argv, "--out", str(out), "--quiet"]) == 0
    fitting = sum(c.params <= budget for c in costs.values())
    assert f"within the budget: {fitting:,} of {len(costs):,}" in capsys.readouterr().out
    df = pd.read_csv(out)
    assert int(df["fits_budget"].sum()) == fitting
    assert dict(zip(df["genotype_id"], df["params"], strict=True)) == {
        k: c.params for k, c in costs.items()
    }
    assert spaces == ["base"]
    assert search.main([*argv, "--space", "wide", "--quiet"]) == 0 and spaces[-1] == "wide"
    assert "candidates of the wide space costed" in capsys.readouterr().out
    # a size off the largest stride: one clear error, exit 2, nothing written
    out.unlink()
    assert search.main([*argv[:2], "100", "--out", str(out), "--quiet"]) == 2
    assert "multiple of" in capsys.readouterr().err and not out.exists()
