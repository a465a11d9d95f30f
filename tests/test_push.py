"""Push: tokens and preferences, the outbox filled by triggers, and the
dispatcher and receipts against a local Expo-speaking server."""

import asyncio
import time

import psycopg
import pytest

from localstack.fake_expo import FakeExpo
from tests.room import go_live, join, make_dj, refused
from tests.workerhelpers import enqueue, outbox, register, token_for, worker_context
from workers import push

# --- tokens and preferences ---------------------------------------------------------------------

def test_tokens_are_validated_owned_and_moved(db):
    alice, bob = db.create_user("alice"), db.create_user("bob")
    first = register(db, alice, token_for("phone"))
    assert first["user_id"] == alice and first["enabled"] is True
    with pytest.raises(psycopg.errors.CheckViolation, match="push_tokens_format"):
        register(db, alice, "not-a-token")
    with pytest.raises(psycopg.errors.CheckViolation):
        register(db, alice, token_for("x"), platform="windows")
    moved = register(db, bob, token_for("phone"))  # the phone changed hands
    assert moved["id"] == first["id"] and moved["user_id"] == bob
    assert db.as_user(alice).sql("select * from public.push_tokens") == []
    assert len(db.as_user(bob).sql("select * from public.push_tokens")) == 1
    assert db.as_user(alice).sql("delete from public.push_tokens returning id") == []
    assert len(db.as_user(bob).sql("delete from public.push_tokens returning id")) == 1


def test_preferences_are_your_own_and_validated(db):
    me, other = db.create_user("me"), db.create_user("other")
    db.as_user(me).sql("insert into public.notification_preferences (mentions, quiet_hours_start, quiet_hours_end, "
                       "time_zone) values (false, '22:00', '07:00', 'Europe/Lisbon')")
    assert db.as_user(other).sql("select * from public.notification_preferences") == []
    with refused("PT422", "unknown time zone"):
        db.as_user(me).sql("update public.notification_preferences set time_zone = 'Mars/Olympus'")
    with pytest.raises(psycopg.errors.CheckViolation, match="quiet_hours"):
        db.as_user(other).sql("insert into public.notification_preferences (quiet_hours_start) values ('22:00')")


# --- the outbox ---------------------------------------------------------------------------------

def test_a_dj_going_live_notifies_every_follower_who_wants_it(db):
    dj_id = make_dj(db, "nova")
    fans = [db.create_user(f"fan{n}") for n in range(200)]
    for fan in fans:
        db.as_user(fan).rpc("follow", p_user_id=dj_id)
    db.as_user(fans[0]).sql("insert into public.notification_preferences (followed_dj_live) values (false)")
    db.as_user(fans[1]).sql("insert into public.user_blocks (blocked_id) values (%s)", (dj_id,))  # unfollows too
    session = go_live(db, dj_id, title="Late night")
    rows = outbox(db, kind="followed_dj_live")
    assert len(rows) == 198
    assert {r["user_id"] for r in rows} == set(fans[2:])
    assert rows[0]["title"] == "nova is live" and rows[0]["body"] == "Late night"
    assert rows[0]["data"]["session_id"] == str(session["id"])
    db.as_user(dj_id).rpc_rows("end_session", p_session_id=session["id"])
    go_live(db, dj_id, title="Back again")  # within 10 minutes: collapsed
    assert len(outbox(db, kind="followed_dj_live")) == 198


def test_quiet_hours_defer_and_never_drop(db):
    user_id = db.create_user("sleepy")
    now_utc = db.admin.execute("select extract(hour from now() at time zone 'UTC')::int").fetchone()[0]
    start, end = f"{now_utc:02d}:00", f"{(now_utc + 2) % 24:02d}:00"  # quiet from this hour for 2 hours
    db.as_user(user_id).sql("insert into public.notification_preferences (quiet_hours_start, quiet_hours_end) "
                            "values (%s, %s)", (start, end))
    enqueue(db, [user_id])
    (row,) = outbox(db, user_id=user_id)
    wait = db.admin.execute("select extract(epoch from %s - now()) / 3600", (row["not_before"],)).fetchone()[0]
    assert wait > 1 and wait <= 2
    assert row["status"] == "pending"


