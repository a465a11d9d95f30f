"""create-tip and the Stripe webhooks that drive a tip: requests sent to Stripe,
idempotency, refusals, the state machine, the ledger, visibility."""

import asyncio

import httpx
import pytest
import respx

from tests.apphelpers import client_for, user_token
from tests.providers import (
    CONNECT_SECRET,
    MONEY_SETTINGS,
    STRIPE_API,
    STRIPE_SECRETS,
    account,
    charge,
    dispute,
    form,
    new_id,
    payment_intent,
    signed,
    stripe_event,
    stripe_object_response,
)
from tests.room import ACCOUNT_ID, broadcasts, make_dj


def fake_payment_intents(router: respx.MockRouter):
    """Stripe's PaymentIntent API: create answers from the request, retrieve from what was created."""
    created: dict[str, dict] = {}

    def create(request: httpx.Request):
        body = form(request)
        intent_id = new_id("pi")
        created[intent_id] = {"id": intent_id, "object": "payment_intent", "amount": int(body["amount"]),
                              "currency": body["currency"], "status": "requires_payment_method",
                              "client_secret": f"{intent_id}_secret_abc", "metadata": {}}
        return stripe_object_response(created[intent_id])

    def retrieve(request: httpx.Request, intent_id: str):
        return stripe_object_response(created[intent_id])

    create_route = router.post(f"{STRIPE_API}/v1/payment_intents").mock(side_effect=create)
    retrieve_route = router.get(url__regex=rf"{STRIPE_API}/v1/payment_intents/(?P<intent_id>pi_\w+)").mock(
        side_effect=retrieve)
    return create_route, retrieve_route


def tip_body(room, key="tip-key-0001", amount=500, currency="usd", **extra):
    return {"session_id": str(room["session"]), "amount": amount, "currency": currency,
            "idempotency_key": key, "message": "great set", **extra}


def auth(user_id):
    return {"Authorization": f"Bearer {user_token(user_id)}"}


async def test_create_tip_records_it_and_creates_the_destination_charge(db, tip_room):
    with respx.mock(assert_all_called=False) as router:
        create_route, _ = fake_payment_intents(router)
        async with client_for(db, **MONEY_SETTINGS) as client:
            response = await client.post("/tips", json=tip_body(tip_room), headers=auth(tip_room["listener"]))
    assert response.status_code == 200, response.text
    body = response.json()
    tip = db.admin.execute("select * from public.tips").fetchone()
    sent = form(create_route.calls.last.request)
    assert sent["amount"] == "500" and sent["currency"] == "usd"
    assert sent["application_fee_amount"] == "50"  # 10% platform fee
    assert sent["transfer_data[destination]"] == ACCOUNT_ID
    assert sent["metadata[tip_id]"] == body["tip_id"]
    assert create_route.calls.last.request.headers["Idempotency-Key"] == f"tip-{body['tip_id']}"
    assert body["client_secret"].startswith(body["payment_intent_id"])
    assert body["status"] == "pending" and body["platform_fee"] == 50
    assert tip is not None


async def test_the_same_idempotency_key_returns_the_same_tip_and_intent(db, tip_room):
    with respx.mock(assert_all_called=False) as router:
        create_route, retrieve_route = fake_payment_intents(router)
        async with client_for(db, **MONEY_SETTINGS) as client:
            first = await client.post("/tips", json=tip_body(tip_room), headers=auth(tip_room["listener"]))
            again = await client.post("/tips", json=tip_body(tip_room), headers=auth(tip_room["listener"]))
            changed = await client.post("/tips", json=tip_body(tip_room, amount=900), headers=auth(tip_room["listener"]))
    assert first.json()["tip_id"] == again.json()["tip_id"]
    assert first.json()["payment_intent_id"] == again.json()["payment_intent_id"]
    assert create_route.call_count == 1 and retrieve_route.call_count == 1
    assert changed.status_code == 409 and "different tip" in changed.json()["detail"]["message"]
    assert db.admin.execute("select count(*) from public.tips").fetchone()[0] == 1


