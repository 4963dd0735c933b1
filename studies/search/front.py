"""The Pareto front of a search: feasible, trained trials not dominated on the study's objectives.

Over-budget candidates, duplicates (a re-use of another trial's result), pruned and failed trials
are never on the front. ``front_table`` is what the search prints and writes to ``front.csv``
when the report package is not there to do it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna

from studies import objectives
from studies.intervals import welch_interval
from studies.store import schema
from studies.store.promoted import Promotion
from studies.store.schema import TrialRecord
from studies.store.spec import StudySpec, fidelity_tag


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
    """The non-dominated records, cheapest first. ``promoted`` (``promoted(study)``): each pair
    judged at the fullest fidelity both have (``front_indices``)."""
    scored = [r for r in records if spec.metric in r.val]
    front = [scored[i] for i in front_indices(spec, scored, promoted)]
    first = objectives.costs(spec)[0] if objectives.costs(spec) else None
    return sorted(
        front,
        key=lambda r: ((objectives.value(spec, first, r.attrs) or 0) if first else 0, r.number),
    )


def fuller_accuracy(record, promos: dict[str, Promotion]) -> float | None:
    """A record's fuller-fidelity mean, None when it was not promoted (or every seed failed)."""
    p = promos.get(getattr(record, "genotype_id", None) or "")
    return None if p is None else p.mean


def front_indices(spec: StudySpec, records, promos: dict[str, Promotion] | None) -> list[int]:
    """Indices of the front members among trained records, each pair judged at the fullest
    fidelity both have (``objectives.pareto_indices_fullest``)."""
    losses = [objectives.loss_vector(spec, r.attrs) for r in records]
    if not promos:
        return objectives.pareto_indices(losses)
    fuller = [
        objectives.with_accuracy(spec, loss, fuller_accuracy(r, promos))
        for loss, r in zip(losses, records, strict=True)
    ]
    return objectives.pareto_indices_fullest(losses, fuller)


def search_accuracy(spec: StudySpec, record) -> float:
    v = objectives.value(spec, objectives.OBJECTIVES[objectives.ACCURACY], record.attrs)
    return -math.inf if v is None else v


def chosen(spec: StudySpec, front, promos: dict[str, Promotion]):
    """The network the search hands over: the promoted front member with the best
    fuller-fidelity mean; with none promoted, the best search-fidelity score (None: no front)."""
    measured = [r for r in front if fuller_accuracy(r, promos) is not None]
    if measured:
        return max(measured, key=lambda r: (fuller_accuracy(r, promos), -r.number))
    if not front:
        return None
    return max(front, key=lambda r: (search_accuracy(spec, r), -r.number))


def fullest(record, promos: dict[str, Promotion], search_fidelity: str, search_score):
    """(fidelity, mean, CI low, CI high, seeds) of a record's fullest measurement: its
    promotion's 95 % t-interval over seeds when it has one, else its one search-fidelity score
    (no interval)."""
    p = promos.get(getattr(record, "genotype_id", None) or "")
    if p is not None and p.scores:
        return (p.fidelity, *p.interval(), len(p.scores))
    return search_fidelity, search_score, None, None, 1


def difference(a: Promotion, b: Promotion) -> tuple[float, float, float] | None:
    """Mean of a minus mean of b and its 95 % Welch interval over their seeds (None with fewer
    than two finite seeds on either side): the two are distinguishable when it excludes 0."""
    return welch_interval(a.values, b.values)


def front_table(spec: StudySpec, records: Sequence[TrialRecord], promoted: dict | None = None):
    """A pandas DataFrame of the front: trial, name, accuracy at the search fidelity, every cost
    objective, summary; with a promotion plan also each member's fullest measurement (fidelity,
    seeds, mean and 95 % t-interval over seeds) and how it compares with the handed-over network
    (``promotion.difference``: distinguishable when the interval of the difference excludes 0)."""
    import pandas as pd

    promoted = promoted or {}
    pick = chosen(spec, list(records), promoted) if spec.promotion else None
    search_fidelity = fidelity_tag(spec.image_size, spec.epochs)
    rows = []
    for r in records:
        accuracy = round(float(r.val[spec.metric]), 4)
        row = {
            "trial": r.number,
            "name": r.preset or r.genotype_id,
            objectives.OBJECTIVES[objectives.ACCURACY].label(spec): accuracy,
        }
        if spec.promotion is not None:
            f, mean, lo, hi, n = fullest(r, promoted, search_fidelity, accuracy)
            row.update(fidelity=f, seeds=n, mean=round(mean, 4),
                       ci_low=None if lo is None else round(lo, 4),
                       ci_high=None if hi is None else round(hi, 4))  # fmt: skip
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
    if pick is None or r.number == pick.number:
        return ""
    a, b = promoted.get(r.genotype_id or ""), promoted.get(pick.genotype_id or "")
    d = difference(a, b) if a is not None and b is not None else None
    if d is None:
        return "not comparable"
    delta, lo, hi = d
    word = "distinguishable" if lo > 0 or hi < 0 else "indistinguishable"
    return f"{delta:+.4f} [{lo:+.4f}, {hi:+.4f}] {word}"


def format_front(
    spec: StudySpec, records: Sequence[TrialRecord], promoted: dict | None = None
) -> str:
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
                for m, lo, hi, f, n in zip(
                    df["mean"],
                    df["ci_low"],
                    df["ci_high"],
                    df["fidelity"],
                    df["seeds"],
                    strict=True,
                )  # fmt: skip
            ],
        )
        df["name"] = [
            ("* " if h else "") + str(n) for n, h in zip(df["name"], df["handed_over"], strict=True)
        ]
        df = df.drop(columns=["fidelity", "seeds", "mean", "ci_low", "ci_high", "handed_over"])
        df["vs_handed_over"] = df["vs_handed_over"].map(
            lambda s: s.replace("distinguishable", "dist.")
        )
    df["summary"] = df["summary"].map(lambda s: s if len(s) <= 70 else s[:67] + "...")
    return df.to_string(index=False)
