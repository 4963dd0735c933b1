"""The Ray backend's driver side: Ray's ``OptunaSearch`` on the shared study, and its heartbeat.

Ray's ``OptunaSearch`` is given the study's own storage, name and sampler (the installed Ray
accepts ``storage=`` / ``study_name=`` / ``sampler=``), so every candidate it asks for is a trial of
the shared Optuna study. ``StudySearcher`` subclasses it: once ``OptunaSearch.suggest`` has sampled
a trial (define-by-run: ``space.sample_choices``; an enqueued preset suggests nothing), the
*driver* screens it with the Optuna backend's own steps (``studies.search.trial``): costs against the
budgets (over budget: recorded, completed with ``infeasible_values``, never sent to Tune), then
duplicates by the Optuna backend's own rule (``studies.search.trial.duplicate_decision``: a trained
genotype's result re-used; one pruned, failed in training or being trained by another worker
pruned; one still training in another Tune trial of this driver waited for). Only feasible, new candidates reach a worker
(``studies.ray_tune.trainable``). When a Tune trial ends, the driver writes the schema's attributes
from its last result and tells the study (COMPLETE / PRUNED / FAIL). Workers never touch the
storage, so a SQLite file beside the driver serves a whole cluster. The driver stamps Optuna's
heartbeat (``schema.HEARTBEAT`` on a journal) of its open trials (``studies.store.storage.Heartbeat`` over ``open_trials``), so a killed
driver's trials are failed on resume. A custom ``Searcher`` doing ``ask``/``tell`` itself would
avoid the two private attributes used here (``_ot_study``, ``_ot_trials``); subclassing keeps
Ray's Optuna searcher, as the issue asks, and the tests pin those attributes. Imported only
through ``studies.ray_tune.backend``.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from searchspace import Genotype
from searchspace.space import sample_choices
from studies.ray_tune.trainable import PAYLOAD
from studies.samplers import make_sampler
from studies.search.trial import (
    CandidateFailed,
    Screen,
    candidate_for_trial,
    duplicate_decision,
    infeasible_values,
    prescreen,
    record_fit,
    record_screen,
    reuse_result,
    trial_run_dir,
    values_from_result,
    values_from_val,
)
from studies.search.workers import MAX_IDLE_DRAWS
from studies.store import optuna_compat as compat
from studies.store import schema
from studies.store.spec import StudySpec
from studies.store.storage import beat
from studies.store.trial_state import count_trained
from trainer import FitResult


def define_space(trial: optuna.Trial, space: str = "base") -> dict | None:
    """OptunaSearch's define-by-run space: the search space, or nothing for an enqueued preset."""
    return None if trial.user_attrs.get(schema.PRESET) else sample_choices(trial, space)


@dataclass
class _Open:
    """A trial the driver has asked for and not told yet."""

    trial: optuna.Trial
    genotype: Genotype
    screen: Screen
    run_dir: Path | None = None
    twins: list[_Open] = field(default_factory=list)  # same genotype, waiting for this one


