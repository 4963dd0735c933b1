"""The ablate verb: one factor at a time (or a paper's plan) over seeds, paired statistics."""

from __future__ import annotations

from pathlib import Path

from cli import options as o
from studies.ablation import ablate
from studies.ablation.plan import DEFAULT_FACTORS, PLANS
from studies.ablation.plan import FACTORS as ABLATION_FACTORS


def run(args) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    factors = [f.strip() for f in (args.factors or "").split(",") if f.strip()]
    if args.base is not None and not factors:
        factors = list(DEFAULT_FACTORS)
    out, _variants = ablate(
        base=args.base,
        plan_name=args.plan,
        factors=factors,
        seeds=args.seeds,
        data_source=args.data,
        recipe_name=args.recipe,
        epochs=args.epochs,
        image_size=o.image_size(args.image_size) if args.image_size else None,
        limit=args.limit,
        device=args.device,
        storage=args.storage,
        study_name=args.study,
        out_root=Path(args.out),
        latency=not args.no_latency,
    )
    print((out / "ablation.md").read_text())
    print(f"ablation table, plot and data: {out}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ablate",
        help="one-factor-at-a-time ablation of a model over several seeds, with paired statistics",
        description=(
            "Train the base model and every one-factor-at-a-time neighbour (or a named plan that "
            "reproduces a paper's ablation table) with the same seeds, splits and recipe; store "
            "every run in an Optuna study (re-running resumes); write a paper-style table "
            "(Markdown, LaTeX, CSV) with Dice/Jaccard mean ± std over seeds and Δ vs the base "
            "with a paired Wilcoxon test and a bootstrap CI, and a Δ Dice vs Δ params plot."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", help="PRESET, a genotype .json file, or STUDY:TRIAL")
    src.add_argument("--plan", help="a paper's ablation plan: " + ", ".join(PLANS))
    p.add_argument(
        "--factors",
        help=f"with --base: comma-separated among {', '.join(ABLATION_FACTORS)} "
        f"(default: {','.join(DEFAULT_FACTORS)})",
    )
    o.add_from(p, "--seeds", ablate, "seeds", "seeds 0..N-1 per variant")
    o.add(p, "--data")
    o.add_from(p, "--recipe", ablate, "recipe_name", "training recipe")
    o.add(p, "--epochs")
    o.add_image_size(p, "default: the recipe's")
    o.add(p, "--limit", "--device", "--storage")
    o.add(p, "--study", help="study name (default ablate-PLAN or ablate-BASE)")
    o.add(p, "--out", help="root of run folders and reports (default runs/)")
    p.add_argument("--no-latency", action="store_true", help="skip the CPU latency column")
    p.set_defaults(func=run)
