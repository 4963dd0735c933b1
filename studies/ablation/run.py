"""``python search.py ablate``: train one-factor-at-a-time variants of a model over several seeds
and compare each with the base on the same images and seeds.

Every (variant, seed) is one trial of an Optuna study (kind "ablation") in the same storage as
searches, so an interrupted ablation resumes: pairs already COMPLETE are not trained again, a pair
left RUNNING by a killed process is marked FAIL and retried. The study stores its spec (variants,
seeds, train config, data fingerprint) and refuses to resume with other settings. Each trial
keeps the per-image validation Dice and Jaccard, from which ``stats.paired_comparison`` computes
the paired test against the base.

This module is the runner (``run_ablation``, one trial per pair) and the verb's entry point
(``ablate``) of the package ``studies.ablation``, beside ``plan`` (the base and its variants),
``study`` (the study, its spec and settings) and ``report`` (the table, the files and the plot).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import optuna

from runner.runs import check_image_size, load_run, train_genotype
from searchspace import Genotype
from searchspace.cost import count_cost
from studies.ablation.plan import FACTORS, Variant, resolve_base
from studies.ablation.report import write_ablation_report
from studies.ablation.study import (
    PER_IMAGE,
    SEED,
    VARIANT,
    AblationSettings,
    _done,
    _slug,
    ablation_spec,
    open_ablation,
)
from studies.store import schema
from studies.store.storage import Heartbeat, fail_stale_trials
from trainer import DataBundle, evaluate


def _train_one(study, variant: Variant, seed: int, data: DataBundle, s: AblationSettings) -> None:
    g: Genotype = variant.genotype
    config = dataclasses.replace(s.config, seed=seed)
    run_dir = s.out_root / study.study_name / _slug(variant.name) / f"seed-{seed}"
    with warnings.catch_warnings():  # Optuna's heartbeat runs in Study.optimize only: ours below
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    # stamped now and while it trains: a killed ablation's trial goes stale (Optuna never counts
    # a RUNNING trial without a heartbeat as stale) and the next run fails and retrains it
    with Heartbeat(lambda: [trial]):
        _train_trial(study, trial, g, variant, seed, config, run_dir, data, s)


def _train_trial(study, trial, g, variant, seed, config, run_dir, data, s) -> None:
    cost = count_cost(g, config.image_size, memory=True)
    for key, value in {
        VARIANT: variant.name,
        SEED: seed,
        "factor": variant.factor,
        "value": variant.value,
        **schema.network_attrs(g, cost),
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
    fail_stale_trials(study)  # one killed just before this run started is stale by now
    return study


def ablate(
    *,
    base: str | None = None,
    plan_name: str | None = None,
    factors: list[str] = (),
    seeds: int = 3,
    data_source: str = "synthetic",
    recipe_name: str = "fast",
    epochs: int | None = None,
    image_size: tuple[int, int] | None = None,
    limit: int | None = None,
    device: str = "auto",
    storage: str | None = None,
    study_name: str | None = None,
    out_root: Path = Path("runs"),
    progress: bool = True,
    latency: bool = True,
) -> tuple[Path, list[Variant]]:
    """Everything ``python search.py ablate`` does; returns the report folder and the variants."""
    from studies.ablation.plan import neighbours, plan
    from trainer import load_data
    from trainer.config import recipe_with
    from trainer.data import describe_data

    if (base is None) == (plan_name is None):
        raise ValueError("give either --base (with --factors) or --plan")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    if plan_name is not None:
        variants = plan(plan_name)
    else:
        if not factors:
            raise ValueError(f"--factors is empty: name at least one of {', '.join(FACTORS)}")
        variants = neighbours(resolve_base(base, storage, out_root), factors)
    config = recipe_with(recipe_name, epochs=epochs, image_size=image_size)
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
