"""The async connection pool the functions and workers share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from openparty.settings import Settings

Connection: TypeAlias = AsyncConnection[DictRow]
Pool: TypeAlias = AsyncConnectionPool[Connection]


def make_pool(conninfo: str, settings: Settings, *, name: str) -> Pool:
    """A pool that opens lazily: the process starts even while the database is away."""
    return AsyncConnectionPool(
        conninfo,
        connection_class=Connection,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_pool_timeout_seconds,
        kwargs={"autocommit": True, "row_factory": dict_row, "application_name": name},
        open=False,
        name=name,
    )


async def fetch_one(conn: Connection, query: str, params: Mapping[str, Any]) -> DictRow:
    """The row of a query that always returns one (a call of one SQL function)."""
    row = await (await conn.execute(query, params)).fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row
