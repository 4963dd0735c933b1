"""The work done for one candidate, shared by the Optuna and the Ray Tune backends.

``run_trial`` is the whole objective; its steps are public so that another backend can reuse them:

1. ``candidate_for_trial``: the preset's genotype (enqueued by ``--include-presets``), or one
   sampled from the space;
2. ``prescreen`` + ``record_screen``: exact costs at the search's image size, checked against the
   hard budgets *before* any training, written to the trial (``schema`` attributes);
3. over budget: completed at once with ``infeasible_values`` (its costs, accuracy 0) and positive
   constraints, never trained, no run folder;
4. ``claim`` (under the study lock when several workers share the study, ``studies.search.workers``):
   a genotype already trained in this study is not trained again, its result is reused
   (``DUPLICATE_OF``); one already pruned, failed in training, or being trained right now by
   another worker, is pruned with that reason; otherwise the trial is marked ``TRAIN_CLAIM``,
   which is what ``--trials`` counts;
5. ``train_candidate`` into ``<out>/<study>/trials/<number>-<name or id>/`` with the study's
   train config, the pruner (``studies.search.pruning``) watching every epoch through ``on_epoch``;
6. ``values_from_result``: the objective values (``--metric`` on the validation split at the best
   epoch, params, MACs of ``--cost-counter``).

Faults: an exception, an out-of-memory error or a NaN loss (``FitResult.status == "failed"``) is
recorded as ``FAIL_REASON`` and raised as ``CandidateFailed``; the backend marks the trial FAIL and
goes on. A pruned trial keeps its partial curve and ``PRUNE_REASON`` and raises ``TrialPruned``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from runner.runs import train_genotype
from searchspace import Genotype
from searchspace.cost import Cost, count_cost
from searchspace.presets import get_preset
from searchspace.space import sample_genotype
from studies.objectives import budgets as budgets_of
from studies.objectives import cost_options, latency_runtimes
from studies.objectives import of as objectives_of
from studies.objectives import value as objectives_value
from studies.objectives import values as objectives_values
from studies.samplers import CONSTRAINTS_ON_TRIAL, constraint_names
from studies.search.pruning import (
    Decision,
    cost_names,
    costs_of,
    prune_decision,
    references_from_trials,
)
from studies.store import schema
from studies.store.spec import StudySpec
from studies.store.storage import STALE_REASON, Heartbeat
from studies.store.trial_state import is_stale_fail, was_claimed
from trainer import DataBundle, FitResult, TrainConfig, load_data, read_json


class CandidateFailed(RuntimeError):
    """A candidate could not be trained (exception, out of memory, NaN); the reason is stored."""


@dataclass(frozen=True)
class Screen:
    """A candidate's costs and whether they fit the budgets (Optuna constraints: <= 0 is OK).
    ``attrs``: every cost as the trial attribute the objectives table reads (latencies too)."""

    cost: Cost
    feasible: bool
    reason: str | None
    constraints: tuple[float, ...]
    attrs: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------ data and config
def train_config(spec: StudySpec) -> TrainConfig:
    return TrainConfig.from_dict(spec.train_config)


def load_study_data(
    spec: StudySpec,
    *,
    progress: bool = False,
    image_size: tuple[int, int] | None = None,
    limit: int | None = None,
) -> DataBundle:
    """The study's data, reloaded from ``spec.data_source``; refused if it is not the same data.
    ``image_size``: at another size (the fidelity verb). Real data keeps its content fingerprint
    at any size; synthetic data is generated at the size, so only its split is checked then.
    ``limit``: after that check, only the first N training images (smoke runs)."""
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    kwargs: dict[str, Any] = {}
    if spec.synthetic_counts is not None:
        kwargs["synthetic_counts"] = tuple(spec.synthetic_counts)
    size = tuple(image_size) if image_size is not None else tuple(spec.image_size)
    data = load_data(
        spec.data_source,
        image_size=size,
        limit=spec.data_limit,
        seed=spec.split_seed,
        progress=progress,
        **kwargs,
    )
    split_hash = str(data.split_info.get("hash", ""))
    same_data = data.fingerprint == spec.data_fingerprint or (
        spec.synthetic and size != tuple(spec.image_size)
    )
    if not same_data or split_hash != spec.split_hash:
        raise ValueError(
            f"the data at {spec.data_source} is not the study's: fingerprint "
            f"{data.fingerprint[:12]} / split {split_hash[:8]} vs the study's "
            f"{spec.data_fingerprint[:12]} / {spec.split_hash[:8]}"
        )
    if limit is not None:
        splits = {**data.splits, "train": data.split("train").head(limit)}
        data = dataclasses.replace(data, splits=splits)
    return data


def trial_run_dir(out_root: Path, study_name: str, number: int, genotype: Genotype) -> Path:
    return Path(out_root) / study_name / "trials" / f"{number:04d}-{genotype.name or genotype.id}"


# ------------------------------------------------------------------------------ the steps
def candidate_for_trial(spec: StudySpec, trial: optuna.Trial) -> Genotype:
    """The preset's genotype when the trial was enqueued with ``PRESET``, else a sampled one."""
    name = trial.user_attrs.get(schema.PRESET)
    return get_preset(name).genotype if name else sample_genotype(trial, spec.space)


