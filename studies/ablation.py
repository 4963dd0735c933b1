"""``python search.py ablate``: train one-factor-at-a-time variants of a model over several seeds
and compare each with the base on the same images and seeds.

Every (variant, seed) is one trial of an Optuna study (kind "ablation") in the same storage as
searches, so an interrupted ablation resumes: pairs already COMPLETE are not trained again, a pair
left RUNNING by a killed process is marked FAIL and retried. The study stores its spec (variants,
seeds, train config, data fingerprint) and refuses to resume with other settings. Each trial
keeps the per-image validation Dice and Jaccard, from which ``stats.paired_comparison`` computes
the paired test against the base.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna

from searchspace import Genotype
from searchspace.cost import count_cost
from studies import schema
from studies.ablation_plan import Variant
from studies.runs import check_image_size, load_run, train_genotype
from studies.stats import mean_std, paired_comparison
from studies.storage import fail_stale_trials, open_storage
from trainer import DataBundle, TrainConfig, evaluate, write_json

ABLATION_SPEC = "lesion_nas_ablation"
VARIANT = "variant"
SEED = "seed"
PER_IMAGE = "per_image_val"  # {"ids": [...], "dice": [...], "jaccard": [...]}


@dataclass(frozen=True)
class AblationSettings:
    seeds: tuple[int, ...]
    config: TrainConfig  # its seed is replaced per run
    out_root: Path
    device: str = "auto"
    progress: bool = True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-") or "variant"


def ablation_spec(variants: list[Variant], settings: AblationSettings, data: DataBundle) -> dict:
    return {
        "schema": schema.SCHEMA_VERSION,
        "variants": {v.name: v.genotype.id for v in variants if v.genotype is not None},
        "base": next(v.name for v in variants if v.factor == "base"),
        "seeds": list(settings.seeds),
        "train_config": {**settings.config.to_dict(), "seed": None},
        "data": {"name": data.name, "fingerprint": data.fingerprint, "synthetic": data.synthetic},
    }


def open_ablation(study_name: str, storage_url: str, spec: dict) -> optuna.Study:
    """Create the study or resume it; a different spec is refused, writing nothing."""
    storage = open_storage(storage_url)
    if study_name in optuna.study.get_all_study_names(storage):
        study = optuna.load_study(study_name=study_name, storage=storage)
        stored = study.user_attrs.get(ABLATION_SPEC)
        if stored is None:
            raise ValueError(
                f"study {study_name!r} exists and is not an ablation; choose another --study"
            )
        diffs = sorted(
            k
            for k in spec
            if json.dumps(spec[k], sort_keys=True) != json.dumps(stored.get(k), sort_keys=True)
        )
        if diffs:
            raise ValueError(
                f"ablation {study_name!r} was created with other settings ({', '.join(diffs)} "
                "differ): re-run with the same ones to resume, or choose another --study"
            )
        return study
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    study.set_user_attr(ABLATION_SPEC, spec)
    study.set_user_attr(schema.STUDY_KIND, "ablation")
    return study


def _done(study: optuna.Study) -> set[tuple[str, int]]:
    return {
        (t.user_attrs[VARIANT], t.user_attrs[SEED])
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    }


def _train_one(study, variant: Variant, seed: int, data: DataBundle, s: AblationSettings) -> None:
    g: Genotype = variant.genotype
    config = dataclasses.replace(s.config, seed=seed)
    run_dir = s.out_root / study.study_name / _slug(variant.name) / f"seed-{seed}"
    with warnings.catch_warnings():  # the heartbeat runs in Study.optimize only; ours is ask/tell
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    cost = count_cost(g, config.image_size, memory=True)
    for key, value in {
        VARIANT: variant.name,
        SEED: seed,
        "factor": variant.factor,
        "value": variant.value,
        schema.GENOTYPE: g.to_dict(),
        schema.GENOTYPE_ID: g.id,
        schema.SUMMARY: g.summary(),
        schema.PARAMS: cost.params,
        schema.MACS_THOP: cost.macs_thop,
        schema.MACS_TORCH: cost.macs_torch,
        schema.ACT_BYTES: cost.act_bytes,
        schema.RUN_DIR: str(run_dir),
        schema.FEASIBLE: True,
    }.items():
        trial.set_user_attr(key, value)
    try:
        result = train_genotype(
            g, config, data, out_dir=run_dir, device=s.device, progress=s.progress
        )
    except Exception as e:  # recorded, and the ablation goes on
        trial.set_user_attr(schema.FAIL_REASON, f"{type(e).__name__}: {e}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    if result.status == "failed":
        trial.set_user_attr(schema.FAIL_REASON, result.reason)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return
    _, _, model = load_run(run_dir)
    _, per_image, _ = evaluate(
        model,
        data.split("val"),
        device=s.device,
        batch_size=config.eval_batch_size,
        mean=config.mean,
        std=config.std,
        threshold=config.threshold,
        output="none",
    )
    trial.set_user_attr(schema.VAL, result.val)
    trial.set_user_attr(schema.TEST, result.test)
    trial.set_user_attr(
        PER_IMAGE,
        {
            "ids": list(data.split("val").ids),
            "dice": [float(v) for v in per_image["dice"]],
            "jaccard": [float(v) for v in per_image["jaccard"]],
        },
    )
    study.tell(trial, float(np.mean(per_image["dice"])))


def run_ablation(
    variants: list[Variant],
    data: DataBundle,
    settings: AblationSettings,
    *,
    study_name: str,
    storage_url: str,
) -> optuna.Study:
    """Train every (variant, seed) not yet in the study, then return the study."""
    from tqdm import tqdm

    for v in variants:
        if v.genotype is not None:
            check_image_size(v.genotype, settings.config.image_size)
    study = open_ablation(study_name, storage_url, ablation_spec(variants, settings, data))
    fail_stale_trials(study)
    done = _done(study)
    todo = [
        (v, s)
        for v in variants
        if v.genotype is not None
        for s in settings.seeds
        if (v.name, s) not in done
    ]
    bar = tqdm(todo, desc="ablate", unit="run", disable=not settings.progress)
    for variant, seed in bar:
        bar.set_postfix(variant=variant.name[:24], seed=seed)
        _train_one(study, variant, seed, data, settings)
    return study


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
            from reports.latency import measure_latency_ms

            row["CPU latency ms (batch 1)"] = measure_latency_ms(
                v.genotype, tuple(spec["train_config"]["image_size"])
            )
        dice = [float(np.mean(p["dice"])) for _, p in runs.values()]
        jac = [float(np.mean(p["jaccard"])) for _, p in runs.values()]
        row["seeds"] = len(runs)
        row["val Dice mean"], row["val Dice std"] = mean_std(dice)
        row["val Jaccard mean"], row["val Jaccard std"] = mean_std(jac)
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
    (out_dir / "ablation.md").write_text(_markdown(shown) + "\n\n" + note + "\n")
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
            "variant": r["variant"] + (" (base)" if r["factor"] == "base" else ""),
            "params": f"{int(r['params']):,}",
            "MACs (thop)": f"{r['MACs (thop)'] / 1e6:.1f} M",
            "MACs (torch)": f"{r['MACs (torch)'] / 1e6:.1f} M",
        }
        if "CPU latency ms (batch 1)" in r:
            row["CPU ms"] = f"{r['CPU latency ms (batch 1)']:.1f}"
        row["val Dice"] = f"{r['val Dice mean']:.4f} ± {r['val Dice std']:.4f}"
        row["val Jaccard"] = f"{r['val Jaccard mean']:.4f} ± {r['val Jaccard std']:.4f}"
        row["Δ Dice vs base"] = delta
        out.append(row)
    return pd.DataFrame(out)


def _markdown(df) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append(
            "| "
            + " | ".join("" if (isinstance(v, float) and np.isnan(v)) else str(v) for v in r)
            + " |"
        )
    return "\n".join(lines)


def resolve_base(text: str, storage: str | None, out_root: Path) -> Genotype:
    """A preset name, a genotype JSON file, or STUDY:TRIAL (a trial of a stored study)."""
    from searchspace.presets import PRESETS

    if text in PRESETS:
        return PRESETS[text].genotype
    path = Path(text)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"genotype file {path} does not exist")
        return Genotype.from_json(path.read_text())
    if ":" in text:
        study_name, _, number = text.rpartition(":")
        if not number.isdigit():
            raise ValueError(f"--base {text!r}: expected STUDY:TRIAL with a trial number")
        url = storage or f"sqlite:///{out_root / study_name / 'study.db'}"
        storage_obj = open_storage(url, create=False)
        study = optuna.load_study(study_name=study_name, storage=storage_obj)
        trials = [t for t in study.trials if t.number == int(number)]
        if not trials or schema.GENOTYPE not in trials[0].user_attrs:
            raise ValueError(f"study {study_name!r} has no trial {number} with a genotype")
        g = Genotype.from_dict(trials[0].user_attrs[schema.GENOTYPE])
        return dataclasses.replace(g, name=g.name or f"{study_name}-{number}")
    raise ValueError(
        f"--base {text!r} is neither a preset ({', '.join(PRESETS)}), a genotype .json file, "
        "nor STUDY:TRIAL"
    )


def ablate(
    *,
    base: str | None,
    plan_name: str | None,
    factors: list[str],
    seeds: int,
    data_source: str,
    recipe_name: str,
    epochs: int | None,
    image_size: tuple[int, int] | None,
    limit: int | None,
    device: str,
    storage: str | None,
    study_name: str | None,
    out_root: Path,
    progress: bool = True,
    latency: bool = True,
) -> tuple[Path, list[Variant]]:
    """Everything ``python search.py ablate`` does; returns the report folder and the variants."""
    from studies.ablation_plan import neighbours, plan
    from trainer import load_data, recipe
    from trainer.data import describe_data

    if (base is None) == (plan_name is None):
        raise ValueError("give either --base (with --factors) or --plan")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    if plan_name is not None:
        variants = plan(plan_name)
    else:
        if not factors:
            raise ValueError(
                "--factors is empty: name at least one of stem, block, attention, bridge, compression, upsample"
            )
        variants = neighbours(resolve_base(base, storage, out_root), factors)
    overrides = {}
    if epochs is not None:
        overrides["epochs"] = epochs
    if image_size is not None:
        overrides["image_size"] = image_size
    config = recipe(recipe_name, **overrides)
    for v in variants:
        if v.genotype is not None:
            check_image_size(v.genotype, config.image_size)
    name = study_name or _slug(
        f"ablate-{plan_name or variants[0].genotype.name or variants[0].genotype.id}"
    )
    url = storage or f"sqlite:///{out_root / name / 'study.db'}"
    data = load_data(data_source, image_size=config.image_size, limit=limit, progress=progress)
    if progress:
        print(describe_data(data))
        for v in variants:
            print(
                f"  {'skip ' if v.skipped else 'train'} {v.name}"
                + (f": {v.skipped}" if v.skipped else "")
            )
    settings = AblationSettings(
        seeds=tuple(range(seeds)),
        config=config,
        out_root=out_root,
        device=device,
        progress=progress,
    )
    study = run_ablation(variants, data, settings, study_name=name, storage_url=url)
    return write_ablation_report(
        study, variants, out_root / name / "report", latency=latency
    ), variants
