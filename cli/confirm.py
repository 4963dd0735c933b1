"""The confirm verb: retrain a study's front and presets with several seeds."""

from __future__ import annotations

from cli import options as o
from reports.compare import parse_named_paths
from studies.evidence.confirm import run_confirm


def run(args) -> int:
    outcome = run_confirm(
        args.study,
        args.storage,
        seeds=args.seeds,
        recipe_name=args.recipe,
        epochs=args.epochs,
        device=args.device,
        out_root=args.out,
        workers=args.workers,
        external=parse_named_paths(args.external, "--external"),
        published=args.published,
        image_size=o.image_size(args.image_size) if args.image_size else None,
        rivals=args.rivals,
    )
    print(f"confirmed {len(outcome.records)} model(s): {outcome.csv}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("confirm", help="retrain a study's front and presets with several seeds")
    o.add(p, "--study", required=True)
    o.add(p, "--storage")
    o.add_from(p, "--seeds", run_confirm, "seeds", "training seeds per model")
    o.add(p, "--recipe", help="training recipe (default: the search's)")
    o.add(p, "--epochs", "--device", "--out", "--workers")
    o.add_image_size(
        p,
        "retrain at this size instead of the search's (e.g. 96 96: a fuller fidelity); the runs "
        "go to OUT/STUDY/confirm-HxW/ and the record names the size",
    )
    p.add_argument(
        "--external",
        action="append",
        metavar="NAME=PATH",
        help="also evaluate every confirmed run on this dataset (all its images, at the masks' "
        "own resolution); repeatable, e.g. --external ph2=data/PH2",
    )
    p.add_argument(
        "--published",
        nargs="?",
        const="all",
        metavar="NAMES",
        help="also retrain the published models that a front member undercuts on params and "
        "thop MACs, and pair each with its cheaper rivals on the validation images: Delta Dice, "
        "95 %% CI and a verdict (beats / matches within 0.005 / loses / inconclusive), shown by "
        "this command and by the study's report; NAMES: only these (comma-separated, e.g. "
        "scsonet,malunet; default all)",
    )
    p.add_argument(
        "--rivals",
        metavar="K|IDS",
        help="with --published: retrain only the published models and each one's K best "
        "cheaper found front members (by search-fidelity score; published models on the front "
        "are not counted), not the whole front; or IDS: these found front members (genotype "
        "ids or #N trial numbers as the report names them, comma-separated; quote a #: '#58'), "
        "each paired with the published models it "
        "undercuts on both axes, e.g. a network known from another study whose search-fidelity "
        "score ranks it below K; cheapest network first, so an interrupted command has the "
        "small ones done (default: the whole front and every preset the study trained)",
    )
    p.set_defaults(func=run)
