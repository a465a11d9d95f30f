"""DJ sessions: scheduling, going live, the state machine, heartbeat, ending, history."""

import threading
from datetime import timedelta

import psycopg
import pytest

from tests.room import go_live, join, make_dj, refused, session_row


def test_a_dj_goes_live_at_once(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id, title="  Deep house  ", genres=["House", "DEEP"])
    assert session["status"] == "live"
    assert session["dj_id"] == dj_id
    assert sorted(session["genres"]) == ["deep", "house"]
    assert session["started_at"] is not None and session["last_heartbeat_at"] is not None


def test_only_djs_host_sessions(db):
    listener = db.as_user(db.create_user("listener"))
    with refused("PT403", "only DJs host sessions"):
        listener.rpc_rows("go_live", p_title="nope")
    with refused("PT403", "only DJs"):
        listener.sql("insert into public.sessions (title) values ('nope')")


def test_at_most_one_live_session_per_dj(db):
    dj_id = make_dj(db)
    go_live(db, dj_id)
    with refused("PT409", "already have a live session"):
        go_live(db, dj_id)
    scheduled = db.as_user(dj_id).one("insert into public.sessions (title) values ('later') returning id")
    with refused("PT409", "already have a live session"):
        db.as_user(dj_id).rpc_rows("start_session", p_session_id=scheduled["id"])


def test_scheduled_session_starts_and_ends(db):
    dj_id = make_dj(db)
    dj = db.as_user(dj_id)
    created = dj.one("insert into public.sessions (title, scheduled_for, max_participants, voting_enabled) "
                     "values ('Sunday', now() + interval '1 day', 20, false) returning *")
    assert created["status"] == "scheduled" and created["dj_id"] == dj_id
    live = dj.rpc_rows("start_session", p_session_id=created["id"])[0]
    assert live["status"] == "live"
    with refused("PT409", "not scheduled"):
        dj.rpc_rows("start_session", p_session_id=created["id"])
    ended = dj.rpc_rows("end_session", p_session_id=created["id"])[0]
    assert (ended["status"], ended["end_reason"]) == ("ended", "dj")
    again = dj.rpc_rows("end_session", p_session_id=created["id"])[0]
    assert again["ended_at"] == ended["ended_at"]


def test_ending_a_scheduled_session_cancels_it(db):
    dj_id = make_dj(db)
    dj = db.as_user(dj_id)
    created = dj.one("insert into public.sessions (title) values ('maybe') returning id")
    ended = dj.rpc_rows("end_session", p_session_id=created["id"])[0]
    assert (ended["status"], ended["end_reason"], ended["started_at"]) == ("ended", "canceled", None)


def test_ended_is_final_and_status_only_moves_forward(db):
    dj_id = make_dj(db)
    dj = db.as_user(dj_id)
    session = go_live(db, dj_id)
    with refused("PT409", "cannot become scheduled"):
        dj.sql("update public.sessions set status = 'scheduled' where id = %s", (session["id"],))
    with refused("PT409", "cannot become scheduled"):
        db.service().sql("update public.sessions set status = 'scheduled' where id = %s", (session["id"],))
    dj.rpc_rows("end_session", p_session_id=session["id"])
    with refused("PT409", "has ended"):
        dj.sql("update public.sessions set title = 'again' where id = %s", (session["id"],))
    with refused("PT409", "has ended"):
        db.service().sql("update public.sessions set status = 'live' where id = %s", (session["id"],))
    assert session_row(db, session["id"])["title"] == "Friday set"


