"""Helpers for tests of the live room: DJs, live sessions, listeners, expected errors."""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest


@contextmanager
def refused(sqlstate: str, match: str | None = None):
    """The request fails with this SQLSTATE (PTxyz: PostgREST answers HTTP xyz)."""
    with pytest.raises(psycopg.Error) as caught:
        yield caught
    assert caught.value.sqlstate == sqlstate, f"{caught.value.sqlstate}: {caught.value}"
    if match:
        assert re.search(match, str(caught.value)), str(caught.value)


def make_dj(db, username: str = "dj") -> uuid.UUID:
    dj_id = db.create_user(username)
    db.as_user(dj_id).sql("update public.profiles set is_dj = true where id = %s", (dj_id,))
    return dj_id


def go_live(db, dj_id: uuid.UUID, title: str = "Friday set", **settings: Any) -> dict:
    dj = db.as_user(dj_id)
    session = dj.rpc_rows("go_live", p_title=title, p_genres=settings.pop("genres", ["house"]))[0]
    if settings:
        assignments = ", ".join(f"{column} = %({column})s" for column in settings)
        dj.sql(f"update public.sessions set {assignments} where id = %(id)s", {**settings, "id": session["id"]})
    return session


def join(db, session_id: uuid.UUID, username: str | None = None) -> uuid.UUID:
    user_id = db.create_user(username)
    db.as_user(user_id).rpc_rows("join_session", p_session_id=session_id)
    return user_id


def session_row(db, session_id: uuid.UUID) -> dict:
    return db.service().one("select * from public.sessions where id = %s", (session_id,))


def broadcasts(db, topic: str, event: str | None = None) -> list[dict]:
    rows = db.admin.execute(
        "select event, payload from realtime.messages where topic = %s and (%s::text is null or event = %s) "
        "order by inserted_at, id", (topic, event, event)).fetchall()
    return [{"event": e, **p} for e, p in rows]


# A live room whose DJ can receive tips (an onboarded Stripe connected account).
ACCOUNT_ID = "acct_1DjNova000000"


@pytest.fixture
def tip_room(db):
    dj_id = make_dj(db)
    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id, charges_enabled, payouts_enabled, "
                     "details_submitted) values (%s, %s, true, true, true)", (dj_id, ACCOUNT_ID))
    session = go_live(db, dj_id)
    return {"dj": dj_id, "session": session["id"], "listener": join(db, session["id"], "listener")}
