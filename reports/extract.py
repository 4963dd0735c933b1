"""Pure functions: a ``StudyView`` -> the small data objects the plots and tables are drawn from.

Optuna's style: each figure has a NamedTuple of data (tested directly) and a renderer in
``plots.py`` that only draws it.
"""

from __future__ import annotations

import math
import statistics
import warnings
from typing import NamedTuple

from studies import objectives as objectives_table
from studies.hypervolume import hypervolume_history
from studies.store.schema import TrialRecord

from .study import StudyView, metric_label

MIN_IMPORTANCE_TRIALS = 10


# ------------------------------------------------------------------------------ front
def front_records(view: StudyView) -> list[TrialRecord]:
    """The Pareto front among trained, feasible, unique trials, in trial order (the search's
    own front function: each pair judged at the fullest fidelity both have when the study
    promoted members, ``studies.search.front.front_indices``)."""
    from studies.search.front import front_indices

    trained = [r for r in view.records if view.is_trained(r)]
    return [trained[i] for i in front_indices(view, trained, view.promoted)]


def handed_over(view: StudyView) -> TrialRecord | None:
    """The network a promoting search hands over (``studies.search.front.chosen``); None
    for a study without a fidelity plan."""
    from studies.search.front import chosen

    if view.promotion is None:
        return None
    return chosen(view, front_records(view), view.promoted)