def test_only_the_dj_changes_their_session(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    other = db.as_user(make_dj(db, "other_dj"))
    assert other.sql("update public.sessions set title = 'mine' where id = %s returning id", (session["id"],)) == []
    with refused("PT403", "only the session's DJ"):
        other.rpc_rows("end_session", p_session_id=session["id"])
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.anon().sql("update public.sessions set title = 'x' where id = %s", (session["id"],))
    db.as_user(dj_id).sql("update public.sessions set slow_mode_seconds = 10, followers_only_chat = true "
                          "where id = %s", (session["id"],))
    row = session_row(db, session["id"])
    assert (row["slow_mode_seconds"], row["followers_only_chat"], row["status"]) == (10, True, "live")


def test_invalid_settings_are_rejected(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    dj = db.as_user(dj_id)
    with pytest.raises(psycopg.errors.CheckViolation, match="sessions_slow_mode_range"):
        dj.sql("update public.sessions set slow_mode_seconds = 121 where id = %s", (session["id"],))
    with pytest.raises(psycopg.errors.CheckViolation, match="sessions_title_length"):
        dj.sql("insert into public.sessions (title) values ('   ')")
    assert session_row(db, session["id"])["slow_mode_seconds"] == 0


def test_everyone_sees_sessions(db):
    dj_id = make_dj(db)
    go_live(db, dj_id)
    db.as_user(dj_id).sql("insert into public.sessions (title) values ('later')")
    assert sorted(r["status"] for r in db.anon().sql("select status from public.sessions")) == ["live", "scheduled"]


def test_the_plan_caps_scheduled_sessions(db):
    dj_id = make_dj(db)
    dj = db.as_user(dj_id)
    for n in range(3):  # the free plan allows 3
        dj.sql("insert into public.sessions (title) values (%s)", (f"s{n}",))
    with refused("PT403", r"allows 3 scheduled sessions"):
        dj.sql("insert into public.sessions (title) values ('fourth')")


def test_heartbeat_from_the_dj_and_from_a_listener(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    listener_id = join(db, session["id"], "listener")
    db.admin.execute("update public.sessions set last_heartbeat_at = now() - interval '1 minute'")
    db.admin.execute("update public.session_participants set last_seen_at = now() - interval '1 minute'")
    db.as_user(dj_id).rpc("session_heartbeat", p_session_id=session["id"])
    db.as_user(listener_id).rpc("session_heartbeat", p_session_id=session["id"])
    row = db.admin.execute("select now() - last_heartbeat_at < interval '5 s' from public.sessions").fetchone()
    seen = db.admin.execute("select now() - last_seen_at < interval '5 s' from public.session_participants").fetchone()
    assert row[0] and seen[0]
    with refused("PT404", "not in this live session"):
        db.as_user(db.create_user("stranger")).rpc("session_heartbeat", p_session_id=session["id"])


def test_silent_sessions_are_ended_by_the_system(db):
    quiet_dj, loud_dj = make_dj(db, "quiet"), make_dj(db, "loud")
    quiet, loud = go_live(db, quiet_dj), go_live(db, loud_dj)
    listener = join(db, quiet["id"], "listener")
    db.admin.execute("update public.sessions set last_heartbeat_at = now() - interval '6 minutes' where id = %s",
                     (quiet["id"],))
    ended = db.service().value("select private.end_silent_sessions(interval '5 minutes', 100)")
    assert ended == 1
    assert session_row(db, quiet["id"])["end_reason"] == "heartbeat_lost"
    assert session_row(db, quiet["id"])["listener_count"] == 0
    assert session_row(db, loud["id"])["status"] == "live"
    left = db.admin.execute("select left_at from public.session_participants where user_id = %s", (listener,)).fetchone()
    assert left[0] is not None


def test_history_shows_duration_peak_and_total(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    first = join(db, session["id"], "first")
    join(db, session["id"], "second")
    db.as_user(first).rpc("leave_session", p_session_id=session["id"])
    db.as_user(first).rpc_rows("join_session", p_session_id=session["id"])
    db.admin.execute("update public.sessions set started_at = now() - interval '90 minutes'")
    db.as_user(dj_id).rpc_rows("end_session", p_session_id=session["id"])
    history = db.anon().one("select duration_seconds, peak_listener_count, total_listener_count "
                            "from public.sessions where dj_id = %s and status = 'ended'", (dj_id,))
    assert history["peak_listener_count"] == 2
    assert history["total_listener_count"] == 2
    assert abs(history["duration_seconds"] - timedelta(minutes=90).total_seconds()) < 5


def test_concurrent_starts_leave_exactly_one_live_session(db):
    dj_id = make_dj(db)
    dj = db.as_user(dj_id)
    ids = [dj.one("insert into public.sessions (title) values (%s) returning id", (f"s{n}",))["id"] for n in range(3)]
    outcomes = []

    def start(session_id):
        with db.connect("authenticator") as conn:
            try:
                db.as_user(dj_id, conn).rpc_rows("start_session", p_session_id=session_id)
                outcomes.append("live")
            except psycopg.Error as exc:
                outcomes.append(exc.sqlstate)

    threads = [threading.Thread(target=start, args=(i,)) for i in ids]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(outcomes) == ["PT409", "PT409", "live"]
    assert db.admin.execute("select count(*) from public.sessions where status = 'live'").fetchone()[0] == 1


# What the DJ's app may write directly (issue 10: the lifecycle RPCs run as the caller, so a
# PostgREST request can write the same columns; the guard holds what the definer bodies did).

def test_a_djs_direct_end_is_the_rpcs_end(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    listener = join(db, session["id"], "listener")
    assert db.as_user(make_dj(db, "other")).sql(
        "update public.sessions set status = 'ended' where id = %s returning id", (session["id"],)) == []
    ended = db.as_user(dj_id).one("update public.sessions set status = 'ended' where id = %s returning *",
                                  (session["id"],))
    assert (ended["end_reason"], ended["listener_count"]) == ("dj", 0) and ended["ended_at"] is not None
    left = db.admin.execute("select left_at from public.session_participants where user_id = %s", (listener,))
    assert left.fetchone()[0] is not None
    later = db.as_user(dj_id).one("insert into public.sessions (title) values ('later') returning id")
    canceled = db.as_user(dj_id).one("update public.sessions set status = 'ended' where id = %s returning *",
                                     (later["id"],))
    assert (canceled["end_reason"], canceled["started_at"]) == ("canceled", None)


def test_a_dj_cannot_write_the_systems_session_columns(db):
    dj_id = make_dj(db)
    dj = db.as_user(dj_id)
    session = go_live(db, dj_id)
    for assignment in ("started_at = now() - interval '1 day'", "ended_at = now()", "end_reason = 'moderation'",
                       "listener_count = 99", "peak_listener_count = 99", "last_track_report_at = null"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            dj.sql(f"update public.sessions set {assignment} where id = %s", (session["id"],))
    with refused("PT409", "scheduled or live"):
        dj.sql("insert into public.sessions (title, status) values ('over', 'ended')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        dj.sql("insert into public.sessions (title, status) values ('second', 'live')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        dj.sql("insert into public.sessions (title, status, started_at) values ('x', 'live', now() - interval '1 day')")


def test_a_djs_direct_heartbeat_and_pause_are_stamped_now_and_only_while_live(db):
    dj_id = make_dj(db)
    dj = db.as_user(dj_id)
    session = go_live(db, dj_id)
    dj.sql("update public.sessions set last_heartbeat_at = now() + interval '1 day', paused_at = '2000-01-01' "
           "where id = %s", (session["id"],))
    stamped = db.admin.execute("select abs(extract(epoch from now() - last_heartbeat_at)) < 5, "
                               "abs(extract(epoch from now() - paused_at)) < 5 from public.sessions where id = %s",
                               (session["id"],)).fetchone()
    assert stamped == (True, True)
    paused_at = session_row(db, session["id"])["paused_at"]
    again = dj.one("update public.sessions set paused_at = now() + interval '1 hour' where id = %s returning paused_at",
                   (session["id"],))
    assert again["paused_at"] == paused_at  # a pause keeps its start
    later = dj.one("insert into public.sessions (title) values ('later') returning id")
    for assignment in ("last_heartbeat_at = now()", "paused_at = now()"):
        with refused("PT409", "not live"):
            dj.sql(f"update public.sessions set {assignment} where id = %s", (later["id"],))
    assert session_row(db, later["id"])["last_heartbeat_at"] is None
