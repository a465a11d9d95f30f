"""Creator analytics (issue 15): daily rollups per DJ, idempotent and
backfillable, read by the DJ alone; and the social worker jobs."""

import asyncio
from datetime import UTC, date, datetime, timedelta

from tests.room import broadcasts, go_live, join, make_dj, refused
from tests.workerhelpers import worker_context
from workers import analytics

TODAY = datetime.now(UTC).date()


def stats(db, dj, day):
    return db.admin.execute("select sessions, minutes_live, unique_listeners, peak_listeners, chat_messages, "
                            "tips_net, new_followers from private.dj_daily_stats where dj_id = %s and day = %s",
                            (dj, day)).fetchone()


def busy_day(db):
    """A DJ's session that ran 90 minutes, three days ago: two listeners, chat, a follower."""
    dj = make_dj(db, "nova")
    session = go_live(db, dj)["id"]
    first, second = join(db, session, "first"), join(db, session, "second")
    db.as_user(first).sql("insert into public.messages (session_id, body) values (%s, 'hi')", (session,))
    db.as_user(dj).sql("insert into public.messages (session_id, body) values (%s, 'welcome')", (session,))
    db.as_user(second).rpc("follow", p_user_id=dj)
    db.as_user(dj).rpc_rows("end_session", p_session_id=session)
    day = datetime.combine(TODAY - timedelta(days=3), datetime.min.time(), UTC) + timedelta(hours=12)
    with db.admin.transaction():  # an ended session is final: the past is written around its guard
        db.admin.execute("set local session_replication_role = replica")
        db.admin.execute("update public.sessions set started_at = %s, ended_at = %s + interval '90 minutes', "
                         "created_at = %s", (day, day, day))
    db.admin.execute("update private.listen_time set first_joined_at = %s", (day,))
    db.admin.execute("update public.messages set created_at = %s", (day,))
    db.admin.execute("update public.follows set created_at = %s", (day,))
    return dj, day.date()


def test_a_day_rolled_up_twice_is_the_same_day(db):
    dj, day = busy_day(db)
    assert db.admin.execute("select private.rollup_dj_day(%s)", (day,)).fetchone()[0] == 1
    first = stats(db, dj, day)
    assert first == (1, 90, 2, 2, 1, {}, 1)  # the DJ's own line is not counted as chat
    db.admin.execute("select private.rollup_dj_day(%s)", (day,))
    assert stats(db, dj, day) == first
    assert db.admin.execute("select count(*) from private.dj_daily_stats").fetchone()[0] == 1
    # A fact that goes away is corrected on the next run.
    db.admin.execute("delete from public.follows")
    db.admin.execute("select private.rollup_dj_day(%s)", (day,))
    assert stats(db, dj, day)[-1] == 0


def test_the_job_backfills_from_the_first_session_then_keeps_yesterday_and_today(db):
    dj, day = busy_day(db)
    db.admin.execute("select private.rollup_creator_analytics(2)")  # two days a run: day, day + 1
    assert stats(db, dj, day) is not None
    assert db.admin.execute("select next_day from private.rollup_progress").fetchone()[0] == day + timedelta(days=2)
    db.admin.execute("select private.rollup_creator_analytics(31)")
    assert db.admin.execute("select next_day from private.rollup_progress").fetchone()[0] == TODAY - timedelta(days=1)
    db.admin.execute("select private.rollup_creator_analytics(31)")  # caught up: the same again
    assert db.admin.execute("select next_day from private.rollup_progress").fetchone()[0] == TODAY - timedelta(days=1)
    assert db.admin.execute("select count(*) from private.dj_daily_stats").fetchone()[0] == 1


def test_the_series_is_the_djs_alone(db):
    dj, day = busy_day(db)
    db.admin.execute("select private.rollup_dj_days(%s, %s)", (day, TODAY))
    series = db.as_user(dj).rpc_rows("creator_analytics", p_from=day - timedelta(days=1), p_to=day + timedelta(days=1))
    assert [(r["day"], r["sessions"], r["unique_listeners"]) for r in series] == \
        [(day - timedelta(days=1), 0, 0), (day, 1, 2), (day + timedelta(days=1), 0, 0)]
    other_dj = make_dj(db, "other")
    assert all(r["sessions"] == 0 for r in db.as_user(other_dj).rpc_rows("creator_analytics", p_from=day, p_to=day))
    with refused("PT403"):
        db.as_user(db.create_user("listener")).rpc_rows("creator_analytics", p_from=day, p_to=day)
    with refused("PT422"):
        db.as_user(dj).rpc_rows("creator_analytics", p_from=date(2020, 1, 1), p_to=TODAY)


def test_the_worker_jobs(db):
    dj, day = busy_day(db)
    session = go_live(db, dj)["id"]
    listener = join(db, session, "listener")
    me = db.as_user(listener)
    me.rpc("react", p_session_id=session, p_kind="fire")
    me.rpc("react", p_session_id=session, p_kind="fire")  # pending: within the second
    db.admin.execute("update private.room_event_gates set last_sent_at = now() - interval '2 seconds'")

    async def run():
        async with worker_context(db) as ctx:
            return await analytics.room_events(ctx), await analytics.creator_rollups(ctx)

    swept, rolled = asyncio.run(run())
    assert swept == 1 and [e["counts"] for e in broadcasts(db, f"session:{session}", "reactions")] == \
        [{"fire": 1}, {"fire": 1}]
    assert rolled >= 2 and stats(db, dj, day) is not None and stats(db, dj, TODAY)[0] == 1
