"""Live channels: the database broadcasts room and personal events, and the
policies on realtime.messages decide who may join which private topic."""

import json
import uuid

import psycopg

from tests.room import broadcasts, go_live, join, make_dj

SEND = "insert into public.messages (session_id, body) values (%s, %s) returning *"


def realtime_authorizes(db, user_id, topic: str, *, write: bool = False, extension: str = "broadcast") -> bool:
    """What Realtime does when a client joins a private channel: probe a read (a
    row of the topic inserted by Realtime, selected as the user) or a write
    (an insert as the user), with role, claims and realtime.topic set; roll back."""
    conn = db.admin
    try:
        with conn.transaction(force_rollback=True):
            probe = conn.execute("insert into realtime.messages (topic, extension, private) values (%s, %s, true) "
                                 "returning id", (topic, extension)).fetchone()[0]
            conn.execute("set local role authenticated")
            claims = {"sub": str(user_id), "role": "authenticated"}
            conn.execute("select set_config('request.jwt.claims', %s, true), set_config('realtime.topic', %s, true)",
                         (json.dumps(claims), topic))
            if write:
                conn.execute("insert into realtime.messages (topic, extension, private) values (%s, %s, true)",
                             (topic, extension))
                return True
            return conn.execute("select count(*) from realtime.messages where id = %s", (probe,)).fetchone()[0] == 1
    except psycopg.errors.InsufficientPrivilege:
        return False


def test_room_events_are_broadcast_on_the_session_topic(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    topic = f"session:{session['id']}"
    listener = join(db, session["id"], "listener")
    message = db.as_user(listener).one(SEND, (session["id"], "hi all"))
    db.as_user(listener).rpc_rows("delete_message", p_message_id=message["id"])
    db.as_user(dj_id).sql("update public.sessions set slow_mode_seconds = 15 where id = %s", (session["id"],))
    db.as_user(dj_id).rpc("session_heartbeat", p_session_id=session["id"])
    # joins and leaves are announced at most once per 30 s per listener (tests/test_holes.py)
    db.admin.execute("update public.session_participants set announced_at = now() - interval '1 minute'")
    db.as_user(listener).rpc("leave_session", p_session_id=session["id"])
    db.as_user(dj_id).rpc_rows("end_session", p_session_id=session["id"])

    events = broadcasts(db, topic)
    names = [e["event"] for e in events]
    assert names.count("session_updated") == 1  # the heartbeat is not a settings change
    created = next(e for e in events if e["event"] == "message_created")
    assert (created["body"], created["sender_username"], created["id"]) == ("hi all", "listener", message["id"])
    assert next(e for e in events if e["event"] == "message_deleted")["id"] == message["id"]
    assert next(e for e in events if e["event"] == "session_updated")["slow_mode_seconds"] == 15
    joined = next(e for e in events if e["event"] == "listener_joined")
    assert joined["user_id"] == str(listener) and set(joined) <= {"event", "user_id", "id"}  # no user-chosen text
    assert next(e for e in events if e["event"] == "listener_left")["user_id"] == str(listener)
    counts = [e["listener_count"] for e in events if e["event"] == "listener_count"]
    assert counts == [1, 0]
    ended = next(e for e in events if e["event"] == "session_ended")
    assert ended["end_reason"] == "dj"
    assert all(row[0] for row in db.admin.execute("select private from realtime.messages"))


def test_personal_events_go_to_the_user_topic(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    listener = join(db, session["id"], "listener")
    db.as_user(dj_id).rpc_rows("timeout_user", p_session_id=session["id"], p_user_id=listener, p_seconds=30)
    db.as_user(listener).rpc("follow", p_user_id=dj_id)
    (sanction,) = broadcasts(db, f"user:{listener}", "sanctioned")
    assert (sanction["kind"], sanction["session_id"]) == ("timeout", str(session["id"]))
    (follower,) = broadcasts(db, f"user:{dj_id}", "new_follower")
    assert follower["username"] == "listener"


def test_only_the_room_receives_a_session_topic(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    topic = f"session:{session['id']}"
    listener = join(db, session["id"], "listener")
    moderator = db.create_user("moderator")
    db.as_user(dj_id).sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)",
                          (session["id"], moderator))
    stranger = db.create_user("stranger")
    assert realtime_authorizes(db, listener, topic)
    assert realtime_authorizes(db, dj_id, topic)
    assert realtime_authorizes(db, moderator, topic)
    assert not realtime_authorizes(db, stranger, topic)
    db.as_user(listener).rpc("leave_session", p_session_id=session["id"])
    assert not realtime_authorizes(db, listener, topic)
    assert not realtime_authorizes(db, stranger, "session:not-a-uuid")


def test_only_the_user_receives_their_user_topic(db):
    me, other = db.create_user("me"), db.create_user("other")
    assert realtime_authorizes(db, me, f"user:{me}")
    assert not realtime_authorizes(db, other, f"user:{me}")
    assert not realtime_authorizes(db, me, f"user:{uuid.uuid4()}")


def test_a_receive_check_on_one_topic_reveals_no_other_topic(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    listener = join(db, session["id"], "listener")
    other = go_live(db, make_dj(db, "other_dj"))
    db.admin.execute("select realtime.send('{}'::jsonb, 'secret', %s)", (f"session:{other['id']}",))
    with db.admin.transaction(force_rollback=True):
        db.admin.execute("set local role authenticated")
        db.admin.execute("select set_config('request.jwt.claims', %s, true), set_config('realtime.topic', %s, true)",
                         (json.dumps({"sub": str(listener), "role": "authenticated"}), f"session:{session['id']}"))
        visible = db.admin.execute("select distinct topic from realtime.messages").fetchall()
    assert (f"session:{other['id']}",) not in visible


def test_clients_cannot_broadcast_on_server_topics_but_may_track_presence(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    topic = f"session:{session['id']}"
    listener = join(db, session["id"], "listener")
    assert not realtime_authorizes(db, listener, topic, write=True, extension="broadcast")
    assert not realtime_authorizes(db, listener, f"user:{listener}", write=True, extension="broadcast")
    assert realtime_authorizes(db, listener, topic, write=True, extension="presence")
    assert not realtime_authorizes(db, db.create_user("stranger"), topic, write=True, extension="presence")
