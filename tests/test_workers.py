"""Several workers on one study: exact trained count, no genotype trained twice, the same random
candidates as one worker, the study lock, the counting rules and the recorded runtime choices."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from studies.samplers.seeded_random import TrialSeededRandomSampler
from studies.search.run import options_from, run_search
from studies.search.workers import (
    StudyLock,
    fail_stale_and_retry,
    resolve_workers,
    usable_cores,
)
from studies.store import schema
from studies.store.storage import STALE_REASON
from studies.store.trial_state import counts_as_trained, tally
from trainer.malloc import TUNED

TINY = dict(image_size=(32, 32), limit=48, epochs=1, progress=False, report=False)


def trained(outcome) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    return [t for t in study.get_trials() if counts_as_trained(t)]


def test_two_workers_train_exactly_n_distinct_and_the_same_set_as_one(tmp_path):
    common = dict(budget_params="0.2M", trials=4, sampler="random", seed=11, **TINY)
    one = run_search(options_from(workers="1", out=str(tmp_path / "one"), **common))
    two = run_search(options_from(workers="2", out=str(tmp_path / "two"), **common))
    t1, t2 = trained(one), trained(two)
    assert len(t1) == len(t2) == 4
    assert one.counts["trained"] == two.counts["trained"] == 4
    ids2 = [t.user_attrs[schema.GENOTYPE_ID] for t in t2]
    assert len(set(ids2)) == 4  # no genotype trained twice
    assert {t.user_attrs[schema.GENOTYPE_ID] for t in t1} == set(ids2)
    # both workers took part, and every trained trial is finished with its attributes
    assert {t.user_attrs[schema.WORKER] for t in t2} == {0, 1}
    for t in t2:
        assert t.state.is_finished()
        for key in (schema.PARAMS, schema.MACS_THOP, schema.RUN_DIR, schema.RUNTIME):
            assert key in t.user_attrs
    # a larger --trials extends the study by exactly the difference
    more = run_search(
        options_from(workers="2", out=str(tmp_path / "two"), **{**common, "trials": 6})
    )
    assert len(trained(more)) == 6
    assert {t.number for t in t2} <= {t.number for t in trained(more)}


def test_a_budget_that_screens_most_candidates_still_trains_exactly_n(tmp_path):
    outcome = run_search(
        options_from(
            budget_params="25k",
            trials=3,
            sampler="random",
            seed=2,
            workers="1",
            out=str(tmp_path),
            **TINY,
        )  # fmt: skip
    )
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    trials = study.get_trials()
    assert outcome.counts["trained"] == 3 == len(trained(outcome))
    over = [t for t in trials if t.user_attrs.get(schema.FEASIBLE) is False]
    assert over and outcome.counts["over_budget"] == len(over)
    assert len(trials) == 3 + len(over) + outcome.counts["duplicate"]
    for t in over:
        assert schema.TRAIN_CLAIM not in t.user_attrs and not counts_as_trained(t)


def test_runtime_choices_are_recorded_in_the_run_and_the_trial(tmp_path):
    outcome = run_search(
        options_from(
            budget_params="0.2M",
            trials=1,
            sampler="random",
            seed=4,
            workers="1",
            out=str(tmp_path),
            **TINY,
        )  # fmt: skip
    )
    (t,) = trained(outcome)
    runtime = json.loads((Path(t.user_attrs[schema.RUN_DIR]) / "runtime.json").read_text())
    assert runtime["channels_last_setting"] == "auto"
    assert runtime["channels_last"] is (not runtime["channels_last_slow_modules"])
    assert (
        runtime["device"] == "cpu"
        and "benchmarks/channels_last.py" in runtime["channels_last_rule"]
    )
    assert runtime["optimizer_impl"] == "fused" and runtime["optimizer_impl_setting"] == "auto"
    assert runtime["malloc"] == TUNED  # glibc (Linux): the tuned allocator (trainer/malloc.py)
    assert t.user_attrs[schema.RUNTIME] == runtime
    off = run_search(
        options_from(
            budget_params="0.2M",
            trials=1,
            sampler="random",
            seed=4,
            workers="1",
            channels_last="off",
            optimizer_impl="forloop",
            out=str(tmp_path / "off"),
            **TINY,
        )  # fmt: skip
    )
    (t_off,) = trained(off)
    assert t_off.user_attrs[schema.RUNTIME]["channels_last"] is False
    assert t_off.user_attrs[schema.RUNTIME]["optimizer_impl"] == "forloop"


# ------------------------------------------------------------------------------ units
def test_trial_seeded_random_sampler_depends_on_seed_and_number_only():
    dist = {"a": CategoricalDistribution(list("abcdefgh")), "n": IntDistribution(0, 100, step=5)}

    def draws(seed: int, order: list[int]) -> dict[int, tuple]:
        study = optuna.create_study(sampler=TrialSeededRandomSampler(seed))
        out = {}
        for number in order:
            frozen = create_trial(state=TrialState.RUNNING)
            frozen.number = number
            s = study.sampler
            out[number] = tuple(s.sample_independent(study, frozen, k, d) for k, d in dist.items())
        return out

    a, b = draws(3, [0, 1, 2, 3, 4, 5]), draws(3, [5, 3, 1, 0, 2, 4])
    assert a == b
    assert draws(4, [0, 1, 2, 3, 4, 5]) != a
    assert len(set(a.values())) > 1
    assert all(v[0] in "abcdefgh" and v[1] % 5 == 0 and 0 <= v[1] <= 100 for v in a.values())


def _frozen(number, state, **attrs):
    t = create_trial(state=state, values=[0.0] if state == TrialState.COMPLETE else None,
                     user_attrs=attrs)  # fmt: skip
    t.number = number
    return t


def test_counting_rules():
    C, P, F, R = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING
    claim = {schema.TRAIN_CLAIM: True, schema.FEASIBLE: True}
    trials = [
        _frozen(0, C, **claim, **{schema.VAL: {"x": 1}}),
        _frozen(1, C, **{schema.FEASIBLE: False}),  # over budget
        _frozen(2, C, **{schema.FEASIBLE: True, schema.DUPLICATE_OF: 0}),  # reused
        _frozen(3, P, **claim),  # pruned by the pruner after training started
        _frozen(4, P, **{schema.FEASIBLE: True, schema.DUPLICATE_OF: 3}),  # duplicate, pruned
        _frozen(5, F, **claim, **{schema.FAIL_REASON: "loss became NaN"}),
        _frozen(6, F, **claim, **{schema.FAIL_REASON: STALE_REASON}),  # killed: retried
        _frozen(7, R, **claim, **{schema.RETRY_OF: 6}),
        _frozen(8, F, **claim, **{schema.FAIL_REASON: STALE_REASON, schema.RETRY_OF: 6}),
        # a study from before the claim attribute: own run folder = trained
        _frozen(9, C, **{schema.FEASIBLE: True, schema.RUN_DIR: "x", schema.VAL: {"x": 1}}),
    ]
    assert [n for n, t in enumerate(trials) if counts_as_trained(t)] == [0, 3, 5, 7, 8, 9]
    c = tally(trials)
    assert c["trained"] == 6 and c["over_budget"] == 1 and c["duplicate"] == 2
    assert c["pruned"] == 1 and c["failed"] == 2 and c["running"] == 1 and c["retried"] == 1


def test_stale_trained_trial_is_retried_once_with_its_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("LESION_NAS_HEARTBEAT", "1")
    url = f"sqlite:///{tmp_path / 's.db'}"
    from studies.store.storage import open_storage

    storage = open_storage(url)
    study = optuna.create_study(study_name="s", storage=storage)
    t = study.ask({"x": CategoricalDistribution([1, 2, 3])})
    t.set_user_attr(schema.TRAIN_CLAIM, True)
    from optuna.storages._heartbeat import get_heartbeat_thread

    hb = get_heartbeat_thread(t._trial_id, storage)
    hb.start()
    hb.join()  # one stamp, then the "worker" dies
    time.sleep(4.0)  # grace = 2 x the 1 s interval, stamps in whole seconds
    lock = StudyLock(url, "s")
    with lock:
        failed, retried = fail_stale_and_retry(study)
    assert failed == [t.number] and retried == [t.number]
    with lock:
        assert fail_stale_and_retry(study) == ([], [])  # never twice
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs[schema.RETRY_OF] == t.number
    assert study.trials[t.number].user_attrs[schema.FAIL_REASON] == STALE_REASON
    retry = study.ask()
    assert retry.params == {} and retry.suggest_categorical("x", [1, 2, 3]) == t.params["x"]


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_worker_killed_right_after_reserving_leaves_a_trial_that_goes_stale(
    tmp_path, monkeypatch, kind
):
    """``reserve`` stamps the new trial itself: a worker killed before its heartbeat thread wrote
    anything must not leave a RUNNING trial that no other worker ever fails (Optuna skips
    trials without a heartbeat row; CI once waited 400 s on one)."""
    monkeypatch.setenv("LESION_NAS_HEARTBEAT", "1")
    from studies.search.workers import reserve
    from studies.store.storage import open_storage

    url = f"sqlite:///{tmp_path / 's.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'j'}"
    storage = open_storage(url)
    study = optuna.create_study(study_name="s", storage=storage)
    lock = StudyLock(url, "s")
    trial = reserve(study, lock, target=3)
    assert isinstance(trial, optuna.Trial)
    trial.set_user_attr(schema.TRAIN_CLAIM, True)  # claimed, then the worker dies: no thread
    time.sleep(4.0)  # grace = 2 x the 1 s interval, stamps in whole seconds
    with lock:
        failed, retried = fail_stale_and_retry(study)
    assert failed == [trial.number] and retried == [trial.number]


def _count_under_lock(url: str, path: str, n: int) -> None:
    lock = StudyLock(url, "s")
    for _ in range(n):
        with lock:
            value = int(Path(path).read_text())
            time.sleep(0.002)
            Path(path).write_text(str(value + 1))


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_study_lock_excludes_other_processes(tmp_path, kind):
    url = f"sqlite:///{tmp_path / 's.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'j.log'}"
    counter = tmp_path / "counter"
    counter.write_text("0")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_count_under_lock, args=(url, str(counter), 40)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert int(counter.read_text()) == 120


def test_workers_option():
    cores = usable_cores()
    assert resolve_workers("3", "cpu") == (3, max(1, cores // 3))
    assert resolve_workers("1", "cpu") == (1, None)  # one worker: torch's own thread count
    n, threads = resolve_workers("auto", "cpu")
    assert n >= 1 and (threads is None) == (n == 1)
    assert resolve_workers("auto", "cuda") == (1, None)
    for bad in ("0", "-2", "many"):
        with pytest.raises(ValueError, match="--workers"):
            resolve_workers(bad, "cpu")
    with pytest.raises(ValueError, match="cannot share"):
        StudyLock("sqlite:///:memory:", "s")


def test_channels_last_rule_reads_the_modules_not_the_model_name():
    import torch

    from searchspace import build_model
    from searchspace.presets import PRESETS
    from trainer import recipe
    from trainer.evaluation import resolve_channels_last, runtime_choices

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    scsonet = build_model(PRESETS["scsonet"].genotype)  # ODConv in its stem and decoder
    malunet = build_model(PRESETS["malunet"].genotype)
    assert resolve_channels_last("auto", cpu, malunet) is True
    assert resolve_channels_last("auto", cpu, scsonet) is False
    assert resolve_channels_last("auto", cuda, scsonet) is True
    assert resolve_channels_last("on", cpu, scsonet) is True
    assert resolve_channels_last("off", cuda, malunet) is False
    info = runtime_choices(recipe("fast"), cpu, scsonet)
    assert info["channels_last"] is False and info["channels_last_slow_modules"] == ["ODConv3"]
    with pytest.raises(ValueError, match="channels_last"):
        resolve_channels_last("sometimes", cpu, malunet)


def test_an_impossible_budget_stops_early_with_the_space_count(tmp_path, monkeypatch, capsys):
    import search as cli
    import studies.search.workers as workers

    monkeypatch.setattr(workers, "MAX_IDLE_DRAWS", 4)
    calls = []

    def room(spec):
        calls.append(spec.budget("params"))
        return 0, 42_544

    monkeypatch.setattr(workers, "space_room", room)
    args = ["--budget-params", "1k", "--trials", "2", "--image-size", "32", "--limit", "16",
            "--epochs", "1", "--workers", "1", "--no-report", "--out", str(tmp_path)]  # fmt: skip
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar's lines
    assert err.startswith("error: ")
    assert "only 0 of the base space's 42,544 candidates fit params <= 1 k" in err
    assert calls == [1000]
    # a budget that leaves a few candidates goes on drawing (the next limit grows with rarity)
    monkeypatch.setattr(workers, "space_room", lambda spec: (50, 42_544))
    assert workers._check_budget_room(workers_spec(), 2, 4) == 4 + 20 * 42_544 // 50


def workers_spec():
    from studies.search.run import make_spec

    return make_spec(options_from(budget_params="1k", **TINY))


def test_cores_are_shared_among_running_and_still_open_places(monkeypatch):
    import torch

    import studies.search.workers as workers
    from studies.search.workers import HOST, WorkerJob, share_cores

    monkeypatch.setattr(workers, "usable_cores", lambda: 4)
    before = torch.get_num_threads()
    claimed = {schema.TRAIN_CLAIM: True, schema.HOST: HOST}

    def threads(running: int, done: int, target: int, local_workers: int = 2) -> int:
        study = optuna.create_study()
        for _ in range(done):
            study.add_trial(_frozen(0, TrialState.COMPLETE, **claimed))
        for _ in range(running):
            t = study.ask()
            for k, v in claimed.items():
                t.set_user_attr(k, v)
        share_cores(study, WorkerJob(spec=None, study_name="s", url="", target=target,
                                     workers=local_workers))  # fmt: skip
        return torch.get_num_threads()

    try:
        assert threads(running=1, done=0, target=5) == 2  # the other worker will start one
        assert threads(running=2, done=1, target=5) == 2
        assert threads(running=1, done=4, target=5) == 4  # the last trial: all the cores
        assert threads(running=2, done=3, target=5) == 2  # the last two
        assert threads(running=1, done=3, target=5, local_workers=4) == 2  # one place left
    finally:
        torch.set_num_threads(before)