class StudySearcher(OptunaSearch):
    """Ray's OptunaSearch on the shared study, screening and recording like the Optuna backend."""

    def __init__(
        self,
        spec: StudySpec,
        study: optuna.Study,
        *,
        trials: int,
        timeout: float | None,
        out_root: Path,
        progress: bool = False,
    ) -> None:
        started = sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))
        salt = 0 if started == 0 else f"ray:{started}"  # no replayed candidates, no process id
        super().__init__(
            functools.partial(define_space, space=spec.space),
            metric=list(spec.objectives),
            mode=["max" if d == "maximize" else "min" for d in spec.directions],
            sampler=make_sampler(spec, salt=salt),
            study_name=study.study_name,
            storage=compat.storage_of(study),
        )
        self.spec, self.trials, self.out_root, self.progress = spec, trials, out_root, progress
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.live: dict[str, _Open] = {}  # Tune trial id -> candidate being trained
        self.stop_reasons: dict[str, str] = {}  # Tune trial id -> why a scheduler stopped it
        self.lock = threading.Lock()  # the heartbeat thread reads ``live``

    # Tune pickles its searcher (and the schedulers that hold it) into tuner.pkl for its own
    # experiment restore, which this searcher refuses (``restore``: the study is the state). The
    # lock, the study and the sampler hold thread locks (Optuna >= 5 studies and samplers do), so
    # the pickled copy leaves them out.
    _NOT_PICKLED = ("lock", "_ot_study", "_sampler", "_storage")

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in self._NOT_PICKLED}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, lock=threading.Lock())

    @property
    def study(self) -> optuna.Study:
        return self._ot_study

    def open_trials(self) -> list[optuna.Trial]:
        with self.lock:
            return [c.trial for o in self.live.values() for c in (o, *o.twins)]

    def suggest(self, trial_id: str) -> dict | str | None:
        idle = 0
        while True:
            late = self.deadline is not None and time.monotonic() > self.deadline
            # --trials counts trained candidates; the live ones are claimed (TRAIN_CLAIM)
            if late or count_trained(self.study) >= self.trials:
                return Searcher.FINISHED
            if idle >= MAX_IDLE_DRAWS:
                print(
                    f"{idle} candidates in a row were over budget or duplicates: the budget "
                    "leaves too few candidates (python search.py space counts them); stopping"
                )
                return Searcher.FINISHED
            with warnings.catch_warnings():  # "heartbeat is supposed to be used with optimize"
                warnings.simplefilter("ignore")
                super().suggest(trial_id)
            trial = self._ot_trials.pop(trial_id)
            beat(trial)
            config = self._screen(trial_id, trial)
            if config is not None:
                return config
            idle += 1

    def _screen(self, trial_id: str, trial: optuna.Trial) -> dict | None:
        """The Tune config of a candidate to train, or None when it was settled here."""
        spec = self.spec
        genotype = candidate_for_trial(spec, trial)
        screen = prescreen(spec, genotype)
        record_screen(trial, genotype, screen, spec)
        cand = _Open(trial, genotype, screen)
        if not screen.feasible:
            self._tell(cand, infeasible_values(spec, screen))
            return None
        with self.lock:
            twin = next((o for o in self.live.values() if o.genotype.id == genotype.id), None)
            if twin is not None:
                twin.twins.append(cand)
                return None
        if self._settle_duplicate(cand):
            return None
        cand.run_dir = trial_run_dir(self.out_root, self.study.study_name, trial.number, genotype)
        trial.set_user_attr(schema.TRAIN_CLAIM, True)
        with self.lock:
            self.live[trial_id] = cand
        return {
            "number": trial.number,
            "genotype": genotype.to_dict(),
            "run_dir": str(cand.run_dir),
            "preset": schema.PRESET in trial.user_attrs,
            "cost_attrs": {k: v for k, v in screen.attrs.items() if not k.endswith("_detail")},
        }

    def _settle_duplicate(self, cand: _Open) -> bool:
        """Finish ``cand`` from an earlier trial of its genotype by the Optuna backend's rule
        (``studies.search.trial.duplicate_decision``): a trained one's result is re-used; one pruned,
        failed in training or being trained by another worker prunes it. False: train it."""
        trials = self.study.get_trials(deepcopy=False)
        what, other, reason = duplicate_decision(trials, cand.trial.number, cand.genotype.id)
        if what == "reuse":
            reuse_result(cand.trial, other)
            val = other.user_attrs[schema.VAL]
            self._tell(cand, values_from_val(self.spec, val, cand.screen))
            return True
        if what == "prune":
            cand.trial.set_user_attr(schema.DUPLICATE_OF, other.number)
            self._tell(cand, None, TrialState.PRUNED, reason)
            return True
        return False

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Nothing: every result carries the whole curve, the last one is read at the end."""

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        with self.lock:
            cand = self.live.pop(trial_id, None)
        stopped = self.stop_reasons.pop(trial_id, None)
        if cand is None:
            return
        payload = json.loads(result[PAYLOAD]) if result and PAYLOAD in result else None
        final = (payload or {}).get("final")
        try:
            if final is not None and "epochs_run" in final:  # fit returned
                fit = FitResult(**{**final, "history": [], "out_dir": cand.run_dir})
                record_fit(cand.trial, fit, cand.run_dir, payload["curve"])
                self._tell(cand, values_from_result(self.spec, fit, cand.screen))
            elif final is not None:  # fit raised in the worker
                raise CandidateFailed(final["reason"])
            else:
                if payload is not None:
                    self._record_partial(cand, payload, int(result.get("epoch", 0)))
                if stopped and not error:
                    self._tell(cand, None, TrialState.PRUNED, stopped)
                else:
                    why = "its worker died" if error else "Ray Tune ended it (interrupted?)"
                    raise CandidateFailed(f"no final result: {why}")
        except CandidateFailed as e:
            cand.trial.set_user_attr(schema.FAIL_REASON, str(e))
            self._tell(cand, None, TrialState.FAIL)
        for twin in cand.twins:  # its outcome decides theirs
            if not self._settle_duplicate(twin):
                reason = f"same genotype as trial {cand.trial.number}, which failed"
                twin.trial.set_user_attr(schema.FAIL_REASON, reason)
                self._tell(twin, None, TrialState.FAIL)

    def _record_partial(self, cand: _Open, payload: dict, epoch: int) -> None:
        attrs = {
            schema.RUN_DIR: str(cand.run_dir),
            schema.EPOCHS_RUN: epoch,
            schema.TRAIN_SECONDS: payload["train_seconds"],
            schema.CURVE: payload["curve"],
        }
        if payload["val"]:
            attrs[schema.VAL] = payload["val"]
        for key, value in attrs.items():
            cand.trial.set_user_attr(key, value)

    def _tell(self, cand: _Open, values, state=TrialState.COMPLETE, prune_reason=None) -> None:
        if prune_reason:
            cand.trial.set_user_attr(schema.PRUNE_REASON, prune_reason)
        self.study.tell(cand.trial, values, state=state)
        if self.progress:
            a = cand.trial.user_attrs
            dup = a.get(schema.DUPLICATE_OF)
            note = a.get(schema.OVER_BUDGET) or a.get(schema.FAIL_REASON) or prune_reason
            note = note or (f"re-used trial {dup}" if dup is not None else "trained")
            print(f"trial {cand.trial.number} {state.name}: {cand.genotype.summary()}: {note}")

    def fail_open(self, reason: str) -> None:
        """Fail every trial still open (the run ended without their result)."""
        for trial in self.open_trials():
            trial.set_user_attr(schema.FAIL_REASON, reason)
            self.study.tell(trial, None, state=TrialState.FAIL)
        with self.lock:
            self.live.clear()

    def save(self, checkpoint_path: str) -> None:  # the study is the state, not Tune's folder
        Path(checkpoint_path).write_text(json.dumps({"study": self.study.study_name}))

    def restore(self, checkpoint_path: str) -> None:
        raise RuntimeError("resume a Ray search by re-running it: the Optuna study is its state")
