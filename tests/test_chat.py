"""Chat: who sends and reads, the rules enforced in the database, moderation, reports."""

import json
import threading

import psycopg
import pytest

from tests.room import go_live, join, make_dj, refused

SEND = "insert into public.messages (session_id, body) values (%s, %s) returning *"


@pytest.fixture
def room(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    listener_id = join(db, session["id"], "listener")
    return {"dj": dj_id, "session": session["id"], "listener": listener_id}


def backdate_last_message(db, seconds=60):
    db.admin.execute("update public.session_participants set last_message_at = now() - make_interval(secs => %s)",
                     (seconds,))


def test_a_participant_sends_and_the_room_reads(db, room):
    sent = db.as_user(room["listener"]).one(SEND, (room["session"], "  hello room  "))
    assert (sent["sender_id"], sent["kind"], sent["body"]) == (room["listener"], "text", "hello room")
    for reader in (room["listener"], room["dj"]):
        assert [m["body"] for m in db.as_user(reader).sql("select body from public.messages")] == ["hello room"]
    assert db.as_user(db.create_user("stranger")).sql("select * from public.messages") == []
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.anon().sql("select * from public.messages")


def test_the_dj_chats_without_rate_limit(db, room):
    dj = db.as_user(room["dj"])
    for text in ("one", "two", "three"):
        dj.sql(SEND, (room["session"], text))
    assert db.admin.execute("select count(*) from public.messages").fetchone()[0] == 3


def test_outsiders_and_ended_sessions_cannot_chat(db, room):
    with refused("PT403", "join the session to chat"):
        db.as_user(db.create_user("stranger")).sql(SEND, (room["session"], "hi"))
    db.as_user(room["dj"]).rpc_rows("end_session", p_session_id=room["session"])
    with refused("PT409", "not live"):
        db.as_user(room["listener"]).sql(SEND, (room["session"], "hi"))


def test_bad_messages_are_rejected(db, room):
    listener = db.as_user(room["listener"])
    with pytest.raises(psycopg.errors.CheckViolation, match="messages_body_length"):
        listener.sql(SEND, (room["session"], "   "))
    with pytest.raises(psycopg.errors.CheckViolation, match="messages_body_length"):
        listener.sql(SEND, (room["session"], "x" * 501))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        listener.sql("insert into public.messages (session_id, body, kind) values (%s, 'fake tip', 'tip')",
                     (room["session"],))
    assert db.admin.execute("select count(*) from public.messages").fetchone()[0] == 0


def test_rate_limit_one_message_per_three_seconds(db, room):
    listener = db.as_user(room["listener"])
    listener.sql(SEND, (room["session"], "first"))
    with refused("PT429", r"too fast: wait 3 s") as caught:
        listener.sql(SEND, (room["session"], "second"))
    assert json.loads(caught.value.diag.message_detail) == {"retry_after": 3}
    backdate_last_message(db, 3)
    listener.sql(SEND, (room["session"], "third"))


def test_slow_mode(db, room):
    db.as_user(room["dj"]).sql("update public.sessions set slow_mode_seconds = 30 where id = %s", (room["session"],))
    listener = db.as_user(room["listener"])
    listener.sql(SEND, (room["session"], "first"))
    backdate_last_message(db, 10)
    with refused("PT429", r"slow mode: wait 20 s"):
        listener.sql(SEND, (room["session"], "second"))
    backdate_last_message(db, 30)
    listener.sql(SEND, (room["session"], "third"))


def test_followers_only_chat(db, room):
    db.as_user(room["dj"]).sql("update public.sessions set followers_only_chat = true where id = %s", (room["session"],))
    listener = db.as_user(room["listener"])
    with refused("PT403", "followers-only"):
        listener.sql(SEND, (room["session"], "hi"))
    listener.rpc("follow", p_user_id=room["dj"])
    listener.sql(SEND, (room["session"], "hi"))


def test_chat_switched_off(db, room):
    db.as_user(room["dj"]).sql("update public.sessions set chat_enabled = false where id = %s", (room["session"],))
    with refused("PT403", "turned chat off"):
        db.as_user(room["listener"]).sql(SEND, (room["session"], "hi"))


def test_blocked_terms_match_case_insensitively(db, room):
    db.as_user(room["dj"]).sql("insert into public.dj_blocked_terms (term) values ('  BadWord ')")
    with refused("PT422", "does not allow"):
        db.as_user(room["listener"]).sql(SEND, (room["session"], "this is a BADWORD here"))
    assert db.as_user(room["listener"]).sql("select * from public.dj_blocked_terms") == []
    assert db.as_user(room["dj"]).value("select term from public.dj_blocked_terms") == "badword"


def test_timed_out_users_wait_and_banned_users_are_out(db, room):
    dj = db.as_user(room["dj"])
    dj.rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=room["listener"], p_seconds=60)
    with refused("PT403", r"timed out: wait (59|60) s"):
        db.as_user(room["listener"]).sql(SEND, (room["session"], "hi"))
    db.admin.execute("update public.session_sanctions set until = now() - interval '1 s'")
    db.as_user(room["listener"]).sql(SEND, (room["session"], "back"))

    dj.rpc_rows("ban_user", p_session_id=room["session"], p_user_id=room["listener"])
    with refused("PT403", "banned"):
        db.as_user(room["listener"]).sql(SEND, (room["session"], "hi"))
    with refused("PT409", "already banned"):
        dj.rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=room["listener"], p_seconds=60)
    assert dj.rpc("unban_user", p_session_id=room["session"], p_user_id=room["listener"]) is True
    db.as_user(room["listener"]).rpc_rows("join_session", p_session_id=room["session"])


