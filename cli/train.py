"""The train verb: one preset or genotype on a dataset (or the built-in synthetic data)."""

from __future__ import annotations

import time
from pathlib import Path

from cli import options as o
from trainer.config import RECIPES


def train_config(args, preset_recipe: str | None):
    """The recipe (``--recipe``, else the preset's, else fast) with the flags given applied."""
    from trainer.config import recipe_with

    return recipe_with(
        args.recipe or preset_recipe or "fast",
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=o.image_size(args.image_size) if args.image_size else None,
        seed=args.seed,
    )


def run(args) -> int:
    from runner.runs import check_image_size, train_genotype, train_text
    from searchspace.presets import get_preset
    from trainer import load_data
    from trainer.data import describe_data

    genotype = o.load_genotype(args)
    config = train_config(args, get_preset(args.preset).recipe if args.preset else None)
    check_image_size(genotype, config.image_size)
    data = load_data(args.data, image_size=config.image_size, limit=args.limit, seed=config.seed)
    print(describe_data(data))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = (
        Path(args.out)
        if args.out
        else Path("runs") / "train" / f"{genotype.name or genotype.id}-{stamp}"
    )
    result = train_genotype(genotype, config, data, out_dir=out, device=args.device)
    print(train_text(result, data, config, out), end="")
    return 0 if result.status != "failed" else 1


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train one preset or genotype")
    o.add_model(p)
    o.add(p, "--data")
    o.add(p, "--recipe", help="training recipe (default: the preset's, else 'fast'); "
          + ", ".join(RECIPES))  # fmt: skip
    o.add(p, "--epochs", "--batch-size")
    o.add_image_size(p, "training size (default: the recipe's, 256)")
    o.add(p, "--limit", "--seed", "--device")
    o.add(p, "--out", default=None, help="run folder (default runs/train/NAME-TIMESTAMP)")
    p.set_defaults(func=run)
