"""The objectives of a search, as data: one declaration each, read by every stage.

An ``Objective`` says its direction, whether it is known before training (a cost, measured on the
untrained network by the pre-screen) or only after (the accuracy), which trial attribute holds its
value, its label and unit, whether its axis is logarithmic, and which ``StudySpec`` field holds
its hard budget. The objective values told to Optuna, the constraints and budgets, the pruner's
"costs no more than" test, the Ray searcher and trainable, the Pareto front, the tables and the
plots all read this table: adding an objective is one entry here plus its measurement (a value
in ``searchspace.cost.Cost`` or another pre-screen attribute).

The accuracy objective is called ``accuracy`` and carries ``--metric`` (any validation
``*_per_image_mean`` / ``*_pooled`` metric); its label is the metric's (``Dice (per-image mean)``,
``IoU (Jaccard) (pooled)``...), never a fixed "dice". ``dice`` is accepted as its old name, in
``--objectives`` and in stored studies.

One sign convention: ``loss_vector`` turns a trial into a vector to *minimise* on every axis
(accuracy negated); ``pareto_front`` is the one non-domination function the search summary,
front.csv, the report, hypervolume and compare use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from studies import schema
from studies.hypervolume import dominates, non_dominated  # noqa: F401  (dominates: the one)

ACCURACY = "accuracy"
ALIASES = {"dice": ACCURACY}


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"
    before_training: bool  # a cost known from the untrained network (pre-screen)
    unit: str
    log_axis: bool
    budget_field: str | None  # the StudySpec field of its hard budget, if it can have one
    attr: Callable[[Any], str]  # spec -> the trial user attribute holding the value
    label: Callable[[Any], str]  # spec -> axis / column label
    short: Callable[[Any], str]  # spec -> the name Optuna shows (set_metric_names)


def metric_label(key: str) -> str:
    """``dice_per_image_mean`` -> ``Dice (per-image mean)``; ``dice_pooled`` -> ``Dice (pooled)``."""
    names = {
        "dice": "Dice",
        "jaccard": "IoU (Jaccard)",
        "jaccard_thresholded": "thresholded Jaccard",
        "accuracy": "pixel accuracy",
        "sensitivity": "sensitivity",
        "specificity": "specificity",
        "miou": "mIoU",
        "fwiou": "FWIoU",
        "hd95": "HD95",
        "loss": "loss",
    }
    for suffix, how in (("_per_image_mean", "per-image mean"), ("_pooled", "pooled")):
        if key.endswith(suffix):
            base = key[: -len(suffix)]
            return f"{names.get(base, base)} ({how})"
    return names.get(key, key)


def _macs_attr(spec) -> str:
    return schema.MACS_THOP if spec.cost_counter == "thop" else schema.MACS_TORCH


OBJECTIVES: dict[str, Objective] = {
    ACCURACY: Objective(
        ACCURACY,
        "maximize",
        False,
        "",
        False,
        None,
        lambda spec: schema.VAL,
        lambda spec: f"val {metric_label(spec.metric)}",
        lambda spec: f"val_{spec.metric}",
    ),
    "params": Objective(
        "params",
        "minimize",
        True,
        "parameters",
        True,
        "budget_params",
        lambda spec: schema.PARAMS,
        lambda spec: "params",
        lambda spec: "params",
    ),
    "macs": Objective(
        "macs",
        "minimize",
        True,
        "MACs",
        True,
        "budget_macs",
        _macs_attr,
        lambda spec: f"MACs ({spec.cost_counter})",
        lambda spec: f"macs_{spec.cost_counter}",
    ),
}
for _runtime, _where in (("ort_cpu", "ONNX Runtime CPU"), ("torch_cpu", "torch eager CPU")):
    OBJECTIVES[f"latency_{_runtime}_ms"] = Objective(
        f"latency_{_runtime}_ms",
        "minimize",
        True,
        "ms",
        True,
        "budget_latency_ms",
        lambda spec, r=_runtime: schema.latency_attr(r),
        lambda spec, w=_where: f"latency {w}, batch 1 (ms)",
        lambda spec, r=_runtime: f"latency_{r}_ms",
    )
ALIASES["latency"] = "latency_ort_cpu_ms"
NAMES = tuple(OBJECTIVES)
DEFAULT = (ACCURACY, "params", "macs")


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def parse(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"dice,params"`` -> ``("accuracy", "params")``; one clear error for anything else."""
    names = text.split(",") if isinstance(text, str) else list(text)
    out = tuple(canonical(n.strip()) for n in names if str(n).strip())
    bad = [n for n in out if n not in OBJECTIVES]
    if bad or not out or len(set(out)) != len(out):
        raise ValueError(
            f"--objectives {text if isinstance(text, str) else ','.join(text)!r}: use distinct "
            f"names among {', '.join(NAMES)} ('dice' = accuracy)"
        )
    if ACCURACY not in out:
        raise ValueError("--objectives must include accuracy (the validation --metric)")
    return out


