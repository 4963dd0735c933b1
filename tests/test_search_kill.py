"""kill -9 a running search, re-run the same command: nothing finished is lost, the trial left
RUNNING is marked FAIL (heartbeat) and retrained once, and the study reaches the requested
number of trained candidates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna

from studies.store import schema
from studies.store.trial_state import counts_as_trained

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 5


def command(out: Path) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "search.py"),
        "--budget-params",
        "0.4M",
        "--trials",
        str(TRIALS),
        "--epochs",
        "2",
        "--image-size",
        "32",
        "--limit",
        "64",
        "--sampler",
        "random",
        "--seed",
        "5",
        "--out",
        str(out),
        "--no-report",
        "--workers",
        "1",
    ]


def snapshot(db: Path) -> tuple[int, list[int]]:
    """(COMPLETE trials, ids of RUNNING trials that have a heartbeat and were claimed for
    training) read straight from SQLite."""
    if not db.is_file():
        return 0, []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        complete = con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
        running = con.execute(
            "SELECT t.trial_id FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
            "JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
            "WHERE t.state = 'RUNNING' AND a.key = 'train_claimed'"
        ).fetchall()
        return int(complete[0]), [r[0] for r in running]
    except sqlite3.OperationalError:  # tables not created yet
        return 0, []
    finally:
        con.close()


def test_kill_minus_9_then_resume(tmp_path):
    env = {**os.environ, "LESION_NAS_HEARTBEAT": "1"}
    out = tmp_path / "runs"
    db = out / "search-synthetic-p400k" / "study.db"
    proc = subprocess.Popen(
        command(out),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            complete, running = snapshot(db)
            if complete >= 1 and running:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the search ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL

    url = f"sqlite:///{db}"
    study = optuna.load_study(study_name="search-synthetic-p400k", storage=url)
    before = {t.number: tuple(t.values) for t in study.get_trials() if t.state.name == "COMPLETE"}
    left_running = [t.number for t in study.get_trials() if t.state.name == "RUNNING"]
    assert before and left_running

    again = subprocess.run(
        command(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "left RUNNING" in again.stdout

    study = optuna.load_study(study_name="search-synthetic-p400k", storage=url)
    trials = {t.number: t for t in study.get_trials()}
    for number, values in before.items():
        assert trials[number].state.name == "COMPLETE" and tuple(trials[number].values) == values
    for number in left_running:
        assert trials[number].state.name == "FAIL"
        assert "heartbeat" in trials[number].user_attrs[schema.FAIL_REASON]
        # the killed candidate was trained again, once, by a trial that points to it
        retries = [t for t in trials.values() if t.user_attrs.get(schema.RETRY_OF) == number]
        assert len(retries) == 1 and retries[0].params == trials[number].params
        assert (
            retries[0].user_attrs[schema.GENOTYPE_ID]
            == trials[number].user_attrs[schema.GENOTYPE_ID]
        )
    # the retry is enqueued by the command at its start, or by its worker when the heartbeat of
    # the killed trial goes stale only after the command has started
    assert "enqueued a retry" in again.stdout or "will be trained again" in again.stdout
    assert sum(counts_as_trained(t) for t in trials.values()) == TRIALS