@pytest.mark.parametrize(("when", "expected_delay_h"), [
    ("23:30", 7.5), ("03:00", 4.0), ("12:00", 0.0)])
def test_quiet_hours_across_midnight(db, when, expected_delay_h):
    delay = db.admin.execute(
        "select extract(epoch from private.quiet_hours_end("
        "  row(gen_random_uuid(), true, true, true, true, true, true, true, true, '22:00', '07:00', 'America/New_York', now())"
        "  ::public.notification_preferences, t) - t) / 3600 "
        "from (select (current_date + %s::time) at time zone 'America/New_York' as t) x", (when,)).fetchone()[0]
    assert float(delay) == expected_delay_h


def test_tips_mentions_songs_and_sanctions_notify(db):
    dj_id = make_dj(db, "nova")
    session = go_live(db, dj_id)
    kai = join(db, session["id"], "kai")
    mila = join(db, session["id"], "mila")
    db.as_user(kai).sql("insert into public.messages (session_id, body) values (%s, 'hey @Mila and @nova, @nobody')",
                        (session["id"],))
    mentioned = {r["user_id"] for r in outbox(db, kind="mentions")}
    assert mentioned == {mila, dj_id}

    dj = db.as_user(dj_id)
    for ref in ("a", "b"):
        db.as_user(kai if ref == "a" else mila).sql(
            "insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
            "values (%s, %s, 'x', 1000, 'spotify', %s)", (session["id"], ref, ref))
    dj.rpc_rows("advance", p_session_id=session["id"])  # a plays; b (mila's) is next
    (up_next,) = outbox(db, kind="song_up_next")
    assert up_next["user_id"] == mila and up_next["body"] == "b - x"

    dj.rpc_rows("timeout_user", p_session_id=session["id"], p_user_id=kai, p_seconds=60)
    (sanction,) = outbox(db, kind="moderation")
    assert sanction["user_id"] == kai

    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id, charges_enabled, payouts_enabled) "
                     "values (%s, 'acct_1', true, true)", (dj_id,))
    db.admin.execute("select private.create_tip(%s, %s, 500, 'usd', '', 'key-00000001', 1000)", (mila, session["id"]))
    db.admin.execute("update public.tips set stripe_payment_intent_id = 'pi_1'")
    assert outbox(db, kind="tip_received") == []
    db.admin.execute("select private.apply_payment_intent('{\"id\": \"pi_1\", \"status\": \"succeeded\", "
                     "\"amount\": 500, \"currency\": \"usd\"}')")
    (tip,) = outbox(db, kind="tip_received")
    assert tip["user_id"] == dj_id and tip["body"] == "mila tipped you 5.00 USD"


def test_scheduled_session_reminders_go_out_once(db):
    dj_id = make_dj(db, "nova")
    fan = db.create_user("fan")
    db.as_user(fan).rpc("follow", p_user_id=dj_id)
    dj = db.as_user(dj_id)
    dj.sql("insert into public.sessions (title, scheduled_for) values ('soon', now() + interval '10 minutes'), "
           "('later', now() + interval '2 hours')")
    assert db.admin.execute("select private.enqueue_session_reminders(interval '15 minutes', 100)").fetchone()[0] == 1
    assert db.admin.execute("select private.enqueue_session_reminders(interval '15 minutes', 100)").fetchone()[0] == 0
    (reminder,) = outbox(db, kind="session_starting")
    assert reminder["user_id"] == fan and reminder["body"] == "soon"


# --- dispatch -----------------------------------------------------------------------------------