async def test_a_stripe_outage_leaves_a_pending_tip_that_a_retry_completes(db, tip_room):
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{STRIPE_API}/v1/payment_intents").mock(return_value=httpx.Response(500, json={"error": {}}))
        async with client_for(db, **MONEY_SETTINGS) as client:
            failed = await client.post("/tips", json=tip_body(tip_room), headers=auth(tip_room["listener"]))
    assert failed.status_code == 502
    assert db.admin.execute("select status, stripe_payment_intent_id from public.tips").fetchone() == ("pending", None)
    with respx.mock(assert_all_called=False) as router:
        create_route, _ = fake_payment_intents(router)
        async with client_for(db, **MONEY_SETTINGS) as client:
            retried = await client.post("/tips", json=tip_body(tip_room), headers=auth(tip_room["listener"]))
    assert retried.status_code == 200
    assert create_route.calls.last.request.headers["Idempotency-Key"] == f"tip-{retried.json()['tip_id']}"
    assert db.admin.execute("select stripe_payment_intent_id from public.tips").fetchone()[0] == \
        retried.json()["payment_intent_id"]


@pytest.mark.parametrize(("setup", "body_changes", "status", "message"), [
    ("dj_not_ready", {}, 409, "cannot receive tips yet"),
    ("session_ended", {}, 409, "live sessions only"),
    ("tips_off", {}, 403, "turned tips off"),
    ("not_joined", {}, 403, "join the session to tip"),
    ("blocked", {}, 403, "cannot tip this DJ"),
    (None, {"amount": 99}, 422, "a tip is 1.00 to 500.00 USD"),
    (None, {"currency": "jpy"}, 422, "JPY are not supported"),
])
async def test_refusals_are_clear_4xx_and_create_nothing(db, tip_room, setup, body_changes, status, message):
    tipper = tip_room["listener"]
    if setup == "dj_not_ready":
        db.admin.execute("update public.payout_accounts set payouts_enabled = false")
    elif setup == "session_ended":
        db.as_user(tip_room["dj"]).rpc_rows("end_session", p_session_id=tip_room["session"])
    elif setup == "tips_off":
        db.admin.execute("update public.sessions set tips_enabled = false")
    elif setup == "not_joined":
        tipper = db.create_user("outsider")
    elif setup == "blocked":
        db.as_user(tip_room["dj"]).sql("insert into public.user_blocks (blocked_id) values (%s)", (tipper,))
    with respx.mock(assert_all_called=False) as router:
        create_route, _ = fake_payment_intents(router)
        async with client_for(db, **MONEY_SETTINGS) as client:
            response = await client.post("/tips", json=tip_body(tip_room, **body_changes), headers=auth(tipper))
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]["message"]
    assert create_route.call_count == 0
    assert db.admin.execute("select count(*) from public.tips").fetchone()[0] == 0


async def test_bad_requests(db, tip_room):
    async with client_for(db, **MONEY_SETTINGS) as client:
        unauthenticated = await client.post("/tips", json=tip_body(tip_room))
        invalid = await client.post("/tips", json=tip_body(tip_room, amount=-5), headers=auth(tip_room["listener"]))
        no_key = await client.post("/tips", json={"session_id": str(tip_room["session"]), "amount": 500,
                                                  "currency": "usd"}, headers=auth(tip_room["listener"]))
    assert unauthenticated.status_code == 401
    assert invalid.status_code == 422 and no_key.status_code == 422


async def test_tip_endpoints_answer_503_without_stripe_configured(db, tip_room):
    async with client_for(db) as client:
        response = await client.post("/tips", json=tip_body(tip_room), headers=auth(tip_room["listener"]))
    assert response.status_code == 503


# --- the webhook side ----------------------------------------------------------------------------

