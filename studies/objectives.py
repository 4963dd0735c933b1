"""The objectives of a search, as data: one declaration each, read by every stage.

An ``Objective`` says its direction, whether it is known before training (a cost, measured on the
untrained network by the pre-screen) or only after (the accuracy), which trial attribute holds its
value, its label and unit, whether its axis is logarithmic, and its hard budget, if it can have
one: a ``Budget`` is the flag (``--budget-NAME``), its parser and its wording. A spec holds one
``budgets`` mapping, objective name -> value in the objective's unit. The objective values told
to Optuna, the constraints and budgets, the CLI's budget flags, the whole-space table's filter, the
pruner's "costs no more than" test, the Ray searcher and trainable, the Pareto front, the tables
and the plots all read this table: adding an objective is one entry here plus its measurement (a
value in ``searchspace.cost.Cost``, or a runtime the pre-screen times). docs/extending.md says
which files each kind of addition touches.

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

from runner.latency import RUNTIMES
from studies.hypervolume import dominates, non_dominated  # noqa: F401  (dominates: the one)
from studies.store import schema
from trainer.metrics import metric_label

ACCURACY = "accuracy"
ALIASES = {"dice": ACCURACY}


@dataclass(frozen=True)
class Budget:
    """A hard budget on a cost objective, set with ``--budget-NAME TEXT`` (search and space)."""

    name: str  # the flag is --budget-NAME; SearchOptions.budgets is keyed by it
    metavar: str
    help: str
    parse: Callable[[str], float]  # the flag's text -> the value in the objective's unit
    show: Callable[[float], str]  # a value (or the budget) as text: "178 k", "4.20 ms"
    what: Callable[[Any], str]  # spec -> what is limited, in words: "params", "thop MACs"
    integer: bool = False  # the value is a count (params, MACs)
    tag: str = ""  # its letter in default study names (search-isic2017-p400k-m100M); "": none

    def text(self, spec, value: float) -> str:
        """``params <= 178 k``."""
        return f"{self.what(spec)} <= {self.show(value)}"

    @property
    def flag(self) -> str:
        return f"--budget-{self.name}"

    @property
    def dest(self) -> str:
        return "budget_" + self.name.replace("-", "_")


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"
    before_training: bool  # a cost known from the untrained network (pre-screen)
    unit: str
    log_axis: bool
    attr: Callable[[Any], str]  # spec -> the trial user attribute holding the value
    label: Callable[[Any], str]  # spec -> axis / column label
    short: Callable[[Any], str]  # spec -> the name Optuna shows (set_metric_names)
    budget: Budget | None = None  # its hard budget, if it can have one
    # cost counter (thop | torch) -> its column in the whole-space cost table
    # (searchspace.table.cost_table), when the table knows it; a budget without one is checked by
    # the pre-screen only
    table_column: Callable[[str], str] | None = None
    # measured by running the network on this latency runtime (pre-screen); several objectives
    # may share one Budget, which then applies to the one of the spec's latency_runtime
    runtime: str | None = None
    # the searchspace.cost.count_cost switches the pre-screen must turn on to measure it
    # (e.g. ("memory",): activation bytes); params and MACs are always counted
    cost_options: tuple[str, ...] = ()


def _macs_attr(spec) -> str:
    return schema.MACS_THOP if spec.cost_counter == "thop" else schema.MACS_TORCH


def _count(value: float) -> str:
    from searchspace.budget import format_count

    return format_count(value)


def _parse_params(text: str) -> float:
    from searchspace.budget import parse_params

    return parse_params(text)


def _parse_macs(text: str) -> float:
    from searchspace.budget import parse_macs

    return parse_macs(text)


def _parse_ms(text: str) -> float:
    from searchspace.budget import parse_latency_ms

    return parse_latency_ms(text)


_BYTE_UNITS = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 1e3, "mb": 1e6, "gb": 1e9}


def _parse_bytes(text: str) -> float:
    """``8MiB``, ``512KiB``, ``1.5GB``, ``8`` (MiB) -> bytes."""
    t = str(text).strip().lower().replace(" ", "")
    unit = next((u for u in sorted(_BYTE_UNITS, key=len, reverse=True) if t.endswith(u)), "")
    number = t[: len(t) - len(unit)] if unit else t
    try:
        value = float(number) * (_BYTE_UNITS[unit] if unit else 2**20)
    except ValueError:
        raise ValueError(f"--budget-memory {text!r}: write e.g. 8MiB, 512KiB or 8 (MiB)") from None
    if not value > 0 or value != value:
        raise ValueError(f"--budget-memory must be positive, got {text!r}")
    return value


def _mib(value: float) -> str:
    return f"{value / 2**20:.3g} MiB"


LATENCY_BUDGET = Budget(
    "latency",
    "T",
    "max latency of the untrained network at batch 1, measured before training on "
    "--latency-runtime: 15ms, 15 (ms), 0.015s",
    _parse_ms,
    lambda v: f"{v:.3g} ms",
    lambda spec: f"{spec.latency_runtime} latency",
)
OBJECTIVES: dict[str, Objective] = {
    ACCURACY: Objective(
        ACCURACY,
        "maximize",
        False,
        "",
        False,
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
        lambda spec: schema.PARAMS,
        lambda spec: "params",
        lambda spec: "params",
        budget=Budget(
            "params",
            "N",
            "max parameters: 400k, 0.4M, 400000",
            _parse_params,
            _count,
            lambda spec: "params",
            integer=True,
            tag="p",
        ),  # fmt: skip
        table_column=lambda counter: "params",
    ),
    "macs": Objective(
        "macs",
        "minimize",
        True,
        "MACs",
        True,
        _macs_attr,
        lambda spec: f"MACs ({spec.cost_counter})",
        lambda spec: f"macs_{spec.cost_counter}",
        budget=Budget(
            "gflops",
            "G",
            "max MACs (what papers call GFLOPs), in G by default: 0.1, 100M",
            _parse_macs,
            _count,
            lambda spec: f"{spec.cost_counter} MACs",
            integer=True,
            tag="m",
        ),  # fmt: skip
        table_column=lambda counter: f"macs_{counter}",
    ),
}
for _runtime, _where in RUNTIMES.items():
    OBJECTIVES[f"latency_{_runtime}_ms"] = Objective(
        f"latency_{_runtime}_ms",
        "minimize",
        True,
        "ms",
        True,
        lambda spec, r=_runtime: schema.latency_attr(r),
        lambda spec, w=_where: f"latency {w}, batch 1 (ms)",
        lambda spec, r=_runtime: f"latency_{r}_ms",
        budget=LATENCY_BUDGET,
        runtime=_runtime,
    )
OBJECTIVES["memory"] = Objective(
    "memory",
    "minimize",
    True,
    "bytes",
    True,
    lambda spec: schema.ACT_BYTES,
    lambda spec: "activation memory (B, batch 1)",
    lambda spec: "act_bytes",
    budget=Budget(
        "memory",
        "M",
        "max activation memory of one training image (tensors saved for "
        "backward, batch 1, fp32): 8MiB, 512KiB, 8 (MiB)",
        _parse_bytes,
        _mib,
        lambda spec: "activation memory",
        integer=True,
        tag="a",
    ),  # fmt: skip
    cost_options=("memory",),
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


def budget_declarations() -> list[Budget]:
    """Every distinct budget of the table, in table order (the CLI adds one flag each)."""
    out: list[Budget] = []
    for o in OBJECTIVES.values():
        if o.budget is not None and o.budget not in out:
            out.append(o.budget)
    return out


def budget_target(budget: Budget, latency_runtime: str = "ort_cpu") -> str:
    """The objective a budget flag applies to: its one owner, or (a budget shared by runtimes)
    the owner measured on ``latency_runtime``."""
    owners = [o for o in OBJECTIVES.values() if o.budget == budget]
    if len(owners) > 1:
        owners = [o for o in owners if o.runtime == latency_runtime]
    if len(owners) != 1:
        raise ValueError(f"{budget.flag}: no objective measured on {latency_runtime!r}")
    return owners[0].name


def parse_budgets(texts: Mapping[str, Any], latency_runtime: str = "ort_cpu") -> dict[str, float]:
    """``{"params": "0.4M", "gflops": None}`` (keyed by budget name, as ``SearchOptions.budgets``)
    -> ``{"params": 400000}`` (keyed by objective name, as ``StudySpec.budgets``)."""
    known = {b.name: b for b in budget_declarations()}
    unknown = sorted(set(texts) - set(known))
    if unknown:
        raise ValueError(f"unknown budget {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    out: dict[str, float] = {}
    for name, text in texts.items():
        if text is None:
            continue
        out[budget_target(known[name], latency_runtime)] = known[name].parse(text)
    return out


def budget_items(values: Mapping[str, Any]) -> list[tuple[Objective, float]]:
    """(objective, budget) for every value of a budget mapping (objective name -> value), in
    table order."""
    mine = {canonical(k): v for k, v in values.items()}
    return [(o, float(mine[o.name])) for o in OBJECTIVES.values() if mine.get(o.name) is not None]


def budgets(spec) -> list[tuple[Objective, float]]:
    """(objective, budget) for every budget set in the spec, in table order, whether or not the
    objective is one of the study's (a budget alone is a constraint)."""
    return budget_items(spec.budgets)


