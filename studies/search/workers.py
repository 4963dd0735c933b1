"""Workers on one study: what ``--trials`` counts, the study lock, and the worker loop.

A *worker* is one process running ``work``: it asks the study for a candidate, screens it, trains
it and tells the result, until the study holds ``--trials`` *trained* candidates. ``--workers N``
starts N of them on this machine (``run_workers``, spawned processes, the threads shared out);
starting the same search command on another machine against the same storage adds another. Every
worker follows the same protocol, so local and remote workers mix.

What counts. A candidate is *trained* when its worker claimed it for training (``TRAIN_CLAIM``):
it passed the budget screen and the duplicate check. Its trial may end COMPLETE, PRUNED (by the
pruner, after some epochs) or FAIL (an exception, NaN, out of memory). Over-budget candidates,
duplicates (re-used values) and candidates pruned because the same genotype is or was trained
elsewhere are recorded and told to the sampler but do not count. A trained candidate whose worker
was killed (its heartbeat went stale) is marked FAIL with ``STALE_REASON`` and retrained once by a
new trial with the same parameters (``RETRY_OF`` points to it); the stale trial counts only when
it was itself a retry.

The protocol, each step under the study lock (``StudyLock``: an exclusive ``flock`` on a file
beside a SQLite or journal storage (``FILE.lock``, ``FILE.study-lock``), a PostgreSQL / MySQL advisory lock on a server):

1. *reserve*: fail stale trials (and enqueue their retries); count trained candidates T and
   *undecided* trials U (RUNNING, not yet claimed: being screened). T >= N: stop once none of
   the T is still RUNNING (until then wait: a worker killed now leaves a candidate to retry).
   T + U >= N: wait (one of the undecided may still claim the last place) and look again. Else ``ask`` a
   trial: it is undecided from now on, so at most N candidates are ever claimed.
2. *claim* (in ``trial.run_trial`` once the candidate is within budget): if another trial of
   the same genotype was trained (or is being trained) the candidate is a duplicate, else it is
   claimed. Both are decided under the lock, so no genotype is trained twice.

Reproducibility: the random sampler draws trial k's candidate from (seed, k) alone
(``samplers.TrialSeededRandomSampler``), so a random search with N workers trains the same set
of genotypes as with one. Model-based samplers (NSGA-II, TPE) get a seed derived from the study's
seed, the worker index and the number of trials already in the study, never from a process id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import multiprocessing
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from studies import objectives
from studies.store import optuna_compat as compat
from studies.store import schema
from studies.store.storage import beat, fail_stale_trials
from studies.store.trial_state import counts_as_trained, is_stale_fail, was_claimed

POLL_SECONDS = 0.5
HOST = socket.gethostname()
# A worker stops after this many trials in a row that failed before they were screened (a bug or
# a broken environment, not a candidate's fault) ...
MAX_UNSCREENED_FAILS = 3
# ... or that were drawn but not trained (over budget or duplicates): the budget (almost) nothing
# fits, or a space the sampler has exhausted.
MAX_IDLE_DRAWS = 200


class WorkerStopped(ValueError):
    """A worker gave up (``MAX_UNSCREENED_FAILS`` / ``MAX_IDLE_DRAWS``); the message says why."""


# ------------------------------------------------------------------------------ the lock
def _lock_path(url: str) -> Path | None:
    if url.startswith("journal:"):
        # not FILE.lock: Optuna's journal backend takes that name for its own lock
        return Path(url[len("journal:") :] + ".study-lock")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        return None if path in ("", ":memory:") else Path(path + ".lock")
    return None


class StudyLock:
    """A mutex shared by every worker of a storage (see the module docstring). Re-entrant within
    one process; a context manager."""

    def __init__(self, url: str, study_name: str) -> None:
        from studies.store.storage import normal_url

        url = normal_url(url)
        self.url, self.study_name = url, study_name
        self.path = _lock_path(url)
        self._depth = 0
        self._fd: int | None = None
        self._conn = None
        digest = hashlib.sha256(f"lesion-nas:{study_name}".encode()).digest()
        self._key = int.from_bytes(digest[:8], "big", signed=True)
        scheme = url.split(":", 1)[0].split("+", 1)[0]
        if self.path is None and scheme not in ("postgresql", "mysql"):
            raise ValueError(
                f"storage {url!r}: workers cannot share it (no lock); use a SQLite file, "
                "journal:FILE, PostgreSQL or MySQL"
            )
        self._scheme = scheme

    def __enter__(self) -> StudyLock:
        if self._depth == 0:
            self._acquire()
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._release()

    def _acquire(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            return
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool)
        self._conn = engine.connect()
        if self._scheme == "postgresql":
            self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})
        else:
            self._conn.execute(
                sqlalchemy.text("SELECT GET_LOCK(:k, -1)"), {"k": f"lesion-nas-{self._key}"}
            )

    def _release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            import sqlalchemy

            sql = "SELECT pg_advisory_unlock(:k)" if self._scheme == "postgresql" else None
            if sql:
                self._conn.execute(sqlalchemy.text(sql), {"k": self._key})
            else:
                self._conn.execute(
                    sqlalchemy.text("SELECT RELEASE_LOCK(:k)"), {"k": f"lesion-nas-{self._key}"}
                )
            self._conn.close()
            self._conn = None


# ------------------------------------------------------------------------------ stale and retry
def fail_stale_and_retry(study: optuna.Study) -> tuple[list[int], list[int]]:
    """Mark stale RUNNING trials FAIL (``STALE_REASON``); enqueue one retry for each trained
    candidate among them that was not itself a retry. Returns (failed numbers, retried numbers).
    Call it under the study lock, so that two workers never enqueue the same retry."""
    failed = fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    retried_already = {t.user_attrs.get(schema.RETRY_OF) for t in trials}
    retried = []
    for t in trials:
        a = t.user_attrs
        if not (is_stale_fail(t) and was_claimed(t)) or a.get(schema.RETRY_OF) is not None:
            continue
        if t.number in retried_already:
            continue
        attrs = {schema.RETRY_OF: t.number}
        if a.get(schema.PRESET):
            attrs[schema.PRESET] = a[schema.PRESET]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            study.enqueue_trial(dict(t.params), user_attrs=attrs, skip_if_exists=False)
        retried.append(t.number)
    return failed, retried


def undecided(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """RUNNING trials not yet claimed for training: being screened, they may still claim."""
    return [t for t in trials if t.state == TrialState.RUNNING and not was_claimed(t)]


# ------------------------------------------------------------------------------ the worker
@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs, picklable (a spawned worker reloads the data from the spec)."""

    spec: object  # StudySpec
    study_name: str
    url: str
    target: int
    index: int = 0  # the first worker's id (``--worker-id``); local workers number on from it
    workers: int = 1
    threads: int | None = None
    out_root: str = "runs"
    device: str = "auto"
    # one device per local worker (runner.devices.place: round robin over the GPUs); None: all
    # on ``device``
    devices: tuple[str, ...] | None = None
    deadline: float | None = None  # time.time() after which no new trial starts
    verbose: bool = True


