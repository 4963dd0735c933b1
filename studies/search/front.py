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


def pareto_front(spec: StudySpec, records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The non-dominated records (``objectives.pareto_front``), cheapest first."""
    scored = [r for r in records if spec.metric in r.val]
    front = objectives.pareto_front(spec, scored, lambda r: r.attrs)
    first = objectives.costs(spec)[0] if objectives.costs(spec) else None
    return sorted(
        front,
        key=lambda r: ((objectives.value(spec, first, r.attrs) or 0) if first else 0, r.number),
    )


def front_table(spec: StudySpec, records: Sequence[TrialRecord]):
    """A pandas DataFrame of the front: trial, name, accuracy, every cost objective, summary."""
    import pandas as pd

    rows = []
    for r in records:
        row = {
            "trial": r.number,
            "name": r.preset or r.genotype_id,
            objectives.OBJECTIVES[objectives.ACCURACY].label(spec): round(
                float(r.val[spec.metric]), 4
            ),
        }
        for o in objectives.costs(spec) or [objectives.OBJECTIVES["params"]]:
            row[o.label(spec)] = objectives.value(spec, o, r.attrs)
        row.update({"run": r.run_dir, "summary": r.summary})
        rows.append(row)
    return pd.DataFrame(rows)


def format_front(spec: StudySpec, records: Sequence[TrialRecord]) -> str:
    """The front as terminal text (costs in k / M)."""
    from searchspace.budget import format_count

    if not records:
        return "(no trained candidate yet: the front is empty)"
    df = front_table(spec, records).drop(columns=["run"])
    for o in objectives.costs(spec) or [objectives.OBJECTIVES["params"]]:
        col = o.label(spec)
        show = (lambda v: f"{v:.2f}") if o.unit == "ms" else format_count
        df[col] = df[col].map(lambda v, f=show: f(v) if v is not None else "-")
    df["summary"] = df["summary"].map(lambda s: s if len(s) <= 70 else s[:67] + "...")
    return df.to_string(index=False)
