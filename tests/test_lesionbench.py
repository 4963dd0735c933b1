"""lesionbench's sub-space: exhaustive over the mission factors, so every one-factor neighbour of
every candidate is itself a candidate (the property the local-search replay needs)."""

from __future__ import annotations

from benchmarks.lesionbench.build import PHASES, subset
from benchmarks.lesionbench.space import MACROS, candidates, neighbours
from searchspace.space import make_genotype


def test_the_sub_space_is_exhaustive_and_closed_under_one_factor_moves():
    cands = candidates()
    # per macro: 4 stems x (7 families without options + 6 orders each for dscm and msffm
    # + 5 N x 6 orders for ECDF = 49) x bridges (malunet 5, unet 4) = 980 + 784, all distinct
    assert len(cands) == 1764
    keys = {make_genotype(c).id for _, c in cands}
    assert len(keys) == len(cands)
    for macro, c in cands[::37]:  # a spread of 48 candidates, each with all its neighbours
        assert {k: c[k] for k in MACROS[macro]} == MACROS[macro]
        ns = neighbours(c)
        assert ns and all(make_genotype(n).id in keys for n in ns)
        moved = [sum(n.get(k) != c.get(k) for k in ("stem", "block", "bridge")) for n in ns]
        assert max(moved) == 1


def test_neighbours_of_an_ecdf_candidate_vary_n_and_the_attention_order():
    c = {**MACROS["malunet-d6-w8"], "stem": "plain", "block": "ecdf", "compression": 8,
         "attention": "sa", "bridge": "none"}  # fmt: skip
    ns = neighbours(c)
    assert sorted(n["compression"] for n in ns if n["block"] == "ecdf" and n["attention"] == "sa"
                  and n["stem"] == "plain" and n["bridge"] == "none") == [2, 4, 16, 32]  # fmt: skip
    assert len(ns) == 3 + 9 + 4 + 5 + 4  # stems, blocks, N, orders, bridges
    to_scf = [n for n in ns if n["block"] == "scf"]
    assert to_scf == [{**MACROS["malunet-d6-w8"], "stem": "plain", "block": "scf",
                       "bridge": "none"}]  # fmt: skip


def test_the_noise_subset_is_stratified_and_fixed():
    cands = candidates()
    first, again = subset(cands), subset(cands)
    assert first == again
    families = {(m, c["block"]) for m, c in cands}
    assert len(first) == 4 * len(families)
    assert PHASES["low"]["epochs"] == 2 and PHASES["low"]["size"] == (64, 64)


NO_MAC_BUDGET = ("--budget-params", "0.4M", "--budget-gflops", "none")


def _fake_table(path, macro: str, drop: int = 0) -> dict:
    """A complete table of one macro (every candidate, 1 s of training each) whose Dice is a
    made-up function of the factors; ``drop`` leaves the first candidates out."""
    import csv

    from benchmarks.lesionbench.build import COLUMNS

    score = {"plain": 0.0, "convstem": 0.05, "dsc": 0.02, "axial": 0.04}
    dice = {}
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for k, (m, c) in enumerate(x for x in candidates() if x[0] == macro):
            g = make_genotype(c)
            dice[g.id] = 0.5 + score[c["stem"]] + (0.1 if c["bridge"] == "gate" else 0.0)
            if k < drop:
                continue
            w.writerow({"macro": m, **{f: c.get(f, "") for f in ("stem", "block", "compression",
                        "attention", "bridge")}, "genotype_id": g.id, "params": 0, "macs_thop": 0,
                        "macs_torch": 0, "fidelity": "64x64-e2", "image_size": "64x64", "epochs": 2,
                        "seed": 0, "val_dice_per_image_mean": dice[g.id],
                        "val_jaccard_per_image_mean": 0,
                        "val_dice_curve": f"[{dice[g.id] - 0.2}, {dice[g.id]}]",
                        "train_seconds": 1.0, "status": "completed"})  # fmt: skip
    return dice


def test_replay_on_a_small_table_counts_evaluations_seconds_and_hypervolume(tmp_path):
    import pandas as pd

    from benchmarks.lesionbench import replay

    table = tmp_path / "table.csv"
    dice = _fake_table(table, "unet-d4-w16")
    out = tmp_path / "out"
    argv = ["--macro", "unet-d4-w16", "--strategies", "random,local,evolution", "--seeds", "2",
            "--evaluations", "8", "--population", "4", "--table", str(table), "--out", str(out), *NO_MAC_BUDGET]  # fmt: skip
    assert replay.main(argv) == 0
    df = pd.read_csv(out / "replay.csv")
    assert list(df["strategy"]) == ["random", "local", "evolution"]
    assert (df["evaluations"] == 8).all() and (df["missing_mean"] == 0).all()
    assert "vs_random_mannwhitney_p" in df and pd.isna(df.loc[0, "vs_random_mannwhitney_p"])
    import json

    for curve in json.loads((out / "curves.json").read_text()):
        assert curve["seconds"] == [float(k) for k in range(1, 9)]  # 1 s per trained candidate
        assert all(b >= a for a, b in zip(curve["hv"], curve["hv"][1:], strict=False))
        assert curve["hv"][-1] > 0
    best = df.set_index("strategy")["best_val_dice_mean"]
    assert (best >= min(dice.values())).all() and (best <= max(dice.values())).all()


def test_replay_refuses_an_incomplete_table_unless_partial(tmp_path, capsys):
    from benchmarks.lesionbench import replay

    table = tmp_path / "table.csv"
    _fake_table(table, "unet-d4-w16", drop=400)
    argv = ["--macro", "unet-d4-w16", "--strategies", "random", "--seeds", "1", "--evaluations",
            "20", "--table", str(table), "--out", str(tmp_path / "o"), *NO_MAC_BUDGET]  # fmt: skip
    assert replay.main(argv) == 2
    assert "not in the table" in capsys.readouterr().err
    assert replay.main([*argv, "--partial"]) == 0


def test_replay_with_successive_halving_pays_half_for_a_pruned_candidate(tmp_path):
    import json

    import pandas as pd

    from benchmarks.lesionbench import replay

    table = tmp_path / "table.csv"
    _fake_table(table, "unet-d4-w16")
    out = tmp_path / "out"
    argv = ["--macro", "unet-d4-w16", "--strategies", "random", "--seeds", "2", "--evaluations",
            "12", "--prune", "sh", "--eta", "2", "--table", str(table), "--out", str(out), *NO_MAC_BUDGET]  # fmt: skip
    assert replay.main(argv) == 0
    df = pd.read_csv(out / "replay.csv")
    assert df.loc[0, "pruned_mean"] > 0 and df.loc[0, "evaluations"] == 12
    for curve in json.loads((out / "curves.json").read_text()):
        steps = [b - a for a, b in zip([0.0, *curve["seconds"]], curve["seconds"], strict=False)]
        assert set(steps) <= {0.5, 1.0} and 0.5 in steps  # 1 of 2 epochs for a pruned one
        assert len(curve["hv"]) == 12
