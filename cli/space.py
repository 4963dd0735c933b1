"""The space verb: exact costs of every candidate of the search space; how many fit a budget."""

from __future__ import annotations

from cli import options as o


def run(args) -> int:
    from searchspace.table import space_report
    from studies import objectives

    budgets = objectives.parse_budgets(o.budget_texts(args))
    text = space_report(
        o.image_size(args.image_size),
        limits=objectives.table_limits(budgets, args.cost_counter),
        counter=args.cost_counter,
        workers=args.workers,
        out=args.out,
        progress=not args.quiet,
        space=args.space,
    )
    print(text, end="")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "space",
        help="cost every candidate of the search space; how many fit a budget",
        description=(
            "Exact params and MACs of every distinct candidate of the search space at "
            "one image size. Parts shared between candidates are measured once, in worker "
            "processes, and kept in the persistent part memo, so later searches pre-screen from "
            "it. With budgets, counts the candidates within them (per block family)."
        ),
    )
    o.add_image_size(p, "default 256")
    o.add_budgets(p, "which MAC count the budget and summary use (default thop)", table_only=True)
    p.add_argument(
        "--workers", type=int, metavar="K", help="processes measuring parts (default: CPU count)"
    )
    o.add(p, "--out", default=None, metavar="CSV", help="write the whole table as CSV here")
    o.add_space(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
