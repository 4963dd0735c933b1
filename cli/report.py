"""The report verb: Pareto plots, hypervolume, importance, tables and model cards of a study."""

from __future__ import annotations

from pathlib import Path

from cli import options as o


def run(args) -> int:
    from reports import build_report

    out = build_report(args.study, args.storage, Path(args.out) if args.out else None)
    print(f"report of study {args.study!r}: {out / 'index.html'}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write the report of a study (plots, tables, model cards)")
    o.add(p, "--study", required=True)
    o.add(p, "--storage")
    o.add(p, "--out", default=None, help="report folder (default runs/STUDY/report)")
    p.set_defaults(func=run)
