"""How a lesion-nas study is stored in Optuna's storage: the one contract between the search
(which writes it) and the reports, confirm and ablate verbs (which read it).

Study level (``study.user_attrs``):

* ``STUDY_SPEC`` - the ``StudySpec`` as a dict: search-space version, genotype version, budgets,
  objectives, MAC counter, data fingerprint, train config, image size. Compared on resume.
* ``STUDY_KIND`` - ``"search"`` or ``"ablation"``.

Trial level (``trial.user_attrs``), written for every trial, trained or not:

* ``GENOTYPE`` (dict, ``Genotype.to_dict()``), ``GENOTYPE_ID`` (str), ``SUMMARY`` (str)
* ``PARAMS``, ``MACS_THOP``, ``MACS_TORCH`` (int), ``ACT_BYTES`` (int or None), ``IMAGE_SIZE``
* ``FEASIBLE`` (bool: within every budget); ``OVER_BUDGET`` (str reason, absent when feasible)
* ``PRESET`` (str name when the trial is a published model enqueued by ``--include-presets``)
* ``DUPLICATE_OF`` (int trial number whose result was reused; absent otherwise)
* ``VAL`` (dict of validation metrics at the best epoch), ``TEST`` (dict or None)
* ``RUN_DIR`` (str), ``EPOCHS_RUN`` (int), ``TRAIN_SECONDS`` (float), ``FAIL_REASON`` (str)
* ``CONSTRAINTS`` (list of floats, <= 0 means satisfied: Optuna's constraints convention)

A trained, feasible trial is ``COMPLETE`` with the objective values. An over-budget candidate is
never trained: it is recorded with its costs and ``OVER_BUDGET``, and completed with its costs as
objective values and a worst-possible accuracy (0 for a metric to maximise), with positive
``CONSTRAINTS`` so that constrained samplers learn the infeasible region. Reports select fronts
among ``FEASIBLE`` trials only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.latency import RUNTIMES

SCHEMA_VERSION = 1

STUDY_SPEC = "lesion_nas_spec"
STUDY_KIND = "lesion_nas_kind"

GENOTYPE = "genotype"
GENOTYPE_ID = "genotype_id"
SUMMARY = "summary"
PARAMS = "params"
MACS_THOP = "macs_thop"
MACS_TORCH = "macs_torch"
ACT_BYTES = "act_bytes"
IMAGE_SIZE = "image_size"
FEASIBLE = "feasible"
OVER_BUDGET = "over_budget"
PRESET = "preset"
DUPLICATE_OF = "duplicate_of"
VAL = "val"
TEST = "test"
RUN_DIR = "run_dir"
EPOCHS_RUN = "epochs_run"
TRAIN_SECONDS = "train_seconds"
FAIL_REASON = "fail_reason"
CONSTRAINTS = "constraints"


def cost_attrs(cost: Any) -> dict[str, Any]:
    """A ``searchspace.cost.Cost`` as the trial attributes the objectives table reads."""
    return {
        PARAMS: cost.params,
        MACS_THOP: cost.macs_thop,
        MACS_TORCH: cost.macs_torch,
        ACT_BYTES: cost.act_bytes,
    }


def network_attrs(genotype: Any, cost: Any) -> dict[str, Any]:
    """The one mapping from a network and its cost to trial attributes (the search's screen,
    Ray's driver and ablations all write these): genotype, id, summary, costs, image size."""
    return {
        GENOTYPE: genotype.to_dict(),
        GENOTYPE_ID: genotype.id,
        SUMMARY: genotype.summary(),
        **cost_attrs(cost),
        IMAGE_SIZE: list(cost.image_size),
    }


# Cost attributes beyond params and MACs that a trial record carries (read by the objectives
# table, studies/objectives.py, which declares every objective and its direction).
def latency_attr(runtime: str) -> str:
    """``latency_ort_cpu_ms`` / ``latency_torch_cpu_ms``: the median ms of the pre-screen's
    measurement (``runner.latency``); ``<that>_detail`` holds the spread, repeats, threads."""
    return f"latency_{runtime}_ms"


COST_ATTRS: tuple[str, ...] = tuple(
    f"{latency_attr(r)}{suffix}" for r in RUNTIMES for suffix in ("", "_detail")
)


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a study, flattened for reports (read-only view)."""

    number: int
    state: str  # "COMPLETE", "FAIL", "PRUNED", "RUNNING", "WAITING"
    genotype: dict | None
    genotype_id: str | None
    summary: str
    params: int | None
    macs_thop: int | None
    macs_torch: int | None
    act_bytes: int | None
    feasible: bool
    over_budget: str | None
    preset: str | None
    duplicate_of: int | None
    val: dict = field(default_factory=dict)
    test: dict | None = None
    run_dir: str | None = None
    fail_reason: str | None = None
    values: tuple[float, ...] | None = None
    params_suggested: dict = field(default_factory=dict)
    costs: dict = field(default_factory=dict)  # further cost attributes (COST_ATTRS) present

    @property
    def trained(self) -> bool:
        return self.state == "COMPLETE" and self.feasible and bool(self.val)

    @property
    def attrs(self) -> dict[str, Any]:
        """The user attributes the objectives table reads (``studies.objectives.value``)."""
        return {
            VAL: self.val,
            PARAMS: self.params,
            MACS_THOP: self.macs_thop,
            MACS_TORCH: self.macs_torch,
            ACT_BYTES: self.act_bytes,
            **self.costs,
        }


def record_from_trial(trial: Any) -> TrialRecord:
    """A ``TrialRecord`` from an ``optuna.trial.FrozenTrial``."""
    a = trial.user_attrs
    return TrialRecord(
        number=trial.number,
        state=trial.state.name,
        genotype=a.get(GENOTYPE),
        genotype_id=a.get(GENOTYPE_ID),
        summary=a.get(SUMMARY, ""),
        params=a.get(PARAMS),
        macs_thop=a.get(MACS_THOP),
        macs_torch=a.get(MACS_TORCH),
        act_bytes=a.get(ACT_BYTES),
        feasible=bool(a.get(FEASIBLE, False)),
        over_budget=a.get(OVER_BUDGET),
        preset=a.get(PRESET),
        duplicate_of=a.get(DUPLICATE_OF),
        val=dict(a.get(VAL) or {}),
        test=a.get(TEST),
        run_dir=a.get(RUN_DIR),
        fail_reason=a.get(FAIL_REASON),
        values=tuple(trial.values) if trial.values is not None else None,
        params_suggested=dict(trial.params),
        costs={k: a[k] for k in COST_ATTRS if k in a},
    )


# ---- appended by the search (issue 4) -------------------------------------------------------
# Trial level: the per-epoch validation curve of --metric (list, None where not validated) that
# the multi-objective pruner compares, and why a trial was pruned.
CURVE = "curve"
PRUNE_REASON = "prune_reason"
# Trial level, journal storage only: wall-clock time (s since epoch) of the worker's last sign of
# life (Optuna's JournalStorage has no heartbeat of its own).
HEARTBEAT = "heartbeat"
# Study level: names of the presets already enqueued by --include-presets (never re-enqueued),
# and the results of `search.py confirm` ({trial number: {...}}; finished trials are read-only).
PRESETS_ENQUEUED = "lesion_nas_presets_enqueued"
# Study level: genotype ids already enqueued by --include-genotype; trial level: the file a trial
# was enqueued from (its parameters are the genotype's choices: the sampler sees a normal trial)
GENOTYPES_ENQUEUED = "lesion_nas_genotypes_enqueued"
INCLUDED_FROM = "included_from"
CONFIRM = "lesion_nas_confirm"
# confirm --published: {published model: {rival trial number: paired Delta Dice, CI, verdict}}
RIVALS = "lesion_nas_rivals"
# the fidelity plan (--promote, studies.search.promotion): {genotype id: {trial, fidelity,
# values, seconds, run_dirs}} of the front members promoted to the fuller fidelity, and the
# trained counts at which a promotion round ran (each runs once)
PROMOTED = "lesion_nas_promoted"
PROMOTION_ROUNDS = "lesion_nas_promotion_rounds"

# ---- appended by the worker protocol (issue 15) ---------------------------------------------
# Trial level: TRAIN_CLAIM (True) is written, under the study lock, when a candidate passed the
# screen and the duplicate check and its worker starts training it: it is what ``--trials``
# counts. WORKER is the index of the worker that ran the trial. RETRY_OF is the number of the
# trial this one retrains (a trained candidate whose worker was killed; retried once).
TRAIN_CLAIM = "train_claimed"
WORKER = "worker"
HOST = "host"  # the machine of the worker (workers share its cores between epochs)
RETRY_OF = "retry_of"
# Trial level: True on a trial that FAILED because its run folder could not be written (disk
# full, permission): not the candidate's fault, so it is retried once like a killed one.
WRITE_FAILED = "write_failed"
# Trial level: the channels_last and thread choices of the run that trained it.
RUNTIME = "runtime"
