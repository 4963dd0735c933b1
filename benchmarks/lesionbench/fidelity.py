"""Does the table's search fidelity rank its candidates like the second fidelity?

Usage: python -m benchmarks.lesionbench.fidelity [--macro malunet-d6-w8] [--table FILE]
       [--low 64x64-e2] [--high 96x96-e6] [--out DIR]

Pairs every candidate of ``--macro`` that the table holds at both fidelities with seed 0 (the
``high`` phase of ``build.py``: the stratified subset of 4 candidates per block family), and
reports Spearman rho and Kendall tau-b with 95 % bootstrap CIs over the candidates
(``studies.evidence.fidelity.rank_correlations``, the ``fidelity`` verb's statistics), where the high
fidelity's best sits in the low fidelity's ranking, and the spread of the candidates at each
fidelity beside the low fidelity's seed-to-seed sd (pooled over the table's multi-seed
candidates). Scores: validation Dice, per-image mean, of the best epoch (150 official ISIC 2017
validation images). Writes ``fidelity.md``, ``fidelity.csv`` and ``fidelity.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.lesionbench.space import MACROS  # noqa: E402

HERE = Path(__file__).resolve().parent


def paired_scores(table: Path, macro: str, low: str, high: str, seed: int = 0) -> list[dict]:
    """One dict per candidate measured at both fidelities with ``seed``, best high first."""
    rows: dict[str, dict] = {}
    with Path(table).open(newline="") as f:
        for r in csv.DictReader(f):
            if r["macro"] != macro or r["status"] != "completed" or int(r["seed"]) != seed:
                continue
            if r["fidelity"] not in (low, high):
                continue
            c = rows.setdefault(r["genotype_id"], {
                "genotype_id": r["genotype_id"], "stem": r["stem"], "block": r["block"],
                "compression": r["compression"], "attention": r["attention"],
                "bridge": r["bridge"], "params": int(r["params"]),
            })  # fmt: skip
            key = "low" if r["fidelity"] == low else "high"
            c[f"val_dice_{key}"] = float(r["val_dice_per_image_mean"])
            c[f"train_seconds_{key}"] = float(r["train_seconds"])
    both = [c for c in rows.values() if "val_dice_low" in c and "val_dice_high" in c]
    return sorted(both, key=lambda c: -c["val_dice_high"])


def summarise(pairs: list[dict], noise_sd: float, noise_n: int) -> dict:
    from studies.evidence.fidelity import rank_correlations
    from studies.evidence.stats import mean_std

    low = [c["val_dice_low"] for c in pairs]
    high = [c["val_dice_high"] for c in pairs]
    stats = rank_correlations(low, high)
    for key, xs in (("low", low), ("high", high)):
        m = mean_std(xs)
        stats[f"{key}_mean"], stats[f"{key}_sd"] = m.mean, m.std
        stats[f"{key}_range"] = (min(xs), max(xs))
    stats["low_seed_noise_sd"], stats["low_seed_noise_candidates"] = noise_sd, noise_n
    cost = sum(c["train_seconds_low"] for c in pairs), sum(c["train_seconds_high"] for c in pairs)
    stats["train_seconds_low"], stats["train_seconds_high"] = cost
    return stats


def markdown(stats: dict, pairs: list[dict], a) -> str:
    import pandas as pd

    from studies.tables import to_markdown

    lo, hi = stats["spearman_ci"], stats["kendall_ci"]
    head = (
        f"lesionbench fidelity, macro {a.macro}: {stats['n']} candidates (the stratified subset)"
        f" measured at {a.low} and {a.high}, seed 0 each; validation Dice per-image mean of the "
        f"best epoch (150 ISIC 2017 validation images).\n\n"
        f"- Spearman rho {stats['spearman']:.3f} [{lo[0]:.3f}, {lo[1]:.3f}], Kendall tau-b "
        f"{stats['kendall']:.3f} [{hi[0]:.3f}, {hi[1]:.3f}] (95 % bootstrap CIs over candidates)\n"
        f"- the best at {a.high} is #{stats['high_best_rank_at_low']} at {a.low}\n"
        f"- spread over the candidates (sd): {stats['low_sd']:.4f} at {a.low}, "
        f"{stats['high_sd']:.4f} at {a.high}; seed-to-seed sd at {a.low}: "
        f"{stats['low_seed_noise_sd']:.4f} (pooled over {stats['low_seed_noise_candidates']} "
        f"candidates)\n"
        f"- training: {stats['train_seconds_low']:.0f} s at {a.low}, "
        f"{stats['train_seconds_high']:.0f} s at {a.high} (one thread per run)\n"
    )
    shown = pd.DataFrame(pairs)[
        ["genotype_id", "stem", "block", "compression", "attention", "bridge", "params",
         "val_dice_low", "val_dice_high"]
    ]  # fmt: skip
    return head + "\n" + to_markdown(shown, floatfmt=".4f", missingval="")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--macro", choices=tuple(MACROS), default="malunet-d6-w8")
    ap.add_argument("--table", default=str(HERE / "table.csv"))
    ap.add_argument("--low", default="64x64-e2", help="the search fidelity (default 64x64-e2)")
    ap.add_argument("--high", default="96x96-e6", help="the second fidelity (default 96x96-e6)")
    ap.add_argument(
        "--out", default=None, help="default benchmarks/lesionbench/results/MACRO-fidelity"
    )
    a = ap.parse_args(argv)
    from benchmarks.lesionbench.replay import read_table

    if not Path(a.table).is_file():
        print(f"error: no table at {a.table}", file=sys.stderr)
        return 2
    pairs = paired_scores(Path(a.table), a.macro, a.low, a.high)
    if len(pairs) < 3:
        print(
            f"error: {len(pairs)} candidates of {a.macro} are in {a.table} at both {a.low} and "
            f"{a.high}; at least 3 are needed (build them: python -m benchmarks.lesionbench.build "
            "--phase high)",
            file=sys.stderr,
        )
        return 2
    noise = read_table(Path(a.table), a.low)
    stats = summarise(pairs, noise.noise_sd, noise.noise_n)
    out = Path(a.out or HERE / "results" / f"{a.macro}-fidelity")
    out.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    pd.DataFrame(pairs).to_csv(out / "fidelity.csv", index=False)
    (out / "fidelity.json").write_text(json.dumps(stats, indent=2) + "\n")
    md = markdown(stats, pairs, a)
    (out / "fidelity.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
