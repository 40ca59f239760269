"""A throwaway PostgreSQL server for the test session.

``MLTRACK_TEST_POSTGRES_URL`` points the tests at an existing server; otherwise
a cluster is created in a temporary folder with the system's initdb/pg_ctl
(as the ``postgres`` user when running as root) on a free loopback port.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.url: str | None = os.environ.get("MLTRACK_TEST_POSTGRES_URL")
        self.datadir: str | None = None
        self._as_user: list[str] = []
        self.unavailable: str | None = None

    def start(self) -> None:
        if self.url:
            return
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not pg_ctl:
            self.unavailable = (
                "PostgreSQL is not installed (no initdb/pg_ctl); `bash .ci/run` installs it, "
                "or set MLTRACK_TEST_POSTGRES_URL"
            )
            return
        root = tempfile.mkdtemp(prefix="mltrack-pg-")
        self.datadir = os.path.join(root, "data")
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        port = _free_port()
        self._run([initdb, "-D", self.datadir, "-U", "postgres", "--auth=trust",
                   "--no-sync", "-E", "UTF8"])
        opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([pg_ctl, "-D", self.datadir, "-o", opts, "-l",
                   os.path.join(root, "log"), "-w", "-t", "60", "start"])
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, cmd: list[str]) -> None:
        subprocess.run([*self._as_user, *cmd], check=True, capture_output=True, timeout=120)

    def new_database(self) -> str:
        """A fresh empty database; returns its URL."""
        import sqlalchemy as sa

        assert self.url is not None
        name = f"t{int(time.time() * 1e6) % 10**12}_{os.getpid()}"
        engine = sa.create_engine(
            self.url.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine.dispose()
        return self.url.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, url: str) -> None:
        """Drop a database made by new_database, even with connections still open."""
        import sqlalchemy as sa

        assert self.url is not None
        name = url.rsplit("/", 1)[1]
        engine = sa.create_engine(
            self.url.replace("postgresql://", "postgresql+psycopg://"),
            isolation_level="AUTOCOMMIT",
        )
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()

    def stop(self) -> None:
        if self.datadir and _bin("pg_ctl"):
            subprocess.run([*self._as_user, str(_bin("pg_ctl")), "-D", self.datadir, "-m",
                            "immediate", "stop"], capture_output=True, timeout=60)
            shutil.rmtree(Path(self.datadir).parent, ignore_errors=True)
