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


# What a listener may write directly (issue 10): joins and leaves are participation_requests
# whose trigger holds every rule; their own participant row takes only the heartbeat.

def test_a_listeners_direct_writes_to_their_row_are_only_the_heartbeat(db):
    session = go_live(db, make_dj(db))
    listener_id, other = join(db, session["id"], "listener"), join(db, session["id"], "other")
    listener = db.as_user(listener_id)
    for assignment in ("left_at = now()", "left_at = null", "joined_at = now() - interval '1 day'",
                       "last_message_at = null", "announced_at = now()", "user_id = user_id"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            listener.sql(f"update public.session_participants set {assignment}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        listener.sql("insert into public.session_participants (session_id, user_id) values (%s, %s)",
                     (session["id"], listener_id))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        listener.sql("delete from public.session_participants")
    # the heartbeat: stamped now() whatever the app sends, own present row only
    touched = listener.sql("update public.session_participants set last_seen_at = now() + interval '1 day' "
                           "returning user_id")
    assert [r["user_id"] for r in touched] == [listener_id]
    assert db.admin.execute("select now() - last_seen_at < interval '5 s' from public.session_participants "
                            "where user_id = %s", (listener_id,)).fetchone()[0]
    listener.rpc("leave_session", p_session_id=session["id"])
    assert listener.sql("update public.session_participants set last_seen_at = now() returning 1") == []
    assert other in {r["user_id"] for r in db.as_user(other).sql("select user_id from public.session_participants")}


def test_direct_join_requests_hold_every_rule(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id, max_participants=1)
    ask = "insert into public.participation_requests (session_id, action) values (%s, %s)"
    troll = join(db, session["id"], "troll")
    db.as_user(dj_id).rpc_rows("ban_user", p_session_id=session["id"], p_user_id=troll)
    with refused("PT403", "banned"):
        db.as_user(troll).sql(ask, (session["id"], "join"))
    blocked = db.create_user("blocked")
    db.as_user(dj_id).sql("insert into public.user_blocks (blocked_id) values (%s)", (blocked,))
    with refused("PT403", "cannot join"):
        db.as_user(blocked).sql(ask, (session["id"], "join"))
    with refused("PT409", "you host"):
        db.as_user(dj_id).sql(ask, (session["id"], "join"))
    first, second = (db.as_user(db.create_user(n)) for n in ("first", "second"))
    first.sql(ask, (session["id"], "join"))
    with refused("PT409", "full"):
        second.sql(ask, (session["id"], "join"))
    later = db.as_user(dj_id).one("insert into public.sessions (title) values ('later') returning id")
    with refused("PT409", "not live"):
        second.sql(ask, (later["id"], "join"))
    with refused("PT404", "not found"):
        second.sql(ask, ("00000000-0000-4000-8000-00000000dead", "join"))
    # for yourself only, and nothing else than join or leave
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        second.sql("insert into public.participation_requests (session_id, user_id, action) values (%s, %s, 'leave')",
                   (session["id"], first.user_id))
    with pytest.raises(psycopg.errors.CheckViolation):
        second.sql(ask, (session["id"], "kick"))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.anon().sql(ask, (session["id"], "join"))
    # a stranger's leave changes nothing; a listener's leave is the RPC's
    second.sql(ask, (session["id"], "leave"))
    assert session_row(db, session["id"])["listener_count"] == 1
    first.sql(ask, (session["id"], "leave"))
    assert session_row(db, session["id"])["listener_count"] == 0
    assert db.admin.execute("select count(*) from public.participation_requests").fetchone()[0] == 0


def test_leaves_racing_the_end_of_the_session_neither_deadlock_nor_leave_anyone_present(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id, max_participants=1000)
    users = [join(db, session["id"], f"u{n}") for n in range(11)]

    def leave_or_end(client):
        if client.user_id == users[0]:
            db.as_user(dj_id, client.conn).rpc_rows("end_session", p_session_id=session["id"])
        else:
            client.rpc("leave_session", p_session_id=session["id"])

    outcomes = race(db, users, leave_or_end)
    assert set(outcomes.values()) == {"ok"}, outcomes  # no 40P01
    present = db.admin.execute("select count(*) from public.session_participants where left_at is null").fetchone()[0]
    row = session_row(db, session["id"])
    assert (present, row["listener_count"], row["status"]) == (0, 0, "ended")


@pytest.mark.parametrize("action", ["leave", "join"])
def test_a_direct_request_is_checked_before_the_room_is_locked(db, action):
    """A stranger's leave and a banned user's join, inserted directly while the room's row is held,
    answer at once (a lock timeout, 55P03, would mean they waited for the lock)."""
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    banned = join(db, session["id"], "banned")
    db.as_user(dj_id).rpc_rows("ban_user", p_session_id=session["id"], p_user_id=banned)
    caller = banned if action == "join" else db.create_user("stranger")
    with db.connect() as busy, busy.transaction(force_rollback=True):
        busy.execute("select 1 from public.sessions where id = %s for update", (session["id"],))
        with db.connect("authenticator") as conn:
            client = db.as_user(caller, conn)
            conn.execute("set lock_timeout = '300ms'")
            ask = "insert into public.participation_requests (session_id, action) values (%s, %s)"
            if action == "join":
                with refused("PT403", "banned"):
                    client.sql(ask, (session["id"], action))
            else:
                client.sql(ask, (session["id"], action))