def prescreen(spec: StudySpec, genotype: Genotype) -> Screen:
    """Exact costs at the study's image size, checked against every budget of the spec
    (``objectives.budgets``: Optuna constraints ``value / budget - 1``, <= 0 is within). Latency
    (``runner.latency``) is measured when it is an objective, or when it has a budget and the
    candidate fits the others (a latency constraint not measured is recorded as 0)."""
    cost = count_cost(genotype, tuple(spec.image_size), **cost_options(spec))
    attrs = schema.cost_attrs(cost)
    runtimes = latency_runtimes(spec)
    cheap = [(o, b) for o, b in budgets_of(spec) if o.runtime is None]  # known from the count
    fits_cheap = all(objectives_value(spec, o, attrs) <= b for o, b in cheap)
    wanted = {o.name for o in objectives_of(spec)}
    for runtime in runtimes:
        key = schema.latency_attr(runtime)
        if key in wanted or fits_cheap:
            from runner.latency import measure

            lat = measure(genotype, tuple(spec.image_size), runtime,
                          threads=spec.latency_threads)  # fmt: skip
            attrs[key] = lat.median_ms
            attrs[f"{key}_detail"] = lat.to_dict()
    constraints, reasons = [], []
    for o, budget in budgets_of(spec):
        value = objectives_value(spec, o, attrs)
        if value is None:  # a latency left unmeasured: over another budget already
            constraints.append(0.0)
            continue
        constraints.append(value / budget - 1.0)
        if value > budget:
            reasons.append(
                f"{o.label(spec)} {o.budget.show(value)} > budget {o.budget.show(budget)}"
            )
    reason = "; ".join(reasons) or None
    return Screen(cost, reason is None, reason, tuple(constraints), attrs)


def record_screen(
    trial: optuna.Trial, genotype: Genotype, screen: Screen, spec: StudySpec | None = None
) -> None:
    """The schema's screening attributes; with Optuna >= 5 (and ``spec``) also the trial's
    constraints (``Trial.set_constraint``), which NSGA-II and TPE read."""
    attrs = {
        **schema.network_attrs(genotype, screen.cost),
        schema.FEASIBLE: screen.feasible,
        schema.CONSTRAINTS: list(screen.constraints),
        **{k: v for k, v in screen.attrs.items() if k.startswith("latency_")},
    }
    if screen.reason:
        attrs[schema.OVER_BUDGET] = screen.reason
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if CONSTRAINTS_ON_TRIAL and hasattr(trial, "set_constraint"):
        for name, value in zip(constraint_names(spec), screen.constraints, strict=True):
            trial.set_constraint(name, value)


def _values(spec: StudySpec, accuracy: float, screen: Screen) -> tuple[float, ...]:
    attrs = {
        **(screen.attrs or schema.cost_attrs(screen.cost)),
        schema.VAL: {spec.metric: accuracy},
    }
    out = objectives_values(spec, attrs)
    if out is None:
        raise CandidateFailed("an objective value is missing")
    return out


def infeasible_values(spec: StudySpec, screen: Screen) -> tuple[float, ...]:
    """Its real costs and the worst accuracy (0): never on a front, still informative."""
    return _values(spec, 0.0, screen)


def values_from_val(spec: StudySpec, val: dict, screen: Screen) -> tuple[float, ...]:
    value = val.get(spec.metric)
    if value is None or not math.isfinite(float(value)):
        raise CandidateFailed(f"no finite validation {spec.metric} (got {value!r})")
    return _values(spec, float(value), screen)


def values_from_result(spec: StudySpec, result: FitResult, screen: Screen) -> tuple[float, ...]:
    if result.status == "failed":
        raise CandidateFailed(result.reason)
    return values_from_val(spec, result.val, screen)