def pending_tip(db, room, amount=1000):
    tip = db.admin.execute(
        "select * from private.create_tip(%s, %s, %s, 'usd', 'for the set', %s, 1000)",
        (room["listener"], room["session"], amount, new_id("key"))).fetchone()
    columns = [c.name for c in db.admin.execute("select * from public.tips limit 0").description]
    tip = dict(zip(columns, tip, strict=True))
    db.admin.execute("update public.tips set stripe_payment_intent_id = %s where id = %s", (new_id("pi"), tip["id"]))
    return {**tip, **{"stripe_payment_intent_id": db.admin.execute(
        "select stripe_payment_intent_id from public.tips where id = %s", (tip["id"],)).fetchone()[0]}}


async def deliver(client, event, secret=STRIPE_SECRETS[0], path="/webhooks/stripe"):
    body, headers = signed(event, secret)
    return await client.post(path, content=body, headers=headers)


def tip_state(db, tip):
    return db.admin.execute("select status, amount_refunded, dispute_status from public.tips where id = %s",
                            (tip["id"],)).fetchone()


def earnings(db, dj_id):
    rows = db.as_user(dj_id).rpc_rows("my_earnings")
    return {r["currency"]: (r["gross"], r["refunds"], r["disputes"], r["net"]) for r in rows}


async def test_a_successful_payment_credits_the_dj_and_announces_the_tip(db, tip_room):
    tip = pending_tip(db, tip_room)
    event = stripe_event("payment_intent.succeeded", payment_intent(tip, "succeeded"))
    async with client_for(db, **MONEY_SETTINGS) as client:
        first = await deliver(client, event)
        duplicate = await deliver(client, event)
    assert first.json() == {"received": True, "outcome": "tip succeeded"}
    assert duplicate.json()["outcome"] == "duplicate"
    assert tip_state(db, tip)[0] == "succeeded"
    assert earnings(db, tip_room["dj"]) == {"usd": (900, 0, 0, 900)}
    chat = db.as_user(tip_room["listener"]).one("select kind, body, metadata from public.messages")
    assert chat["kind"] == "tip" and chat["body"] == "listener tipped 10.00 USD"
    assert chat["metadata"]["message"] == "for the set"
    (announced,) = broadcasts(db, f"user:{tip_room['dj']}", "tip_received")
    assert announced["amount"] == 1000
    assert db.admin.execute("select count(*), bool_and(processed_at is not null) from private.webhook_events").fetchone() \
        == (1, True)


async def test_tips_are_visible_to_tipper_and_dj_only(db, tip_room):
    tip = pending_tip(db, tip_room)
    query = "select id from public.tips"
    assert [r["id"] for r in db.as_user(tip_room["listener"]).sql(query)] == [tip["id"]]
    assert [r["id"] for r in db.as_user(tip_room["dj"]).sql(query)] == [tip["id"]]
    assert db.as_user(db.create_user("nosy")).sql(query) == []
    assert db.as_user(tip_room["listener"]).rpc_rows("my_earnings") == []


async def test_states_only_move_forward_whatever_the_arrival_order(db, tip_room):
    tip = pending_tip(db, tip_room)
    failed = stripe_event("payment_intent.payment_failed",
                          payment_intent(tip, "requires_payment_method", error="Your card was declined."),
                          created=1_700_000_000)
    succeeded = stripe_event("payment_intent.succeeded", payment_intent(tip, "succeeded"), created=1_700_000_100)
    canceled = stripe_event("payment_intent.canceled", payment_intent(tip, "canceled"), created=1_700_000_200)
    async with client_for(db, **MONEY_SETTINGS) as client:
        assert (await deliver(client, failed)).json()["outcome"] == "tip failed"
        assert tip_state(db, tip)[0] == "failed"
        assert (await deliver(client, succeeded)).json()["outcome"] == "tip succeeded"  # a retry with another card
        late = stripe_event("payment_intent.payment_failed",
                            payment_intent(tip, "requires_payment_method", error="late"), created=1_699_999_000)
        assert (await deliver(client, late)).json()["outcome"].startswith("unchanged")
        assert (await deliver(client, canceled)).json()["outcome"].startswith("unchanged")
    assert tip_state(db, tip)[0] == "succeeded"
    assert earnings(db, tip_room["dj"])["usd"][3] == 900


