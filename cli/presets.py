"""The presets verb: the published models with our exact costs beside the papers'."""

from __future__ import annotations

from cli import options as o


def run(args) -> int:
    from searchspace.catalog import preset_rows, presets_text

    rows = preset_rows(o.image_size(args.image_size))
    print(presets_text(rows, args.format), end="")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="list the published models with their costs")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    o.add_image_size(p, "default 256")
    p.set_defaults(func=run)
