"""Where a study lives: storage URLs, study creation and resume (with the spec check), heartbeat.

Storage forms (``--storage``):

* default: ``sqlite:///<out>/<study>/study.db``, the folder created on first use;
* any Optuna RDB URL (``sqlite:///...``, ``postgresql://...``, ``mysql+pymysql://...``);
* ``journal:PATH``: an Optuna ``JournalStorage`` file, for many workers on a shared file system.

PostgreSQL (``pip install -e ".[postgres]"``: the psycopg 3 driver): ``postgresql://USER:PASSWORD@HOST:PORT/DB``,
read as ``postgresql+psycopg://`` (name another driver explicitly, e.g. ``postgresql+psycopg2://``);
the database must exist, Optuna creates its tables in it.
Before a storage is opened, ``check_storage`` tries it and turns each way it can fail into one
line (``StorageError``): the driver is not installed, the server cannot be reached or refuses the
user, the database does not exist, the SQLite / journal folder cannot be written. Nothing is
created when it fails.

Killed workers. RDB storages get Optuna's heartbeat: a thread of each worker stamps its running
trial every ``LESION_NAS_HEARTBEAT`` seconds (default 60), and a RUNNING trial whose stamp is older
than twice that is stale. Before it starts, a search fails every stale trial; trials that go stale
later are failed by Optuna at the start of each new trial. Either way the trial has a
``FAIL_REASON``: the objective writes ``STALE_REASON`` when it starts and replaces it when it
ends (None on success), because a finished trial is read-only in Optuna. ``JournalStorage`` has no heartbeat in Optuna,
so the objective stamps ``schema.HEARTBEAT`` on its trial instead (``JournalHeartbeat``) and the
same pre-pass reads it.
"""

from __future__ import annotations

import inspect
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from studies.store import optuna_compat as compat
from studies.store import schema
from studies.store.spec import StudySpec

HEARTBEAT_ENV = "LESION_NAS_HEARTBEAT"
DEFAULT_HEARTBEAT = 60
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
STALE_REASON = "its worker stopped while running it (killed or crashed: no heartbeat)"


class SpecMismatch(ValueError):
    """Resuming a study with flags that define another study."""


class StorageError(ValueError):
    """A storage that cannot be used; the message is one line naming the problem."""


# ------------------------------------------------------------------------------ checks
DRIVERS = {  # dialect -> (driver module as SQLAlchemy imports it, what to install)
    "postgresql+psycopg": ("psycopg", 'pip install -e ".[postgres]" (psycopg 3)'),
    "postgresql+psycopg2": ("psycopg2", "pip install psycopg2-binary"),
    "mysql": ("MySQLdb", "pip install mysqlclient"),
    "mysql+pymysql": ("pymysql", "pip install pymysql"),
}


