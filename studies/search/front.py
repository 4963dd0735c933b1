"""The Pareto front of a search: feasible, trained trials not dominated on the study's objectives.

Over-budget candidates, duplicates (a re-use of another trial's result), pruned and failed trials
are never on the front. ``front_table`` is what the search prints and writes to ``front.csv``
when the report package is not there to do it.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna

from studies import objectives
from studies.store import schema
from studies.store.schema import TrialRecord
from studies.store.spec import StudySpec


def trained_records(study: optuna.Study) -> list[TrialRecord]:
    """Feasible COMPLETE trials with validation metrics, duplicates left out."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        r = schema.record_from_trial(t)
        if r.trained and r.duplicate_of is None:
            out.append(r)
    return out


def pareto_front(
    spec: StudySpec, records: Sequence[TrialRecord], promoted: dict | None = None
) -> list[TrialRecord]:
    """The non-dominated records, cheapest first. ``promoted`` (``promotion.promoted(study)``):
    each pair judged at the fullest fidelity both have (``promotion.front_indices``); without
    it, ``objectives.pareto_front``."""
    from studies.search.promotion import front_indices

    scored = [r for r in records if spec.metric in r.val]
    front = [scored[i] for i in front_indices(spec, scored, promoted)]
    first = objectives.costs(spec)[0] if objectives.costs(spec) else None
    return sorted(
        front,
        key=lambda r: ((objectives.value(spec, first, r.attrs) or 0) if first else 0, r.number),
    )


def front_table(spec: StudySpec, records: Sequence[TrialRecord], promoted: dict | None = None):
    """A pandas DataFrame of the front: trial, name, accuracy at the search fidelity, every cost
    objective, summary; with a promotion plan also each member's fullest measurement (fidelity,
    seeds, mean and 95 % t-interval over seeds) and how it compares with the handed-over network
    (``promotion.difference``: distinguishable when the interval of the difference excludes 0)."""
    import pandas as pd

    from studies.search import promotion

    promoted = promoted or {}
    pick = promotion.chosen(spec, list(records), promoted) if spec.promotion else None
    search_fidelity = f"{spec.image_size[0]}x{spec.image_size[1]}-e{spec.epochs}"
    rows = []
    for r in records:
        accuracy = round(float(r.val[spec.metric]), 4)
        row = {
            "trial": r.number,
            "name": r.preset or r.genotype_id,
            objectives.OBJECTIVES[objectives.ACCURACY].label(spec): accuracy,
        }
        if spec.promotion is not None:
            p = promoted.get(r.genotype_id or "")
            if p is not None and p.scores:
                mean, lo, hi = p.interval()
                row.update(fidelity=p.fidelity, seeds=len(p.scores), mean=round(mean, 4),
                           ci_low=round(lo, 4), ci_high=round(hi, 4))  # fmt: skip
            else:
                row.update(fidelity=search_fidelity, seeds=1, mean=accuracy, ci_low=None,
                           ci_high=None)  # fmt: skip
            row["handed_over"] = pick is not None and r.number == pick.number
            row["vs_handed_over"] = _versus(r, pick, promoted)
        for o in objectives.costs(spec) or [objectives.OBJECTIVES["params"]]:
            row[o.label(spec)] = objectives.value(spec, o, r.attrs)
        row.update({"run": r.run_dir, "summary": r.summary})
        rows.append(row)
    return pd.DataFrame(rows)


def _versus(r: TrialRecord, pick: TrialRecord | None, promoted: dict) -> str:
    """``-0.012 [-0.020, -0.004] distinguishable`` against the handed-over network; "" for the
    network itself, "not comparable" unless both were promoted with >= 2 seeds."""
    from studies.search.promotion import difference

    if pick is None or r.number == pick.number:
        return ""
    a, b = promoted.get(r.genotype_id or ""), promoted.get(pick.genotype_id or "")
    d = difference(a, b) if a is not None and b is not None else None
    if d is None:
        return "not comparable"
    delta, lo, hi = d
    word = "distinguishable" if lo > 0 or hi < 0 else "indistinguishable"
    return f"{delta:+.4f} [{lo:+.4f}, {hi:+.4f}] {word}"


def format_front(spec: StudySpec, records: Sequence[TrialRecord], promoted: dict | None = None) -> str:
    """The front as terminal text (costs in k / M; with a promotion plan, each member's fullest
    measurement as ``mean [95 % CI] FIDELITY xSEEDS`` and ``*`` on the handed-over network)."""
    from searchspace.budget import format_count

    if not records:
        return "(no trained candidate yet: the front is empty)"
    df = front_table(spec, records, promoted).drop(columns=["run"])
    for o in objectives.costs(spec) or [objectives.OBJECTIVES["params"]]:
        col = o.label(spec)
        show = (lambda v: f"{v:.2f}") if o.unit == "ms" else format_count
        df[col] = df[col].map(lambda v, f=show: f(v) if v is not None else "-")
    if spec.promotion is not None:
        df.insert(
            3,
            "fullest measurement",
            [
                f"{m:.4f} [{lo:.4f}, {hi:.4f}] {f} x{n}" if n > 1 else f"{m:.4f} {f} x{n}"
                for m, lo, hi, f, n in zip(df["mean"], df["ci_low"], df["ci_high"], df["fidelity"],
                                           df["seeds"], strict=True)  # fmt: skip
            ],
        )
        df["name"] = [("* " if h else "") + str(n) for n, h in zip(df["name"], df["handed_over"], strict=True)]
        df = df.drop(columns=["fidelity", "seeds", "mean", "ci_low", "ci_high", "handed_over"])
        df["vs_handed_over"] = df["vs_handed_over"].map(lambda s: s.replace("distinguishable", "dist."))
    df["summary"] = df["summary"].map(lambda s: s if len(s) <= 70 else s[:67] + "...")
    return df.to_string(index=False)
