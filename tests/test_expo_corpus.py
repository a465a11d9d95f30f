"""Expo as it really answers: the documented request-level errors, ticket and
receipt errors (tests/corpus/expo/responses.json, each with its source),
served by the loopback fake at the HTTP boundary; what the dispatcher does
with each, and the delivery guarantee per kind of notification."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx

from localstack.fake_expo import FakeExpo
from tests.workerhelpers import enqueue, outbox, register, token_for, worker_context
from workers import push
from workers.health import serve_health

CORPUS = json.loads((Path(__file__).parent / "corpus" / "expo" / "responses.json").read_text())
REQUEST_ERRORS: dict[str, dict[str, Any]] = CORPUS["send"]["request_errors"]
RECEIPTS: dict[str, dict[str, Any]] = CORPUS["receipts"]


def answer(name: str) -> tuple[int, Any]:
    """A documented request-level answer, as the fake sends it."""
    error = REQUEST_ERRORS[name]
    return error["status"], error["text"] if "text" in error else error["body"]


def due_now(db) -> None:
    db.admin.execute("update private.notification_outbox set not_before = now() where status = 'pending'")


def deliveries(db) -> dict[str, dict[str, Any]]:
    cur = db.admin.execute("select t.token, t.enabled, t.disabled_reason, d.status, d.error, d.receipt_status "
                           "from private.push_deliveries d join public.push_tokens t on t.id = d.token_id")
    return {row[0]: dict(zip([c.name for c in cur.description], row, strict=True)) for row in cur.fetchall()}


def users_with_tokens(db, n: int, prefix: str = "u") -> list:
    users = [db.create_user(f"{prefix}{i}") for i in range(n)]
    for i, user_id in enumerate(users):
        register(db, user_id, token_for(f"{prefix}{i}"))
    return users


# --- PUSH_TOO_MANY_EXPERIENCE_IDS -----------------------------------------------------------------

async def test_mixed_projects_send_ours_again_and_retire_the_foreign_token(db):
    users = users_with_tokens(db, 100)
    foreign = token_for("u7")
    enqueue(db, users, title="Live now")
    with FakeExpo() as expo:
        expo.projects[foreign] = "@someone/another-app"
        async with worker_context(db, expo) as ctx:  # OPENPARTY_EXPO_PROJECT unset: most tokens are ours
            await push.dispatch_push(ctx)
            enqueue(db, users, title="Again", key="again")
            await push.dispatch_push(ctx)
    first, resent, second = expo.send_requests
    assert len(first["messages"]) == 100 and len(resent["messages"]) == 99
    assert foreign not in [m["to"] for m in resent["messages"] + second["messages"]]
    assert len(second["messages"]) == 99  # the foreign token is not used again
    state = deliveries(db)
    assert state[foreign]["enabled"] is False
    assert state[foreign]["disabled_reason"] == "foreign Expo project @someone/another-app"
    assert sorted(expo.delivered()) == sorted([token_for(f"u{i}") for i in range(100) if i != 7] * 2)
    statuses = {row["user_id"]: row["status"] for row in outbox(db, title="Live now")}
    assert statuses.pop(users[7]) == "failed" and set(statuses.values()) == {"sent"}


async def test_the_configured_project_decides_which_tokens_are_ours(db):
    users = users_with_tokens(db, 3)
    enqueue(db, users)
    with FakeExpo() as expo:
        # Two tokens of an old build, one of ours: the majority is not ours.
        expo.projects |= {token_for("u0"): "@openparty/old-build", token_for("u1"): "@openparty/old-build"}
        async with worker_context(db, expo, expo_project="@openparty/openparty") as ctx:
            await push.dispatch_push(ctx)
    assert expo.delivered() == [token_for("u2")]
    enabled = {token: row["enabled"] for token, row in deliveries(db).items()}
    assert enabled == {token_for("u0"): False, token_for("u1"): False, token_for("u2"): True}


# --- bodies that are not Expo's -------------------------------------------------------------------

async def test_a_200_that_is_not_json_is_transient_and_the_round_goes_on(db):
    users = users_with_tokens(db, 150)
    enqueue(db, users)
    with FakeExpo() as expo:
        expo.forced.append(answer("not_json_200"))
        async with worker_context(db, expo) as ctx:
            assert await push.dispatch_push(ctx) == 150  # no crash: the second request went out at once
            rows = outbox(db)
            assert len(expo.delivered()) == 50
            waiting = [r for r in rows if r["status"] == "pending"]
            assert len(waiting) == 100 and {r["attempts"] for r in waiting} == {1}
            assert waiting[0]["last_error"] == "HTTP 200 without tickets: body is not JSON"
            due_now(db)
            await push.dispatch_push(ctx)
    assert len(expo.delivered()) == 150 and {r["status"] for r in outbox(db)} == {"sent"}


async def test_request_errors_by_kind_of_answer(db):
    names = ("TOO_MANY_REQUESTS", "RATE_LIMIT_ERROR", "server_error", "errors_in_200", "ticket_count_mismatch")
    users = users_with_tokens(db, len(names))
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            for user_id, name in zip(users, names, strict=True):
                enqueue(db, [user_id], title=name, key=name)
                expo.forced.append(answer(name))
                await push.dispatch_push(ctx)
    status = {row["title"]: (row["status"], row["last_error"]) for row in outbox(db)}
    assert status["TOO_MANY_REQUESTS"] == ("pending", "HTTP 429")
    assert status["server_error"] == ("pending", "HTTP 503")
    assert status["RATE_LIMIT_ERROR"] == ("pending", "HTTP 429")
    assert status["errors_in_200"] == ("failed", "HTTP 200 without tickets: TEST_API_ERROR")
    assert status["ticket_count_mismatch"] == ("failed", "unknown error")  # a ticket without status is an error


# --- a refused access token -----------------------------------------------------------------------

async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def test_a_refused_access_token_pauses_loudly_without_spending_attempts(db, caplog):
    users = users_with_tokens(db, 3)
    enqueue(db, users)
    with FakeExpo() as expo:
        expo.access_token = "the-rotated-token"  # ours was revoked
        async with worker_context(db, expo) as ctx:
            server = await serve_health(ctx.push_health, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            try:
                with caplog.at_level(logging.ERROR, logger="openparty.push"):
                    assert await push.dispatch_push(ctx) == 0
                assert any("push.paused" in r.getMessage() for r in caplog.records)
                assert {(r["status"], r["attempts"]) for r in outbox(db)} == {("pending", 0)}
                assert {row["status"] for row in deliveries(db).values()} == {"queued"}
                ready = await get(port, "/readyz")
                assert ready.status_code == 503 and ready.json()["reason"].startswith("push paused: HTTP 401")
                assert (await get(port, "/healthz")).status_code == 200

                await push.dispatch_push(ctx)  # paused: no request until the next probe
                assert len(expo.send_requests) == 1
                ctx.push_health.next_probe = 0  # the probe is due; still refused (Expo's UNAUTHORIZED code)
                expo.access_token = None
                expo.forced.append(answer("UNAUTHORIZED"))
                await push.dispatch_push(ctx)
                assert not ctx.push_health.ready and {r["attempts"] for r in outbox(db)} == {0}

                ctx.push_health.next_probe = 0  # the token was fixed
                assert await push.dispatch_push(ctx) == 3
                assert (await get(port, "/readyz")).json() == {"status": "ready"}
            finally:
                server.close()
    assert sorted(expo.delivered()) == sorted(token_for(f"u{i}") for i in range(3))
    assert {(r["status"], r["attempts"]) for r in outbox(db)} == {("sent", 1)}


# --- receipts -------------------------------------------------------------------------------------

async def test_every_documented_receipt_error_and_rate_exceeded_is_sent_again(db):
    names = ("ok", "DeviceNotRegistered", "MessageTooBig", "MessageRateExceeded", "MismatchSenderId",
             "InvalidCredentials")
    users = users_with_tokens(db, len(names))
    enqueue(db, users)
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
            ticket_of = {token: ticket for ticket, token in expo.tickets.items()}
            for i, name in enumerate(names):
                expo.receipts[ticket_of[token_for(f"u{i}")]] = RECEIPTS[name]["receipt"]
            db.admin.execute("update private.push_deliveries set sent_at = now() - interval '16 minutes'")
            assert await push.check_receipts(ctx) == len(names)
            limited = outbox(db, user_id=users[3])[0]
            assert (limited["status"], limited["last_error"]) == ("pending", "receipt: MessageRateExceeded")
            state = deliveries(db)
            assert {t: (r["status"], r["receipt_status"], r["enabled"]) for t, r in state.items()} == {
                token_for("u0"): ("sent", "ok", True), token_for("u1"): ("sent", "error", False),
                token_for("u2"): ("sent", "error", True), token_for("u3"): ("retry", "error", True),
                token_for("u4"): ("sent", "error", True), token_for("u5"): ("sent", "error", True)}
            due_now(db)
            await push.dispatch_push(ctx)
            assert expo.delivered().count(token_for("u3")) == 2 and len(expo.delivered()) == len(names) + 1
            # The new ticket's receipt is fetched in its turn.
            db.admin.execute("update private.push_deliveries set sent_at = now() - interval '16 minutes'")
            assert await push.check_receipts(ctx) == 1
    assert deliveries(db)[token_for("u3")]["receipt_status"] == "ok"
    assert outbox(db, user_id=users[3])[0]["status"] == "sent"


async def test_rate_exceeded_receipts_stop_after_the_last_attempt(db):
    (user_id,) = users_with_tokens(db, 1)
    enqueue(db, [user_id])
    with FakeExpo() as expo:
        async with worker_context(db, expo, push_max_attempts=2) as ctx:
            for _ in range(2):
                due_now(db)
                await push.dispatch_push(ctx)
                for ticket in expo.tickets:
                    expo.receipts[ticket] = RECEIPTS["MessageRateExceeded"]["receipt"]
                db.admin.execute("update private.push_deliveries set sent_at = now() - interval '16 minutes'")
                await push.check_receipts(ctx)
    assert len(expo.delivered()) == 2
    row = deliveries(db)[token_for("u0")]
    assert (row["status"], row["error"]) == ("failed", "gave up after 2 attempts: receipt MessageRateExceeded")
    (notification,) = outbox(db)
    assert (notification["status"], notification["last_error"]) == (
        "failed", "gave up after 2 attempts: receipt MessageRateExceeded")


# --- the guarantee per kind -----------------------------------------------------------------------

async def test_a_connection_dropped_after_expo_accepted_resends_only_at_least_once_kinds(db):
    fan, target = users_with_tokens(db, 2)
    enqueue(db, [fan], kind="followed_dj_live", title="live")
    enqueue(db, [target], kind="moderation", title="banned")
    with FakeExpo() as expo:
        expo.drop_after_accept = 1  # Expo took both, the answer never came
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
            due_now(db)
            await push.dispatch_push(ctx)
    assert len(expo.send_requests) == 2 and len(expo.send_requests[0]["messages"]) == 2
    assert expo.delivered().count(token_for("u0")) == 1  # at most once
    assert expo.delivered().count(token_for("u1")) == 2  # at least once: the device may show it twice
    status = {row["title"]: (row["status"], row["last_error"]) for row in outbox(db)}
    assert status["banned"][0] == "sent"
    assert status["live"][0] == "failed" and "not resent (at most once)" in status["live"][1]


async def test_a_worker_killed_while_sending_resends_at_least_once_kinds(db):
    users = users_with_tokens(db, 2)
    enqueue(db, [users[0]], kind="session_starting", title="soon")
    enqueue(db, [users[1]], kind="tip_received", title="tip")
    claimed = db.admin.execute("select delivery_id from private.push_claim('dead-worker', 100, interval '0 seconds')"
                               ).fetchall()
    db.admin.execute("select private.push_mark_sending(%s)", ([row[0] for row in claimed],))
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
    assert expo.delivered() == [token_for("u0")]
    status = {row["title"]: row["status"] for row in outbox(db)}
    assert status == {"soon": "sent", "tip": "failed"}


async def test_a_refused_token_on_receipts_pauses_too_and_nothing_is_recorded(db):
    users = users_with_tokens(db, 2)
    enqueue(db, users)
    with FakeExpo() as expo:
        async with worker_context(db, expo) as ctx:
            await push.dispatch_push(ctx)
            db.admin.execute("update private.push_deliveries set sent_at = now() - interval '16 minutes'")
            expo.access_token = "the-rotated-token"
            assert await push.check_receipts(ctx) == 0
            assert not ctx.push_health.ready
            assert await push.check_receipts(ctx) == 0 and len(expo.receipt_requests) == 0  # refused before recording
            expo.access_token = None
            ctx.push_health.resume()
            assert await push.check_receipts(ctx) == 2
    assert {row["receipt_status"] for row in deliveries(db).values()} == {"ok"}
