"""Read a stored study into a frozen ``StudyView``: the spec, the trial records, the objectives.

The only module of ``reports`` that talks to Optuna's storage, and only to read it. Everything
downstream (plots, tables, cards) works from the ``StudyView``. Attribute names come from
``studies.store.schema``, the contract with the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studies import objectives as objectives_table
from studies.evidence.stats import mean_std
from studies.store import schema
from studies.store.promoted import promoted
from studies.store.spec import upgraded
from trainer.metrics import metric_label  # noqa: F401  (re-exported for the reports)

DEFAULT_METRIC = "dice_per_image_mean"
DEFAULT_OBJECTIVES = ("accuracy", "params", "macs")


class ReportError(ValueError):
    """A study that cannot be reported on (missing, empty, unreadable): one clear message."""


@dataclass(frozen=True)
class Confirmed:
    """A metric re-measured over several seeds by the confirm verb."""

    seeds: int
    val_mean: float | None
    val_std: float | None
    test_mean: float | None = None
    test_std: float | None = None
    detail: str = ""  # how the seeds were trained, e.g. "recipe fast, 20 epochs"
    # confirm --external: {dataset name: (mean, std, images)} over the seeds, all its images
    external: dict = field(default_factory=dict)


def _split_summary(value: Any, metric: str) -> tuple[float | None, float | None, int]:
    if isinstance(value, list):  # one metrics dict per seed
        per_seed = [d.get(metric) for d in value if isinstance(d, dict)]
        mean, std, _ = mean_std(per_seed)
        return mean, std, sum(v is not None for v in per_seed)
    if isinstance(value, dict) and isinstance(value.get(metric), dict):  # {metric: {mean, std, n}}
        s = value[metric]
        return s.get("mean"), s.get("std"), int(s.get("n", 0) or 0)
    return None, None, 0


def parse_confirm(attr: Any, metric: str) -> Confirmed | None:
    """The confirm attribute in either of its two accepted forms, or None.

    ``{"seeds": [0, 1, 2], "val": [{metric: v, ...} per seed], "test": [...]}`` (std with
    ddof = 1), or ``{"val": {metric: {"mean": m, "std": s, "n": k}}, "test": {...}}``.
    """
    if not isinstance(attr, dict):
        return None
    val_mean, val_std, n_val = _split_summary(attr.get("val"), metric)
    test_mean, test_std, n_test = _split_summary(attr.get("test"), metric)
    seeds = attr.get("seeds")
    n = len(seeds) if isinstance(seeds, list) else int(seeds) if isinstance(seeds, int) else 0
    n = n or n_val or n_test
    if val_mean is None and test_mean is None:
        return None
    how = []
    if attr.get("recipe") is not None:
        how.append(f"recipe {attr['recipe']}")
    if attr.get("epochs") is not None:
        how.append(f"{attr['epochs']} epochs")
    if isinstance(attr.get("image_size"), list) and len(attr["image_size"]) == 2:
        how.append(f"{attr['image_size'][0]}x{attr['image_size'][1]}")
    external = {}
    for name, e in dict(attr.get("external") or {}).items():
        mean, std, _ = mean_std(list(e.get("values") or []))
        if mean is not None:
            external[name] = (mean, std, e.get("images"))
    return Confirmed(n, val_mean, val_std, test_mean, test_std, ", ".join(how), external)


@dataclass(frozen=True)
class StudyView:
    """What a report needs from a study, read once."""

    name: str
    storage: str
    directions: tuple[str, ...]  # "maximize" / "minimize", one per objective
    objectives: tuple[str, ...]  # names of studies.objectives.OBJECTIVES ("accuracy", ...)
    metric: str  # the validation metric of the accuracy objective
    counter: str  # "thop" or "torch": the MAC count of the "macs" objective and budget
    budgets: dict  # objective name -> hard budget (StudySpec.budgets; older specs upgraded)
    image_size: tuple[int, int] | None
    data: dict  # {"name", "fingerprint", "synthetic", ...} of the StudySpec
    spec: dict
    records: tuple[schema.TrialRecord, ...]
    confirms: dict[int, Confirmed] = field(default_factory=dict)
    trials: tuple[Any, ...] = ()  # the FrozenTrials, for Optuna's importance evaluators
    # confirm --published: {published model: {rival trial number: paired result}}
    rivals: dict = field(default_factory=dict)
    # the fidelity plan's promotions: {genotype id: studies.store.promoted.Promotion}
    promoted: dict = field(default_factory=dict)

    @property
    def promotion(self):
        """The study's fidelity plan (``StudySpec.promotion``), None when it has none."""
        from studies.store.spec import PromotionPlan

        plan = self.spec.get("promotion")
        return PromotionPlan(**plan) if isinstance(plan, dict) else None

    @property
    def epochs(self) -> int | None:
        e = (self.spec.get("train_config") or {}).get("epochs")
        return None if e is None else int(e)

    @property
    def min_accuracy(self) -> float | None:
        """The study's accuracy floor (``StudySpec.min_accuracy``), None for none."""
        return self.spec.get("min_accuracy")

    @property
    def metric_label(self) -> str:
        return metric_label(self.metric)

    def macs(self, record: schema.TrialRecord) -> int | None:
        return record.macs_thop if self.counter == "thop" else record.macs_torch

    def accuracy(self, record: schema.TrialRecord) -> float | None:
        value = record.val.get(self.metric) if record.val else None
        return float(value) if value is not None and math.isfinite(float(value)) else None

    @property
    def cost_counter(self) -> str:  # the name the objectives table reads
        return self.counter

    def budget(self, objective: str) -> float | None:
        return self.budgets.get(objective)

    @property
    def latency_runtime(self) -> str:
        return str(self.spec.get("latency_runtime") or "ort_cpu")

    def objective_values(self, record: schema.TrialRecord) -> tuple[float, ...] | None:
        """The record's objective vector (``studies.objectives.values``; None when a value is
        missing or not finite)."""
        v = objectives_table.values(self, record.attrs)
        if v is None or not all(math.isfinite(x) for x in v):
            return None
        return v

    def loss_vector(self, record: schema.TrialRecord) -> tuple[float, ...] | None:
        v = self.objective_values(record)
        return None if v is None else objectives_table.loss_vector(self, record.attrs)

    def cost_objectives(self):
        """The study's cost objectives, or params and MACs for an accuracy-only study."""
        return objectives_table.costs(self) or [
            objectives_table.OBJECTIVES["params"],
            objectives_table.OBJECTIVES["macs"],
        ]

    def is_trained(self, record: schema.TrialRecord) -> bool:
        """Trained, feasible, scored, not a re-use of another trial's result."""
        return (
            record.trained
            and record.duplicate_of is None
            and self.objective_values(record) is not None
        )

    def is_over_budget(self, record: schema.TrialRecord) -> bool:
        return record.over_budget is not None or (
            record.state == "COMPLETE" and not record.feasible and record.params is not None
        )


