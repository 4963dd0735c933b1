"""``StudySpec``: everything that defines a search study, stored in the study and compared on resume.

A study is only meaningful if every trial in it was screened against the same budgets, trained on
the same data with the same recipe, and scored on the same objectives. The spec is a frozen
dataclass of JSON-able primitives; ``to_dict()`` is what the study stores under
``schema.STUDY_SPEC``, and ``differences(stored)`` names the fields that disagree, so that
resuming a study with other flags is refused with one message instead of silently mixing results.

Not part of the spec (they may change between runs of one study): the number of trials, the
timeout, the device, the backend and its resources, the storage URL, and the data folder's path
(the data is identified by its fingerprint and split hash, so a moved copy of the same files is the
same data).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from searchspace.cost import COUNTERS
from searchspace.genotype import GENOTYPE_VERSION
from searchspace.space import LAYOUT_DEPTHS, SPACE_VERSION, SPACES, WIDE_LAYOUT_DEPTHS
from studies import objectives as objectives_table
from studies.store import schema
from trainer.metrics import objective_keys

SAMPLERS = ("nsga2", "tpe", "random", "local", "evolution")
PRUNE_RULES = ("dominance", "sh")
DEFAULT_OBJECTIVES = objectives_table.DEFAULT  # accuracy (the --metric), params, macs
# Fields that may legitimately differ between two runs of one study.
NOT_COMPARED = ("data_source",)


def search_stride() -> int:
    """The largest total stride of any candidate of any space: search image sizes must be
    multiples of it (malunet layouts pool depth - 1 times, unet layouts depth times)."""
    depths = {k: (*LAYOUT_DEPTHS[k], *WIDE_LAYOUT_DEPTHS.get(k, ())) for k in LAYOUT_DEPTHS}
    malunet = 2 ** (max(depths["malunet"]) - 1)
    unet = 2 ** max(depths.get("unet", (0,)))
    return max(malunet, unet)


def metric_keys() -> tuple[str, ...]:
    """Validation metrics an objective may use: all are better when higher."""
    return objective_keys()


@dataclass(frozen=True)
class PruneSettings:
    """The multi-objective pruner's knobs (see ``studies.search.pruning``)."""

    enabled: bool = True
    warmup_epochs: int = 1  # never stop a trial at or before this epoch
    margin: float = 0.05  # accuracy gap (absolute) a cheaper trial must show
    min_references: int = 1  # how many cheaper-or-equal trials must show it
    rule: str = "dominance"  # or "sh": multi-objective successive halving (studies.search.pruning)
    eta: int = 3  # sh: a rung keeps the best 1/eta of the trials that reached it
    min_resource: int = 1  # sh: the first rung's epoch; rungs at min_resource * eta**k

    def __post_init__(self) -> None:
        if self.warmup_epochs < 0 or self.min_references < 1 or not 0 <= self.margin <= 1:
            raise ValueError(
                "pruning needs warmup_epochs >= 0, min_references >= 1 and 0 <= margin <= 1, "
                f"got {self.warmup_epochs}, {self.min_references}, {self.margin}"
            )
        if self.rule not in PRUNE_RULES:
            raise ValueError(f"unknown pruning rule {self.rule!r}; known: {', '.join(PRUNE_RULES)}")
        if self.eta < 2 or self.min_resource < 1:
            raise ValueError(
                f"successive halving needs eta >= 2 and min_resource >= 1, got {self.eta}, "
                f"{self.min_resource}"
            )


def fidelity_tag(image_size, epochs) -> str:
    """``96x96-e10``: a fidelity by its image size and epochs (run folders, front columns)."""
    return f"{image_size[0]}x{image_size[1]}-e{epochs}"


