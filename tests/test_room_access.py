"""Who may see which room: private.room_access, kept by triggers, is exact after
every path that changes a user's standing in a room (issue 10: the room helpers
became security invoker and read it).

After each path, two things are compared with the tables that say the facts:
- room_access itself, row by row (who hosts, is present, moderates, is banned);
- what each user gets from the helpers, run as that user, against the
  definitions the helpers had as security definer functions (the four-way
  union below), plus what the user can read (the room's messages) and whether
  Realtime lets them receive `session:<id>`.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from tests.room import go_live, join, make_dj, refused
from tests.test_realtime import realtime_authorizes

SEND = "insert into public.messages (session_id, body) values (%s, %s) returning id"

# The facts, straight from the tables that say them.
FACTS = """
select u, s, bool_or(f = 'hosts'), bool_or(f = 'present'), bool_or(f = 'moderates'), bool_or(f = 'banned')
from (select dj_id, id, 'hosts' from public.sessions
      union all select user_id, session_id, 'present' from public.session_participants where left_at is null
      union all select user_id, session_id, 'moderates' from public.session_moderators
      union all select user_id, session_id, 'banned' from public.session_sanctions where kind = 'ban') as f (u, s, f)
group by u, s order by u, s
"""

# The helpers' meaning, as their security definer bodies said it before room_access.
READ = """
select p.session_id from public.session_participants p where p.user_id = %(u)s and p.left_at is null
union select s.id from public.sessions s where s.dj_id = %(u)s
union select m.session_id from public.session_moderators m where m.user_id = %(u)s
except select x.session_id from public.session_sanctions x where x.user_id = %(u)s and x.kind = 'ban'
"""
MODERATE = """
select s.id from public.sessions s where s.dj_id = %(u)s
union select m.session_id from public.session_moderators m where m.user_id = %(u)s
except select x.session_id from public.session_sanctions x where x.user_id = %(u)s and x.kind = 'ban'
"""
HOST = "select s.id from public.sessions s where s.dj_id = %(u)s"


def ids(rows) -> set:
    return {r[0] for r in rows}


def assert_exact(db, *users: uuid.UUID) -> None:
    """room_access is the facts; each user's helpers mean what they meant."""
    stored = db.admin.execute("select user_id, session_id, hosts, present, moderates, banned "
                              "from private.room_access order by 1, 2").fetchall()
    assert stored == db.admin.execute(FACTS).fetchall()
    everyone = users or ids(db.admin.execute("select id from public.profiles").fetchall())
    for user in everyone:
        for helper, oracle in (("my_session_ids", READ), ("my_moderated_session_ids", MODERATE),
                               ("my_hosted_session_ids", HOST)):
            got = {r[helper] for r in db.as_user(user).sql(f"select private.{helper}() as {helper}")}
            assert got == ids(db.admin.execute(oracle, {"u": user}).fetchall()), (helper, user)


def sees(db, user: uuid.UUID, session: uuid.UUID) -> dict:
    """What the user notices: the room's chat, its participant list, its
    moderation log, and the Realtime topic."""
    me = db.as_user(user)
    return {
        "messages": me.value("select count(*) from public.messages where session_id = %s", (session,)),
        "others_listed": me.value("select count(*) from public.session_participants where session_id = %s "
                                  "and user_id <> %s", (session, user)) > 0,
        "moderation_log": me.value("select count(*) from public.moderation_actions where session_id = %s",
                                   (session,)) > 0,
        "topic": realtime_authorizes(db, user, f"session:{session}"),
    }


OUTSIDE = {"messages": 0, "others_listed": False, "moderation_log": False, "topic": False}


@pytest.fixture
def room(db):
    """A live room: its DJ, a listener who said something, a moderator (also
    present), and a stranger; the moderation log has the appointment."""
    dj = make_dj(db)
    session = go_live(db, dj)["id"]
    listener = join(db, session, "listener")
    moderator = join(db, session, "moderator")
    db.as_user(dj).sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)",
                       (session, moderator))
    db.as_user(listener).sql(SEND, (session, "hello"))
    return {"dj": dj, "session": session, "listener": listener, "moderator": moderator,
            "stranger": db.create_user("stranger")}


def listening(n_messages: int = 1) -> dict:
    return {"messages": n_messages, "others_listed": True, "moderation_log": False, "topic": True}


def moderating(n_messages: int = 1) -> dict:
    return {"messages": n_messages, "others_listed": True, "moderation_log": True, "topic": True}


def test_going_live_and_scheduling_make_the_dj_the_host(db, room):
    assert sees(db, room["dj"], room["session"]) == moderating()
    scheduled = db.as_user(room["dj"]).value(
        "insert into public.sessions (title, scheduled_for) values ('Later', now() + interval '1 day') returning id")
    assert db.as_user(room["dj"]).value("select %s in (select private.my_hosted_session_ids())", (scheduled,))
    assert db.as_user(room["dj"]).value("select %s in (select private.my_moderated_session_ids())", (scheduled,))
    assert realtime_authorizes(db, room["dj"], f"session:{scheduled}")
    assert not realtime_authorizes(db, room["listener"], f"session:{scheduled}")
    assert_exact(db)


