"""lesionbench's sub-space: exhaustive over the mission factors, so every one-factor neighbour of
every candidate is itself a candidate (the property the local-search replay needs)."""

from __future__ import annotations

import pytest

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


def test_fidelity_pairs_the_two_fidelities_and_ranks_them_by_hand(tmp_path, capsys):
    """Four candidates: low Dice 0.1 < 0.2 < 0.3 < 0.4, high 0.5, 0.7, 0.6, 0.8 (the middle two
    swapped): Spearman 1 - 6 x 2 / (4 x 15) = 0.8, Kendall (5 - 1) / 6 = 0.667; a candidate of
    another macro, one with only the low fidelity and a seed-1 row are left out."""
    import csv
    import json

    from benchmarks.lesionbench import fidelity
    from benchmarks.lesionbench.build import COLUMNS

    def row(gid, fid, dice, seed=0, macro="malunet-d6-w8"):
        size = "64x64" if fid == "64x64-e2" else "96x96"
        return {"macro": macro, "stem": "plain", "block": "scf", "compression": "",
                "attention": "", "bridge": "none", "genotype_id": gid, "params": 100,
                "macs_thop": 1000, "macs_torch": 1000, "fidelity": fid, "image_size": size,
                "epochs": 2, "seed": seed, "val_dice_per_image_mean": dice,
                "val_jaccard_per_image_mean": 0, "val_dice_curve": "[]", "train_seconds": 2.0,
                "status": "completed"}  # fmt: skip

    path = tmp_path / "table.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for gid, low, high in (("a", 0.1, 0.5), ("b", 0.2, 0.7), ("c", 0.3, 0.6), ("d", 0.4, 0.8)):
            w.writerow(row(gid, "64x64-e2", low))
            w.writerow(row(gid, "96x96-e6", high))
        w.writerow(row("a", "64x64-e2", 0.3, seed=1))  # noise: a's seeds differ by 0.2
        w.writerow(row("e", "64x64-e2", 0.9))  # low fidelity only
        w.writerow(row("f", "64x64-e2", 0.9, macro="unet-d4-w16"))
        w.writerow(row("f", "96x96-e6", 0.1, macro="unet-d4-w16"))
    out = tmp_path / "out"
    assert fidelity.main(["--table", str(path), "--out", str(out)]) == 0
    stats = json.loads((out / "fidelity.json").read_text())
    assert stats["n"] == 4
    assert abs(stats["spearman"] - 0.8) < 1e-9 and abs(stats["kendall"] - 4 / 6) < 1e-9
    assert stats["high_best_rank_at_low"] == 1  # d is the best at both
    assert abs(stats["low_seed_noise_sd"] - 0.2 / 2**0.5) < 1e-9  # sd of (0.1, 0.3)
    assert stats["train_seconds_high"] == 8.0
    table = [r["genotype_id"] for r in csv.DictReader((out / "fidelity.csv").open())]
    assert table == ["d", "b", "c", "a"]  # best high first
    assert "Spearman rho 0.800" in (out / "fidelity.md").read_text()
    # too few pairs: one line, exit 2
    assert fidelity.main(["--table", str(path), "--macro", "unet-d4-w16", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: 1 candidates of unet-d4-w16") and "\n" not in err


def test_by_evaluations_reads_each_seeds_curve_at_k(tmp_path, capsys):
    """Two strategies x 2 seeds, hand-made curves: after 2 evaluations random has (0.2, 0.4),
    local (0.5, 0.7); a run shorter than k keeps its last value."""
    import json

    import pandas as pd

    from benchmarks.lesionbench import by_evaluations

    curves = [
        {"strategy": "random", "seed": 0, "hv": [0.1, 0.2, 0.3]},
        {"strategy": "random", "seed": 1, "hv": [0.3, 0.4]},
        {"strategy": "local", "seed": 0, "hv": [0.0, 0.5, 0.9]},
        {"strategy": "local", "seed": 1, "hv": [0.6, 0.7, 0.8]},
    ]
    (tmp_path / "curves.json").write_text(json.dumps(curves))
    assert by_evaluations.main([str(tmp_path), "--at", "2,3"]) == 0
    df = pd.read_csv(tmp_path / "by_evaluations.csv").set_index("strategy")
    assert abs(df.loc["random", "hv_2_mean"] - 0.3) < 1e-12
    assert abs(df.loc["random", "hv_2_sd"] - 0.02**0.5) < 1e-12  # sd of (0.2, 0.4), ddof 1
    assert abs(df.loc["random", "hv_3_mean"] - 0.35) < 1e-12  # (0.3 + 0.4) / 2: seed 1 ended at 2
    assert abs(df.loc["local", "hv_3_mean"] - 0.85) < 1e-12
    assert abs(df.loc["local", "hv_2_p_vs_random"] - 1 / 3) < 1e-9  # exact U test, 2 vs 2: 2/6
    assert pd.isna(df.loc["random", "hv_2_p_vs_random"])
    assert "0.600 ± 0.141" in (tmp_path / "by_evaluations.md").read_text()
    capsys.readouterr()
    assert by_evaluations.main([str(tmp_path), "--at", "0"]) == 2
    assert by_evaluations.main([str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "--at must be positive integers" in err and "no curves.json" in err


def test_noise_plans_hand_over_and_pick_by_their_rules():
    """Hand-made candidates: the plans' choice of whom to re-measure and whom to hand over."""
    from benchmarks.lesionbench.noise_replay import Candidate, hand_over, parse_plan, pick_for_extra

    a = Candidate("a", 10, 10, [0.80])  # the lucky single draw
    b = Candidate("b", 20, 20, [0.78, 0.77, 0.76])
    c = Candidate("c", 5, 5, [0.50])  # cheap, below the floor
    d = Candidate("d", 30, 30, [0.70])  # dominated by a
    front = [a, b, c]
    assert parse_plan("promote:2:3").name == "promote:2:3"
    with pytest.raises(ValueError, match="reeval:K:S"):
        parse_plan("reeval:0:3")
    # single: the best told value on the front
    assert hand_over(parse_plan("single"), [a, b, c, d], None) is a
    # reeval:2:3 re-measures the two best that lack 3 seeds, above the floor
    assert pick_for_extra(parse_plan("reeval:2:3"), front, 0.6) == [a]
    assert pick_for_extra(parse_plan("reeval:2:3"), front, None) == [a, c]
    # ... and hands over the best mean among those measured 3 times
    assert hand_over(parse_plan("reeval:2:3"), [a, b, c, d], None) is b
    # promote plans run the live rule: tests/test_promotion.py


def _full_rows(path, dice: dict, seconds: float = 10.0) -> None:
    """Append 96x96-e10 rows (one seed each) for the candidates in ``dice``."""
    import csv

    from benchmarks.lesionbench.build import COLUMNS

    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        for gid, value in dice.items():
            w.writerow({"macro": "unet-d4-w16", "genotype_id": gid, "params": 0, "macs_thop": 0,
                        "macs_torch": 0, "fidelity": "96x96-e10", "image_size": "96x96",
                        "epochs": 10, "seed": 0, "val_dice_per_image_mean": value,
                        "val_jaccard_per_image_mean": 0, "val_dice_curve": "[]",
                        "train_seconds": seconds, "status": "completed"})  # fmt: skip


def test_noise_replay_accounts_extra_training_and_regret_on_a_small_table(tmp_path):
    import json

    import pandas as pd

    from benchmarks.lesionbench import noise_replay

    table = tmp_path / "table.csv"
    low = _fake_table(table, "unet-d4-w16")
    # the fuller fidelity reverses the order of the low-fidelity scores: the best at the search
    # fidelity is the worst at the fuller one
    full = {gid: 1.3 - v for gid, v in low.items()}
    _full_rows(table, full)
    best = max(full.values())
    out = tmp_path / "out"
    argv = ["--macro", "unet-d4-w16", "--plans", "single,promote:2:1", "--seeds", "2",
            "--evaluations", "8", "--every", "4", "--population", "4", "--table", str(table),
            "--out", str(out), *NO_MAC_BUDGET]  # fmt: skip
    assert noise_replay.main(argv) == 0
    df = pd.read_csv(out / "noise_replay.csv").set_index("plan")
    assert list(df.index) == ["single", "promote:2:1"]
    assert (df["trained_mean"] == 8).all()
    outcomes = json.loads((out / "outcomes.json").read_text())
    for o in outcomes:
        # 1 s per search training, 10 s per promotion; promote:2:1 promotes 2 per round at most
        assert o["seconds"] == pytest.approx(8.0 + 10.0 * o["extra_runs"])
        assert o["regret"] == pytest.approx(best - full[o["chosen"]])
        if o["plan"] == "single":
            assert o["extra_runs"] == 0
            # it hands over the best told (low) value of its front: the worst at full fidelity
            # among its trained candidates
        else:
            assert 1 <= o["extra_runs"] <= 4
    single = [o for o in outcomes if o["plan"] == "single"]
    promoted = [o for o in outcomes if o["plan"] == "promote:2:1"]
    assert statistics_mean([o["regret"] for o in promoted]) <= statistics_mean(
        [o["regret"] for o in single]
    )
    assert noise_replay.main([*argv, "--plans", "promote:x:1"]) == 2


def statistics_mean(values):
    return sum(values) / len(values)


def test_the_networks_named_in_section_7_are_committed_and_in_the_table():
    """docs/evidence.md section 7 names table networks by id: each has its genotype JSON, whose
    id is its name, and the table holds its 96x96 / 10-epoch rows."""
    import csv
    import json
    from pathlib import Path

    from searchspace.genotype import Genotype

    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "docs" / "evidence").glob("lesionbench-*.json"))
    assert files
    with (root / "benchmarks" / "lesionbench" / "table.csv").open(newline="") as f:
        full = {r["genotype_id"] for r in csv.DictReader(f) if r["fidelity"] == "96x96-e10"}
    text = (root / "docs" / "evidence.md").read_text()
    for path in files:
        gid = path.stem.removeprefix("lesionbench-")
        assert Genotype.from_dict(json.loads(path.read_text())).id == gid
        assert gid in full and gid in text


def test_summary_ranks_pools_the_seed_sd_and_compares_with_the_reference_by_hand(tmp_path, capsys):
    """malunet 0.80 / 0.82 (mean 0.81, var 2e-4), x 0.83 / 0.85 / 0.84 (mean 0.84, var 1e-4),
    y 0.90 on one seed: pooled sd = sqrt((1 x 2e-4 + 2 x 1e-4) / 3) = 0.011547; x - malunet =
    +0.03 with Welch's interval (scipy's t quantile on the Welch-Satterthwaite df, 1.7: it holds
    0); x and y are 0.01 above by their means, neither clearly; rows of another fidelity or not
    completed are left out."""
    import csv

    from scipy import stats as st

    from benchmarks.lesionbench import summary
    from benchmarks.lesionbench.build import COLUMNS

    def row(gid, dice, seed, macro="malunet-d6-w8", fid="96x96-e10", status="completed"):
        return {"macro": macro, "genotype_id": gid, "params": 100, "macs_thop": 1000,
                "fidelity": fid, "seed": seed, "val_dice_per_image_mean": dice,
                "status": status}  # fmt: skip

    path = tmp_path / "table.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        w.writeheader()
        for seed, v in enumerate((0.80, 0.82)):
            w.writerow(row("m" * 12, v, seed, macro="preset:malunet"))
        for seed, v in enumerate((0.83, 0.85, 0.84)):
            w.writerow(row("x" * 12, v, seed))
        w.writerow(row("y" * 12, 0.90, 0))
        w.writerow(row("z" * 12, 0.99, 0, fid="64x64-e2"))
        w.writerow(row("w" * 12, 0.99, 0, status="failed"))
    nets = summary.per_network(path, "96x96-e10")
    assert list(nets["name"]) == ["y" * 12, "x" * 12, "malunet"]
    sd, n = summary.pooled_sd(nets)
    assert n == 2 and abs(sd - (4e-4 / 3) ** 0.5) < 1e-12
    assert summary.main(["--table", str(path)]) == 0
    out = capsys.readouterr().out
    se2 = 2e-4 / 2 + 1e-4 / 3
    df = se2**2 / ((2e-4 / 2) ** 2 / 1 + (1e-4 / 3) ** 2 / 2)
    half = st.t.ppf(0.975, df) * se2**0.5
    assert f"+0.0300 [{0.03 - half:+.4f}, {0.03 + half:+.4f}]" in out
    assert f"0.01: 2 ({'y' * 12}, {'x' * 12})" in out  # by their means
    assert "interval above 0: 0\n" in out + "\n"  # y has one seed; x's interval holds 0
    assert summary.main(["--table", str(path), "--reference", "scsonet"]) == 2