def _fmt_int(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def hover_text(view: StudyView, r: TrialRecord) -> str:
    """Every cost and metric of a trial, for a plot's hover box (plotly's <br> line breaks)."""
    title = f"<b>{r.preset}</b> (trial {r.number})" if r.preset else f"<b>trial {r.number}</b>"
    lines = [title, r.summary or "(no genotype summary)"]
    lines.append(
        f"params {_fmt_int(r.params)} | MACs thop {_fmt_int(r.macs_thop)} | "
        f"MACs torch {_fmt_int(r.macs_torch)}"
    )
    if r.act_bytes is not None:
        lines.append(f"train activations {r.act_bytes / 2**20:.2f} MiB / image (fp32)")
    if r.over_budget:
        lines.append(f"over budget, not trained: {r.over_budget}")
    for split, metrics in (("val", r.val), ("test", r.test or {})):
        for k in sorted(metrics):
            lines.append(f"{split} {metric_label(k)}: {metrics[k]:.4f}")
    c = view.confirms.get(r.number)
    if c is not None and c.val_mean is not None:
        how = f" ({c.detail})" if c.detail else ""
        lines.append(
            f"confirm{how}: val {c.val_mean:.4f} ± {c.val_std or 0:.4f} over {c.seeds} seeds"
        )
    return "<br>".join(lines)


class ParetoPoint(NamedTuple):
    number: int
    label: str  # preset name, or "#<number>"
    params: int
    macs: int  # by the study's MAC counter
    accuracy: float | None  # None: not trained (over budget)
    confirm_mean: float | None
    confirm_std: float | None
    confirm_seeds: int
    hover: str
    costs: dict = {}  # cost objective name -> value (one plot panel each)
    # promoted: (mean, CI low, CI high, seeds, fidelity) at the fuller fidelity, else None
    promoted: tuple | None = None


class ObjectivePanel(NamedTuple):
    """One panel of the Pareto plot: accuracy against one cost objective."""

    name: str  # objective name (a key of ParetoPoint.costs and a PublishedReference attribute)
    title: str
    log: bool
    budget: float | None


class PublishedReference(NamedTuple):
    """A published model's costs at the study's image size (not trained in this study)."""

    name: str
    params: int
    macs: int


class ParetoData(NamedTuple):
    metric_label: str
    counter: str
    objectives: tuple[str, ...]  # what the front is non-dominated in
    points: list[ParetoPoint]
    front: list[int]  # indices into points
    dominated: list[int]
    over_budget: list[int]
    pruned: list[int]
    presets: list[int]  # points that are published models (in any group above)
    confirmed: list[int]  # points with a confirm mean +- std
    references: list[PublishedReference]
    panels: tuple = ()  # ObjectivePanel per cost objective of the study
    promoted_points: tuple = ()  # points promoted to the fuller fidelity (mean and 95 % CI)
    fuller_fidelity: str = ""  # "96x96-e10"


def pareto_data(view: StudyView, references: list[PublishedReference] | None = None) -> ParetoData:
    front_numbers = {r.number for r in front_records(view)}
    points: list[ParetoPoint] = []
    groups: dict[str, list[int]] = {"front": [], "dominated": [], "over": [], "pruned": []}
    for r in view.records:
        macs = view.macs(r)
        if r.params is None or macs is None:
            continue
        if view.is_trained(r):
            group = "front" if r.number in front_numbers else "dominated"
        elif view.is_over_budget(r):
            group = "over"
        elif r.state == "PRUNED" and view.accuracy(r) is not None:
            group = "pruned"
        else:  # failed, running, duplicates: in trials.csv, not on the plot
            continue
        c = view.confirms.get(r.number)
        p = view.promoted.get(r.genotype_id or "")
        fuller = None
        if p is not None and p.scores and view.is_trained(r):
            mean, lo, hi = p.interval()
            fuller = (mean, lo, hi, len(p.scores), p.fidelity)
        groups[group].append(len(points))
        points.append(
            ParetoPoint(
                number=r.number,
                label=r.preset or f"#{r.number}",
                params=int(r.params),
                macs=int(macs),
                accuracy=None if group == "over" else view.accuracy(r),
                confirm_mean=c.val_mean if c else None,
                confirm_std=c.val_std if c else None,
                confirm_seeds=c.seeds if c else 0,
                hover=hover_text(view, r),
                costs={
                    o.name: objectives_table.value(view, o, r.attrs) for o in view.cost_objectives()
                },
                promoted=fuller,
            )
        )
    by_number = {r.number: r for r in view.records}
    return ParetoData(
        metric_label=view.metric_label,
        counter=view.counter,
        objectives=tuple(o.label(view) for o in objectives_table.of(view)),
        points=points,
        front=groups["front"],
        dominated=groups["dominated"],
        over_budget=groups["over"],
        pruned=groups["pruned"],
        presets=[i for i, p in enumerate(points) if by_number[p.number].preset],
        confirmed=[i for i, p in enumerate(points) if p.confirm_mean is not None],
        references=list(references or []),
        panels=tuple(
            ObjectivePanel(
                o.name,
                o.label(view),
                o.log_axis,
                view.budget(o.name),
            )
            for o in view.cost_objectives()
        ),
        promoted_points=tuple(i for i, p in enumerate(points) if p.promoted is not None),
        fuller_fidelity=view.promotion.fidelity if view.promotion is not None else "",
    )


# ------------------------------------------------------------------------------ hypervolume
class HypervolumeData(NamedTuple):
    trial_numbers: list[int]
    values: list[float]
    reference: tuple[float, ...]  # in the transformed (minimised) space
    axes: tuple[str, ...]  # what each transformed coordinate is
    note: str


def hypervolume_data(view: StudyView) -> HypervolumeData:
    """Hypervolume after each trial, over trained feasible trials, in trial order.

    Accuracy enters as -value (reference 0, the worst score, or minus the study's accuracy
    floor: a candidate below it adds nothing), costs as log10 (reference: the
    budget when there is one, else 1.1 x the largest cost among trained trials), so that one
    decade of parameters weighs the same at 50 k as at 500 k.
    """
    trained = [r for r in view.records if view.is_trained(r)]
    columns = (
        list(zip(*(view.objective_values(r) for r in trained), strict=True)) if trained else []
    )
    reference: list[float] = []
    axes: list[str] = []
    objs = objectives_table.of(view)
    for i, o in enumerate(objs):
        largest = max(columns[i]) if columns else 1.0
        if o.direction == "maximize":  # the worst score, or the study's accuracy floor
            reference.append(-(view.min_accuracy or 0.0))
            axes.append(f"-{o.label(view)}")
        elif o.log_axis:
            budget = view.budget(o.name)
            reference.append(math.log10(budget or 1.1 * largest))
            axes.append(f"log10 {o.label(view)}")
        else:
            reference.append(1.1 * largest if largest > 0 else 1.0)
            axes.append(o.label(view))

    def transform(r: TrialRecord) -> tuple[float, ...] | None:
        if not view.is_trained(r):
            return None
        values = view.objective_values(r)
        return tuple(
            -v if o.direction == "maximize" else math.log10(max(v, 1e-12)) if o.log_axis else v
            for v, o in zip(values, objs, strict=True)  # type: ignore[arg-type]
        )

    numbers = [r.number for r in view.records]
    values = hypervolume_history([transform(r) for r in view.records], reference)
    note = "hypervolume of the trained, within-budget trials so far; coordinates " + ", ".join(
        f"{a} (reference {ref:.3g})" for a, ref in zip(axes, reference, strict=True)
    )
    return HypervolumeData(numbers, values, tuple(reference), tuple(axes), note)


# ------------------------------------------------------------------------------ importance
class ImportanceData(NamedTuple):
    objectives: list[str]  # labels, one per objective
    importances: list[dict[str, float]]  # param -> importance (normalised), per objective
    n_trials: int
    message: str | None  # why there is nothing to show, or None


def importance_data(view: StudyView, min_trials: int = MIN_IMPORTANCE_TRIALS) -> ImportanceData:
    """Optuna's default importance evaluator, one objective at a time, on trained trials only."""
    import optuna

    labels = [o.label(view) for o in objectives_table.of(view)]
    trained = {
        r.number
        for r in view.records
        if view.is_trained(r) and view.objective_values(r) is not None
    }
    trials = [t for t in view.trials if t.number in trained and t.params]
    if len(trials) < min_trials:
        return ImportanceData(
            labels,
            [],
            len(trials),
            f"parameter importance needs at least {min_trials} trained trials with searched "
            f"parameters; this study has {len(trials)}",
        )
    records = {r.number: r for r in view.records}
    study = optuna.create_study(directions=list(view.directions))
    study.add_trials(trials)
    # the copy numbers its trials 0, 1, ... in the order added: map them back to the records
    by_copy = {k: records[t.number] for k, t in enumerate(trials)}
    importances = []
    for i, direction in enumerate(view.directions):

        def target(t, i=i, sign=-1.0 if direction == "maximize" else 1.0) -> float:
            return sign * view.objective_values(by_copy[t.number])[i]  # type: ignore[index]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances.append(optuna.importance.get_param_importances(study, target=target))
    return ImportanceData(labels, importances, len(trials), None)


# ------------------------------------------------------------------------------ factors
def factor_columns() -> tuple[str, ...]:
    """The report's factor columns: the factors of every space (``searchspace.space.ALL_FACTORS``;
    a factor no trial of the study has is not shown)."""
    from searchspace.space import ALL_FACTORS

    return tuple(f.column for f in ALL_FACTORS)


def trial_factors(record: TrialRecord) -> dict[str, str]:
    """The search-space factors of a trial: its suggested choices, else what can be read off its
    genotype (``Factor.read``)."""
    from searchspace.space import ALL_FACTORS as FACTORS
    from searchspace.space import choices_from_params

    p = record.params_suggested
    if p:
        choices = choices_from_params(p)
        raw = {f.column: choices.get(f.name) for f in FACTORS}
    elif record.genotype:
        from searchspace import Genotype
        from searchspace.space import FACTORS as BASE_FACTORS

        g = Genotype.from_dict(record.genotype)  # a preset's: the base space's factors
        raw = {f.column: f.read(g) for f in BASE_FACTORS if f.read is not None}
    else:
        return {}
    return {k: str(v) for k, v in raw.items() if v is not None}


def _sort_key(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


class FactorLevel(NamedTuple):
    value: str
    accuracies: list[float]
    numbers: list[int]
    best: float
    median: float


class FactorData(NamedTuple):
    metric_label: str
    factors: dict[str, list[FactorLevel]]  # factor -> its values seen among trained trials


def factor_data(view: StudyView) -> FactorData:
    seen: dict[str, dict[str, list[tuple[float, int]]]] = {}
    for r in view.records:
        acc = view.accuracy(r)
        if not view.is_trained(r) or acc is None:
            continue
        for name, value in trial_factors(r).items():
            seen.setdefault(name, {}).setdefault(value, []).append((acc, r.number))
    factors: dict[str, list[FactorLevel]] = {}
    for name in factor_columns():
        if name not in seen:
            continue
        levels = []
        for value in sorted(seen[name], key=_sort_key):
            accs = [a for a, _ in seen[name][value]]
            levels.append(
                FactorLevel(
                    value,
                    accs,
                    [n for _, n in seen[name][value]],
                    max(accs),
                    statistics.median(accs),
                )
            )
        factors[name] = levels
    return FactorData(view.metric_label, factors)