def test_joining_leaving_and_rejoining(db, room):
    session, newcomer = room["session"], db.create_user("newcomer")
    assert sees(db, newcomer, session) == OUTSIDE
    db.as_user(newcomer).rpc_rows("join_session", p_session_id=session)
    assert sees(db, newcomer, session) == listening()
    assert_exact(db)
    assert db.as_user(newcomer).rpc("leave_session", p_session_id=session) is True
    assert sees(db, newcomer, session)["messages"] == 0
    assert not realtime_authorizes(db, newcomer, f"session:{session}")
    assert db.admin.execute("select count(*) from private.room_access where user_id = %s",
                            (newcomer,)).fetchone()[0] == 0  # nothing left: the row is gone
    assert_exact(db)
    db.as_user(newcomer).rpc_rows("join_session", p_session_id=session)  # the participant row comes back
    assert sees(db, newcomer, session) == listening()
    db.as_user(newcomer).rpc_rows("join_session", p_session_id=session)  # joining twice changes nothing
    assert_exact(db)


def test_a_heartbeat_or_a_chat_line_does_not_touch_room_access(db, room):
    session, listener = room["session"], room["listener"]
    before = db.admin.execute("select xmin::text from private.room_access where user_id = %s", (listener,)).fetchone()
    db.as_user(listener).rpc("session_heartbeat", p_session_id=session)
    db.admin.execute("update public.session_participants set last_message_at = null")  # a fresh send slot
    db.as_user(listener).sql(SEND, (session, "again"))
    after = db.admin.execute("select xmin::text from private.room_access where user_id = %s", (listener,)).fetchone()
    assert before == after  # the row was not rewritten: no write on the chat path
    assert_exact(db)


def test_ending_the_session_closes_listeners_out_and_keeps_the_dj_and_moderators(db, room):
    session = room["session"]
    db.as_user(room["dj"]).rpc_rows("end_session", p_session_id=session)
    assert sees(db, room["listener"], session) == OUTSIDE
    assert sees(db, room["dj"], session)["messages"] == 1  # history of their own room
    assert sees(db, room["moderator"], session)["moderation_log"]
    assert_exact(db)


def test_the_idle_sweep_closes_a_participation(db, room):
    db.admin.execute("update public.session_participants set last_seen_at = now() - interval '1 hour' "
                     "where user_id = %s", (room["listener"],))
    assert db.admin.execute("select private.close_idle_participations(interval '10 minutes', 100)").fetchone()[0] == 1
    assert sees(db, room["listener"], room["session"]) == OUTSIDE
    assert_exact(db)


def test_appointing_and_removing_a_moderator(db, room):
    session, dj, stranger = room["session"], room["dj"], room["stranger"]
    db.as_user(dj).sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)",
                       (session, stranger))
    assert sees(db, stranger, session) == moderating()  # a moderator who never joined sees the room
    assert_exact(db)
    db.as_user(dj).sql("delete from public.session_moderators where session_id = %s and user_id = %s",
                       (session, stranger))
    assert sees(db, stranger, session) == OUTSIDE
    # the moderator who is also present keeps the room as a listener
    db.as_user(dj).sql("delete from public.session_moderators where session_id = %s and user_id = %s",
                       (session, room["moderator"]))
    assert sees(db, room["moderator"], session) == listening()
    assert_exact(db)


def test_a_timeout_hides_nothing(db, room):
    db.as_user(room["dj"]).rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=room["listener"],
                                    p_seconds=60)
    assert sees(db, room["listener"], room["session"]) == listening()
    db.as_user(room["dj"]).rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=room["moderator"],
                                    p_seconds=60)
    assert sees(db, room["moderator"], room["session"]) == moderating()
    assert_exact(db)


def test_a_ban_hides_the_room_and_unbanning_gives_back_only_what_other_rows_give(db, room):
    session, dj, listener = room["session"], room["dj"], room["listener"]
    db.as_user(dj).rpc_rows("timeout_user", p_session_id=session, p_user_id=listener, p_seconds=60)
    db.as_user(dj).rpc_rows("ban_user", p_session_id=session, p_user_id=listener)  # a timeout becomes a ban
    assert sees(db, listener, session) == OUTSIDE
    assert_exact(db)
    assert db.as_user(dj).rpc("unban_user", p_session_id=session, p_user_id=listener) is True
    assert sees(db, listener, session) == OUTSIDE  # the ban closed the participation: rejoin to see it again
    assert_exact(db)
    db.as_user(listener).rpc_rows("join_session", p_session_id=session)
    assert sees(db, listener, session) == listening()
    assert_exact(db)