def table_limits(values: Mapping[str, Any], cost_counter: str) -> dict[str, float]:
    """Whole-space cost-table column -> budget, for the budgets (objective name -> value) on
    objectives the table knows (``searchspace.table.within`` checks them)."""
    return {o.table_column(cost_counter): v for o, v in budget_items(values) if o.table_column}


def budget_text(spec) -> str:
    """``params <= 178 k and thop MACs <= 10.4 M``, or ``no budget``."""
    return " and ".join(o.budget.text(spec, v) for o, v in budgets(spec)) or "no budget"


def check_budgets(values: Mapping[str, Any]) -> None:
    """One clear error for a budget mapping that names no budgeted objective or holds a value
    that is not positive (a count must be a whole number)."""
    for name, v in values.items():
        o = OBJECTIVES.get(name)
        if o is None or o.budget is None:
            known = [o.name for o in OBJECTIVES.values() if o.budget is not None]
            raise ValueError(f"budget on {name!r}: budgets exist on {', '.join(known)}")
        if v is None:
            continue
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
        if o.budget.integer:
            ok = ok and float(v).is_integer()
        if not ok:
            raise ValueError(
                f"{o.budget.flag} must be a positive {'whole ' if o.budget.integer else ''}number, got {v!r}"
            )


def latency_objective(spec) -> str:
    return f"latency_{getattr(spec, 'latency_runtime', 'ort_cpu')}_ms"


