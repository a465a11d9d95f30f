"""Run SQL the way PostgREST runs a request, and create users the way Supabase Auth does.

Each call is one transaction on a connection logged in as `authenticator`:
`set local role <role>`, `request.jwt.claims` set for the transaction, then the
statement; commit on success, roll back on error (what the app would see).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row


def claims_for(user_id: uuid.UUID | None, role: str, **extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"role": role, **extra}
    if user_id is not None:
        claims |= {"sub": str(user_id), "aud": "authenticated", "is_anonymous": False}
    return claims


@dataclass
class Client:
    """One app client: a role plus JWT claims, reusing one authenticator connection."""

    conn: psycopg.Connection
    role: str
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> uuid.UUID | None:
        sub = self.claims.get("sub")
        return uuid.UUID(sub) if sub else None

    def sql(self, query: str, params: Any = None) -> list[dict[str, Any]]:
        with self.conn.transaction(), self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"set local role {self.role}")
            cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(self.claims),))
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def one(self, query: str, params: Any = None) -> dict[str, Any] | None:
        rows = self.sql(query, params)
        return rows[0] if rows else None

    def value(self, query: str, params: Any = None) -> Any:
        row = self.one(query, params)
        return None if row is None else next(iter(row.values()))

    def rpc(self, function: str, **args: Any) -> Any:
        """POST /rest/v1/rpc/<function> with named arguments; returns its result."""
        named = ", ".join(f"{name} => %({name})s" for name in args)
        return self.value(f"select public.{function}({named}) as result", args)

    def rpc_rows(self, function: str, **args: Any) -> list[dict[str, Any]]:
        named = ", ".join(f"{name} => %({name})s" for name in args)
        return self.sql(f"select * from public.{function}({named})", args)


def create_auth_user(admin: psycopg.Connection, *, email: str | None = None, phone: str | None = None,
                     metadata: dict[str, Any] | None = None, user_id: uuid.UUID | None = None) -> uuid.UUID:
    """Insert into auth.users as Supabase Auth does (as supabase_auth_admin)."""
    user_id = user_id or uuid.uuid4()
    with admin.transaction():
        admin.execute("set local role supabase_auth_admin")
        admin.execute(
            """insert into auth.users (id, aud, role, email, phone, raw_user_meta_data, raw_app_meta_data,
                                       email_confirmed_at, created_at, updated_at)
               values (%s, 'authenticated', 'authenticated', %s, %s, %s, '{"provider": "email"}', now(), now(), now())""",
            (user_id, email or f"{user_id.hex[:12]}@example.test", phone, json.dumps(metadata or {})),
        )
    return user_id