def of(spec) -> list[Objective]:
    return [OBJECTIVES[canonical(n)] for n in spec.objectives]


def costs(spec) -> list[Objective]:
    """The cost objectives of the study (known before training), in objective order."""
    return [o for o in of(spec) if o.before_training]


def budgets(spec) -> list[tuple[Objective, float]]:
    """(objective, budget) for every objective of the table with a budget set in the spec,
    whether or not it is an objective of the study (a budget alone is a constraint). The latency
    budget applies to the runtime of ``spec.latency_runtime``."""
    out = []
    for o in OBJECTIVES.values():
        if o.budget_field is None or getattr(spec, o.budget_field, None) is None:
            continue
        if o.budget_field == "budget_latency_ms" and o.name != latency_objective(spec):
            continue
        out.append((o, float(getattr(spec, o.budget_field))))
    return out


def latency_objective(spec) -> str:
    return f"latency_{getattr(spec, 'latency_runtime', 'ort_cpu')}_ms"


def latency_runtimes(spec) -> list[str]:
    """The latency runtimes the pre-screen must measure: its objectives' and its budget's."""
    names = {o.name for o in of(spec)} | {o.name for o, _ in budgets(spec)}
    return [r for r in ("ort_cpu", "torch_cpu") if f"latency_{r}_ms" in names]


def value(spec, o: Objective, attrs: Mapping[str, Any]) -> float | None:
    """The objective's value from a trial's user attributes (accuracy: the validation metric)."""
    raw = attrs.get(o.attr(spec))
    if o.name == ACCURACY:
        raw = (raw or {}).get(spec.metric) if isinstance(raw, Mapping) else None
    if raw is None:
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _vector(spec, objs: list[Objective], attrs: Mapping[str, Any]) -> tuple[float, ...] | None:
    out = [value(spec, o, attrs) for o in objs]
    return None if any(v is None for v in out) else tuple(out)  # type: ignore[arg-type]


def values(spec, attrs: Mapping[str, Any]) -> tuple[float, ...] | None:
    """The objective vector in the study's order and directions (None if a value is missing)."""
    return _vector(spec, of(spec), attrs)


def loss_vector(spec, attrs: Mapping[str, Any]) -> tuple[float, ...] | None:
    """The objective vector to minimise on every axis (maximised objectives negated)."""
    v = values(spec, attrs)
    if v is None:
        return None
    return tuple(-x if o.direction == "maximize" else x for x, o in zip(v, of(spec), strict=True))


def pareto_indices(losses: Sequence[Sequence[float] | None]) -> list[int]:
    """Indices of the loss vectors no other dominates (None: never on the front); the
    non-domination of ``studies.hypervolume``, the project's one."""
    pts = [(i, tuple(v)) for i, v in enumerate(losses) if v is not None]
    return [pts[k][0] for k in non_dominated([v for _, v in pts])]


def pareto_front(spec, items: Sequence[Any], attrs: Callable[[Any], Mapping[str, Any]]) -> list:
    """The non-dominated items (trained records or trials), in their given order."""
    return [items[i] for i in pareto_indices([loss_vector(spec, attrs(x)) for x in items])]


def cost_vector(spec, attrs: Mapping[str, Any]) -> tuple[float, ...] | None:
    """The study's cost objectives' values (all minimised), for the pruner's comparison."""
    return _vector(spec, costs(spec), attrs)


def metric_names(spec) -> list[str]:
    """What Optuna shows for each objective (``study.set_metric_names``)."""
    return [o.short(spec) for o in of(spec)]
