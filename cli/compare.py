"""The compare verb: groups of studies side by side."""

from __future__ import annotations

from cli import options as o


def run(args) -> int:
    from reports.compare import group_markdown, run_compare

    cmp, folder, notes = run_compare(args.group, args.storage, args.out, args.at)
    first = next(iter(cmp.groups.values()))[0]
    from reports import load_study_view
    from reports.study import default_storage

    label = load_study_view(first.name, args.storage or default_storage(first.name)).metric_label
    print(group_markdown(cmp, label))
    for note in notes:
        print(note)
    print(f"comparison: {folder / 'compare.html'}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="search strategies side by side: hypervolume with CIs, tests, fronts",
        description="Compare groups of studies (e.g. 3 seeds of NSGA-II vs 3 of random search) "
        "of the same space, budgets, data and fidelity: hypervolume against trained candidates "
        "and wall time (mean and 95 % CI per group), the final hypervolume with Mann-Whitney U "
        "and Welch tests, and the union Pareto fronts. See reports/compare.py.",
    )
    p.add_argument(
        "--group",
        action="append",
        required=True,
        metavar="NAME=STUDY,STUDY,...",
        help="a group of studies (give it twice or more)",
    )
    o.add(p, "--storage", help="one storage for all studies (default: each study's "
         "sqlite:///runs/STUDY/study.db)")  # fmt: skip
    p.add_argument("--at", type=int, help="read the final hypervolume after this many trained "
                   "candidates (default: the fewest any study has)")  # fmt: skip
    o.add(p, "--out", default=None, help="output folder (default runs/compare-GROUP-vs-GROUP)")
    p.set_defaults(func=run)
