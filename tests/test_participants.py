"""Joining and leaving: live sessions only, capacity, bans and blocks, exact counts."""

import threading

import psycopg
import pytest

from tests.room import go_live, join, make_dj, refused, session_row


def test_join_leave_and_rejoin_keep_exact_counts(db):
    session = go_live(db, make_dj(db))
    listener_id = db.create_user("listener")
    listener = db.as_user(listener_id)
    joined = listener.rpc_rows("join_session", p_session_id=session["id"])[0]
    assert joined["user_id"] == listener_id and joined["left_at"] is None
    listener.rpc_rows("join_session", p_session_id=session["id"])  # idempotent
    assert session_row(db, session["id"])["listener_count"] == 1
    assert listener.rpc("leave_session", p_session_id=session["id"]) is True
    assert listener.rpc("leave_session", p_session_id=session["id"]) is False
    assert session_row(db, session["id"])["listener_count"] == 0
    listener.rpc_rows("join_session", p_session_id=session["id"])
    row = session_row(db, session["id"])
    assert (row["listener_count"], row["peak_listener_count"], row["total_listener_count"]) == (1, 1, 1)


def test_only_live_sessions_can_be_joined(db):
    dj_id = make_dj(db)
    scheduled = db.as_user(dj_id).one("insert into public.sessions (title) values ('later') returning id")
    listener = db.as_user(db.create_user("listener"))
    with refused("PT409", "not live"):
        listener.rpc_rows("join_session", p_session_id=scheduled["id"])
    with refused("PT404", "session not found"):
        listener.rpc_rows("join_session", p_session_id="00000000-0000-4000-8000-00000000dead")
    with refused("PT409", "you host this session"):
        db.as_user(dj_id).rpc_rows("join_session", p_session_id=go_live(db, dj_id)["id"])


def test_a_full_session_refuses_more_listeners(db):
    session = go_live(db, make_dj(db), max_participants=2)
    join(db, session["id"], "one")
    join(db, session["id"], "two")
    with refused("PT409", "full"):
        join(db, session["id"], "three")
    assert session_row(db, session["id"])["listener_count"] == 2


def test_the_djs_plan_caps_max_participants(db):
    session = go_live(db, make_dj(db), max_participants=1000)
    db.admin.execute("update public.plans set max_participants = 1 where id = 'free'")
    join(db, session["id"], "one")
    with refused("PT409", "full"):
        join(db, session["id"], "two")


def test_banned_and_blocked_users_cannot_join(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    troll = join(db, session["id"], "troll")
    db.as_user(dj_id).rpc_rows("ban_user", p_session_id=session["id"], p_user_id=troll, p_reason="spam")
    assert session_row(db, session["id"])["listener_count"] == 0
    with refused("PT403", "banned"):
        db.as_user(troll).rpc_rows("join_session", p_session_id=session["id"])

    blocked = db.create_user("blocked")
    db.as_user(dj_id).sql("insert into public.user_blocks (blocked_id) values (%s)", (blocked,))
    with refused("PT403", "cannot join"):
        db.as_user(blocked).rpc_rows("join_session", p_session_id=session["id"])


def test_participant_list_is_visible_to_participants_and_the_dj_only(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    first = join(db, session["id"], "first")
    join(db, session["id"], "second")
    query = "select user_id from public.session_participants where session_id = %s"
    assert len(db.as_user(first).sql(query, (session["id"],))) == 2
    assert len(db.as_user(dj_id).sql(query, (session["id"],))) == 2
    assert db.as_user(db.create_user("stranger")).sql(query, (session["id"],)) == []
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.anon().sql(query, (session["id"],))
    db.as_user(first).rpc("leave_session", p_session_id=session["id"])
    assert [r["user_id"] for r in db.as_user(first).sql(query, (session["id"],))] == [first]


def test_ending_closes_every_participation(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    for n in range(3):
        join(db, session["id"], f"l{n}")
    db.as_user(dj_id).rpc_rows("end_session", p_session_id=session["id"])
    open_rows = db.admin.execute("select count(*) from public.session_participants where left_at is null").fetchone()
    assert open_rows[0] == 0
    assert session_row(db, session["id"])["listener_count"] == 0


def race(db, users, action):
    """Run action(client) for every user at once, each on its own connection."""
    barrier = threading.Barrier(len(users))
    outcomes = {}

    def run(user_id):
        with db.connect("authenticator") as conn:
            client = db.as_user(user_id, conn)
            barrier.wait()
            try:
                action(client)
                outcomes[user_id] = "ok"
            except psycopg.Error as exc:
                outcomes[user_id] = exc.sqlstate

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return outcomes


def test_concurrent_joins_and_leaves_keep_the_count_exact(db):
    session = go_live(db, make_dj(db), max_participants=1000)
    users = [db.create_user(f"u{n}") for n in range(24)]
    race(db, users, lambda c: c.rpc_rows("join_session", p_session_id=session["id"]))
    assert session_row(db, session["id"])["listener_count"] == 24

    def churn(client):
        if client.user_id in users[:12]:
            client.rpc("leave_session", p_session_id=session["id"])
        else:
            client.rpc_rows("join_session", p_session_id=session["id"])

    race(db, users, churn)
    present = db.admin.execute("select count(*) from public.session_participants where left_at is null").fetchone()[0]
    row = session_row(db, session["id"])
    assert present == 12 and row["listener_count"] == 12 and row["peak_listener_count"] == 24


def test_concurrent_joins_never_exceed_capacity(db):
    session = go_live(db, make_dj(db), max_participants=5)
    users = [db.create_user(f"u{n}") for n in range(12)]
    outcomes = race(db, users, lambda c: c.rpc_rows("join_session", p_session_id=session["id"]))
    assert sorted(outcomes.values()).count("ok") == 5
    assert set(outcomes.values()) == {"ok", "PT409"}
    assert session_row(db, session["id"])["listener_count"] == 5