async def test_dispatch_sends_in_batches_of_100_and_records_tickets(db):
    users = [db.create_user(f"u{n}") for n in range(125)]
    for n, user_id in enumerate(users):
        register(db, user_id, token_for(n))
        register(db, user_id, token_for(f"{n}-tablet"), platform="android")
    enqueue(db, users, title="Party time", body="x" * 50)
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            assert await push.dispatch_push(ctx) == 250
            assert await push.dispatch_push(ctx) == 0
    assert [len(r["messages"]) for r in expo.send_requests] == [100, 100, 50]
    assert all(r["gzip"] for r in expo.send_requests)
    assert expo.send_requests[0]["headers"]["Authorization"] == "Bearer expo-test-token"
    message = expo.send_requests[0]["messages"][0]
    assert (message["title"], message["body"], message["data"]["kind"]) == ("Party time", "x" * 50, "moderation")
    assert sorted(expo.delivered()) == sorted([token_for(n) for n in range(125)] + [token_for(f"{n}-tablet") for n in range(125)])
    assert {r["status"] for r in outbox(db)} == {"sent"}
    tickets = db.admin.execute("select count(*) from private.push_deliveries where status = 'sent' "
                               "and ticket_id is not null").fetchone()[0]
    assert tickets == 250


async def test_device_not_registered_disables_the_token(db):
    user_id = db.create_user("u")
    register(db, user_id, token_for("old"))
    register(db, user_id, token_for("new"))
    enqueue(db, [user_id])
    with FakeExpo() as expo:
        expo.not_registered.add(token_for("old"))
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
            enqueue(db, [user_id], title="Second")
            await push.dispatch_push(ctx)
    assert expo.delivered() == [token_for("new"), token_for("new")]
    assert db.as_user(user_id).value("select enabled from public.push_tokens where token = %s",
                                     (token_for("old"),)) is False
    assert [r["status"] for r in outbox(db)] == ["sent", "sent"]


async def test_transient_failures_back_off_then_succeed(db):
    user_id = db.create_user("u")
    register(db, user_id, token_for(1))
    enqueue(db, [user_id])
    with FakeExpo() as expo:
        expo.forced_statuses = [429]
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
            (row,) = outbox(db)
            assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP 429")
            delay = db.admin.execute("select extract(epoch from %s - now())", (row["not_before"],)).fetchone()[0]
            assert 25 < delay <= 30  # backoff 30 s * 2^0
            assert await push.dispatch_push(ctx) == 0  # not due yet
            expo.forced_statuses = [503]
            db.admin.execute("update private.notification_outbox set not_before = now()")
            await push.dispatch_push(ctx)
            (row,) = outbox(db)
            delay = db.admin.execute("select extract(epoch from %s - now())", (row["not_before"],)).fetchone()[0]
            assert row["attempts"] == 2 and 55 < delay <= 60  # 30 s * 2^1
            db.admin.execute("update private.notification_outbox set not_before = now()")
            await push.dispatch_push(ctx)
    assert outbox(db)[0]["status"] == "sent"
    assert expo.delivered() == [token_for(1)]


async def test_gives_up_after_the_last_attempt_with_the_reason(db):
    user_id = db.create_user("u")
    register(db, user_id, token_for(1))
    enqueue(db, [user_id])
    with FakeExpo() as expo:
        expo.forced_statuses = [500] * 10
        async with worker_context(db, expo, push_max_attempts=3) as ctx:
            for _ in range(3):
                db.admin.execute("update private.notification_outbox set not_before = now()")
                await push.dispatch_push(ctx)
    (row,) = outbox(db)
    assert row["status"] == "failed" and row["attempts"] == 3
    assert "gave up after 3 attempts" in row["last_error"] and "HTTP 500" in row["last_error"]
    assert len(expo.send_requests) == 3


async def test_permanent_errors_are_not_retried_and_rate_exceeded_retries_only_that_device(db):
    user_id = db.create_user("u")
    register(db, user_id, token_for("a"))
    register(db, user_id, token_for("b"))
    enqueue(db, [user_id])
    with FakeExpo() as expo:
        expo.rate_exceeded_once.add(token_for("b"))
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
            db.admin.execute("update private.notification_outbox set not_before = now()")
            await push.dispatch_push(ctx)
        assert expo.delivered() == [token_for("a"), token_for("b")]  # a was not sent twice
        assert outbox(db)[0]["status"] == "sent"

        other = db.create_user("v")
        register(db, other, token_for("c"))
        enqueue(db, [other], title="Refused")
        expo.forced_statuses = [400]
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
    (refused_row,) = outbox(db, user_id=other)
    assert refused_row["status"] == "failed" and refused_row["last_error"].startswith("HTTP 400")


