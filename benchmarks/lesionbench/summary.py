"""What the table says at one fidelity: the networks ranked by mean validation Dice over seeds,
the seed sd pooled over the networks with several seeds, and which networks are above a reference
(malunet) by a margin, with the 95 % Welch interval of the difference where both have seeds.

    python -m benchmarks.lesionbench.summary                     # 96x96-e10, against malunet
    python -m benchmarks.lesionbench.summary --fidelity 64x64-e2 --top 20

Every figure is the validation split's per-image mean Dice (``val_dice_per_image_mean``) of the
runs in the table (``status == completed``), one value per (network, seed).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from studies.intervals import mean_std, welch_interval

TABLE = Path(__file__).with_name("table.csv")
METRIC = "val_dice_per_image_mean"


def per_network(table: Path, fidelity: str):
    """A DataFrame, one row per genotype id: name, params, macs, seeds, mean, sd, values."""
    import pandas as pd

    df = pd.read_csv(table)
    df = df[(df["fidelity"] == fidelity) & (df["status"] == "completed")]
    df = df[df[METRIC].notna()]
    if df.empty:
        raise ValueError(f"no completed rows at fidelity {fidelity!r} in {table}")
    df = df.drop_duplicates(["genotype_id", "seed"])
    rows = []
    for gid, g in df.groupby("genotype_id"):
        values = g.sort_values("seed")[METRIC].astype(float).tolist()
        mean, sd, n = mean_std(values)
        sd = sd if n > 1 else float("nan")  # one seed: no spread to show
        macro = str(g["macro"].iloc[0])
        name = macro.removeprefix("preset:") if macro.startswith("preset:") else gid[:12]
        rows.append({
            "genotype_id": gid, "name": name,
            "macro": macro, "params": int(g["params"].iloc[0]),
            "macs_thop": int(g["macs_thop"].iloc[0]), "seeds": n, "mean": mean, "sd": sd,
            "values": values,
        })  # fmt: skip
    return pd.DataFrame(rows).sort_values("mean", ascending=False).reset_index(drop=True)


def pooled_sd(nets) -> tuple[float, int]:
    """The seed sd pooled over the networks with >= 2 seeds (root of the df-weighted mean
    variance) and how many networks it pools."""
    multi = nets[nets["seeds"] >= 2]
    dof = float((multi["seeds"] - 1).sum())
    if dof == 0:
        return float("nan"), 0
    var = float(((multi["seeds"] - 1) * multi["sd"] ** 2).sum()) / dof
    return math.sqrt(var), len(multi)


def summary(table: Path, fidelity: str, reference: str, margin: float, top: int) -> str:
    nets = per_network(table, fidelity)
    ref = nets[nets["name"] == reference]
    if ref.empty:
        raise ValueError(f"the reference {reference!r} has no row at {fidelity}")
    ref = ref.iloc[0]
    sd, pooled = pooled_sd(nets)
    size = fidelity.split("-")[0]
    lines = [
        f"table {table} at {fidelity}: {int(nets['seeds'].sum())} runs, {len(nets)} networks "
        f"({int((nets['seeds'] >= 2).sum())} with >= 2 seeds); validation {METRIC}",
        f"seed sd pooled over the {pooled} networks with >= 2 seeds: {sd:.4f}",
        f"reference {reference}: {ref['mean']:.4f} over {ref['seeds']} seeds "
        f"({', '.join(f'{v:.4f}' for v in ref['values'])})",
        "",
        f"| rank | network | params | thop MACs at {size} | seeds | mean | sd | vs {reference} [95 % Welch] |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for i, r in nets.head(top).iterrows():
        diff = welch_interval(r["values"], ref["values"]) if r["name"] != reference else None
        vs = "" if r["name"] == reference else f"{r['mean'] - ref['mean']:+.4f}"
        if diff is not None:
            vs = f"{diff[0]:+.4f} [{diff[1]:+.4f}, {diff[2]:+.4f}]"
        sd_text = "" if math.isnan(r["sd"]) else f"{r['sd']:.4f}"
        lines.append(
            f"| {i + 1} | {r['name']} | {r['params']:,} | {r['macs_thop']:,} | {r['seeds']} | "
            f"{r['mean']:.4f} | {sd_text} | {vs} |"
        )
    above = nets[(nets["mean"] >= ref["mean"] + margin) & (nets["name"] != reference)]
    clear = [
        r["name"]
        for _, r in above.iterrows()
        if (d := welch_interval(r["values"], ref["values"])) is not None and d[1] > 0
    ]
    lines += [
        "",
        f"networks whose mean is >= {reference}'s + {margin}: {len(above)}"
        + (f" ({', '.join(above['name'])})" if len(above) else ""),
        f"of them with >= 2 seeds and a Welch interval above 0: {len(clear)}"
        + (f" ({', '.join(clear)})" if clear else ""),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--fidelity", default="96x96-e10", help="the table's fidelity tag")
    ap.add_argument("--reference", default="malunet", help="the network compared with")
    ap.add_argument("--margin", type=float, default=0.01, help="Dice above the reference")
    ap.add_argument("--top", type=int, default=15, help="rows of the ranking shown")
    a = ap.parse_args(argv)
    try:
        print(summary(Path(a.table), a.fidelity, a.reference, a.margin, a.top))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