def worker_salt(study: optuna.Study, index: int) -> str:
    started = sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))
    return f"{started}:w{index}"


def _say(job: WorkerJob, text: str) -> None:
    if job.verbose:
        prefix = f"[worker {job.index}] " if job.workers > 1 else ""
        print(prefix + text, flush=True)


def reserve(study: optuna.Study, lock: StudyLock, target: int) -> optuna.Trial | None | bool:
    """Step 1 of the protocol: a new trial, None (the study has its trained candidates) or
    False (wait: undecided trials may still fill the last places)."""
    with lock:
        failed, retried = fail_stale_and_retry(study)
        for n in failed:
            print(f"trial {n} was left RUNNING by a stopped worker: marked FAIL", flush=True)
        for n in retried:
            print(f"trial {n} will be trained again (retry of a killed worker's candidate)")
        trials = study.get_trials(deepcopy=False)
        counted = [t for t in trials if counts_as_trained(t)]
        if len(counted) >= target:
            # done once every counted candidate has finished: one still training may yet be
            # killed, and its retry is then this worker's to train
            return False if any(t.state == TrialState.RUNNING for t in counted) else None
        if len(counted) + len(undecided(trials)) >= target:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            trial = study.ask()
        # the first stamp now, under the lock, not left to the heartbeat thread: Optuna never
        # counts a RUNNING trial without a heartbeat row as stale, so a worker killed before its
        # thread's first write (SQLite's writer lock held by the other worker) would leave a
        # trial that every other worker waits for forever
        beat(trial)
        return trial