async def test_refunds_partial_then_full_in_any_order(db, tip_room):
    tip = pending_tip(db, tip_room)
    async with client_for(db, **MONEY_SETTINGS) as client:
        await deliver(client, stripe_event("payment_intent.succeeded", payment_intent(tip, "succeeded")))
        full = stripe_event("charge.refunded", charge(tip, 1000))
        partial = stripe_event("charge.refunded", charge(tip, 400))
        assert (await deliver(client, partial)).json()["outcome"] == "tip refunded 400 of 1000"
        assert earnings(db, tip_room["dj"])["usd"] == (900, -360, 0, 540)
        await deliver(client, full)
        stale_partial = stripe_event("charge.refunded", charge(tip, 400))
        assert (await deliver(client, stale_partial)).json()["outcome"].startswith("unchanged")
    assert tip_state(db, tip)[:2] == ("refunded", 1000)
    assert earnings(db, tip_room["dj"])["usd"] == (900, -900, 0, 0)


async def test_disputes_hold_back_on_funds_withdrawn_and_give_back_on_funds_reinstated(db, tip_room):
    """The money follows the funds events, not the status (an inquiry moves none:
    tests/test_stripe_corpus.py)."""
    tip = pending_tip(db, tip_room)
    async with client_for(db, **MONEY_SETTINGS) as client:
        await deliver(client, stripe_event("payment_intent.succeeded", payment_intent(tip, "succeeded")))
        await deliver(client, stripe_event("charge.dispute.created", dispute(tip, "needs_response")))
        assert tip_state(db, tip)[0::2] == ("disputed", "needs_response")
        assert earnings(db, tip_room["dj"])["usd"][3] == 900
        await deliver(client, stripe_event("charge.dispute.funds_withdrawn", dispute(tip, "needs_response")))
        assert earnings(db, tip_room["dj"])["usd"][3] == 0
        await deliver(client, stripe_event("charge.dispute.funds_reinstated", dispute(tip, "won")))
        await deliver(client, stripe_event("charge.dispute.closed", dispute(tip, "won")))
        await deliver(client, stripe_event("charge.dispute.created", dispute(tip, "needs_response")))  # late copy
    assert tip_state(db, tip)[0::2] == ("disputed", "won")
    assert earnings(db, tip_room["dj"])["usd"] == (900, 0, 0, 900)


async def test_account_updated_drives_payout_readiness_on_the_connect_endpoint(db):
    dj_id = make_dj(db)
    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id) values (%s, %s)", (dj_id, ACCOUNT_ID))
    ready = stripe_event("account.updated", account(ACCOUNT_ID, ready=True), account=ACCOUNT_ID, created=1_700_000_500)
    older = stripe_event("account.updated", account(ACCOUNT_ID, ready=False, currently_due=["external_account"]),
                         account=ACCOUNT_ID, created=1_700_000_100)
    async with client_for(db, **MONEY_SETTINGS) as client:
        wrong_secret = await deliver(client, ready, secret=STRIPE_SECRETS[0], path="/webhooks/stripe-connect")
        no_account = await deliver(client, stripe_event("account.updated", account(ACCOUNT_ID, ready=True)),
                                   secret=CONNECT_SECRET, path="/webhooks/stripe-connect")
        applied = await deliver(client, ready, secret=CONNECT_SECRET, path="/webhooks/stripe-connect")
        stale = await deliver(client, older, secret=CONNECT_SECRET, path="/webhooks/stripe-connect")
    assert wrong_secret.status_code == 400 and no_account.status_code == 400
    assert applied.json()["outcome"] == "payout account updated"
    assert stale.json()["outcome"].startswith("unchanged")
    status = db.as_user(dj_id).one("select charges_enabled, payouts_enabled, requirements_due from public.payout_accounts")
    assert status == {"charges_enabled": True, "payouts_enabled": True, "requirements_due": []}
    assert db.as_user(db.create_user("other")).sql("select * from public.payout_accounts") == []


