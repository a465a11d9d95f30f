"""The test harness: one embedded Postgres per run, the schema migrated once into
a template, and a fresh database cloned from it for every test that asks."""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from localstack.database import enable_service_logins
from localstack.postgres import FAST_UNSAFE_SETTINGS, LocalPostgres
from openparty.migrate import migrate
from tests.pgrest import Client, claims_for, create_auth_user
from tests.room import tip_room  # noqa: F401  (a fixture for the money tests)

TEMPLATE = "openparty_template"
_counter = itertools.count()


@dataclass
class TestDatabase:
    server: LocalPostgres
    name: str
    admin: psycopg.Connection  # superuser, autocommit: setup and inspection
    _authenticator: psycopg.Connection | None = None

    def url(self, user: str = "postgres") -> str:
        return self.server.url(self.name, user=user)

    def connect(self, user: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.url(user), autocommit=True, **kwargs)

    @property
    def authenticator(self) -> psycopg.Connection:
        if self._authenticator is None:
            self._authenticator = self.connect("authenticator")
        return self._authenticator

    def create_user(self, username: str | None = None, **kwargs) -> uuid.UUID:
        metadata = kwargs.pop("metadata", {})
        if username:
            metadata = {"username": username, **metadata}
        return create_auth_user(self.admin, metadata=metadata, **kwargs)

    def as_user(self, user_id: uuid.UUID, conn: psycopg.Connection | None = None) -> Client:
        return Client(conn or self.authenticator, "authenticated", claims_for(user_id, "authenticated"))

    def anon(self) -> Client:
        return Client(self.authenticator, "anon", claims_for(None, "anon"))

    def service(self) -> Client:
        return Client(self.authenticator, "service_role", claims_for(None, "service_role"))

    def close(self) -> None:
        if self._authenticator is not None:
            self._authenticator.close()
        self.admin.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    base = Path(tempfile.mkdtemp(prefix="openparty-test-pg-"))
    # Small shared_buffers: creating and dropping a database scans them all,
    # and the suite does that for every test.
    server = LocalPostgres(base, settings={**FAST_UNSAFE_SETTINGS, "shared_buffers": "32MB"})
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def template_db(pg_server: LocalPostgres) -> str:
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"create database {TEMPLATE}")
    url = pg_server.url(TEMPLATE)
    migrate(url, stand_ins=True)
    enable_service_logins(url)
    return TEMPLATE


def clone_database(server: LocalPostgres, template: str) -> str:
    name = f"t_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"create database {name} template {template} strategy wal_log")
    return name


def drop_database(server: LocalPostgres, name: str) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def db(pg_server: LocalPostgres, template_db: str) -> Iterator[TestDatabase]:
    """A fresh, fully migrated database of the test's own."""
    name = clone_database(pg_server, template_db)
    database = TestDatabase(pg_server, name, psycopg.connect(pg_server.url(name), autocommit=True))
    try:
        yield database
    finally:
        database.close()
        drop_database(pg_server, name)


@pytest.fixture
def empty_db(pg_server: LocalPostgres) -> Iterator[TestDatabase]:
    """A database with nothing in it: for migrating from zero."""
    name = f"e_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"create database {name}")
    database = TestDatabase(pg_server, name, psycopg.connect(pg_server.url(name), autocommit=True))
    try:
        yield database
    finally:
        database.close()
        drop_database(pg_server, name)
