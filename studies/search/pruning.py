"""A pruner for multi-objective, multi-fidelity search: stop a trial that cannot reach the front.

Optuna's pruners compare one reported value per step and ``trial.report`` is refused in
multi-objective studies, so lesion-nas decides itself, from ``fit``'s ``on_epoch`` hook. What makes
this easy here: a candidate's costs (params, MACs) are exact and known before training; only its
accuracy grows with the epochs. And every candidate is trained with the same recipe and number
of epochs, so the learning-rate schedule at epoch ``e`` is the same for all of them and their
accuracies at the same epoch are comparable.

The rule. At the end of epoch ``e`` a trial T is stopped when at least ``min_references``
already finished, trained trials R satisfy both

* R costs no more than T on every cost objective of the study (``costs(R) <= costs(T)``), and
* R's best validation accuracy up to epoch ``e`` is at least ``margin`` above T's best so far.

Such an R already dominates T on cost; if the gap holds to the end, R dominates T outright and T
cannot be on the Pareto front, so the remaining epochs are wasted. The margin absorbs curves that
cross later. "Best so far" (the running maximum) is what a trial would report if it stopped now,
and it makes noisy curves monotone. Never pruned: at or before ``warmup_epochs``, at the last
epoch (nothing left to save), when T has no finite value yet, and published presets (they are
the reference points of the report). With ``dice`` the only objective the cost condition is
empty and the rule becomes "``margin`` below the best trial at the same epoch".

References are the study's COMPLETE, feasible, trained (not duplicate) trials with a stored
curve (``schema.CURVE``), re-read at every epoch so that parallel workers see each other.

The other rule, ``rule = "sh"``: asynchronous multi-objective successive halving over the epoch
ladder (as Syne Tune's MOASHA). Rungs lie at epochs ``min_resource * eta**k`` below the last
epoch. A trial reaching a rung is compared with every trial that reached it before (references
then include PRUNED trials, whose curves stop at their last rung): each is the point (best
accuracy so far at the rung, its costs); the points are sorted into non-dominated ranks, and the
trial continues when it is among the best ``max(1, n // eta)`` of the ``n`` points, the last rank
that fits being split by hypervolume contribution (``reports``' convention: -accuracy and log10
costs, reference 0 and 1 + the largest log cost). Until ``eta`` trials have reached a rung, every
trial passes it (there is nothing to halve yet). Presets are never pruned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from studies import objectives
from studies.store import schema
from studies.store.spec import PruneSettings, StudySpec


@dataclass(frozen=True)
class Reference:
    """A finished trial as the pruner sees it."""

    number: int
    costs: tuple[float, ...]  # the study's cost objectives, in order
    curve: tuple[float | None, ...]  # validation accuracy per epoch (None: not validated)


@dataclass(frozen=True)
class Decision:
    prune: bool
    reason: str | None = None


def best_so_far(curve: Sequence[float | None], epoch: int) -> float | None:
    """The best finite value among the first ``epoch`` entries of a curve (None if none)."""
    values = [v for v in curve[:epoch] if v is not None and math.isfinite(v)]
    return max(values) if values else None


def prune_decision(
    costs: Sequence[float],
    curve: Sequence[float | None],
    epoch: int,
    total_epochs: int,
    references: Iterable[Reference],
    settings: PruneSettings,
    cost_names: Sequence[str] = (),
) -> Decision:
    """Whether to stop a trial with these ``costs`` and ``curve`` after ``epoch`` (1-based)."""
    if settings.enabled and settings.rule == "sh":
        return halving_decision(costs, curve, epoch, total_epochs, references, settings)
    if not settings.enabled or epoch <= settings.warmup_epochs or epoch >= total_epochs:
        return Decision(False)
    mine = best_so_far(curve, epoch)
    if mine is None:
        return Decision(False)
    beaters: list[tuple[float, Reference]] = []
    for ref in references:
        if len(ref.costs) != len(costs) or any(
            r > c for r, c in zip(ref.costs, costs, strict=True)
        ):
            continue
        theirs = best_so_far(ref.curve, epoch)
        if theirs is not None and theirs >= mine + settings.margin:
            beaters.append((theirs, ref))
    if len(beaters) < settings.min_references:
        return Decision(False)
    theirs, best = max(beaters, key=lambda b: b[0])
    names = list(cost_names) or [f"cost{i}" for i in range(len(costs))]
    cheaper = ", ".join(
        f"{n} {_fmt(r)} <= {_fmt(c)}" for n, r, c in zip(names, best.costs, costs, strict=True)
    )
    return Decision(
        True,
        f"epoch {epoch}: best accuracy {mine:.4f} is {theirs - mine:.4f} below trial "
        f"{best.number}'s {theirs:.4f} at the same epoch"
        + (f", which costs no more ({cheaper})" if cheaper else "")
        + f"; {len(beaters)} such trial(s), margin {settings.margin}",
    )


def rungs(settings: PruneSettings, total_epochs: int) -> list[int]:
    """The successive-halving rungs: ``min_resource * eta**k`` below the last epoch."""
    out, r = [], settings.min_resource
    while r < total_epochs:
        out.append(r)
        r *= settings.eta
    return out


def _point(accuracy: float, costs: Sequence[float]) -> tuple[float, ...]:
    return (-accuracy, *(math.log10(max(float(c), 1e-9)) for c in costs))


def halving_decision(
    costs: Sequence[float],
    curve: Sequence[float | None],
    epoch: int,
    total_epochs: int,
    references: Iterable[Reference],
    settings: PruneSettings,
) -> Decision:
    """Multi-objective successive halving at a rung (see the module docstring)."""
    from studies.hypervolume import hypervolume, nondominated_ranks

    if epoch not in rungs(settings, total_epochs):
        return Decision(False)
    mine = best_so_far(curve, epoch)
    if mine is None:
        return Decision(False)
    points = [_point(mine, costs)]
    for ref in references:
        theirs = best_so_far(ref.curve, epoch) if len(ref.curve) >= epoch else None
        if theirs is not None and len(ref.costs) == len(costs):
            points.append(_point(theirs, ref.costs))
    n = len(points)
    if n <= settings.eta:
        return Decision(False)
    keep = max(1, n // settings.eta)
    ranks = nondominated_ranks(points)
    ahead = sum(1 for r in ranks if r < ranks[0])  # points in better ranks than mine
    if ahead + sum(1 for r in ranks if r == ranks[0]) <= keep:
        return Decision(False)  # my whole rank fits
    if ahead >= keep:
        return _halved(epoch, n, keep, ranks[0], mine)
    # my rank overflows the places left: the largest hypervolume contributions keep them
    tied = [p for p, r in zip(points, ranks, strict=True) if r == ranks[0]]
    ref = (0.0, *(1.0 + max(p[i] for p in points) for i in range(1, len(points[0]))))
    total = hypervolume(tied, ref)
    contribution = [total - hypervolume(tied[:i] + tied[i + 1 :], ref) for i in range(len(tied))]
    order = sorted(range(len(tied)), key=lambda i: -contribution[i])  # stable: mine (index 0) first
    if order.index(0) < keep - ahead:
        return Decision(False)
    return _halved(epoch, n, keep, ranks[0], mine)


def _halved(epoch: int, n: int, keep: int, rank: int, mine: float) -> Decision:
    return Decision(
        True,
        f"epoch {epoch} (a successive-halving rung): not among the best {keep} of the {n} trials "
        f"that reached it (non-dominated rank {rank}, best accuracy {mine:.4f})",
    )


def _fmt(v: float) -> str:
    from searchspace.budget import format_count

    return format_count(v)


# ------------------------------------------------------------------------------ study glue
def cost_names(spec: StudySpec) -> tuple[str, ...]:
    """The cost objectives of the study, in objective order (``objectives.costs``)."""
    return tuple(o.name for o in objectives.costs(spec))


def costs_of(spec: StudySpec, attrs: dict[str, Any]) -> tuple[float, ...] | None:
    """A trial's cost vector from its user attrs (None when a cost is missing)."""
    return objectives.cost_vector(spec, attrs)


def references_from_trials(spec: StudySpec, trials: Iterable[Any]) -> list[Reference]:
    """References among FrozenTrials: COMPLETE (with ``rule = "sh"`` also PRUNED), feasible,
    trained, not duplicates, with a curve."""
    states = ("COMPLETE", "PRUNED") if spec.pruning.rule == "sh" else ("COMPLETE",)
    refs = []
    for t in trials:
        a = t.user_attrs
        if t.state.name not in states or not a.get(schema.FEASIBLE):
            continue
        if a.get(schema.DUPLICATE_OF) is not None or not a.get(schema.CURVE):
            continue
        costs = costs_of(spec, a)
        if costs is not None:
            refs.append(Reference(t.number, costs, tuple(a[schema.CURVE])))
    return refs
