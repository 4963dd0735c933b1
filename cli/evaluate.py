"""The evaluate verb: score a trained run on any dataset split, per image."""

from __future__ import annotations

from pathlib import Path

from cli import options as o


def run(args) -> int:
    from runner.runs import evaluate_run, evaluation_text

    record = evaluate_run(
        Path(args.run),
        args.data,
        split=args.split,
        metric_resolution=args.metric_resolution,
        save_predictions=Path(args.save_predictions) if args.save_predictions else None,
        out_dir=Path(args.out) if args.out else None,
        device=args.device,
    )
    print(evaluation_text(record), end="")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="score a trained run on a dataset")
    o.add(p, "--run")
    o.add(p, "--data", default=None, required=True, help="dataset folder or 'synthetic'")
    p.add_argument(
        "--split",
        help="test, val, train or all (default: on the run's own dataset test if present, else "
        "val; on any other dataset all its images)",
    )
    p.add_argument(
        "--metric-resolution",
        choices=("original", "model"),
        default="original",
        help="score at each ground-truth mask's own size (ISIC, default) or at the "
        "model's input size (what the papers report)",
    )
    p.add_argument("--save-predictions", metavar="DIR", help="write one 0/255 PNG per image id")
    o.add(p, "--out", default=None,
          help="folder for per_image.csv and metrics.json (default RUN/eval/...)")  # fmt: skip
    o.add(
        p,
        "--device",
        help="auto (default): where the run trained, with its mixed precision and memory layout, "
        "when this machine has that GPU, else the CPU; cpu: the CPU in fp32; cuda[:K]: that GPU",
    )
    p.set_defaults(func=run)