def _sqlite_path(storage: str) -> Path | None:
    if not storage.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(storage).database
    return None if not database or database == ":memory:" else Path(database)


def _open_storage(storage: str) -> Any:
    """A storage to read, never creating one: an RDB URL, or ``journal:PATH`` (Optuna's
    JournalStorage file, as the search writes it for many workers)."""
    if storage.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(storage[len("journal:") :])
        if not path.is_file():
            raise ReportError(f"no study storage at {path} (storage {storage})")
        return JournalStorage(JournalFileBackend(str(path)))
    path = _sqlite_path(storage)
    if path is not None and not path.is_file():  # Optuna would create an empty database
        raise ReportError(f"no study storage at {path} (storage {storage})")
    return storage


def default_storage(study_name: str) -> str:
    return f"sqlite:///runs/{study_name}/study.db"


def load_study_view(study_name: str, storage: str) -> StudyView:
    """Read the study; ``ReportError`` if it does not exist or has no complete trial."""
    import optuna

    backend = _open_storage(storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = optuna.study.get_all_study_names(backend)
    if study_name not in names:
        known = ", ".join(names) or "none"
        raise ReportError(f"no study {study_name!r} in {storage} (studies there: {known})")
    study = optuna.load_study(study_name=study_name, storage=backend)
    trials = tuple(study.get_trials(deepcopy=False))
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        states: dict[str, int] = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        seen = ", ".join(f"{n} {s}" for s, n in states.items()) or "no trials"
        raise ReportError(
            f"study {study_name!r} has no complete trial yet ({seen}); nothing to report"
        )
    spec = dict(study.user_attrs.get(schema.STUDY_SPEC) or {})
    directions = tuple(d.name.lower() for d in study.directions)
    objectives = tuple(
        objectives_table.canonical(o)
        for o in (spec.get("objectives") or DEFAULT_OBJECTIVES[: len(directions)])
    )
    if len(objectives) != len(directions):
        raise ReportError(
            f"study {study_name!r}: its spec names {len(objectives)} objectives "
            f"({', '.join(objectives)}) but the study has {len(directions)} directions"
        )
    metric = spec.get("metric") or DEFAULT_METRIC
    budgets = dict(upgraded(spec).get("budgets") or {})
    records = tuple(schema.record_from_trial(t) for t in trials)
    confirms = {}  # the confirm verb's results: a study attribute {trial number: payload}
    for number, payload in dict(study.user_attrs.get(schema.CONFIRM) or {}).items():
        c = parse_confirm(payload, metric)
        if c is not None and str(number).isdigit():
            confirms[int(number)] = c
    size = spec.get("image_size") or next(
        (t.user_attrs[schema.IMAGE_SIZE] for t in trials if t.user_attrs.get(schema.IMAGE_SIZE)),
        None,
    )
    return StudyView(
        name=study_name,
        storage=storage,
        directions=directions,
        objectives=objectives,
        metric=metric,
        counter=spec.get("cost_counter") or "thop",
        budgets=budgets,
        image_size=tuple(int(v) for v in size) if size else None,
        data=dict(spec.get("data") or {}),
        spec=spec,
        records=records,
        confirms=confirms,
        trials=trials,
        rivals=dict(study.user_attrs.get(schema.RIVALS) or {}),
        promoted=promoted(study.user_attrs),
    )
