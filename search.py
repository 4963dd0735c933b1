#!/usr/bin/env python
"""lesion-nas command line: architecture search and ablations for tiny skin-lesion segmenters.

Argument parsing and error reporting only; every verb calls one function of a package.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VERBS_HELP = """\
verbs:
  presets    list the published models (named genotypes) with our exact costs beside the papers'
  cost       parameters, thop MACs, torch MACs and activation memory of a preset or genotype file
  train      train one preset or genotype on a dataset (or the built-in synthetic data)
  evaluate   score a trained run on any dataset split, per image, at the masks' own resolution
  report     Pareto plots, hypervolume, importance, tables and model cards of a study

Run `python search.py VERB --help` for the options of a verb.
"""


def _image_size(values: list[int] | None, default: tuple[int, int] = (256, 256)) -> tuple[int, int]:
    if not values:
        return default
    if len(values) > 2:
        raise ValueError("--image-size takes H or H W")
    h = values[0]
    w = values[1] if len(values) == 2 else values[0]
    if h < 1 or w < 1:
        raise ValueError(f"--image-size must be positive, got {h} {w}")
    return h, w


def _load_genotype(args):
    from searchspace import Genotype
    from searchspace.presets import get_preset

    if getattr(args, "preset", None):
        return get_preset(args.preset).genotype
    path = Path(args.genotype)
    if not path.is_file():
        raise FileNotFoundError(f"genotype file {path} does not exist")
    return Genotype.from_json(path.read_text())


# ---------------------------------------------------------------------------------- verbs
def cmd_presets(args) -> int:
    from searchspace.catalog import preset_rows

    rows = preset_rows(_image_size(args.image_size))
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    import pandas as pd

    df = pd.DataFrame(rows)
    if args.format == "csv":
        print(df.to_csv(index=False), end="")
        return 0
    view = pd.DataFrame(
        {
            "name": df["name"],
            "params": df["params"].map("{:,}".format),
            "ref params": df["ref_params"].map(
                lambda v: "-" if v is None or v != v else f"{int(v):,}"
            ),
            "MACs thop": df["macs_thop"].map(lambda v: f"{v / 1e6:.1f} M"),
            "ref thop": df["ref_macs_thop"].map(
                lambda v: "-" if v is None or v != v else f"{v / 1e6:.1f} M"
            ),
            "MACs torch": df["macs_torch"].map(lambda v: f"{v / 1e6:.1f} M"),
            "ref torch": df["ref_macs_torch"].map(
                lambda v: "-" if v is None or v != v else f"{v / 1e6:.1f} M"
            ),
            "paper says": df["paper_claim"],
        }
    )
    h, w = rows[0]["image_size"] if rows else (256, 256)
    print(view.to_string(index=False))
    print(
        f"\nMACs at 1x3x{h}x{w}. 'thop' = thop.profile total (what the papers call GFLOPs); "
        "'torch' = FlopCounterMode / 2.\nref = the authors' public code (docs/seed-models.md); "
        "'-' = no public code: ULRTS-Net and DSNET are reconstructed from their papers."
    )
    return 0


def cmd_cost(args) -> int:
    from searchspace.cost import count_cost

    g = _load_genotype(args)
    size = _image_size(args.image_size)
    cost = count_cost(g, size, memory=True)
    record = {"name": g.name, "genotype_id": g.id, "summary": g.summary(), **cost.to_dict()}
    if args.format == "json":
        print(json.dumps(record, indent=2))
        return 0
    print(f"{g.name or 'genotype'} [{g.id}]: {g.summary()}")
    print(f"  params      {cost.params:>15,}")
    print(f"  MACs thop   {cost.macs_thop:>15,}   (thop.profile, what papers print as FLOPs)")
    print(f"  MACs torch  {cost.macs_torch:>15,}   (torch FlopCounterMode / 2)")
    print(
        f"  activations {cost.act_bytes:>15,} B (saved for backward, batch 1, fp32: "
        f"{cost.act_bytes / 2**20:.1f} MiB)"
    )
    print(f"  at 1x{g.in_channels}x{size[0]}x{size[1]}")
    return 0


def _train_config(args, genotype, preset_recipe: str | None):
    from trainer import recipe

    name = args.recipe or preset_recipe or "fast"
    overrides = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    if args.image_size:
        overrides["image_size"] = _image_size(args.image_size)
    if args.seed is not None:
        overrides["seed"] = args.seed
    return recipe(name, **overrides)


def cmd_train(args) -> int:
    import time

    from searchspace.presets import get_preset
    from studies.runs import check_image_size, train_genotype
    from trainer import load_data
    from trainer.data import describe_data

    genotype = _load_genotype(args)
    preset_recipe = get_preset(args.preset).recipe if args.preset else None
    config = _train_config(args, genotype, preset_recipe)
    check_image_size(genotype, config.image_size)
    data = load_data(args.data, image_size=config.image_size, limit=args.limit, seed=config.seed)
    print(describe_data(data))
    out = (
        Path(args.out)
        if args.out
        else Path("runs")
        / "train"
        / (f"{genotype.name or genotype.id}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    result = train_genotype(genotype, config, data, out_dir=out, device=args.device)
    val = result.val or {}
    print(
        f"{result.status}: best epoch {result.best_epoch}, val Dice (per-image mean) "
        f"{val.get('dice_per_image_mean', float('nan')):.4f} on {len(data.split('val'))} "
        f"{'SYNTHETIC ' if data.synthetic else ''}validation images, 1 seed ({config.seed})"
    )
    if result.test:
        print(
            f"test Dice (per-image mean) {result.test.get('dice_per_image_mean', float('nan')):.4f}"
        )
    if result.reason:
        print(f"reason: {result.reason}")
    print(f"run folder: {out}")
    return 0 if result.status != "failed" else 1


def cmd_evaluate(args) -> int:
    from studies.runs import evaluate_run

    record = evaluate_run(
        Path(args.run),
        args.data,
        split=args.split,
        metric_resolution=args.metric_resolution,
        save_predictions=Path(args.save_predictions) if args.save_predictions else None,
        out_dir=Path(args.out) if args.out else None,
        device=args.device,
    )
    m = record["metrics"]
    print(
        f"{record['images']} images of {record['data']['name']} ({record['split']}), scored at "
        f"{record['metric_resolution']} resolution:"
    )
    for key in (
        "dice",
        "jaccard",
        "jaccard_thresholded",
        "accuracy",
        "sensitivity",
        "specificity",
        "hd95",
    ):
        pooled = m.get(f"{key}_pooled")
        line = f"  {key:<20} per-image mean {m[f'{key}_per_image_mean']:.4f}"
        print(line + (f"   pooled {pooled:.4f}" if pooled is not None else ""))
    print(f"per-image table and metrics: {record['out_dir']}")
    return 0


def cmd_report(args) -> int:
    from reports import build_report

    out = build_report(args.study, args.storage, Path(args.out) if args.out else None)
    print(f"report of study {args.study!r}: {out / 'index.html'}")
    return 0


# ---------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="search.py",
        description="lesion-nas: search and ablate tiny skin-lesion segmentation networks.",
        epilog=VERBS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("presets", help="list the published models with their costs")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--image-size", type=int, nargs="+", metavar="H [W]", help="default 256")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("cost", help="exact costs of a preset or genotype file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="a preset name (see `presets`)")
    src.add_argument("--genotype", help="a genotype JSON file")
    p.add_argument("--image-size", type=int, nargs="+", metavar="H [W]", help="default 256")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("train", help="train one preset or genotype")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="a preset name (see `presets`)")
    src.add_argument("--genotype", help="a genotype JSON file")
    p.add_argument(
        "--data",
        default="synthetic",
        help="dataset folder (ISIC 2016/2017/2018, PH2, images/+masks/) or 'synthetic' (default)",
    )
    p.add_argument(
        "--recipe",
        help="training recipe (default: the preset's, else 'fast'); "
        "scsonet, malunet, egeunet, lmsaunet, ulite, dsnet, fast",
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument(
        "--image-size",
        type=int,
        nargs="+",
        metavar="H [W]",
        help="training size (default: the recipe's, 256)",
    )
    p.add_argument("--limit", type=int, help="use only the first N training images (smoke runs)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--out", help="run folder (default runs/train/NAME-TIMESTAMP)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a trained run on a dataset")
    p.add_argument("--run", required=True, help="a run folder written by train or search")
    p.add_argument("--data", required=True, help="dataset folder or 'synthetic'")
    p.add_argument("--split", help="test, val, train or all (default: test if present, else val)")
    p.add_argument(
        "--metric-resolution",
        choices=("original", "model"),
        default="original",
        help="score at each ground-truth mask's own size (ISIC, default) or at the "
        "model's input size (what the papers report)",
    )
    p.add_argument("--save-predictions", metavar="DIR", help="write one 0/255 PNG per image id")
    p.add_argument("--out", help="folder for per_image.csv and metrics.json (default RUN/eval/...)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="write the report of a study (plots, tables, model cards)")
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--storage", help="Optuna storage URL (default sqlite:///runs/STUDY/study.db)")
    p.add_argument("--out", help="report folder (default runs/STUDY/report)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, NotADirectoryError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