def shown_url(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def _writable_folder(path: Path, what: str, url: str) -> None:
    """``path``'s folder exists or can be created, and files can be created in it; raises
    ``StorageError`` otherwise, creating nothing."""
    folder = path.parent
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise StorageError(f"storage {url}: cannot create {what} {path}: {probe} is not a folder")
    if path.exists():
        if path.is_dir():
            raise StorageError(f"storage {url}: {path} is a folder, not a {what}")
        if not os.access(path, os.R_OK | os.W_OK):
            raise StorageError(f"storage {url}: {what} {path} is not writable")
        return
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StorageError(
            f"storage {url}: cannot create {what} {path}: the folder {probe} is not writable"
        )


def _server_error(url: str, error: BaseException) -> StorageError:
    """One line for a failed connection to a database server."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    port = u.port or {"postgresql": 5432, "mysql": 3306}.get(u.get_backend_name(), "?")
    where = f"{u.host or 'localhost'}:{port}"
    text = str(getattr(error, "orig", None) or error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    low = text.lower()
    shown = shown_url(url)
    if "does not exist" in low and "database" in low or "unknown database" in low:
        return StorageError(
            f"storage {shown}: database {u.database!r} does not exist on the server at {where}; "
            f"create it first (e.g. createdb -h {u.host or 'localhost'} -p {port} {u.database})"
        )
    if "authentication failed" in low or "access denied" in low or "password" in low:
        return StorageError(
            f"storage {shown}: the server at {where} refused user {u.username!r} "
            f"(authentication failed: check the user and password)"
        )
    if "refused" in low or "could not connect" in low or "timeout" in low or "timed out" in low \
            or "could not translate host" in low or "name or service not known" in low \
            or "can't connect" in low:  # fmt: skip
        return StorageError(
            f"storage {shown}: cannot reach the database server at {where} ({first})"
        )
    return StorageError(f"storage {shown}: cannot connect to the server at {where}: {first}")


def _missing_driver(url: str, dialect: str, error: ImportError) -> StorageError:
    module, hint = DRIVERS.get(dialect, (getattr(error, "name", None) or "?", "install it"))
    return StorageError(
        f"storage {shown_url(url)}: the driver for {dialect} ({module}) is not installed; {hint}"
    )


def check_storage(url: str, *, create: bool = True) -> None:
    """Try the storage ``url`` without creating anything: ``StorageError`` (one line) when the
    driver is missing, the server cannot be reached or refuses the user, the database does not
    exist, or the file of a SQLite / journal storage could not be created (``create``) or does
    not exist (not ``create``)."""
    if url.startswith("journal:"):
        path = Path(url[len("journal:") :])
        if not url[len("journal:") :]:
            raise StorageError(
                "storage journal:: name the journal file, e.g. journal:runs/study.log"
            )
        if not create and not path.is_file():
            raise StorageError(f"storage {url}: the journal file {path} does not exist")
        _writable_folder(path, "journal file", url)
        return
    path = _sqlite_file(url)
    if path is not None:
        if not create and not path.is_file():
            raise StorageError(f"storage {url}: no study storage at {path}")
        _writable_folder(path, "SQLite file", url)
        return
    if url.startswith("sqlite:"):
        return  # in memory
    import sqlalchemy
    from sqlalchemy.engine import make_url

    url = normal_url(url)
    try:
        parsed = make_url(url)
    except Exception:
        raise StorageError(
            f"storage {url!r} is not a storage URL: use sqlite:///FILE, journal:FILE, "
            "postgresql://USER:PASSWORD@HOST:PORT/DB or mysql+pymysql://..."
        ) from None
    dialect = parsed.drivername
    try:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    except ImportError as e:
        raise _missing_driver(url, dialect, e) from None
    except Exception as e:  # an unknown dialect
        raise StorageError(f"storage {shown_url(url)}: {str(e).splitlines()[0]}") from None
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except ImportError as e:
        raise _missing_driver(url, dialect, e) from None
    except Exception as e:
        raise _server_error(url, e) from None
    finally:
        engine.dispose()


def heartbeat_interval() -> int:
    text = os.environ.get(HEARTBEAT_ENV, str(DEFAULT_HEARTBEAT))
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"{HEARTBEAT_ENV} must be a whole number of seconds, got {text!r}"
        ) from None
    if value < 1:
        raise ValueError(f"{HEARTBEAT_ENV} must be >= 1 second, got {value}")
    return value


def default_study_name(data: str, budgets: Mapping[str, float]) -> str:
    """``search-synthetic-p400k``, ``search-isic2017-p400k-m100M``, ``search-synthetic-nobudget``:
    the budgets (objective name -> value) with a name tag (``Budget.tag``: p, m) in table order."""
    from studies.objectives import budget_items

    def short(v: float) -> str:
        v = int(v) if float(v).is_integer() else v
        for scale, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
            if isinstance(v, int) and v >= scale and v % (scale // 1000 or 1) == 0:
                return f"{v / scale:g}{suffix}"
        return f"{v:g}" if isinstance(v, float) else str(v)

    name = Path(str(data).rstrip("/")).name or "data"
    parts = ["search", re.sub(r"[^A-Za-z0-9_.-]+", "_", name)]
    parts += [f"{o.budget.tag}{short(v)}" for o, v in budget_items(budgets) if o.budget.tag]
    if len(parts) == 2:
        parts.append("nobudget")
    return "-".join(parts)


def check_study_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):
        raise ValueError(
            f"--study {name!r}: use letters, digits, '.', '_' and '-' (it names a folder)"
        )
    return name


def storage_url(study_name: str, storage: str | None, out_root: Path) -> str:
    """The storage URL of a study (the default SQLite file lies in the study's run folder)."""
    if storage:
        return normal_url(storage)
    return f"sqlite:///{(Path(out_root) / study_name / 'study.db').as_posix()}"


def normal_url(url: str) -> str:
    """``postgresql://`` names no driver: it means psycopg 3 (the ``postgres`` extra) whatever
    SQLAlchemy's own default."""
    return (
        "postgresql+psycopg://" + url[len("postgresql://") :]
        if url.startswith("postgresql://")
        else url
    )


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :]
    return None if path in ("", ":memory:") else Path(path)


def storage_exists(url: str) -> bool:
    """Whether a file-backed storage exists already (servers: assumed to)."""
    if url.startswith("journal:"):
        return Path(url[len("journal:") :]).is_file()
    path = _sqlite_file(url)
    return path.is_file() if path is not None else True


def open_storage(url: str, *, create: bool = True) -> BaseStorage:
    """An Optuna storage for ``url`` (see the module docstring); RDB ones with a heartbeat.
    ``check_storage`` first: a storage that cannot be used is a ``StorageError``."""
    url = normal_url(url)
    check_storage(url, create=create)
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:") :])
        _make_folder(path, url)
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except OSError as e:
            raise StorageError(
                f"storage {url}: cannot create or open the journal file {path} ({e.strerror or e})"
            ) from None
    path = _sqlite_file(url)
    if path is not None:
        _make_folder(path, url)
    interval = heartbeat_interval()
    kwargs: dict[str, Any] = {"heartbeat_interval": interval, "grace_period": 2 * interval}
    params = inspect.signature(optuna.storages.RDBStorage).parameters
    key = (
        "heartbeat_stale_trial_callback"
        if "heartbeat_stale_trial_callback" in params
        else "failed_trial_callback"
    )
    kwargs[key] = _on_stale
    with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return optuna.storages.RDBStorage(url, **kwargs)
            except Exception as e:
                import sqlalchemy.exc

                if not isinstance(e, sqlalchemy.exc.SQLAlchemyError):
                    raise
                if _creation_race(e) and attempt < CREATE_ATTEMPTS - 1:
                    time.sleep(0.5)  # another worker is creating the tables: they exist now
                    continue
                if path is None:
                    raise _server_error(url, e) from None
                first = (str(getattr(e, "orig", None) or e).strip().splitlines() or ["?"])[0]
                raise StorageError(
                    f"storage {url}: cannot create or open the SQLite file {path} ({first})"
                ) from None
    raise AssertionError("unreachable")


CREATE_ATTEMPTS = 6


def _creation_race(error: BaseException) -> bool:
    """Two workers creating Optuna's tables in a new storage at once: one of them fails."""
    text = str(error).lower()
    return "alembic_version" in text or "already exists" in text or "duplicate key" in text


def _make_folder(path: Path, url: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(
            f"storage {url}: cannot create the folder {path.parent} ({e.strerror or e})"
        ) from None


def _on_stale(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    print(f"trial {trial.number} was left RUNNING by a stopped worker: marked FAIL")


def open_study(spec: StudySpec, study_name: str, storage: BaseStorage) -> optuna.Study:
    """Create the study, or load it and refuse (``SpecMismatch``, nothing written) when its
    stored spec differs from ``spec``."""
    return open_or_create_study(spec, study_name, storage)[0]


def open_or_create_study(
    spec: StudySpec, study_name: str, storage: BaseStorage
) -> tuple[optuna.Study, bool]:
    """``open_study``, also saying whether this call created the study. Safe when several
    workers start at once: one creates it, the others load it (waiting a moment for the spec)."""
    if study_name not in optuna.study.get_all_study_names(storage):
        try:
            study = optuna.create_study(
                study_name=study_name, storage=storage, directions=list(spec.directions)
            )
        except optuna.exceptions.DuplicatedStudyError:
            pass  # another worker was faster
        else:
            study.set_user_attr(schema.STUDY_SPEC, spec.to_dict())
            study.set_user_attr(schema.STUDY_KIND, "search")
            _name_metrics(study, spec)
            return study, True
    study = optuna.load_study(study_name=study_name, storage=storage)
    stored = study.user_attrs.get(schema.STUDY_SPEC)
    for _ in range(20):  # a worker that has just created the study is writing its spec
        if isinstance(stored, dict) or study.get_trials(deepcopy=False):
            break
        time.sleep(0.25)
        stored = study.user_attrs.get(schema.STUDY_SPEC)
    if not isinstance(stored, dict):
        raise SpecMismatch(
            f"study {study_name!r} exists but was not made by lesion-nas search (no spec); "
            "choose another --study"
        )
    diffs = spec.differences(stored)
    if diffs:
        what = "; ".join(spec.describe_difference(stored, d) for d in diffs)
        raise SpecMismatch(
            f"study {study_name!r} was created with other settings ({what}; study vs now): "
            "re-run with the study's settings to resume it, or choose another --study"
        )
    return study, False


def _name_metrics(study: optuna.Study, spec: StudySpec) -> None:
    """Objective names for Optuna (optuna-dashboard shows them instead of 0, 1, 2)."""
    from studies.objectives import metric_names

    with warnings.catch_warnings():  # experimental in some Optuna versions
        warnings.simplefilter("ignore")
        study.set_metric_names(metric_names(spec))


def load_spec(study: optuna.Study) -> StudySpec:
    stored = study.user_attrs.get(schema.STUDY_SPEC)
    if not isinstance(stored, dict):
        raise ValueError(f"study {study.study_name!r} has no lesion-nas spec")
    return StudySpec.from_dict(stored)


def load_existing_study(study_name: str, url: str) -> optuna.Study:
    """Load a study for reading (confirm); clear errors when the storage or study is missing."""
    storage = open_storage(url, create=False)
    names = optuna.study.get_all_study_names(storage)
    if study_name not in names:
        known = ", ".join(names) or "none"
        raise ValueError(f"no study {study_name!r} in {url} (studies there: {known})")
    return optuna.load_study(study_name=study_name, storage=storage)


# ------------------------------------------------------------------------------ stale trials
def stale_trial_ids(study: optuna.Study) -> list[int]:
    """Trial ids of RUNNING trials whose worker stopped stamping them."""
    storage = compat.storage_of(study)
    if compat.heartbeat_enabled(storage):
        return compat.stale_trial_ids(storage, study)
    grace = 2 * heartbeat_interval()
    now = time.time()
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        stamp = t.user_attrs.get(schema.HEARTBEAT)
        if stamp is None and t.datetime_start is not None:
            stamp = t.datetime_start.timestamp()
        if stamp is not None and now - float(stamp) > grace:
            out.append(compat.trial_id(t))
    return out


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Mark stale RUNNING trials FAIL with a ``FAIL_REASON``; returns their numbers."""
    storage = compat.storage_of(study)
    failed = []
    for trial_id in stale_trial_ids(study):
        try:
            storage.set_trial_user_attr(trial_id, schema.FAIL_REASON, STALE_REASON)
            if storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                failed.append(storage.get_trial(trial_id).number)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
    return failed


def beat(trial: optuna.Trial) -> None:
    """Stamp a running trial: Optuna's heartbeat (RDB) or ``schema.HEARTBEAT`` (journal)."""
    storage = compat.storage_of(trial.study)
    try:
        if compat.heartbeat_enabled(storage):
            storage.record_heartbeat(compat.trial_id(trial))
        else:
            trial.set_user_attr(schema.HEARTBEAT, time.time())
    except Exception:  # the trial finished meanwhile
        pass


class Heartbeat:
    """The one heartbeat: a thread that stamps (``beat``) every trial ``trials()`` returns, now
    and then every ``heartbeat_interval()`` seconds, until the context ends. The Optuna backend
    runs one per trial on a journal (RDB storages get Optuna's own thread, as ``optimize`` has:
    ``journal_only``); Ray's driver one over all its open trials, on any storage."""

    def __init__(self, trials: Callable[[], list[optuna.Trial]], journal_only: bool = False):
        self.trials = trials
        self.journal_only = journal_only
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat_all(self) -> None:
        for trial in self.trials():
            if self.journal_only and compat.heartbeat_enabled(compat.storage_of(trial.study)):
                continue
            beat(trial)

    def _run(self) -> None:
        while not self._stop.wait(heartbeat_interval()):
            self._beat_all()

    def __enter__(self) -> Heartbeat:
        self._beat_all()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
