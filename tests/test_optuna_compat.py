"""Optuna's private API, used only in studies/store/optuna_compat.py, against the installed Optuna.

Each accessor is exercised on a real SQLite storage (with Optuna's heartbeat, as ``open_storage``
opens it) and a journal file, so an Optuna release that renames or drops one fails here by name.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from studies.store import optuna_compat as compat
from studies.store import schema
from studies.store.storage import HEARTBEAT_ENV, Heartbeat, fail_stale_trials, open_storage

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def sqlite_study(tmp_path, monkeypatch):
    monkeypatch.setenv(HEARTBEAT_ENV, "2")  # grace 4 s: a loaded machine's late beat is not stale
    storage = open_storage(f"sqlite:///{tmp_path / 'compat.db'}")
    return optuna.create_study(study_name="compat", storage=storage), storage


def test_storage_ids_and_system_attrs(sqlite_study):
    study, storage = sqlite_study
    # RDB storages are wrapped in Optuna's cache; it writes through to the same database
    assert compat.heartbeat_enabled(compat.storage_of(study))
    trial = study.ask()
    frozen = storage.get_trial(compat.trial_id(trial))
    assert frozen.number == trial.number and compat.trial_id(frozen) == compat.trial_id(trial)
    assert compat.study_id(study) == storage.get_study_id_from_name("compat")
    compat.set_system_attr(trial, study, "target", {"block": "scf"})
    assert study.trials[0].system_attrs["target"] == {"block": "scf"}
    study.tell(trial, 0.5)
    cached = compat.get_trials(study, deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True)
    assert [t.number for t in cached] == [0]


def test_heartbeat_and_stale_trials_on_sqlite(sqlite_study):
    study, storage = sqlite_study
    assert compat.heartbeat_enabled(storage)
    kept, left = study.ask(), study.ask()
    thread = compat.heartbeat_thread(kept, storage)
    thread.start()
    try:
        storage.record_heartbeat(compat.trial_id(left))  # one stamp, then silence
        time.sleep(5.0)  # past the grace period (2 x the 2 s interval)
        assert compat.stale_trial_ids(storage, study) == [compat.trial_id(left)]
        assert fail_stale_trials(study) == [left.number]
    finally:
        thread.join()
    assert study.trials[left.number].state == TrialState.FAIL
    assert study.trials[kept.number].state == TrialState.RUNNING


def test_the_one_heartbeat_stamps_journal_trials(tmp_path, monkeypatch):
    monkeypatch.setenv(HEARTBEAT_ENV, "1")
    storage = open_storage(f"journal:{tmp_path / 'compat.log'}")
    assert not compat.heartbeat_enabled(storage)
    study = optuna.create_study(study_name="compat", storage=storage)
    trial = study.ask()
    with Heartbeat(lambda: [trial], journal_only=True):
        first = study.trials[0].user_attrs[schema.HEARTBEAT]
        deadline = time.time() + 10  # a beat every second; allow a loaded machine 10
        while study.trials[0].user_attrs[schema.HEARTBEAT] == first and time.time() < deadline:
            time.sleep(0.5)
        assert study.trials[0].user_attrs[schema.HEARTBEAT] > first
    assert fail_stale_trials(study) == []  # just stamped: not stale


def test_no_other_module_touches_optunas_private_names():
    private = re.compile(
        r"\._storage\b|\._trial_id\b|\._study_id\b|_get_stale_trial_ids|optuna\.\w+\._\w|"
        r"\._get_trials\(|set_trial_system_attr"
    )
    offenders = []
    for folder in ("studies", "reports", "trainer", "searchspace", "benchmarks", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "optuna_compat.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if private.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