def is_out_of_memory(error: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(error, oom)) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def train_candidate(
    spec: StudySpec,
    genotype: Genotype,
    data: DataBundle,
    run_dir: Path | None,
    *,
    device: str,
    on_epoch: Callable[[int, dict], bool | None] | None = None,
    progress: bool = False,
) -> FitResult:
    """Train with the study's config; out-of-memory becomes ``CandidateFailed``."""
    try:
        return train_genotype(
            genotype,
            train_config(spec),
            data,
            out_dir=run_dir,
            device=device,
            progress=progress,
            on_epoch=on_epoch,
        )
    except Exception as e:
        if not is_out_of_memory(e):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CandidateFailed(f"out of memory: {first}") from None


class EpochWatch:
    """``fit``'s ``on_epoch``: keeps the validation curve and applies the pruner each epoch."""

    def __init__(
        self,
        spec: StudySpec,
        study: optuna.Study | None,
        screen: Screen,
        exempt: bool,
        hook: Callable[[], None] | None = None,
    ):
        self.spec, self.study, self.exempt, self.hook = spec, study, exempt, hook
        self.costs = costs_of(spec, screen.attrs or schema.cost_attrs(screen.cost))
        self.curve: list[float | None] = []
        self.decision = Decision(False)

    def __call__(self, epoch: int, row: dict) -> bool | None:
        if self.hook is not None:
            self.hook()
        value = row.get(f"val_{self.spec.metric}")
        while len(self.curve) < epoch - 1:
            self.curve.append(None)
        ok = value is not None and math.isfinite(float(value))
        self.curve.append(float(value) if ok else None)
        if self.exempt or self.study is None or self.costs is None:
            return None
        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        trials = self.study.get_trials(deepcopy=False, states=finished)
        self.decision = prune_decision(
            self.costs,
            self.curve,
            epoch,
            self.spec.epochs,
            references_from_trials(self.spec, trials),
            self.spec.pruning,
            cost_names(self.spec),
        )
        return True if self.decision.prune else None


def reuse_result(trial: optuna.Trial, original: FrozenTrial) -> None:
    a = original.user_attrs
    trial.set_user_attr(schema.DUPLICATE_OF, original.number)
    for key in (schema.VAL, schema.TEST, schema.RUN_DIR, schema.EPOCHS_RUN, schema.ACT_BYTES):
        if key in a:
            trial.set_user_attr(key, a[key])
    trial.set_user_attr(schema.TRAIN_SECONDS, 0.0)


def record_fit(trial: optuna.Trial, result: FitResult, run_dir: Path, curve: list) -> None:
    cost_file = run_dir / "cost.json"
    if cost_file.is_file():
        trial.set_user_attr(schema.ACT_BYTES, read_json(cost_file).get("act_bytes"))
    trial.set_user_attr(schema.RUN_DIR, str(run_dir))
    trial.set_user_attr(schema.EPOCHS_RUN, result.epochs_run)
    trial.set_user_attr(schema.TRAIN_SECONDS, result.train_seconds)
    trial.set_user_attr(schema.CURVE, curve)
    trial.set_user_attr(schema.RUNTIME, result.runtime)
    if result.status != "failed":
        trial.set_user_attr(schema.VAL, result.val)
        trial.set_user_attr(schema.TEST, result.test)


def run_trial(
    spec: StudySpec,
    trial: optuna.Trial,
    data: DataBundle,
    *,
    study_name: str,
    out_root: Path,
    device: str = "auto",
    progress: bool = False,
    lock=None,
    between_epochs: Callable[[], None] | None = None,
) -> tuple[float, ...]:
    """The objective: screen, dedup, train with pruning, return the values (see module doc).

    ``FAIL_REASON`` is written first as "its worker stopped" (what stays if this process is
    killed) and replaced when the trial ends: None on success or pruning, the reason on failure.
    """
    trial.set_user_attr(schema.FAIL_REASON, STALE_REASON)
    try:
        with Heartbeat(lambda: [trial], journal_only=True):
            values = _run(
                spec, trial, data, study_name, out_root, device, progress, lock, between_epochs
            )
    except optuna.TrialPruned:
        trial.set_user_attr(schema.FAIL_REASON, None)
        raise
    except CandidateFailed as e:
        trial.set_user_attr(schema.FAIL_REASON, str(e))
        raise
    except KeyboardInterrupt:
        trial.set_user_attr(schema.FAIL_REASON, "interrupted by the user")
        raise
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            trial.set_user_attr(schema.FAIL_REASON, f"{type(e).__name__}: {e}")
            raise
        where = f" {e.filename}" if e.filename else ""
        reason = f"could not write its run folder{where}: {e.strerror or e}"
        trial.set_user_attr(schema.FAIL_REASON, reason)
        trial.set_user_attr(schema.WRITE_FAILED, True)
        raise OutputUnwritable(reason) from e
    except Exception as e:
        trial.set_user_attr(schema.FAIL_REASON, f"{type(e).__name__}: {e}")
        raise
    trial.set_user_attr(schema.FAIL_REASON, None)
    return values