def test_you_never_see_messages_from_users_you_blocked(db, room):
    other = join(db, room["session"], "other")
    db.as_user(other).sql(SEND, (room["session"], "from other"))
    db.as_user(room["listener"]).sql("insert into public.user_blocks (blocked_id) values (%s)", (other,))
    assert db.as_user(room["listener"]).sql("select * from public.messages") == []
    assert len(db.as_user(room["dj"]).sql("select * from public.messages")) == 1
    assert [m["body"] for m in db.as_user(room["listener"]).rpc_rows("chat_history", p_session_id=room["session"])] == []


def test_moderators_delete_messages_softly_and_it_is_logged(db, room):
    moderator = join(db, room["session"], "moderator")
    db.as_user(room["dj"]).sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)",
                               (room["session"], moderator))
    message = db.as_user(room["listener"]).one(SEND, (room["session"], "rude"))
    with refused("PT404", "message not found"):  # who may not delete learns nothing about it
        db.as_user(join(db, room["session"], "bystander")).rpc_rows("delete_message", p_message_id=message["id"])
    deleted = db.as_user(moderator).rpc_rows("delete_message", p_message_id=message["id"])[0]
    assert deleted["deleted_by"] == moderator
    assert db.as_user(room["listener"]).sql("select * from public.messages") == []
    assert db.as_user(room["dj"]).value("select body from public.messages") == "rude"  # kept for audit
    log = db.as_user(room["dj"]).sql("select action, actor_id, target_user_id from public.moderation_actions order by id")
    assert [(r["action"], r["actor_id"]) for r in log] == [("appoint_moderator", room["dj"]), ("delete_message", moderator)]
    assert db.as_user(room["listener"]).sql("select * from public.moderation_actions") == []


def test_senders_delete_their_own_messages(db, room):
    message = db.as_user(room["listener"]).one(SEND, (room["session"], "oops"))
    db.as_user(room["listener"]).rpc_rows("delete_message", p_message_id=message["id"])
    assert db.as_user(room["dj"]).value("select deleted_at is not null from public.messages") is True
    assert db.as_user(room["dj"]).sql("select * from public.moderation_actions where action = 'delete_message'") == []


def test_moderation_limits(db, room):
    moderator = join(db, room["session"], "moderator")
    second_moderator = join(db, room["session"], "second")
    dj = db.as_user(room["dj"])
    for user_id in (moderator, second_moderator):
        dj.sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)", (room["session"], user_id))
    mod = db.as_user(moderator)
    with refused("PT403", "DJ cannot be sanctioned"):
        mod.rpc_rows("ban_user", p_session_id=room["session"], p_user_id=room["dj"])
    with refused("PT403", "only the DJ can sanction a moderator"):
        mod.rpc_rows("ban_user", p_session_id=room["session"], p_user_id=second_moderator)
    with refused("PT422", "10 s to 24 h"):
        mod.rpc_rows("timeout_user", p_session_id=room["session"], p_user_id=room["listener"], p_seconds=5)
    with refused("PT403", "only the DJ and moderators"):
        db.as_user(room["listener"]).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=moderator)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the policy lets only the DJ appoint (42501)
        mod.sql("insert into public.session_moderators (session_id, user_id) values (%s, %s)",
                (room["session"], room["listener"]))
    dj.rpc_rows("ban_user", p_session_id=room["session"], p_user_id=second_moderator)
    assert db.as_user(second_moderator).sql("select kind from public.session_sanctions") == [{"kind": "ban"}]


