"""What a trial's state means for a search: trained (what ``--trials`` counts), claimed, killed.

The predicates that the worker loop (``studies.search.workers``), one trial's work
(``studies.search.trial``), the Ray searcher and ``compare`` read. Kept apart so that none of those
imports another to ask them (no import cycle).
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from studies.store import schema
from studies.store.storage import STALE_REASON


def is_stale_fail(t: FrozenTrial) -> bool:
    """FAIL for no fault of its candidate: its worker was killed (``STALE_REASON``) or its run
    folder could not be written (``WRITE_FAILED``); such a trained candidate is retried once."""
    if t.state != TrialState.FAIL:
        return False
    return t.user_attrs.get(schema.FAIL_REASON) == STALE_REASON or bool(
        t.user_attrs.get(schema.WRITE_FAILED)
    )


def was_claimed(t: FrozenTrial) -> bool:
    """Whether the trial's candidate was (or is being) trained. Studies made before the claim
    attribute existed: a run folder of its own (duplicates copy their original's)."""
    a = t.user_attrs
    if schema.TRAIN_CLAIM in a:
        return bool(a[schema.TRAIN_CLAIM])
    return bool(a.get(schema.RUN_DIR)) and a.get(schema.DUPLICATE_OF) is None


def counts_as_trained(t: FrozenTrial) -> bool:
    """What ``--trials`` counts: a claimed candidate, except a killed one that gets a retry."""
    if not was_claimed(t):
        return False
    return not is_stale_fail(t) or t.user_attrs.get(schema.RETRY_OF) is not None


COUNT_KEYS = (
    "trials", "trained", "running", "over_budget", "duplicate", "pruned", "failed", "retried",
)  # fmt: skip


def tally(trials: list[FrozenTrial]) -> dict[str, int]:
    """Counts for the progress bar and the summary (``trained`` is what ``--trials`` counts:
    complete, pruned, failed and running trained candidates; ``pruned``, ``failed`` and
    ``running`` are among them)."""
    c = dict.fromkeys(COUNT_KEYS, 0)
    for t in trials:
        if t.state == TrialState.WAITING:
            continue
        c["trials"] += 1
        a = t.user_attrs
        if counts_as_trained(t):
            c["trained"] += 1
            if t.state == TrialState.RUNNING:
                c["running"] += 1
            elif t.state == TrialState.PRUNED:
                c["pruned"] += 1
            elif t.state == TrialState.FAIL:
                c["failed"] += 1
        elif is_stale_fail(t) and was_claimed(t):
            c["retried"] += 1
        elif t.state.is_finished() and a.get(schema.FEASIBLE) is False:
            c["over_budget"] += 1
        elif t.state.is_finished() and a.get(schema.DUPLICATE_OF) is not None:
            c["duplicate"] += 1
        elif t.state == TrialState.FAIL:
            c["failed"] += 1  # failed before it could be screened
    return c


def count_trained(study: optuna.Study) -> int:
    return sum(counts_as_trained(t) for t in study.get_trials(deepcopy=False))