async def test_signatures_bodies_and_unknown_types(db):
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    body, headers = signed(event)
    async with client_for(db, **MONEY_SETTINGS) as client:
        tampered = await client.post("/webhooks/stripe", content=body.replace(b"cus_1", b"cus_2"), headers=headers)
        missing = await client.post("/webhooks/stripe", content=body)
        stale_body, stale_headers = signed(event, timestamp=1_600_000_000)
        stale = await client.post("/webhooks/stripe", content=stale_body, headers=stale_headers)
        garbage_body, garbage_headers = signed(b"not json at all")
        garbage = await client.post("/webhooks/stripe", content=garbage_body, headers=garbage_headers)
        not_event_body, not_event_headers = signed(b'{"hello": "world"}')
        not_event = await client.post("/webhooks/stripe", content=not_event_body, headers=not_event_headers)
        huge_body, huge_headers = signed(b"{" + b" " * 600_000 + b"}")
        huge = await client.post("/webhooks/stripe", content=huge_body, headers=huge_headers)
        assert db.admin.execute("select count(*) from private.webhook_events").fetchone()[0] == 0
        rotated = await deliver(client, event, secret=STRIPE_SECRETS[1])
    assert [r.status_code for r in (tampered, missing, stale, garbage, not_event)] == [400] * 5
    assert huge.status_code == 413
    assert rotated.status_code == 200 and rotated.json()["outcome"] == "ignored: unhandled type"
    assert db.admin.execute("select type, outcome from private.webhook_events").fetchone() == \
        ("customer.created", "ignored: unhandled type")


async def test_the_database_being_unreachable_answers_503_and_records_nothing(db, tip_room):
    tip = pending_tip(db, tip_room)
    event = stripe_event("payment_intent.succeeded", payment_intent(tip, "succeeded"))
    async with client_for(db, **MONEY_SETTINGS, db_pool_timeout_seconds=2,
                          edge_database_url="postgresql://nobody@127.0.0.1:1/x?connect_timeout=1") as client:
        response = await deliver(client, event)
    assert response.status_code == 503
    async with client_for(db, **MONEY_SETTINGS) as client:
        retried = await deliver(client, event)  # Stripe's retry
    assert retried.json()["outcome"] == "tip succeeded"


async def test_the_database_going_away_mid_request_loses_nothing(db, tip_room):
    tip = pending_tip(db, tip_room)
    event = stripe_event("payment_intent.succeeded", payment_intent(tip, "succeeded"))
    blocker = db.connect()
    async with client_for(db, **MONEY_SETTINGS) as client:
        with blocker.transaction():
            # Hold the tip row so applying stalls after the event is recorded...
            blocker.execute("select * from public.tips where id = %s for update", (tip["id"],))
            request = asyncio.create_task(deliver(client, event))
            for _ in range(100):
                await asyncio.sleep(0.05)
                waiting = db.admin.execute(
                    "select pid from pg_stat_activity where application_name = 'openparty-edge' "
                    "and wait_event_type = 'Lock'").fetchall()
                if waiting:
                    break
            # ...then the database drops that connection.
            db.admin.execute("select pg_terminate_backend(%s)", (waiting[0][0],))
            response = await request
        blocker.close()
        assert response.status_code == 503
        kept = db.admin.execute("select processed_at from private.webhook_events where id = %s", (event["id"],)).fetchone()
        assert kept == (None,)  # recorded, not applied
        retried = await deliver(client, event)
    assert retried.json()["outcome"] == "tip succeeded"
    assert tip_state(db, tip)[0] == "succeeded"
