"""The fidelity verb: does a study's ranking hold at a second fidelity?"""

from __future__ import annotations

from cli import options as o
from studies.evidence.fidelity import run_fidelity, summary_text


def run(args) -> int:
    studies = [s.strip() for s in args.study.split(",") if s.strip()]
    stats = run_fidelity(
        studies,
        storage=args.storage,
        top=args.top,
        sample=args.sample,
        image_size=o.image_size(args.image_size),
        epochs=args.epochs,
        seeds=args.seeds,
        recipe_name=args.recipe,
        device=args.device,
        out_root=args.out,
        workers=args.workers,
        reference=None if args.reference.lower() == "none" else args.reference,
        limit=args.limit,
    )
    print(summary_text(stats), end="")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fidelity",
        help="retrain trained candidates at a higher fidelity: does the ranking hold?",
        description="Retrain K trained candidates of one or more studies at a second fidelity "
        "and report Spearman rho / Kendall tau between the two fidelities' validation scores, "
        "with bootstrap CIs, and where the high-fidelity best ranked. See studies/evidence/fidelity.py.",
    )
    o.add(p, "--study", required=True, help="study name, or several: A,B,C (their union)")
    o.add(p, "--storage")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--top", type=int, metavar="K", help="the front, then the best, K in all")
    g.add_argument("--sample", type=int, metavar="K",
                   help="the front, then a stratified sample of the dominated, K in all")  # fmt: skip
    o.add_image_size(p, "the second fidelity's size (required)")
    o.add(p, "--epochs", required=True, help="the second fidelity's epochs")
    o.add(p, "--limit", help="train on the first N of the study's training images only (smoke "
         "runs; the runs go to their own folder)")  # fmt: skip
    o.add_from(p, "--seeds", run_fidelity, "seeds", "training seeds per candidate")
    p.add_argument(
        "--reference",
        default="scsonet",
        metavar="NAME",
        help="the network the others are compared with, paired per image (a preset or genotype "
        "id among the candidates; default scsonet, when the studies trained it; 'none': skip)",
    )
    o.add(p, "--recipe", help="training recipe (default: the study's)")
    o.add(p, "--device", "--out", "--workers")
    p.set_defaults(func=run)