def work(
    job: WorkerJob,
    data=None,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
) -> int:
    """Run the worker loop (module docstring) until the study holds ``job.target`` trained
    candidates or the deadline passes; returns the number of trials this worker ran."""
    import torch

    from studies.samplers import make_sampler
    from studies.search.trial import OutputUnwritable, load_study_data, run_trial
    from studies.store.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if job.threads is not None:
        torch.set_num_threads(job.threads)
    spec = job.spec
    storage = open_storage(job.url, create=False)
    lock = StudyLock(job.url, job.study_name)
    probe = optuna.load_study(study_name=job.study_name, storage=storage)
    study = optuna.load_study(
        study_name=job.study_name,
        storage=storage,
        sampler=make_sampler(spec, salt=worker_salt(probe, job.index)),
    )
    if data is None:
        data = load_study_data(spec)
    ran, broken, idle, idle_limit = 0, 0, 0, MAX_IDLE_DRAWS
    while job.deadline is None or time.time() < job.deadline:
        trial = reserve(study, lock, job.target)
        if trial is None:
            break
        if trial is False:
            time.sleep(POLL_SECONDS)
            continue
        trial.set_user_attr(schema.WORKER, job.index)
        trial.set_user_attr(schema.HOST, HOST)
        if job.threads is not None:
            torch.set_num_threads(job.threads)
        heartbeat = compat.heartbeat_thread(trial, storage)
        heartbeat.start()
        state, values, unwritable = TrialState.COMPLETE, None, None
        try:
            values = run_trial(
                spec,
                trial,
                data,
                study_name=job.study_name,
                out_root=Path(job.out_root),
                device=job.device,
                lock=lock,
                between_epochs=partial(share_cores, study, job) if job.workers > 1 else None,
            )
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except KeyboardInterrupt:
            heartbeat.join()
            study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as e:
            state = TrialState.FAIL
            if isinstance(e, OutputUnwritable):
                unwritable = e
        finally:
            heartbeat.join()
        if state == TrialState.COMPLETE:
            study.tell(trial, values)
        else:
            study.tell(trial, state=state)
        if unwritable is not None:
            raise WorkerStopped(
                f"trial {trial.number} {unwritable}; stopping (it is FAIL with this reason and "
                "is trained again when the search is re-run)"
            )
        ran += 1
        frozen = compat.storage_of(study).get_trial(compat.trial_id(trial))
        _report_trial(job, frozen)
        if on_trial is not None:
            on_trial(study, frozen)
        screened = schema.FEASIBLE in frozen.user_attrs
        broken = 0 if screened else broken + 1
        idle = 0 if was_claimed(frozen) else idle + 1
        if broken >= MAX_UNSCREENED_FAILS:
            raise WorkerStopped(
                f"{broken} trials in a row failed before their candidate was screened (last: "
                f"{frozen.user_attrs.get(schema.FAIL_REASON)}); stopping"
            )
        if idle >= idle_limit:
            idle_limit = _check_budget_room(spec, job.target, idle)
    return ran


def space_room(spec) -> tuple[int, int]:
    """(distinct candidates of the space within the spec's budgets, all distinct candidates) at
    its image size, from the whole-space cost table (``search.py space``; cached part costs).
    A budget the table has no column for (latency) is not counted: the first number is then an
    upper bound."""
    from searchspace.table import cost_table, within

    df = cost_table(tuple(spec.image_size), progress=False, space=spec.space)
    fits = within(df, objectives.table_limits(spec.budgets, spec.cost_counter))
    return int(df.loc[fits, "genotype_id"].nunique()), int(df["genotype_id"].nunique())


