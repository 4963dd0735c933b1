"""The cost verb: exact costs of a preset or a genotype file."""

from __future__ import annotations

import json

from cli import options as o


def run(args) -> int:
    from searchspace.cost import cost_text, count_cost

    g = o.load_genotype(args)
    size = o.image_size(args.image_size)
    cost = count_cost(g, size, memory=True)
    if args.format == "json":
        record = {"name": g.name, "genotype_id": g.id, "summary": g.summary(), **cost.to_dict()}
        print(json.dumps(record, indent=2))
    else:
        print(cost_text(g, cost, size), end="")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("cost", help="exact costs of a preset or genotype file")
    o.add_model(p)
    o.add_image_size(p, "default 256")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)
