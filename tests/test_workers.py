"""Cleanup and reconciliation jobs (with a controllable clock), several
replicas at once, and the scheduler's run and graceful stop."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import respx

from localstack.fake_expo import FakeExpo
from tests.providers import MONEY_SETTINGS, STRIPE_API, stripe_object_response
from tests.room import go_live, join, make_dj
from tests.workerhelpers import enqueue, outbox, register, token_for, worker_context
from workers import maintenance
from workers.runner import run_forever


def status(db, session_id):
    return db.admin.execute("select status, end_reason from public.sessions where id = %s", (session_id,)).fetchone()


def test_abandoned_sessions_end_after_4_hours_without_activity(db):
    quiet = go_live(db, make_dj(db, "quiet"))
    busy = go_live(db, make_dj(db, "busy"))
    listener = join(db, busy["id"], "listener")
    db.admin.execute("update public.sessions set started_at = now() - interval '5 hours'")
    db.admin.execute("update public.session_participants set joined_at = now() - interval '5 hours'")
    db.as_user(listener).sql("insert into public.messages (session_id, body) values (%s, 'still here')", (busy["id"],))
    ended = db.admin.execute("select private.end_abandoned_sessions(interval '4 hours', 100)").fetchone()[0]
    assert ended == 1
    assert status(db, quiet["id"]) == ("ended", "abandoned")
    assert status(db, busy["id"]) == ("live", None)
    # Four hours later by the clock passed in, the busy one is abandoned too.
    later = db.admin.execute("select private.end_abandoned_sessions(interval '4 hours', 100, "
                             "now() + interval '4 hours 1 minute')").fetchone()[0]
    assert later == 1 and status(db, busy["id"]) == ("ended", "abandoned")


def test_scheduled_sessions_long_past_are_ended(db):
    dj = db.as_user(make_dj(db))
    old = dj.one("insert into public.sessions (title, scheduled_for) values ('old', now() - interval '2 days') returning id")
    fresh = dj.one("insert into public.sessions (title, scheduled_for) values ('fresh', now() - interval '1 hour') returning id")
    assert db.admin.execute("select private.end_stale_scheduled_sessions(interval '24 hours', 100)").fetchone()[0] == 1
    assert status(db, old["id"]) == ("ended", "never_started")
    assert status(db, fresh["id"]) == ("scheduled", None)


def test_idle_listeners_are_closed_and_counts_kept(db):
    session = go_live(db, make_dj(db))
    idle, active = join(db, session["id"], "idle"), join(db, session["id"], "active")
    db.admin.execute("update public.session_participants set last_seen_at = now() - interval '11 minutes' "
                     "where user_id = %s", (idle,))
    assert db.admin.execute("select private.close_idle_participations(interval '10 minutes', 100)").fetchone()[0] == 1
    assert db.admin.execute("select listener_count from public.sessions").fetchone()[0] == 1
    present = db.admin.execute("select user_id from public.session_participants where left_at is null").fetchall()
    assert present == [(active,)]


def test_old_notifications_are_purged_in_batches(db):
    user_id = db.create_user("u")
    for n in range(5):
        enqueue(db, [user_id], title=f"n{n}")
    db.admin.execute("update private.notification_outbox set status = 'sent', finished_at = now() - interval '31 days' "
                     "where title in ('n0', 'n1', 'n2')")
    assert db.admin.execute("select private.purge_notifications(interval '30 days', 2)").fetchone()[0] == 2
    assert db.admin.execute("select private.purge_notifications(interval '30 days', 2)").fetchone()[0] == 1
    assert len(outbox(db)) == 2


async def test_two_replicas_run_cleanup_at_once_and_do_the_work_once(db):
    for n in range(6):
        go_live(db, make_dj(db, f"dj{n}"))
    db.admin.execute("update public.sessions set last_heartbeat_at = now() - interval '10 minutes'")
    async with worker_context(db, None, worker_id="a") as one, worker_context(db, None, worker_id="b") as two:
        handled = await asyncio.gather(maintenance.cleanup(one), maintenance.cleanup(two))
    assert sum(handled) == 6  # whichever replica got the lock did it; nothing twice
    ended = db.admin.execute("select count(*) from public.sessions where end_reason = 'heartbeat_lost'").fetchone()[0]
    assert ended == 6


async def test_reconciliation_checks_stuck_tips_against_stripe(db):
    dj_id = make_dj(db)
    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id, charges_enabled, payouts_enabled) "
                     "values (%s, 'acct_1', true, true)", (dj_id,))
    session = go_live(db, dj_id)
    fan = join(db, session["id"], "fan")
    for key in ("key-paid-0001", "key-lost-0001", "key-new-00001"):
        db.admin.execute("select private.create_tip(%s, %s, 500, 'usd', '', %s, 1000)", (fan, session["id"], key))
    db.admin.execute("update public.tips set stripe_payment_intent_id = 'pi_paid' where client_key = 'key-paid-0001'")
    db.admin.execute("update public.tips set created_at = now() - interval '2 hours' where client_key <> 'key-new-00001'")
    db.admin.execute("insert into public.entitlements (user_id, source, source_ref, plan_id, expires_at, last_event_at) "
                     "values (%s, 'revenuecat', 'tx', 'premium', now() - interval '1 day', now())", (fan,))
    with respx.mock(assert_all_called=True) as router:
        router.get(f"{STRIPE_API}/v1/payment_intents/pi_paid").mock(return_value=stripe_object_response(
            {"id": "pi_paid", "object": "payment_intent", "status": "succeeded", "amount": 500, "currency": "usd",
             "metadata": {}, "last_payment_error": None}))
        # The tip without a PaymentIntent: Stripe's search finds none, so it never reached Stripe.
        router.get(f"{STRIPE_API}/v1/payment_intents/search").mock(return_value=stripe_object_response(
            {"object": "search_result", "data": [], "has_more": False, "next_page": None,
             "url": "/v1/payment_intents/search"}))
        async with worker_context(db, None, **MONEY_SETTINGS) as ctx:
            handled = await maintenance.reconcile(ctx)
    assert handled == 3  # one canceled, one entitlement expired, one tip reconciled
    states = dict(db.admin.execute("select client_key, status::text from public.tips").fetchall())
    assert states == {"key-paid-0001": "succeeded", "key-lost-0001": "canceled", "key-new-00001": "pending"}
    assert db.admin.execute("select active from public.entitlements").fetchone()[0] is False
    assert db.admin.execute("select count(*) from public.messages where kind = 'tip'").fetchone()[0] == 1


async def test_the_scheduler_runs_every_job_and_stops_cleanly(db, caplog):
    user_id = db.create_user("u")
    register(db, user_id, token_for(1))
    session = go_live(db, make_dj(db))
    db.admin.execute("update public.sessions set last_heartbeat_at = now() - interval '1 hour'")
    enqueue(db, [user_id])
    caplog.set_level("INFO", logger="openparty")
    stop = asyncio.Event()
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            settings = ctx.settings.model_copy(update={"push_interval_seconds": 0.2, "cleanup_interval_seconds": 0.2})
        task = asyncio.create_task(run_forever(settings, stop=stop))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not expo.delivered() or status(db, session["id"])[0] != "ended"):
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, timeout=15)
    assert expo.delivered() == [token_for(1)]
    assert status(db, session["id"]) == ("ended", "heartbeat_lost")
    job_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("worker.job ")]
    assert {line.split()[1] for line in job_lines} >= {"name=push_dispatch", "name=session_cleanup",
                                                       "name=push_receipts", "name=reconciliation"}
    assert any(r.getMessage().startswith("worker.stopped") for r in caplog.records)
    assert any("push.mode expo" in r.getMessage() for r in caplog.records)
    idle = db.admin.execute("select count(*) from pg_stat_activity where application_name = 'openparty-worker'"
                            ).fetchone()[0]
    assert idle == 0  # the pool is closed


def test_python_m_workers_starts_and_stops_on_sigterm(db):
    env = {**os.environ, "DATABASE_URL": db.url(), "OPENPARTY_WORKER_DATABASE_URL": db.url("openparty_worker")}
    env.pop("OPENPARTY_EXPO_ACCESS_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-m", "workers"], env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if "worker.started" in line:
            break
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=30)
    assert process.returncode == 0
    output = "".join(lines) + rest
    assert "push.mode logging" in output and "worker.stopped" in output
