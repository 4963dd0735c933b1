"""Several search commands on one storage (a real PostgreSQL server, a journal file, SQLite): the
study ends with exactly --trials trained candidates and no genotype trained twice; kill -9 one
worker mid-trial and the other retrains its candidate once; storage errors are one line, exit 2,
and create nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from studies.store import schema
from studies.store.storage import STALE_REASON
from studies.store.trial_state import counts_as_trained

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 5
STUDY = "shared"
ENV = {**os.environ, "LESION_NAS_HEARTBEAT": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def storage(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    if request.param == "journal":
        return f"journal:{tmp_path / 'shared.log'}"
    return request.getfixturevalue("pg_url")


def worker(storage: str, out: Path, worker_id: int, epochs: int = 2) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "search.py"), "--budget-params", "0.2M",
           "--trials", str(TRIALS), "--epochs", str(epochs), "--image-size", "32",
           "--limit", "48", "--sampler", "random", "--seed", "3", "--study", STUDY,
           "--storage", storage, "--out", str(out), "--no-report", "--workers", "1",
           "--worker-id", str(worker_id)]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen, timeout: float = 400) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"worker did not finish:\n{out[-3000:]}") from None
    assert proc.returncode == 0, out[-3000:]
    return out


def load(storage: str) -> optuna.Study:
    from studies.store.storage import open_storage

    return optuna.load_study(study_name=STUDY, storage=open_storage(storage, create=False))


def check_trained(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    trained = [t for t in study.get_trials() if counts_as_trained(t)]
    assert len(trained) == TRIALS
    genotypes = [t.user_attrs[schema.GENOTYPE_ID] for t in trained]
    assert len(set(genotypes)) == TRIALS, "a genotype was trained twice"
    for t in trained:
        assert t.state.is_finished()
        for key in (schema.PARAMS, schema.MACS_THOP, schema.RUN_DIR, schema.RUNTIME,
                    schema.WORKER, schema.HOST, schema.TRAIN_CLAIM):  # fmt: skip
            assert key in t.user_attrs, (t.number, key)
        assert Path(t.user_attrs[schema.RUN_DIR]).is_dir()
    return trained


def test_two_commands_share_one_study(storage, tmp_path):
    procs = [worker(storage, tmp_path / "runs", k) for k in (0, 1)]
    outputs = [finish(p) for p in procs]
    study = load(storage)
    trained = check_trained(study)
    assert {t.user_attrs[schema.WORKER] for t in trained} == {0, 1}, outputs
    assert not [t for t in study.get_trials() if t.state.name in ("RUNNING", "WAITING")]
    # the random sampler draws trial k from (seed, k): one command alone trains the same set
    # of candidates... and re-running either command finds the study complete
    again = finish(worker(storage, tmp_path / "runs", 0))
    assert f"{TRIALS}/{TRIALS} candidates trained" in again
    assert len(load(storage).get_trials()) == len(study.get_trials())


def test_kill_one_of_two_workers_mid_trial(storage, tmp_path):
    out = tmp_path / "runs"
    victim, survivor = worker(storage, out, 0, epochs=4), worker(storage, out, 1, epochs=4)
    try:
        deadline, target = time.time() + 300, None
        while time.time() < deadline and victim.poll() is None:
            try:
                trials = load(storage).get_trials()
            except Exception:  # not created yet
                time.sleep(0.2)
                continue
            complete = [t for t in trials if t.state.name == "COMPLETE"]
            mine = [t for t in trials if t.state.name == "RUNNING"
                    and t.user_attrs.get(schema.WORKER) == 0
                    and t.user_attrs.get(schema.TRAIN_CLAIM)]  # fmt: skip
            # the first trial worker 0 is training, while the survivor has work left to retry it
            # (no wait for a COMPLETE one: under load the window between its trials is short)
            if mine and len(complete) < TRIALS - 2:
                target = mine[0]
                break
            time.sleep(0.1)
        assert victim.poll() is None and target is not None, "worker 0 ended before the kill"
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        before = {t.number: tuple(t.values) for t in load(storage).get_trials()
                  if t.state.name == "COMPLETE"}  # fmt: skip
        log = finish(survivor)
    finally:
        for p in (victim, survivor):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert victim.returncode == -signal.SIGKILL
    study = load(storage)
    trials = {t.number: t for t in study.get_trials()}
    for number, values in before.items():  # nothing completed is lost
        assert trials[number].state.name == "COMPLETE" and tuple(trials[number].values) == values
    killed = trials[target.number]
    assert killed.state.name == "FAIL" and killed.user_attrs[schema.FAIL_REASON] == STALE_REASON
    retries = [t for t in trials.values() if t.user_attrs.get(schema.RETRY_OF) == target.number]
    assert len(retries) == 1, log[-3000:]
    (retry,) = retries
    assert retry.state.name == "COMPLETE" and retry.params == killed.params
    assert retry.user_attrs[schema.GENOTYPE_ID] == killed.user_attrs[schema.GENOTYPE_ID]
    assert retry.user_attrs[schema.WORKER] == 1
    check_trained(study)
    assert "left RUNNING" in log


# ------------------------------------------------------------------------------ storage errors
def _search(capsys, storage: str, out: Path) -> tuple[int, str]:
    import search as cli

    args = ["--budget-params", "0.2M", "--trials", "1", "--image-size", "32", "--limit", "16",
            "--epochs", "1", "--workers", "1", "--no-report", "--study", STUDY,
            "--storage", storage, "--out", str(out)]  # fmt: skip
    code = cli.main(args)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_driver_says_which_extra(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    code, err = _search(capsys, "postgresql://u:secret@127.0.0.1:5432/db", tmp_path / "runs")
    assert code == 2 and err.startswith("error: storage postgresql")
    assert "not installed" in err and ".[postgres]" in err and "secret" not in err
    assert not (tmp_path / "runs").exists()


def test_unreachable_server_names_host_and_port(capsys, tmp_path):
    pytest.importorskip("psycopg")
    port = _free_port()  # nothing listens there
    code, err = _search(capsys, f"postgresql://u:p@127.0.0.1:{port}/db", tmp_path / "runs")
    assert code == 2 and f"cannot reach the database server at 127.0.0.1:{port}" in err
    assert not (tmp_path / "runs").exists()


def test_refused_password_and_missing_database(capsys, tmp_path, pg_server, pg_url):
    from studies.store.storage import open_storage

    optuna.create_study(study_name="kept", storage=open_storage(pg_url))
    name = pg_url.rsplit("/", 1)[1]
    code, err = _search(capsys, pg_server.url(name, password="wrong"), tmp_path / "runs")
    assert code == 2 and f"server at 127.0.0.1:{pg_server.port} refused user 'lesion'" in err
    assert "wrong" not in err
    code, err = _search(capsys, pg_server.url("no_such_db"), tmp_path / "runs")
    assert code == 2 and "database 'no_such_db' does not exist" in err
    assert "no_such_db" not in pg_server.databases()  # not created
    assert optuna.get_all_study_names(pg_url) == ["kept"]  # the real database is untouched
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_unwritable_folder(capsys, tmp_path, kind):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    prefix = "sqlite:///" if kind == "sqlite" else "journal:"
    code, err = _search(capsys, f"{prefix}{blocker / 'sub' / 'study.db'}", tmp_path / "runs")
    assert code == 2 and f"{blocker} is not a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    if os.geteuid() != 0:  # root writes anywhere: only the mode check differs
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        code, err = _search(capsys, f"{prefix}{ro / 'study.db'}", tmp_path / "runs")
        assert code == 2 and f"the folder {ro} is not writable" in err
        assert list(ro.iterdir()) == []
    # /proc takes no new files, even from root
    code, err = _search(capsys, f"{prefix}/proc/lesion-nas-test/study.db", tmp_path / "runs")
    assert code == 2 and err.startswith("error: storage ") and "/proc/lesion-nas-test" in err


# ------------------------------------------------------------------------------ failed writes
def _full_disk_on(call: int, monkeypatch) -> list[int]:
    """``torch.save`` writes part of the file, then the disk is full, from the ``call``-th on."""
    import errno

    import torch

    real, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) >= call:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    return calls


def test_a_failed_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    from torch import nn

    from trainer import save_checkpoint

    path = tmp_path / "model.pt"
    save_checkpoint(path, nn.Linear(2, 1), metadata={"epoch": 1})
    before = path.read_bytes()
    _full_disk_on(1, monkeypatch)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, nn.Linear(2, 1), metadata={"epoch": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no temporary left


def test_a_full_disk_stops_the_search_and_the_trial_is_retried(tmp_path, monkeypatch, capsys):
    import search as cli

    args = ["--budget-params", "0.2M", "--trials", "3", "--image-size", "32", "--limit", "48",
            "--epochs", "1", "--sampler", "random", "--seed", "6", "--workers", "1",
            "--no-report", "--study", STUDY, "--out", str(tmp_path)]  # fmt: skip
    with monkeypatch.context() as m:
        _full_disk_on(2, m)  # the first trained candidate saves its weights, the second cannot
        assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: trial ") and "No space left on device" in err
    url = f"sqlite:///{tmp_path / STUDY / 'study.db'}"
    study = optuna.load_study(study_name=STUDY, storage=url)
    failed = [t for t in study.get_trials() if t.user_attrs.get(schema.WRITE_FAILED)]
    (bad,) = failed
    assert bad.state.name == "FAIL"
    assert "could not write its run folder" in bad.user_attrs[schema.FAIL_REASON]
    assert "No space left on device" in bad.user_attrs[schema.FAIL_REASON]
    assert not counts_as_trained(bad) and bad.number == max(t.number for t in study.trials)
    saved = [t for t in study.get_trials() if t.state.name == "COMPLETE" and counts_as_trained(t)]
    assert len(saved) == 1  # the first trained candidate saved its weights
    assert (Path(saved[0].user_attrs[schema.RUN_DIR]) / "model.pt").is_file()
    # the disk has room again: the same command retrains the candidate once and finishes
    assert cli.main(args) == 0
    study = optuna.load_study(study_name=STUDY, storage=url)
    retries = [t for t in study.get_trials() if t.user_attrs.get(schema.RETRY_OF) == bad.number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == bad.params
    assert sum(counts_as_trained(t) for t in study.get_trials()) == 3