def test_reports_are_seen_by_their_reporter_and_the_platform_only(db, room):
    message = db.as_user(room["listener"]).one(SEND, (room["session"], "spam spam"))
    reporter = db.as_user(room["dj"])
    report = reporter.one("insert into public.reports (message_id, reason) values (%s, 'spam') returning *",
                          (message["id"],))
    assert (report["reported_user_id"], report["session_id"], report["status"]) == \
        (room["listener"], room["session"], "open")
    assert len(reporter.sql("select * from public.reports")) == 1
    assert db.as_user(room["listener"]).sql("select * from public.reports") == []
    assert len(db.service().sql("select * from public.reports")) == 1
    with refused("PT422", "report a message or a user"):
        reporter.sql("insert into public.reports (reason) values ('other')")


def test_parallel_sends_by_one_user_pass_the_rate_limit_once(db, room):
    barrier = threading.Barrier(8)
    outcomes = []

    def send(n):
        with db.connect("authenticator") as conn:
            barrier.wait()
            try:
                db.as_user(room["listener"], conn).sql(SEND, (room["session"], f"m{n}"))
                outcomes.append("ok")
            except psycopg.Error as exc:
                outcomes.append(exc.sqlstate)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(outcomes) == ["PT429"] * 7 + ["ok"]
    assert db.admin.execute("select count(*) from public.messages").fetchone()[0] == 1


def test_chat_history_pages(db, room):
    db.admin.execute(
        "insert into public.messages (session_id, sender_id, body) select %s, %s, 'm' || n from generate_series(1, 7) n",
        (room["session"], room["listener"]))
    reader = db.as_user(room["dj"])
    newest = reader.rpc_rows("chat_history", p_session_id=room["session"], p_limit=3)
    assert [m["body"] for m in newest] == ["m7", "m6", "m5"]
    assert newest[0]["sender_username"] == "listener"
    older = reader.rpc_rows("chat_history", p_session_id=room["session"], p_before=newest[-1]["id"], p_limit=3)
    assert [m["body"] for m in older] == ["m4", "m3", "m2"]
    oldest = reader.rpc_rows("chat_history", p_session_id=room["session"], p_oldest_first=True, p_limit=2)
    assert [m["body"] for m in oldest] == ["m1", "m2"]
    after = reader.rpc_rows("chat_history", p_session_id=room["session"], p_oldest_first=True,
                            p_after=oldest[-1]["id"], p_limit=10)
    assert [m["body"] for m in after] == ["m3", "m4", "m5", "m6", "m7"]
    assert db.as_user(db.create_user("stranger")).rpc_rows("chat_history", p_session_id=room["session"]) == []


def test_a_chat_line_in_flight_holds_up_neither_a_join_nor_the_cleanup_job(db, room):
    """Each message's foreign key check holds KEY SHARE on its room's row until
    it commits; joins and the jobs lock that row FOR NO KEY UPDATE, which does
    not wait for it (FOR UPDATE would: joins would queue behind chat, and the
    `skip locked` jobs would pass over every busy room)."""
    idle = join(db, room["session"], "idle")
    db.admin.execute("update public.session_participants set last_seen_at = now() - interval '1 hour' "
                     "where user_id = %s", (idle,))
    with db.connect("authenticator") as chat, chat.transaction(force_rollback=True):
        db.as_user(room["listener"], chat).sql(SEND, (room["session"], "still typing"))
        with db.connect() as other:
            other.execute("set lock_timeout = '300ms'")
            db.as_user(db.create_user("newcomer"), other).rpc_rows("join_session", p_session_id=room["session"])
            closed = other.execute("select private.close_idle_participations(interval '10 minutes', 100)")
            assert closed.fetchone()[0] == 1, "the cleanup passed over the room while a chat line was in flight"