def test_a_platform_ban_over_a_moderator_row_and_its_lifting(db, room):
    """service_role bans a moderator and leaves their row: the ban hides the
    room; lifting it (deleting the sanction, or making it a timeout) gives
    moderation back."""
    session, moderator = room["session"], room["moderator"]
    service = db.service()
    service.sql("insert into public.session_sanctions (session_id, user_id, kind) values (%s, %s, 'ban')",
                (session, moderator))
    assert sees(db, moderator, session) == OUTSIDE
    assert_exact(db)
    service.sql("update public.session_sanctions set kind = 'timeout', until = now() + interval '1 minute' "
                "where user_id = %s", (moderator,))
    assert sees(db, moderator, session) == moderating()
    service.sql("update public.session_sanctions set kind = 'ban', until = null where user_id = %s", (moderator,))
    assert sees(db, moderator, session) == OUTSIDE
    service.sql("delete from public.session_sanctions where user_id = %s", (moderator,))
    assert sees(db, moderator, session) == moderating()
    assert_exact(db)


def test_rows_moved_by_the_platform(db, room):
    """service_role may rewrite who a row is about: the old user loses what it
    gave, the new one gains it."""
    session, service, stranger = room["session"], db.service(), room["stranger"]
    other_dj = make_dj(db, "other_dj")
    service.sql("update public.sessions set dj_id = %s where id = %s", (other_dj, session))
    assert not db.as_user(room["dj"]).value("select %s in (select private.my_session_ids())", (session,))
    assert db.as_user(other_dj).value("select %s in (select private.my_moderated_session_ids())", (session,))
    service.sql("update public.session_participants set user_id = %s where user_id = %s", (stranger, room["listener"]))
    service.sql("update public.session_moderators set user_id = %s where user_id = %s", (room["dj"], room["moderator"]))
    assert sees(db, stranger, session) == listening()
    assert sees(db, room["listener"], session) == OUTSIDE
    assert_exact(db)
    service.sql("delete from public.session_participants where user_id = %s", (stranger,))
    assert sees(db, stranger, session) == OUTSIDE
    assert_exact(db)


def test_deleting_a_listeners_account(db, room):
    """The listener is present in the room and banned from another: both rows go."""
    other_dj = make_dj(db, "other_dj")
    other = go_live(db, other_dj, "Another room")["id"]
    db.as_user(other_dj).rpc_rows("ban_user", p_session_id=other, p_user_id=room["listener"])
    assert db.admin.execute("select count(*) from private.room_access where user_id = %s",
                            (room["listener"],)).fetchone()[0] == 2
    db.admin.execute("select private.request_account_deletion(%s)", (room["listener"],))
    assert db.admin.execute("select count(*) from private.room_access where user_id = %s",
                            (room["listener"],)).fetchone()[0] == 0
    assert_exact(db)


def test_deleting_a_djs_account_takes_their_rooms_with_it(db, room):
    other_dj = make_dj(db, "other_dj")
    other = go_live(db, other_dj, "Another room")["id"]
    db.as_user(room["listener"]).rpc_rows("join_session", p_session_id=other)
    db.admin.execute("select private.request_account_deletion(%s)", (room["dj"],))
    assert db.admin.execute("select count(*) from private.room_access where session_id = %s",
                            (room["session"],)).fetchone()[0] == 0
    assert sees(db, room["listener"], other)["topic"]  # their standing elsewhere stays
    assert_exact(db)


def test_each_user_reads_only_their_own_standing_and_writes_none(db, room):
    listener = db.as_user(room["listener"])
    assert listener.sql("select user_id, can_read, can_moderate from private.room_access") == [
        {"user_id": room["listener"], "can_read": True, "can_moderate": False}]
    for statement in ("insert into private.room_access (user_id, session_id, hosts) values (%s, %s, true)",
                      "update private.room_access set moderates = true where user_id = %s and session_id = %s",
                      "delete from private.room_access where user_id = %s and session_id = %s"):
        with refused("42501"):
            listener.sql(statement, (room["listener"], room["session"]))
    with refused("42501"):
        db.anon().sql("select 1 from private.room_access")


def race(db, actions) -> list[str]:
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []

    def run(action):
        with db.connect("authenticator") as conn:
            barrier.wait()
            try:
                action(conn)
                outcomes.append("ok")
            except psycopg.Error as exc:
                outcomes.append(exc.sqlstate or "error")

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return outcomes


def test_concurrent_changes_to_one_standing_neither_undo_the_other(db, room):
    """A join and an appointment of the same user at once, then a leave and a
    removal at once: both facts land, then the row goes."""
    session, dj = room["session"], room["dj"]
    for n in range(3):
        user = db.create_user(f"racer{n}")
        assert race(db, [
            lambda conn, u=user: db.as_user(u, conn).rpc_rows("join_session", p_session_id=session),
            lambda conn, u=user: db.as_user(dj, conn).sql(
                "insert into public.session_moderators (session_id, user_id) values (%s, %s)", (session, u)),
        ]) == ["ok", "ok"]
        assert db.admin.execute("select present and moderates from private.room_access where user_id = %s",
                                (user,)).fetchone() == (True,)
        assert race(db, [
            lambda conn, u=user: db.as_user(u, conn).rpc("leave_session", p_session_id=session),
            lambda conn, u=user: db.as_user(dj, conn).sql(
                "delete from public.session_moderators where session_id = %s and user_id = %s", (session, u)),
        ]) == ["ok", "ok"]
        assert db.admin.execute("select count(*) from private.room_access where user_id = %s",
                                (user,)).fetchone()[0] == 0
    assert_exact(db)