async def test_users_without_devices_are_skipped_not_lost(db):
    user_id = db.create_user("u")
    enqueue(db, [user_id])
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
    (row,) = outbox(db)
    assert (row["status"], row["last_error"]) == ("skipped", "no enabled device")


async def test_the_rate_cap_holds(db):
    users = [db.create_user(f"u{n}") for n in range(300)]
    for n, user_id in enumerate(users):
        register(db, user_id, token_for(n))
    enqueue(db, users)
    with FakeExpo() as expo:
        async with worker_context(db, expo, push_rate_per_second=100) as ctx:
            started = time.monotonic()
            await push.dispatch_push(ctx)
            elapsed = time.monotonic() - started
    assert len(expo.delivered()) == 300
    assert elapsed >= 1.9  # 100 at once, then 100 a second: at least 2 s for 300
    assert max(len(r["messages"]) for r in expo.send_requests) <= 100


async def test_without_an_access_token_nothing_goes_to_expo(db):
    user_id = db.create_user("u")
    register(db, user_id, token_for(1))
    enqueue(db, [user_id])
    with FakeExpo() as expo:
        async with worker_context(db, None) as ctx:  # no expo settings: the logging sender
            await push.dispatch_push(ctx)
    assert expo.send_requests == []
    assert outbox(db)[0]["status"] == "sent"
    assert db.admin.execute("select status from private.push_deliveries").fetchone()[0] == "logged"


# --- crash safety and concurrency ---------------------------------------------------------------

async def test_a_worker_killed_before_sending_loses_nothing(db):
    users = [db.create_user(f"u{n}") for n in range(5)]
    for n, user_id in enumerate(users):
        register(db, user_id, token_for(n))
    enqueue(db, users)
    # A worker claims the batch and dies at once: its lease runs out.
    claimed = db.admin.execute("select * from private.push_claim('dead-worker', 100, interval '0 seconds')").fetchall()
    assert len(claimed) == 5
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            assert await push.dispatch_push(ctx) == 5
    assert sorted(expo.delivered()) == sorted(token_for(n) for n in range(5))
    assert {r["status"] for r in outbox(db)} == {"sent"}


async def test_a_worker_killed_while_sending_never_sends_twice(db):
    users = [db.create_user(f"u{n}") for n in range(3)]
    for n, user_id in enumerate(users):
        register(db, user_id, token_for(n))
    enqueue(db, users, kind="followed_dj_live")  # an at-most-once kind (push.sql)
    claimed = db.admin.execute("select delivery_id from private.push_claim('dead-worker', 100, interval '0 seconds')"
                               ).fetchall()
    # It handed the first delivery to Expo and died before hearing back.
    db.admin.execute("select private.push_mark_sending(%s)", ([claimed[0][0]],))
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
    assert sorted(expo.delivered()) == [token_for(1), token_for(2)]
    statuses = dict(db.admin.execute("select id, status from private.push_deliveries").fetchall())
    assert statuses[claimed[0][0]] == "unknown"
    assert {r["status"] for r in outbox(db)} == {"failed", "sent"}
    failed = outbox(db, status="failed")[0]
    assert "worker stopped while sending" in failed["last_error"]


async def test_two_dispatchers_at_once_send_each_notification_once(db):
    users = [db.create_user(f"u{n}") for n in range(400)]
    for n, user_id in enumerate(users):
        register(db, user_id, token_for(n))
    enqueue(db, users)
    with FakeExpo() as expo:
        async with worker_context(db, expo, worker_id="w1", push_claim_size=50) as one, \
                worker_context(db, expo, worker_id="w2", push_claim_size=50) as two:
            async def drain(ctx):
                while await push.dispatch_push(ctx):
                    pass
            await asyncio.gather(drain(one), drain(two))
    delivered = expo.delivered()
    assert len(delivered) == 400 and len(set(delivered)) == 400
    assert {r["status"] for r in outbox(db)} == {"sent"}
    assert {r["leased_by"] for r in outbox(db)} == {"w1", "w2"}