def cost_options(spec) -> dict[str, bool]:
    """The ``count_cost`` switches the pre-screen turns on: its objectives' and its budgets'."""
    used = {o.name for o in of(spec)} | {o.name for o, _ in budgets(spec)}
    return {k: True for o in OBJECTIVES.values() if o.name in used for k in o.cost_options}


def latency_runtimes(spec) -> list[str]:
    """The latency runtimes the pre-screen must measure: its objectives' and its budgets'."""
    used = {o.name for o in of(spec)} | {o.name for o, _ in budgets(spec)}
    return [o.runtime for o in OBJECTIVES.values() if o.runtime and o.name in used]


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
    """The objective vector to minimise on every axis (maximised objectives negated); None (never
    on a front) when the accuracy is below the spec's floor (``min_accuracy``)."""
    v = values(spec, attrs)
    if v is None:
        return None
    if below_floor(spec, attrs):
        return None
    return tuple(-x if o.direction == "maximize" else x for x, o in zip(v, of(spec), strict=True))


def accuracy_floor(spec) -> float | None:
    """The study's accuracy floor (``StudySpec.min_accuracy``; a report's view reads its spec)."""
    return getattr(spec, "min_accuracy", None)


def below_floor(spec, attrs: Mapping[str, Any]) -> bool:
    """Whether a trained candidate scores below the study's accuracy floor."""
    floor = accuracy_floor(spec)
    if floor is None:
        return False
    accuracy = value(spec, OBJECTIVES[ACCURACY], attrs)
    return accuracy is not None and accuracy < floor


def pareto_indices(losses: Sequence[Sequence[float] | None]) -> list[int]:
    """Indices of the loss vectors no other dominates (None: never on the front); the
    non-domination of ``studies.hypervolume``, the project's one."""
    pts = [(i, tuple(v)) for i, v in enumerate(losses) if v is not None]
    return [pts[k][0] for k in non_dominated([v for _, v in pts])]


def pareto_front(spec, items: Sequence[Any], attrs: Callable[[Any], Mapping[str, Any]]) -> list:
    """The non-dominated items (trained records or trials), in their given order."""
    return [items[i] for i in pareto_indices([loss_vector(spec, attrs(x)) for x in items])]


def pareto_indices_fullest(
    losses: Sequence[Sequence[float] | None], fuller: Sequence[Sequence[float] | None]
) -> list[int]:
    """Non-domination with a second fidelity: ``losses[i]`` is candidate i's loss vector at the
    search fidelity (None: never on the front), ``fuller[i]`` the same vector with the accuracy
    measured at the fuller fidelity (its mean over seeds), None when it was not promoted. Each
    pair is judged at the fullest fidelity both have: two promoted candidates by their fuller
    vectors, any other pair by the search-fidelity ones. With no fuller vector this is
    ``pareto_indices``."""
    n = len(losses)
    if len(fuller) != n:
        raise ValueError(f"{n} loss vectors but {len(fuller)} fuller-fidelity ones")
    keep = []
    for i in range(n):
        if losses[i] is None:
            continue
        beaten = False
        for j in range(n):
            if j == i or losses[j] is None:
                continue
            both = fuller[i] is not None and fuller[j] is not None
            a, b = (fuller[j], fuller[i]) if both else (losses[j], losses[i])
            if dominates(tuple(a), tuple(b)):
                beaten = True
                break
        if not beaten:
            keep.append(i)
    return keep


def with_accuracy(spec, loss: Sequence[float] | None, accuracy: float | None):
    """A loss vector with its accuracy entry replaced by ``accuracy`` (negated: minimised); None
    when either is None."""
    if loss is None or accuracy is None:
        return None
    names = [o.name for o in of(spec)]
    out = list(loss)
    if ACCURACY in names:
        out[names.index(ACCURACY)] = -float(accuracy)
    return tuple(out)


def cost_vector(spec, attrs: Mapping[str, Any]) -> tuple[float, ...] | None:
    """The study's cost objectives' values (all minimised), for the pruner's comparison."""
    return _vector(spec, costs(spec), attrs)


def metric_names(spec) -> list[str]:
    """What Optuna shows for each objective (``study.set_metric_names``)."""
    return [o.short(spec) for o in of(spec)]
