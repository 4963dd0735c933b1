"""The Ray backend's early stopping: Tune schedulers that decide when a trial is pruned.

``scheduler="pareto"`` (default) is the study's own multi-objective rule
(``studies.search.pruning.prune_decision``: a cheaper finished trial is better by a margin at the same
epoch) as a Tune scheduler, so both backends prune alike. ``"asha"`` is Tune's ASHA on the
validation metric (``time_attr="epoch"``); it ignores costs and may stop a cheap model that belongs
on the front. A stopped trial's reason goes to ``StudySearcher.stop_reasons``; the searcher records
it as PRUNED with its curve and ``PRUNE_REASON``. Ray ends its worker at once, so its run folder
has ``history.csv`` but no ``model.pt``. ``--no-prune``: no stopping (a FIFO scheduler). Imported
only through ``studies.ray_tune.backend``.
"""

from __future__ import annotations

import json
from typing import Any

from optuna.trial import TrialState
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from studies.ray_tune.searcher import StudySearcher
from studies.ray_tune.trainable import METRIC, PAYLOAD
from studies.search.pruning import cost_names, costs_of, prune_decision, references_from_trials

SCHEDULERS = ("pareto", "asha")


class ParetoStop(FIFOScheduler):
    """The study's multi-objective pruning rule (``studies.search.pruning``) as a Tune scheduler."""

    def __init__(self, searcher: StudySearcher) -> None:
        super().__init__()
        self.searcher = searcher

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        spec, config = self.searcher.spec, trial.config
        if config.get("preset") or PAYLOAD not in result:
            return TrialScheduler.CONTINUE
        attrs = config["cost_attrs"]
        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        done = self.searcher.study.get_trials(deepcopy=False, states=finished)
        decision = prune_decision(
            costs_of(spec, attrs) or (),
            json.loads(result[PAYLOAD])["curve"],
            int(result["epoch"]),
            spec.epochs,
            references_from_trials(spec, done),
            spec.pruning,
            cost_names(spec),
        )
        if not decision.prune:
            return TrialScheduler.CONTINUE
        self.searcher.stop_reasons[trial.trial_id] = decision.reason
        return TrialScheduler.STOP


class AshaStop(ASHAScheduler):
    """Tune's ASHA on the best validation metric so far; presets are never stopped."""

    def __init__(self, searcher: StudySearcher) -> None:
        epochs, warmup = searcher.spec.epochs, searcher.spec.pruning.warmup_epochs
        grace = min(epochs, max(1, warmup))
        super().__init__(
            time_attr="epoch", metric=METRIC, mode="max", max_t=epochs, grace_period=grace
        )
        self.searcher = searcher

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        epoch = int(result.get("epoch", 0))
        if decision != TrialScheduler.STOP or epoch >= self.searcher.spec.epochs:
            return decision  # (ASHA stops every trial at max_t: that is its end, not a prune)
        if trial.config.get("preset"):
            return TrialScheduler.CONTINUE
        metric = self.searcher.spec.metric
        self.searcher.stop_reasons[trial.trial_id] = (
            f"ASHA at epoch {epoch}: best {metric} {result[METRIC]:.4f} below its rung's cut"
        )
        return decision


def make_scheduler(name: str, searcher: StudySearcher) -> TrialScheduler:
    if not searcher.spec.pruning.enabled:
        return FIFOScheduler()
    return ParetoStop(searcher) if name == "pareto" else AshaStop(searcher)
