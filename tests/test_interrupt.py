"""Stopping a command that trains in worker processes (``confirm --workers 2``, a search with
``--workers 2``): SIGTERM (``kill PID``) and Ctrl-C (SIGINT to the terminal's process group) each
end the command with one line and its own exit status, and its workers end with it instead of
training on as orphans; no worker prints a traceback. The run folders they left unfinished are
not counted as finished (the next ``confirm`` retrains them), and a killed search's study keeps
its trials (the next search retrains the two it was training, as after ``kill -9``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from studies.search.run import options_from, run_search
from studies.store import schema

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("interrupt")
    outcome = run_search(
        options_from(
            trials=1,
            epochs=1,
            image_size=(32, 32),
            limit=16,
            sampler="random",
            seed=3,
            workers="1",
            progress=False,
            report=False,
            out=str(out),
        )
    )
    return out, outcome


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:  # the parent's pid, after the state
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def _training_workers(pid: int) -> set[int]:
    """The parent's children that run ``trainer.packing`` (not multiprocessing's tracker)."""
    found = set()
    for child in _children(pid):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"resource_tracker" not in cmd:
            found.add(child)
    return found


def _run_and_stop(argv: list[str], cwd: Path, how: str, started) -> tuple[int, str, set[int]]:
    """Start the command as in a terminal (a process group of its own, SIGINT's default action:
    a shell's background job would inherit it ignored), wait until two training workers run
    and ``started()`` holds, stop it ``how``; returns (exit status, stderr, the workers still
    alive 10 s after it exited)."""
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            workers = _training_workers(proc.pid)
        assert len(workers) == 2, f"two training workers never started ({proc.poll()=})"
        while not started() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert started(), f"the command never reached the state to stop it in ({proc.poll()=})"
        time.sleep(2)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    end = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.2)
    survivors = {w for w in workers if _alive(w)}
    with contextlib.suppress(ProcessLookupError):  # a failing case leaves no orphan training on
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, err, survivors


@pytest.mark.parametrize(
    "how, rc, said",
    [("sigterm", 143, "terminated"), ("ctrl-c", 130, "interrupted")],
)
def test_stopping_a_packed_command_stops_its_workers(study, how, rc, said):
    out, outcome = study
    root = out / how
    argv = [
        sys.executable, str(ROOT / "search.py"), "confirm", "--study", outcome.study_name,
        "--storage", outcome.storage, "--seeds", "2", "--epochs", "100000", "--workers", "2",
        "--out", str(root),
    ]  # fmt: skip
    run_dirs = lambda: list(root.glob("**/train_config.json"))  # noqa: E731
    code, err, workers = _run_and_stop(argv, out, how, lambda: len(run_dirs()) >= 2)
    assert code == rc, err
    assert said in err, err
    assert "Traceback" not in err and "leaked" not in err, err
    assert not workers, "a training worker outlived its command"
    configs = run_dirs()
    assert len(configs) == 2
    for config in configs:  # stopped mid-training: not a finished run
        assert not (config.parent / "metrics.json").exists()


def test_killing_a_search_stops_its_workers_and_keeps_the_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    argv = [
        sys.executable, str(ROOT / "search.py"), "--budget-params", "0.4M", "--trials", "4",
        "--epochs", "100000", "--image-size", "32", "32", "--limit", "16", "--workers", "2",
        "--study", "killed", "--storage", url, "--out", str(tmp_path / "runs"), "--no-report",
    ]  # fmt: skip

    def training() -> list:  # claimed for training under the lock: not a refused candidate or
        try:  # a duplicate, which end at once
            study = optuna.load_study(study_name="killed", storage=url)
        except KeyError:
            return []
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return [t for t in running if t.user_attrs.get(schema.TRAIN_CLAIM) is True]

    code, err, workers = _run_and_stop(argv, tmp_path, "sigterm", lambda: len(training()) >= 2)
    assert code == 143 and "terminated" in err and "Traceback" not in err, err
    assert not workers, "a search worker outlived its command"
    study = optuna.load_study(study_name="killed", storage=url)  # the study is intact
    trials = study.get_trials()
    assert sum(t.state == TrialState.RUNNING for t in trials) >= 2  # the two it was training
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(t.user_attrs[schema.FEASIBLE] is False for t in done)  # only refused, none trained
