"""The proxies verb: zero-cost proxies against a study's trained candidates."""

from __future__ import annotations

from cli import options as o
from studies.evidence.proxies import markdown, run_proxies


def run(args) -> int:
    studies = [s.strip() for s in args.study.split(",") if s.strip()]
    names = [p.strip() for p in args.proxies.split(",") if p.strip()] if args.proxies else None
    out = run_proxies(studies, storage=args.storage, proxies=names, seeds=args.seeds,
                      batch_size=args.batch_size, out_root=args.out)  # fmt: skip
    print(markdown(out["table"], out))
    print(f"tables: {out['folder']}/proxies.md (.csv, .html, .json)")
    return 0


def add_parser(sub) -> None:
    from trainer.proxies import PROXIES

    p = sub.add_parser(
        "proxies",
        help="zero-cost proxies scored against a study's trained candidates (rho, tau, CIs)",
        description="Score every trained candidate of one or more studies with zero-cost "
        "proxies (on one batch of the study's training data, untrained networks) and report how "
        "well each ranks the validation scores, beside the params and MACs baselines. See "
        "studies/evidence/proxies.py and trainer/proxies.py for the definitions.",
    )
    o.add(p, "--study", required=True, help="study name, or several: A,B,C (their union)")
    o.add(p, "--storage")
    p.add_argument("--proxies", help=f"comma-separated subset of {','.join(PROXIES)} (default all)")
    o.add_from(p, "--seeds", run_proxies, "seeds", "initialisation seeds")
    o.add_from(p, "--batch-size", run_proxies, "batch_size", "images in the batch")
    o.add(p, "--out")
    p.set_defaults(func=run)
