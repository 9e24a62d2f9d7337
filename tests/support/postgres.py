"""A throwaway PostgreSQL cluster from Debian's postgresql-15 binaries, on a free port.

Runs as the `postgres` OS user (initdb refuses root) in a temporary directory; trust
authentication on 127.0.0.1 only. Install the binaries with `apt-get install postgresql`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from .ports import free_port

PG_BIN = Path(os.environ.get("MLOPS_HUB_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresCluster:
    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"{PG_BIN}/initdb not found: apt-get install -y postgresql")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mlops-hub-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self._started = False

    def _as_postgres(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresCluster:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        # fsync off: a test database does not need to survive a crash, and it is faster
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                          "-o", opts, "-w", "-t", "60", "start")
        self._started = True
        return self

    def create_database(self, name: str) -> str:
        self._as_postgres(str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                          "-U", "postgres", "-c", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str) -> str:
        # SQLAlchemy 2.1 defaults postgresql:// to psycopg 3; the tests install psycopg2
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self._started:
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                              "-w", "stop")
            self._started = False
        shutil.rmtree(self.dir, ignore_errors=True)