async def test_shutdown_gives_back_a_claimed_batch(db):
    user_id = db.create_user("u")
    register(db, user_id, token_for(1))
    enqueue(db, [user_id])
    async with worker_context(db, None, worker_id="stopping") as ctx:
        db.admin.execute("select * from private.push_claim('stopping', 100, interval '10 minutes')")
        assert await push.release_claims(ctx) == 1
    (row,) = outbox(db)
    assert (row["status"], row["leased_by"], row["attempts"]) == ("pending", None, 0)


# --- receipts -----------------------------------------------------------------------------------

async def test_receipts_are_fetched_after_15_minutes_and_prune_dead_tokens(db):
    users = [db.create_user(f"u{n}") for n in range(3)]
    for n, user_id in enumerate(users):
        register(db, user_id, token_for(n))
    enqueue(db, users)
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
            assert await push.check_receipts(ctx) == 0  # too early
            dead_ticket = next(t for t, token in expo.tickets.items() if token == token_for(1))
            expo.receipts[dead_ticket] = {"status": "error", "message": "gone",
                                          "details": {"error": "DeviceNotRegistered"}}
            db.admin.execute("update private.push_deliveries set sent_at = now() - interval '16 minutes'")
            assert await push.check_receipts(ctx) == 3
            assert await push.check_receipts(ctx) == 0
    assert len(expo.receipt_requests) == 1 and len(expo.receipt_requests[0]) == 3
    receipts = dict(db.admin.execute("select ticket_id, receipt_status from private.push_deliveries").fetchall())
    assert receipts[dead_ticket] == "error" and list(receipts.values()).count("ok") == 2
    enabled = dict(db.admin.execute("select token, enabled from public.push_tokens").fetchall())
    assert enabled == {token_for(0): True, token_for(1): False, token_for(2): True}


def test_one_error_policy_for_tickets_and_receipts():
    from datetime import UTC, datetime, timedelta

    from workers.expo import judge_error, receipt_record
    assert judge_error("DeviceNotRegistered") == ("failed", True)
    assert judge_error("MessageRateExceeded") == ("retry", False)
    assert judge_error("MessageTooBig") == ("failed", False)
    now, sent = datetime.now(UTC), datetime.now(UTC) - timedelta(minutes=20)
    gone = {"status": "error", "message": "gone", "details": {"error": "DeviceNotRegistered"}}
    assert receipt_record("t", gone, sent, now) == {"ticket_id": "t", "status": "error",
                                                    "error": "DeviceNotRegistered", "disable_token": True,
                                                    "retry": False}
    assert receipt_record("t", None, sent, now) is None  # may still come
    assert receipt_record("t", None, now - timedelta(hours=25), now)["status"] == "expired"


def test_receipts_sql_obeys_the_disable_flag_not_the_error_text(db):
    users = [db.create_user(f"u{n}") for n in range(2)]
    for n, user_id in enumerate(users):
        register(db, user_id, token_for(n))
    enqueue(db, users)
    db.admin.execute("select * from private.push_claim('w', 100, interval '10 minutes')")
    db.admin.execute("update private.push_deliveries set status = 'sent', sent_at = now(), ticket_id = 'ticket-' || id")
    ticket_of = dict(db.admin.execute("select t.token, d.ticket_id from private.push_deliveries d "
                                      "join public.push_tokens t on t.id = d.token_id").fetchall())
    db.admin.execute("select private.push_record_receipts(%s::jsonb, 5, interval '30 seconds')", (psycopg.types.json.Jsonb([
        {"ticket_id": ticket_of[token_for(0)], "status": "error", "error": "DeviceNotRegistered", "disable_token": False},
        {"ticket_id": ticket_of[token_for(1)], "status": "error", "error": "SomeFutureError", "disable_token": True}]),))
    enabled = dict(db.admin.execute("select token, enabled from public.push_tokens").fetchall())
    assert enabled == {token_for(0): True, token_for(1): False}
