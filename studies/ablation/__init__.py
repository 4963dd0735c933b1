"""Micro-ablations (``python search.py ablate``): one factor at a time, several seeds, paired tests.

- ``plan``: the base (``--base``), its one-factor variants and the papers' named plans;
- ``study``: the ablation's Optuna study, its stored spec and settings;
- ``run``: training every (variant, seed) as a trial, resumable, and the verb's entry point;
- ``report``: the table (costs, Dice, paired statistics against the base), its files and plot.
"""

from studies.ablation.plan import PLANS, Variant, neighbours, plan, resolve_base
from studies.ablation.report import ablation_table, write_ablation_report
from studies.ablation.run import ablate, run_ablation
from studies.ablation.study import (
    ABLATION_SPEC,
    PER_IMAGE,
    SEED,
    VARIANT,
    AblationSettings,
    ablation_spec,
    open_ablation,
)

__all__ = [
    "ABLATION_SPEC",
    "PER_IMAGE",
    "PLANS",
    "SEED",
    "VARIANT",
    "AblationSettings",
    "Variant",
    "ablate",
    "ablation_spec",
    "ablation_table",
    "neighbours",
    "open_ablation",
    "plan",
    "resolve_base",
    "run_ablation",
    "write_ablation_report",
]
