"""The async connection pool the functions and workers share."""

from __future__ import annotations

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from openparty.settings import Settings


def make_pool(conninfo: str, settings: Settings, *, name: str) -> AsyncConnectionPool:
    """A pool that opens lazily: the process starts even while the database is away."""
    return AsyncConnectionPool(
        conninfo,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_pool_timeout_seconds,
        kwargs={"autocommit": True, "row_factory": dict_row, "application_name": name},
        open=False,
        name=name,
    )


def edge_conninfo(settings: Settings) -> str:
    url = settings.edge_database_url or settings.database_url
    if url is None:
        raise RuntimeError("set OPENPARTY_EDGE_DATABASE_URL (or DATABASE_URL)")
    return url


def worker_conninfo(settings: Settings) -> str:
    url = settings.worker_database_url or settings.database_url
    if url is None:
        raise RuntimeError("set OPENPARTY_WORKER_DATABASE_URL (or DATABASE_URL)")
    return url