@dataclass(frozen=True)
class PromotionPlan:
    """The search's fidelity plan (``--promote K:S``, ``studies.search.promotion``): every
    ``every`` trained candidates, the K best front members not yet promoted are retrained at the
    fuller fidelity (``image_size``, ``epochs``) with S seeds; the front and local search then
    judge each pair of candidates at the fullest fidelity both have."""

    k: int = 2
    seeds: int = 3
    every: int = 10
    image_size: tuple[int, int] = (96, 96)
    epochs: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        if self.k < 1 or self.seeds < 1 or self.every < 1 or self.epochs < 1:
            raise ValueError(
                "--promote K:S needs K >= 1 and S >= 1, --promote-every >= 1 and the promotion "
                f"epochs >= 1; got K={self.k}, S={self.seeds}, every={self.every}, "
                f"epochs={self.epochs}"
            )
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ValueError(f"promotion image size must be HxW, got {self.image_size}")

    @property
    def fidelity(self) -> str:
        """``96x96-e10``: the run folder tag and the front's fidelity column."""
        return fidelity_tag(self.image_size, self.epochs)


@dataclass(frozen=True)
class StudySpec:
    """What defines a search study (see the module docstring for what does not)."""

    data_name: str  # "synthetic", "isic2017", ...
    data_fingerprint: str
    split_hash: str
    synthetic: bool
    image_size: tuple[int, int]
    train_config: dict  # TrainConfig.to_dict(): recipe with epochs, image size, seed applied
    recipe: str = "fast"  # the recipe the train config was derived from (confirm's default)
    cost_counter: str = "thop"
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES
    metric: str = "dice_per_image_mean"
    sampler: str = "nsga2"
    population_size: int = 16  # NSGA-II population; TPE / random: the random start-up trials
    seed: int = 0
    data_source: str = "synthetic"  # path or "synthetic": where confirm reloads the data from
    data_limit: int | None = None
    synthetic_counts: tuple[int, int, int] | None = None  # (train, val, test) when synthetic
    split_seed: int = 0
    pruning: PruneSettings = field(default_factory=PruneSettings)
    # objective name -> hard budget in its unit (studies.objectives: params, macs, latency_*_ms)
    budgets: dict = field(default_factory=dict)
    latency_runtime: str = "ort_cpu"  # which runtime --budget-latency and "latency" mean
    latency_threads: int = 1
    # the accuracy floor: trained candidates scoring below it (validation --metric at the search
    # fidelity) are never on the front, local search never moves from them, and the
    # hypervolume's reference accuracy is the floor (None: no floor, reference 0)
    min_accuracy: float | None = None
    # the fidelity plan: promotion of front members to a fuller fidelity (None: off)
    promotion: PromotionPlan | None = None
    # which search space the sampler draws from (searchspace.space.SPACES: base, wide)
    space: str = "base"
    schema_version: int = schema.SCHEMA_VERSION
    space_version: int = SPACE_VERSION
    genotype_version: int = GENOTYPE_VERSION

    def __post_init__(self) -> None:
        for name in ("image_size", "objectives", "synthetic_counts"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.pruning, dict):
            object.__setattr__(self, "pruning", PruneSettings(**self.pruning))
        if isinstance(self.promotion, dict):
            object.__setattr__(self, "promotion", PromotionPlan(**self.promotion))
        budgets = {objective_name(k): v for k, v in dict(self.budgets).items() if v is not None}
        object.__setattr__(self, "budgets", budgets)
        # "dice" was the accuracy objective's name in studies made before the objectives table
        object.__setattr__(
            self, "objectives", tuple(objectives_table.canonical(o) for o in self.objectives)
        )
        _validate(self)

    # ------------------------------------------------------------------ derived
    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(objectives_table.OBJECTIVES[o].direction for o in self.objectives)

    def budget(self, objective: str) -> float | None:
        """The hard budget on one objective (``"params"``, ``"macs"``...), None when unset."""
        return self.budgets.get(objective_name(objective))

    @property
    def epochs(self) -> int:
        return int(self.train_config["epochs"])

    def budget_text(self) -> str:
        return objectives_table.budget_text(self)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; also carries the ``data`` group reports read."""
        d = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        d["data"] = {
            "name": self.data_name,
            "fingerprint": self.data_fingerprint,
            "split_hash": self.split_hash,
            "synthetic": self.synthetic,
            "source": self.data_source,
        }
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudySpec:
        names = {f.name for f in dataclasses.fields(cls)}
        d = upgraded(d)
        return cls(**{k: v for k, v in d.items() if k in names})

    def differences(self, stored: dict[str, Any]) -> list[str]:
        """Field names where ``stored`` (a study's spec dict) differs from this spec."""
        mine = self.to_dict()
        stored = upgraded(stored)
        if isinstance(stored.get("objectives"), list):
            stored = {
                **stored,
                "objectives": [objectives_table.canonical(o) for o in stored["objectives"]],
            }
        if isinstance(stored.get("train_config"), dict):
            stored = {**stored, "train_config": with_train_defaults(stored["train_config"])}
        if isinstance(stored.get("pruning"), dict):  # studies from before rule / eta existed
            stored = {**stored, "pruning": dataclasses.asdict(PruneSettings(**stored["pruning"]))}
        keys = sorted((set(mine) | set(stored)) - {"data", *NOT_COMPARED})
        return [k for k in keys if _normal(mine.get(k)) != _normal(stored.get(k))]

    def describe_difference(self, stored: dict[str, Any], field_name: str) -> str:
        """``epochs 3 (study) vs 5 (now)`` style text for one differing field."""
        mine = self.to_dict().get(field_name)
        theirs = upgraded(stored).get(field_name)
        if field_name == "train_config" and isinstance(theirs, dict) and isinstance(mine, dict):
            theirs = with_train_defaults(theirs)
            keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            inner = ", ".join(f"{k} {theirs.get(k)!r} vs {mine.get(k)!r}" for k in keys)
            return f"train_config ({inner})"
        if isinstance(theirs, dict) and isinstance(mine, dict):  # pruning, promotion
            keys = sorted(k for k in set(mine) | set(theirs)
                          if _normal(mine.get(k)) != _normal(theirs.get(k)))  # fmt: skip
            inner = ", ".join(f"{k} {_short(theirs.get(k))} vs {_short(mine.get(k))}" for k in keys)
            return f"{field_name} ({inner})"
        return f"{field_name} {_short(theirs)} vs {_short(mine)}"


# The budget fields of specs stored before budgets were one mapping (spec dicts of studies made
# before then also carry a derived "budgets" group without the latency budget).
OLD_BUDGET_FIELDS = {"budget_params": "params", "budget_macs": "macs"}


# StudySpec fields added after studies were first stored, with the value an older study had.
ADDED_FIELDS = {
    "latency_runtime": "ort_cpu",
    "latency_threads": 1,
    "min_accuracy": None,
    "promotion": None,
    "space": "base",
}


def objective_name(name: str) -> str:
    return objectives_table.canonical(name)


def upgraded(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored spec dict in today's form: the old ``budget_params`` / ``budget_macs`` /
    ``budget_latency_ms`` fields become the one ``budgets`` mapping (objective name -> value), so
    that studies stored before still load, resume and compare."""
    old = [k for k in (*OLD_BUDGET_FIELDS, "budget_latency_ms") if k in stored]
    out = {k: v for k, v in stored.items() if k not in old}
    # fields added to StudySpec after the study was stored take their defaults (a study made
    # before latency objectives existed measured no latency: ort_cpu / 1 thread is inert there)
    for name, default in ADDED_FIELDS.items():
        out.setdefault(name, default)
    if not old:
        return out
    budgets = {new: stored.get(k) for k, new in OLD_BUDGET_FIELDS.items()}
    if stored.get("budget_latency_ms") is not None:
        runtime = stored.get("latency_runtime", "ort_cpu")
        budgets[f"latency_{runtime}_ms"] = stored["budget_latency_ms"]
    out["budgets"] = {k: v for k, v in budgets.items() if v is not None}
    return out


def with_train_defaults(train_config: dict) -> dict:
    """A stored train_config with the TrainConfig fields added since it was stored (e.g.
    optimizer_impl) set to their defaults and its renamed fields (``trainer.config.RENAMED``)
    under today's names, so an older study still resumes and compares; what
    each run's "auto" settings resolved to is in its runtime.json."""
    from trainer.config import upgraded as upgraded_config

    return upgraded_config(train_config)


def _plain(value: Any) -> Any:
    """Plain JSON types, copied: changing the result never changes the spec (frozen)."""
    if isinstance(value, (PruneSettings, PromotionPlan)):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _normal(value: Any) -> Any:
    """Compare via JSON so that tuples and lists, ints and equal floats agree."""
    return json.loads(json.dumps(value, sort_keys=True))


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _validate(s: StudySpec) -> None:
    if s.space not in SPACES:
        raise ValueError(f"--space must be one of {', '.join(SPACES)}, got {s.space!r}")
    if s.cost_counter not in COUNTERS:
        raise ValueError(
            f"--cost-counter must be one of {', '.join(COUNTERS)}, got {s.cost_counter!r}"
        )
    if s.sampler not in SAMPLERS:
        raise ValueError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {s.sampler!r}")
    objectives_table.parse(list(s.objectives))
    if s.min_accuracy is not None and not 0.0 <= s.min_accuracy < 1.0:
        raise ValueError(f"--min-accuracy must be in [0, 1), got {s.min_accuracy}")
    if s.metric not in metric_keys():
        raise ValueError(
            f"--metric {s.metric!r} is not a validation metric to maximise; choose one of "
            f"{', '.join(metric_keys())}"
        )
    runtimes = [o.runtime for o in objectives_table.OBJECTIVES.values() if o.runtime]
    if s.latency_runtime not in runtimes:
        raise ValueError(
            f"--latency-runtime must be one of {', '.join(runtimes)}, got {s.latency_runtime!r}"
        )
    objectives_table.check_budgets(s.budgets)
    if s.latency_threads < 1:
        raise ValueError(f"--latency-threads must be >= 1, got {s.latency_threads}")
    stride = search_stride()
    h, w = s.image_size
    if h < stride or w < stride or h % stride or w % stride:
        raise ValueError(
            f"search image size {h}x{w} must be a multiple of {stride}, the total stride of the "
            f"deepest candidates (e.g. --image-size {max(stride, h // stride * stride)})"
        )
    if s.promotion is not None:
        p = s.promotion
        ph, pw = p.image_size
        if ph % stride or pw % stride:
            raise ValueError(
                f"promotion image size {ph}x{pw} must be a multiple of {stride} (--promote-fidelity)"
            )
        if ph * pw < h * w or p.epochs < s.epochs or (ph * pw == h * w and p.epochs == s.epochs):
            raise ValueError(
                f"--promote-fidelity {ph}x{pw}:{p.epochs} is not fuller than the search fidelity "
                f"{h}x{w}, {s.epochs} epochs: give at least as many pixels and epochs, and more "
                "of one"
            )
    if s.population_size < 2:
        raise ValueError(f"population size must be >= 2, got {s.population_size}")


# Spec fields that may differ between studies compared with each other (compare, fidelity): the
# search strategy, its seeds and its fidelity plan. Everything else (space, budgets, objectives, data, split, image
# size, recipe and epochs) must be equal.
FREE_FIELDS = {"sampler", "population_size", "seed", "promotion"}
FREE_TRAIN = {"seed"}


def _comparable(spec: dict) -> dict:
    out = {k: v for k, v in upgraded(spec).items() if k not in FREE_FIELDS}
    if isinstance(out.get("objectives"), list):
        out["objectives"] = [objectives_table.canonical(o) for o in out["objectives"]]
    out["train_config"] = {
        k: v
        for k, v in with_train_defaults(spec.get("train_config") or {}).items()
        if k not in FREE_TRAIN
    }
    return out


def check_comparable(named_specs: list[tuple[str, dict]]) -> None:
    """One clear error naming the first two studies and the field where their specs differ."""
    first_name, first = named_specs[0]
    base = _comparable(first)
    for name, spec in named_specs[1:]:
        mine = _comparable(spec)
        for key in sorted(set(base) | set(mine)):
            if _normal(base.get(key)) == _normal(mine.get(key)):
                continue
            if key == "train_config":
                a, b = base[key], mine.get(key) or {}
                inner = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
                what = ", ".join(f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in inner)
            else:
                what = f"{_short(base.get(key))} vs {_short(mine.get(key))}"
            raise ValueError(
                f"studies {first_name!r} and {name!r} are not comparable: {key} differs "
                f"({what}); compare studies of the same space, budgets, data and fidelity"
            )
