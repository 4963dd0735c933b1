"""One duplicate rule for both backends: the same hand-made studies, the same decision.

A candidate whose genotype an earlier trial holds is re-used (that trial trained it), pruned (it
was pruned, failed in training, or is being trained by another worker) or trained (no such trial,
or the earlier one's worker was killed: a retry). The Optuna backend decides in
``studies.search.trial.claim``, Ray's driver in ``StudySearcher._settle_duplicate``; both must follow
``studies.search.trial.duplicate_decision``. Before they shared it, Ray retrained a genotype whose
claimed trial had failed or was running in another worker.
"""

from __future__ import annotations

import optuna
import pytest

pytest.importorskip("ray")

from optuna.trial import TrialState  # noqa: E402

from searchspace.space import make_genotype  # noqa: E402
from studies import ray_tune as ray_backend  # noqa: E402
from studies.ray_tune.searcher import _Open  # noqa: E402
from studies.search.trial import _Reused, claim, prescreen, record_screen  # noqa: E402
from studies.store import schema  # noqa: E402
from studies.store.spec import StudySpec  # noqa: E402
from studies.store.storage import STALE_REASON, open_study  # noqa: E402
from trainer import load_data, recipe  # noqa: E402

SIZE = (32, 32)
COUNTS = (8, 4, 4)
CHOICES = {"layout": "malunet", "depth": 5, "base_width": 8, "stem": "plain", "block": "conv3",
           "bridge": "none", "upsample": "bilinear"}  # fmt: skip
# the earlier trial's state and attributes -> what a new trial of its genotype must do
CASES = {
    "trained": (TrialState.COMPLETE, {schema.TRAIN_CLAIM: True}, "reuse"),
    "pruned": (TrialState.PRUNED, {schema.TRAIN_CLAIM: True}, "prune"),
    "failed in training": (TrialState.FAIL, {schema.TRAIN_CLAIM: True}, "prune"),
    "running elsewhere": (TrialState.RUNNING, {schema.TRAIN_CLAIM: True}, "prune"),
    "worker killed": (
        TrialState.FAIL,
        {schema.TRAIN_CLAIM: True, schema.FAIL_REASON: STALE_REASON},
        "train",
    ),
    "over budget": (TrialState.COMPLETE, {schema.FEASIBLE: False}, "train"),
    "none": (None, {}, "train"),
}


def make_spec() -> StudySpec:
    data = load_data("synthetic", image_size=SIZE, synthetic_counts=COUNTS, progress=False)
    return StudySpec(
        budgets={"params": None},
        data_name=data.name,
        data_fingerprint=data.fingerprint,
        split_hash=str(data.split_info["hash"]),
        synthetic=True,
        image_size=SIZE,
        train_config=recipe("fast", epochs=1, image_size=SIZE, batch_size=8).to_dict(),
        sampler="random",
        seed=0,
        data_source="synthetic",
        synthetic_counts=COUNTS,
    )


def hand_made(spec: StudySpec, case: str):
    """A study holding one earlier trial of the genotype in the case's state, and the genotype."""
    study = open_study(spec, "dup", optuna.storages.InMemoryStorage())
    genotype = make_genotype(CHOICES)
    state, attrs, _ = CASES[case]
    if state is not None:
        trial = study.ask()
        screen = prescreen(spec, genotype)
        record_screen(trial, genotype, screen, spec)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if state == TrialState.COMPLETE and attrs.get(schema.FEASIBLE, True):
            trial.set_user_attr(schema.VAL, {spec.metric: 0.75})
            study.tell(trial, [0.75, screen.cost.params, screen.cost.macs_thop])
        elif state == TrialState.COMPLETE:
            study.tell(trial, [0.0, screen.cost.params, screen.cost.macs_thop])
        elif state != TrialState.RUNNING:
            study.tell(trial, None, state=state)
    return study, genotype


def optuna_backend(spec, study, genotype) -> tuple[str, int | None]:
    trial = study.ask()
    record_screen(trial, genotype, prescreen(spec, genotype), spec)
    try:
        claim(trial, genotype)
    except _Reused as e:
        return "reuse", e.original.number
    except optuna.TrialPruned:
        return "prune", trial.user_attrs.get(schema.DUPLICATE_OF)
    return "train", None


def ray_driver(spec, study, genotype, tmp_path) -> tuple[str, int | None]:
    searcher = ray_backend.StudySearcher(spec, study, trials=5, timeout=None, out_root=tmp_path)
    trial = study.ask()
    screen = prescreen(spec, genotype)
    record_screen(trial, genotype, screen, spec)
    if not searcher._settle_duplicate(_Open(trial, genotype, screen)):
        return "train", None
    told = study.trials[trial.number]
    what = {TrialState.COMPLETE: "reuse", TrialState.PRUNED: "prune"}[told.state]
    if what == "reuse":
        assert told.values[0] == pytest.approx(0.75)
    return what, told.user_attrs.get(schema.DUPLICATE_OF)


@pytest.mark.parametrize("case", list(CASES))
def test_both_backends_settle_a_duplicate_alike(case, tmp_path):
    spec = make_spec()
    expected = CASES[case][2]
    got = []
    for backend in ("optuna", "ray"):
        study, genotype = hand_made(spec, case)
        if backend == "optuna":
            got.append(optuna_backend(spec, study, genotype))
        else:
            got.append(ray_driver(spec, study, genotype, tmp_path))
    original = None if expected == "train" else 0
    assert got == [(expected, original), (expected, original)]