def _check_budget_room(spec, target: int, idle: int) -> int:
    """After ``idle`` untrained draws in a row: stop with the space's count when fewer than
    ``target`` candidates fit the budgets; else the next limit, scaled to how rare they are."""
    fit, total = space_room(spec)
    where = f"{spec.budget_text()} at {spec.image_size[0]}x{spec.image_size[1]}"
    unchecked = [o.name for o, _ in objectives.budgets(spec) if not o.table_column]
    if unchecked:
        where += f" (at most: {', '.join(unchecked)} not counted)"
    if fit < target:
        raise WorkerStopped(
            f"{idle} candidates in a row were over budget or duplicates: only {fit:,} of the "
            f"{spec.space} space's {total:,} candidates fit {where}, fewer than --trials "
            f"{target}; raise the budget or ask for fewer trials"
        )
    return max(MAX_IDLE_DRAWS, idle + 20 * total // max(fit, 1))


def share_cores(study: optuna.Study, job: WorkerJob) -> None:
    """Before a trial's first epoch and between epochs: this machine's cores shared among the
    trials its workers are training now and those that may still start (the study's open
    places, up to this command's workers). So mid-search every worker has its share from the
    first epoch, and at the end of a search the last trials, alone, get all the cores."""
    import torch

    trials = study.get_trials(deepcopy=False)
    busy = sum(
        1
        for t in trials
        if t.state == TrialState.RUNNING
        and was_claimed(t)
        and t.user_attrs.get(schema.HOST) == HOST
    )
    left = max(0, job.target - sum(counts_as_trained(t) for t in trials))
    expected = max(busy, min(job.workers, busy + left))
    threads = max(1, usable_cores() // max(1, expected))
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)


def _report_trial(job: WorkerJob, t: FrozenTrial) -> None:
    a = t.user_attrs
    what = a.get(schema.PRESET) or a.get(schema.GENOTYPE_ID, "?")
    if t.state == TrialState.FAIL:
        _say(job, f"trial {t.number} ({what}) FAILED: {a.get(schema.FAIL_REASON)}")
    elif t.state == TrialState.PRUNED:
        _say(job, f"trial {t.number} ({what}) pruned: {a.get(schema.PRUNE_REASON)}")


def _exit_with_parent(parent: int) -> None:
    """A local worker ends when the search command that started it dies (kill -9 included): its
    running trial then goes stale and is retried, as with any crash."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _worker_main(job: WorkerJob, parent: int, errors) -> None:
    _exit_with_parent(parent)
    try:
        work(job)
    except KeyboardInterrupt:
        pass
    except WorkerStopped as e:
        errors.put(str(e))
        raise SystemExit(3) from None


# ------------------------------------------------------------------------------ N local workers
def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


MAX_AUTO_WORKERS = 8
# --workers auto on a GPU machine: this many workers per GPU the search uses (every visible one,
# or those --gpus names; one with --device cuda:K). Today's value, kept until a GPU measurement
# (benchmarks/packing.py through benchmarks/gpu.sh) sets it: several trials per GPU pay off or
# not by model size.
AUTO_PER_GPU = 1


def resolve_workers(
    setting: str | int, device: str, gpus: str | None = None
) -> tuple[int, int | None]:
    """(workers, torch threads per worker) for ``--workers``: a number, or ``auto`` = on CPU one
    worker per usable core up to 8, the cores shared out (benchmarks/search_throughput.py: on 2
    cores, 2 single-thread workers train 1.8x the candidates per hour of one 2-thread worker);
    on a GPU machine ``AUTO_PER_GPU`` per GPU used (``gpus``: ``--gpus``), so that every GPU is
    busy."""
    from runner.devices import parse_gpus, wants_cuda

    cores = usable_cores()
    text = str(setting).strip().lower()
    if text == "auto":
        if wants_cuda(device):
            used = 1 if ":" in device else max(1, len(parse_gpus(gpus)))
            n = AUTO_PER_GPU * used
        else:
            n = min(cores, MAX_AUTO_WORKERS)
    else:
        try:
            n = int(text)
        except ValueError:
            raise ValueError(
                f"--workers must be a number >= 1 or 'auto', got {setting!r}"
            ) from None
        if n < 1:
            raise ValueError(f"--workers must be >= 1, got {n}")
    threads = max(1, cores // n) if n > 1 else None
    return n, threads


def run_workers(job: WorkerJob, n: int, progress: Callable[[], None] | None = None) -> None:
    """Start ``n`` worker processes on the study (spawned, each with ``job.threads`` threads)
    and wait for them; ``progress()`` is called every second meanwhile."""
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.SimpleQueue()
    procs = []
    for i in range(n):
        p = ctx.Process(
            target=_worker_main,
            args=(
                dataclasses.replace(
                    job,
                    index=job.index + i,
                    workers=n,
                    device=job.devices[i % len(job.devices)] if job.devices else job.device,
                ),
                os.getpid(),
                errors,
            ),
            name=f"lesion-nas-worker-{i}",
        )
        p.start()
        procs.append(p)
    try:
        while any(p.is_alive() for p in procs):
            if progress is not None:
                progress()
            for p in procs:
                p.join(timeout=1.0 / n)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                p.join(timeout=5)
    if progress is not None:
        progress()
    stopped = []
    while not errors.empty():
        stopped.append(errors.get())
    if stopped:
        raise WorkerStopped(stopped[0])
    bad = [f"worker {i} (exit {p.exitcode})" for i, p in enumerate(procs) if p.exitcode]
    if bad:
        print(f"warning: {', '.join(bad)} stopped with an error; the study keeps its trials")