# An OSError with one of these while a trial writes its run folder stops the search: the disk
# (full, read-only, no permission), not the candidate, is at fault.
WRITE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EFBIG")
    if hasattr(errno, name)
)


class OutputUnwritable(RuntimeError):
    """A trial could not write its run folder; the trial is FAIL with the reason (and retried
    once when the search is resumed)."""


def duplicate_decision(
    trials: list[FrozenTrial], number: int, genotype_id: str
) -> tuple[str, FrozenTrial | None, str | None]:
    """Whether trial ``number`` should train ``genotype_id``, given the study's other trials:
    ("reuse", the COMPLETE trained original, None), ("prune", the other trial, why) when the
    genotype was pruned, failed in training, or is being trained (a RUNNING claimed trial, or
    without claims an earlier RUNNING one), else ("train", None, None)."""

    same = [
        t
        for t in trials
        if t.number != number
        and t.user_attrs.get(schema.GENOTYPE_ID) == genotype_id
        and t.user_attrs.get(schema.DUPLICATE_OF) is None
    ]
    for t in same:
        a = t.user_attrs
        if t.state == TrialState.COMPLETE and a.get(schema.FEASIBLE) and a.get(schema.VAL):
            return "reuse", t, None
    for t in same:
        if t.state == TrialState.PRUNED:
            return "prune", t, f"same genotype as pruned trial {t.number}"
        if t.state == TrialState.FAIL and was_claimed(t) and not is_stale_fail(t):
            return "prune", t, f"same genotype as trial {t.number}, which failed in training"
        if t.state == TrialState.RUNNING and (was_claimed(t) or t.number < number):
            return "prune", t, f"same genotype as trial {t.number}, being trained by another worker"
    return "train", None, None


def claim(trial: optuna.Trial, genotype: Genotype, lock=None) -> None:
    """Decide, under ``lock`` (a ``workers.StudyLock``; none for a single in-process worker or
    Ray's searcher), whether this feasible candidate is trained: reuse a duplicate's values
    (raises ``_Reused``), prune it (raises ``TrialPruned``) or mark it ``TRAIN_CLAIM``."""
    with lock if lock is not None else contextlib.nullcontext():
        trials = trial.study.get_trials(deepcopy=False)
        what, other, reason = duplicate_decision(trials, trial.number, genotype.id)
        if what == "train":
            trial.set_user_attr(schema.TRAIN_CLAIM, True)
            return
    if what == "reuse":
        reuse_result(trial, other)
        raise _Reused(other)
    trial.set_user_attr(schema.DUPLICATE_OF, other.number)
    trial.set_user_attr(schema.PRUNE_REASON, reason)
    raise optuna.TrialPruned(reason)


class _Reused(Exception):
    def __init__(self, original: FrozenTrial) -> None:
        super().__init__(original.number)
        self.original = original


def _run(
    spec, trial, data, study_name, out_root, device, progress, lock, between_epochs
) -> tuple[float, ...]:
    genotype = candidate_for_trial(spec, trial)
    screen = prescreen(spec, genotype)
    record_screen(trial, genotype, screen, spec)
    if not screen.feasible:
        return infeasible_values(spec, screen)
    try:
        claim(trial, genotype, lock)
    except _Reused as r:
        return values_from_val(spec, r.original.user_attrs[schema.VAL], screen)
    if between_epochs is not None:
        between_epochs()  # also before the first epoch: the threads this training starts with
    run_dir = trial_run_dir(out_root, study_name, trial.number, genotype)
    watch = EpochWatch(
        spec, trial.study, screen, exempt=schema.PRESET in trial.user_attrs, hook=between_epochs
    )
    result = train_candidate(
        spec, genotype, data, run_dir, device=device, on_epoch=watch, progress=progress
    )
    record_fit(trial, result, run_dir, watch.curve)
    if watch.decision.prune:
        trial.set_user_attr(schema.PRUNE_REASON, watch.decision.reason)
        raise optuna.TrialPruned(watch.decision.reason)
    return values_from_result(spec, result, screen)
