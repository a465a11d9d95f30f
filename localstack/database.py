"""The local stack's database: the embedded Postgres under .local/, migrated.

`DATABASE_URL` replaces all of this with any other Postgres 15+.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from localstack.postgres import FAST_UNSAFE_SETTINGS, LocalPostgres
from openparty.migrate import migrate
from openparty.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = REPO_ROOT / ".local" / "postgres"
DATABASE = "openparty"
# Roles our migrations create (nologin); locally they log in over trust auth.
SERVICE_ROLES = ("openparty_edge", "openparty_worker")


@dataclass(frozen=True)
class LocalDatabase:
    server: LocalPostgres
    admin_url: str
    name: str = DATABASE

    def url_for(self, role: str) -> str:
        return self.server.url(self.name, user=role)


def ensure_local_database(base_dir: Path = LOCAL_DIR) -> LocalDatabase:
    """Start the embedded server (or find it running) and create the database."""
    server = LocalPostgres(base_dir, port=get_settings().local_pg_port)
    server.start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f"create database {DATABASE}")
    return LocalDatabase(server, server.url(DATABASE))


def enable_service_logins(admin_url: str) -> None:
    """Let the edge and worker roles log in (local only; on Supabase set a password)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role in SERVICE_ROLES:
            conn.execute(f"alter role {role} login")


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A throwaway server with a database migrated from supabase/ (stand-ins
    included): its URL, for tools that read the schema (snapshot, app types)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as base:
        server = LocalPostgres(Path(base), settings=FAST_UNSAFE_SETTINGS)
        server.start()
        try:
            migrate(server.url(), stand_ins=True)
            yield server.url()
        finally:
            server.stop()
