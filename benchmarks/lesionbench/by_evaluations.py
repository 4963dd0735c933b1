"""Hypervolume after k evaluations, per strategy, from a replay's ``curves.json``.

Usage: python -m benchmarks.lesionbench.by_evaluations RESULTS_DIR [--at 10,20,30,50,100]

A replay (``replay.py``) stores, for every (strategy, seed), the hypervolume of the told front
after each evaluation. This reads it at several evaluation counts: mean and sd over the seeds,
and the two-sided Mann-Whitney p against random search at the same count (``compare``'s
``two_sample``). It answers "from how many evaluations on does a strategy beat random?" without
replaying again. Writes ``by_evaluations.md`` and ``.csv`` beside ``curves.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def hv_after(curve: list[float], k: int) -> float:
    """The hypervolume after ``k`` evaluations (the last value when the run made fewer; 0 for
    a run that made none)."""
    return curve[min(k, len(curve)) - 1] if curve and k > 0 else 0.0


def by_evaluations(curves: list[dict], at: list[int]) -> list[dict]:
    from reports.compare import two_sample
    from studies.evidence.stats import mean_std

    by: dict[str, list[list[float]]] = {}
    for c in curves:
        by.setdefault(c["strategy"], []).append(c["hv"])
    rows = []
    for strategy, hvs in by.items():
        row: dict = {"strategy": strategy, "seeds": len(hvs)}
        for k in at:
            vals = [hv_after(h, k) for h in hvs]
            m = mean_std(vals)
            row[f"hv_{k}_mean"], row[f"hv_{k}_sd"] = m.mean, m.std
            if strategy != "random" and "random" in by:
                test = two_sample(vals, [hv_after(h, k) for h in by["random"]])
                row[f"hv_{k}_p_vs_random"] = test.get("mannwhitney_p", float("nan"))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", help="a replay's --out folder (holds curves.json)")
    ap.add_argument("--at", default="10,20,30,50,100", help="evaluation counts, comma-separated")
    a = ap.parse_args(argv)
    path = Path(a.results) / "curves.json"
    try:
        at = sorted({int(x) for x in a.at.split(",") if x.strip()})
        if not at or at[0] < 1:
            raise ValueError
    except ValueError:
        print(f"error: --at must be positive integers, got {a.at!r}", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"error: no curves.json in {a.results} (run replay.py --out there)", file=sys.stderr)
        return 2
    import pandas as pd

    from studies.tables import to_markdown

    df = pd.DataFrame(by_evaluations(json.loads(path.read_text()), at))
    df.to_csv(path.parent / "by_evaluations.csv", index=False)
    shown = pd.DataFrame({"strategy": df["strategy"], "seeds": df["seeds"]})
    for k in at:
        cell = (
            df[f"hv_{k}_mean"].map("{:.3f}".format) + " ± " + df[f"hv_{k}_sd"].map("{:.3f}".format)
        )
        if f"hv_{k}_p_vs_random" in df:
            p = df[f"hv_{k}_p_vs_random"].map(lambda v: "" if pd.isna(v) else f" (p {v:.3f})")
            cell = cell + p
        shown[f"HV after {k}"] = cell
    md = (
        f"Hypervolume (mean ± sd over seeds; p: Mann-Whitney U vs random, two-sided) after k "
        f"evaluations, from {path}\n\n" + to_markdown(shown, disable_numparse=True)
    )
    (path.parent / "by_evaluations.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
