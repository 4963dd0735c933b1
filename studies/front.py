"""The Pareto front of a search: feasible, trained trials not dominated on the study's objectives.

Over-budget candidates, duplicates (a re-use of another trial's result), pruned and failed trials
are never on the front. ``front_table`` is what the search prints and writes to ``front.csv``
when the report package is not there to do it.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna

from studies import schema
from studies.schema import TrialRecord
from studies.spec import StudySpec


def trained_records(study: optuna.Study) -> list[TrialRecord]:
    """Feasible COMPLETE trials with validation metrics, duplicates left out."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        r = schema.record_from_trial(t)
        if r.trained and r.duplicate_of is None:
            out.append(r)
    return out


def objective_vector(spec: StudySpec, r: TrialRecord) -> tuple[float, ...]:
    """Objective values oriented so that larger is better on every axis."""
    macs = r.macs_thop if spec.cost_counter == "thop" else r.macs_torch
    by_name = {"dice": float(r.val[spec.metric]), "params": -float(r.params or 0)}
    by_name["macs"] = -float(macs or 0)
    return tuple(by_name[o] for o in spec.objectives)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` dominates ``b`` (larger is better): no worse anywhere, better somewhere."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(
        x > y for x, y in zip(a, b, strict=True)
    )


def pareto_front(spec: StudySpec, records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The non-dominated records, sorted by the first cost objective (cheapest first)."""
    scored = [(objective_vector(spec, r), r) for r in records if spec.metric in r.val]
    front = [r for v, r in scored if not any(dominates(w, v) for w, _ in scored)]
    return sorted(front, key=lambda r: (r.params or 0, r.number))


def front_table(spec: StudySpec, records: Sequence[TrialRecord]):
    """A pandas DataFrame of the front: trial, name, metric, params, MACs, summary."""
    import pandas as pd

    rows = []
    for r in records:
        macs = r.macs_thop if spec.cost_counter == "thop" else r.macs_torch
        rows.append(
            {
                "trial": r.number,
                "name": r.preset or r.genotype_id,
                f"val {spec.metric}": round(float(r.val[spec.metric]), 4),
                "params": r.params,
                f"MACs {spec.cost_counter}": macs,
                "run": r.run_dir,
                "summary": r.summary,
            }
        )
    return pd.DataFrame(rows)


def format_front(spec: StudySpec, records: Sequence[TrialRecord]) -> str:
    """The front as terminal text (costs in k / M)."""
    from searchspace.budget import format_count

    if not records:
        return "(no trained candidate yet: the front is empty)"
    df = front_table(spec, records).drop(columns=["run"])
    df["params"] = df["params"].map(format_count)
    col = f"MACs {spec.cost_counter}"
    df[col] = df[col].map(format_count)
    df["summary"] = df["summary"].map(lambda s: s if len(s) <= 70 else s[:67] + "...")
    return df.to_string(index=False)
