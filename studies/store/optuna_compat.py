"""Every use of Optuna's private API, in one module, each pinned by tests/test_optuna_compat.py.

Optuna does not promise these names: a new release may rename or drop them without a warning.
Keeping them here means an upgrade breaks one file and one test, loudly, instead of silently
changing how stale trials are found or heartbeats stamped. Nothing else in lesion-nas may touch
an underscore name of Optuna (``tests/test_optuna_compat.py`` greps for it).
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage object a study reads and writes (``Study._storage``)."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (``_trial_id``; not its number within the study)."""
    return trial._trial_id


def heartbeat_enabled(storage: BaseStorage) -> bool:
    """Whether Optuna's own heartbeat is on for this storage (RDB storages opened with one)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage)


def stale_trial_ids(storage: BaseStorage, study: optuna.Study) -> list[int]:
    """Ids of RUNNING trials whose heartbeat is older than the storage's grace period."""
    return list(storage._get_stale_trial_ids(study_id(study)))


def heartbeat_thread(trial: optuna.Trial, storage: BaseStorage):
    """Optuna's heartbeat thread for one trial (``start()`` / ``join()``), as ``optimize`` uses."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial_id(trial), storage)


def set_system_attr(trial: optuna.Trial | FrozenTrial, study: optuna.Study, key: str, value: Any):
    """A system attribute on a trial (the public ``Trial`` API has user attributes only)."""
    storage_of(study).set_trial_system_attr(trial_id(trial), key, value)


def get_trials(
    study: Any,
    deepcopy: bool = True,
    states: Container[TrialState] | None = None,
    use_cache: bool = False,
) -> list[FrozenTrial]:
    """``Study._get_trials``: the cached read that Optuna's samplers call on the study they are
    given (a view of a study must answer it too)."""
    return study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
