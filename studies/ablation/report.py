"""The ablation's report: one row per variant, paired against the base, as tables and a plot.

``ablation_table`` reads a finished ablation study (``studies.ablation.study``): costs, Dice and
Jaccard mean ± std over seeds, and for each variant the paired test against the base on the same
images and seeds (``stats.paired_comparison``). ``write_ablation_report`` writes it as
ablation.csv / .md / .tex / .json and a Δ Dice vs Δ params plot (ablation.html).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna

from searchspace.cost import count_cost
from studies.ablation.plan import Variant
from studies.ablation.study import ABLATION_SPEC, PER_IMAGE, SEED, VARIANT
from studies.evidence.stats import mean_std, paired_comparison
from trainer import write_json

LATENCY_COLUMN = "torch eager CPU latency ms (batch 1)"


def _runs_by_seed(study: optuna.Study, name: str, seeds: tuple[int, ...]) -> dict:
    """seed -> (trial, per-image validation scores) of a variant's completed runs."""
    by_seed = {}
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.user_attrs.get(VARIANT) == name and t.user_attrs[SEED] in seeds:
            by_seed[t.user_attrs[SEED]] = (t, t.user_attrs[PER_IMAGE])
    return by_seed


def ablation_table(study: optuna.Study, variants: list[Variant], *, latency: bool = True):
    """One row per variant: costs, Dice and Jaccard mean ± std over seeds, paired Δ vs the base."""
    import pandas as pd

    spec = study.user_attrs[ABLATION_SPEC]
    seeds = tuple(spec["seeds"])
    base = next(v for v in variants if v.factor == "base")
    base_runs = _runs_by_seed(study, base.name, seeds)
    rows = []
    for v in variants:
        row = {"variant": v.name, "factor": v.factor, "value": v.value}
        if v.genotype is None:
            rows.append({**row, "skipped": v.skipped})
            continue
        runs = _runs_by_seed(study, v.name, seeds)
        cost = count_cost(v.genotype, tuple(spec["train_config"]["image_size"]))
        row.update(
            {"params": cost.params, "MACs (thop)": cost.macs_thop, "MACs (torch)": cost.macs_torch}
        )
        if latency:
            from runner.latency import measure_latency_ms

            row[LATENCY_COLUMN] = measure_latency_ms(
                v.genotype, tuple(spec["train_config"]["image_size"])
            )
        dice = [float(np.mean(p["dice"])) for _, p in runs.values()]
        jac = [float(np.mean(p["jaccard"])) for _, p in runs.values()]
        row["seeds"] = len(runs)
        row["val Dice mean"], row["val Dice std"], _ = mean_std(dice)
        row["val Jaccard mean"], row["val Jaccard std"], _ = mean_std(jac)
        common = sorted(set(runs) & set(base_runs))
        if v.factor != "base" and common:
            a = np.array([runs[s][1]["dice"] for s in common])
            b = np.array([base_runs[s][1]["dice"] for s in common])
            c = paired_comparison(a, b, seed=0)
            row.update(
                {
                    "Δ Dice": c.mean_delta,
                    "Δ Dice CI low": c.ci_low,
                    "Δ Dice CI high": c.ci_high,
                    "Wilcoxon p": c.p_value,
                    "pairs": c.n_pairs,
                    "significant": c.significant,
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def write_ablation_report(
    study: optuna.Study, variants: list[Variant], out_dir: Path, *, latency: bool = True
) -> Path:
    """ablation.csv / .md / .tex and a Δ Dice vs Δ params plot (ablation.html)."""
    import plotly.graph_objects as go

    table = ablation_table(study, variants, latency=latency)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "ablation.csv", index=False)
    spec = study.user_attrs[ABLATION_SPEC]
    shown = _paper_style(table)
    note = (
        f"Validation split of {spec['data']['name']}"
        f"{' (SYNTHETIC data)' if spec['data']['synthetic'] else ''}; {len(spec['seeds'])} seeds "
        f"({', '.join(map(str, spec['seeds']))}); Dice = mean over images of per-image Dice, then "
        "mean ± std over seeds; Δ = paired on (image, seed), Wilcoxon signed-rank p, 95 % bootstrap "
        "CI over images; * = p < 0.05 and CI excludes 0. MACs at the training size, batch 1."
    )
    markdown = shown.to_markdown(index=False, tablefmt="github", missingval="")
    (out_dir / "ablation.md").write_text(markdown + "\n\n" + note + "\n")
    (out_dir / "ablation.tex").write_text(shown.to_latex(index=False, escape=True))
    base_params = table.loc[table["factor"] == "base", "params"].iloc[0]
    trained = table[table.get("Δ Dice").notna()] if "Δ Dice" in table else table.iloc[0:0]
    fig = go.Figure(
        go.Scatter(
            x=trained["params"] - base_params,
            y=trained["Δ Dice"],
            mode="markers+text",
            text=trained["variant"],
            textposition="top center",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": trained["Δ Dice CI high"] - trained["Δ Dice"],
                "arrayminus": trained["Δ Dice"] - trained["Δ Dice CI low"],
            },
        )
    )
    fig.add_hline(y=0, line_dash="dot")
    fig.update_layout(
        title=f"Δ val Dice vs Δ params against the base ({len(spec['seeds'])} seeds)",
        xaxis_title="Δ parameters",
        yaxis_title="Δ val Dice (per-image mean)",
    )
    fig.write_html(out_dir / "ablation.html", include_plotlyjs=True)
    write_json(
        out_dir / "ablation.json",
        {"note": note, "rows": json.loads(table.to_json(orient="records"))},
    )
    return out_dir


def _paper_style(table):
    import pandas as pd

    out = []
    for _, r in table.iterrows():
        if isinstance(r.get("skipped"), str):
            out.append(
                {
                    "variant": r["variant"],
                    "params": "-",
                    "MACs (thop)": "-",
                    "val Dice": f"skipped: {r['skipped']}",
                }
            )
            continue
        delta = ""
        if pd.notna(r.get("Δ Dice", np.nan)):
            delta = f"{r['Δ Dice']:+.4f} [{r['Δ Dice CI low']:+.4f}, {r['Δ Dice CI high']:+.4f}] p={r['Wilcoxon p']:.3g}{' *' if r['significant'] else ''}"
        row = {
            "variant": r["variant"]
            + (" (base)" if r["factor"] == "base" and not r["variant"].startswith("base") else ""),
            "params": f"{int(r['params']):,}",
            "MACs (thop)": f"{r['MACs (thop)'] / 1e6:.1f} M",
            "MACs (torch)": f"{r['MACs (torch)'] / 1e6:.1f} M",
        }
        if LATENCY_COLUMN in r:
            row["torch eager CPU ms"] = f"{r[LATENCY_COLUMN]:.1f}"
        row["val Dice"] = f"{r['val Dice mean']:.4f} ± {r['val Dice std']:.4f}"
        row["val Jaccard"] = f"{r['val Jaccard mean']:.4f} ± {r['val Jaccard std']:.4f}"
        row["Δ Dice vs base"] = delta
        out.append(row)
    return pd.DataFrame(out)
