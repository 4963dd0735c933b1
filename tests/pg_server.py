"""A private PostgreSQL server for the tests: a fresh cluster in a temporary folder, listening on a
free port of 127.0.0.1 only, password authentication over TCP, stopped and deleted afterwards.

Found from ``LESION_NAS_PG_BIN`` or Debian's ``/usr/lib/postgresql/<version>/bin`` (the
``postgresql`` package; ``.ci/run`` installs it) or ``initdb`` on the PATH. As root the server runs
as the ``postgres`` user (PostgreSQL refuses root). Tests that need it skip with the reason when
it cannot be started, unless ``LESION_NAS_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it): then they fail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "lesion", "lesion-test-pw"


def _bindir() -> Path | None:
    env = os.environ.get("LESION_NAS_PG_BIN")
    if env:
        return Path(env)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    base: Path
    port: int
    bindir: Path
    run_as: list[str]

    def url(self, database: str, user: str = USER, password: str = PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> list[tuple]:
        """Run ``sql`` on the ``postgres`` database (autocommit: CREATE DATABASE works)."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str) -> str:
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def databases(self) -> set[str]:
        return {r[0] for r in self.admin("SELECT datname FROM pg_database")}

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.base / "data"), "-m",
             "immediate", "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


def start() -> tuple[PgServer | None, str]:
    """(server, "") or (None, why it could not be started)."""
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").is_file():
        return None, "no PostgreSQL server binaries (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, 'no psycopg driver (pip install -e ".[postgres]")'
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="lesion-nas-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no 'postgres' user to run the server"
        os.chown(base, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    base.chmod(0o700)
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if run_as:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    steps = [
        [str(bindir / "initdb"), "-D", str(base / "data"), "-U", USER, f"--pwfile={pwfile}",
         "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-instructions"],
        [str(bindir / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "log"), "-w", "-t",
         "60", "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
         "-c synchronous_commit=off -c full_page_writes=off", "start"],
    ]  # fmt: skip
    for cmd in steps:
        done = subprocess.run([*run_as, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = (base / "log").read_text()[-500:] if (base / "log").is_file() else ""
            shutil.rmtree(base, ignore_errors=True)
            return None, f"{Path(cmd[0]).name} failed: {(done.stderr or done.stdout)[-500:]} {log}"
    return PgServer(base, port, bindir, run_as), ""
