"""The HTTP functions under attack (issue 10, item 9): bodies that are not
UTF-8 or that Postgres cannot store, empty secrets and a zero tolerance,
events on the wrong endpoint or for another PaymentIntent, bodies read before
the caller is known, a token that outlives its user, made-up key ids, and
what /readyz tells strangers. Each is a clean 4xx (or a generic 503), never a
500, and changes nothing."""

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid

import httpx
import pytest
import respx
from pydantic import BaseModel, ValidationError

from functions.app import create_app
from functions.deps import UserDep
from tests.apphelpers import client_for, running_app, settings_for, user_token
from tests.providers import (
    CONNECT_SECRET,
    MONEY_SETTINGS,
    REVENUECAT_AUTH,
    STRIPE_API,
    STRIPE_SECRETS,
    payment_intent,
    revenuecat_event,
    signed,
    stripe_event,
    stripe_object_response,
)
from tests.room import ACCOUNT_ID
from tests.test_tips import auth, earnings, fake_payment_intents, pending_tip, tip_body, tip_state
from tests.test_user_tokens import JWKS_URL, es256_key_and_jwks, es256_token


def signed_bytes(body: bytes, secret: str) -> dict[str, str]:
    """Stripe's signature over raw bytes (the SDK's helper needs text)."""
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={digest}", "Content-Type": "application/json"}


def events_recorded(db) -> int:
    return db.admin.execute("select count(*) from private.webhook_events").fetchone()[0]


# --- Stripe endpoints -------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "secret"), [("/webhooks/stripe", STRIPE_SECRETS[0]),
                                              ("/webhooks/stripe-connect", CONNECT_SECRET)])
async def test_a_body_that_is_not_utf8_is_a_400(db, path, secret):
    event = stripe_event("account.updated", {"id": ACCOUNT_ID, "object": "account"}, account=ACCOUNT_ID)
    body = json.dumps(event).encode().replace(b'"object": "account"', b'"object": "acc\xff\xfeount"')
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await client.post(path, content=body, headers=signed_bytes(body, secret))
        unsigned = await client.post(path, content=b"\xff\xfe\x00", headers={"Stripe-Signature": "t=1,v1=00"})
    assert response.status_code == 400 and response.json()["detail"]["error"] == "invalid_event"
    assert unsigned.status_code == 400
    assert events_recorded(db) == 0


@pytest.mark.parametrize(("text", "stored"), [("nul \u0000 byte", "nul  byte"),
                                              ("lone \ud83c surrogate", "lone \ufffd surrogate")])
async def test_signed_events_with_text_postgres_cannot_store_are_kept_raw_and_stored_clean(db, text, stored):
    """Signed by Stripe, so a retry would bring the same bytes: a 4xx would be
    retried for days. The body is kept as received; the stored payload is clean."""
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer", "name": text})
    body = json.dumps(event).encode()  # ASCII: both travel as \u escapes
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await client.post("/webhooks/stripe", content=body, headers=signed_bytes(body, STRIPE_SECRETS[0]))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored: unhandled type"
    raw, payload = db.admin.execute("select raw_body, payload from private.webhook_events").fetchone()
    assert raw == body.decode() and payload["data"]["object"]["name"] == stored


@pytest.mark.parametrize("tolerance", [0, -1, 3601])
def test_the_signature_tolerance_must_be_between_1_second_and_an_hour(db, monkeypatch, tolerance):
    with pytest.raises(ValidationError, match="stripe_webhook_tolerance_seconds"):
        settings_for(db, stripe_webhook_tolerance_seconds=tolerance)
    monkeypatch.setenv("OPENPARTY_STRIPE_WEBHOOK_TOLERANCE_SECONDS", str(tolerance))
    with pytest.raises(ValidationError, match="stripe_webhook_tolerance_seconds"):
        settings_for(db)


async def test_a_month_old_signature_is_refused_at_the_smallest_tolerance(db):
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    body, headers = signed(event, timestamp=int(time.time()) - 30 * 86400)
    async with client_for(db, **MONEY_SETTINGS, stripe_webhook_tolerance_seconds=1) as client:
        response = await client.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 400 and events_recorded(db) == 0


async def test_the_connect_endpoint_applies_only_connect_event_types(db, tip_room):
    tip = pending_tip(db, tip_room)
    paid = stripe_event("payment_intent.succeeded", payment_intent(tip, "succeeded"), account=ACCOUNT_ID)
    payout = stripe_event("payout.paid", {"id": "po_1", "object": "payout", "amount": 900, "currency": "usd",
                                          "status": "paid", "arrival_date": 1_700_000_000}, account=ACCOUNT_ID)
    async with client_for(db, **MONEY_SETTINGS) as client:
        body, headers = signed(paid, CONNECT_SECRET)
        wrong_endpoint = await client.post("/webhooks/stripe-connect", content=body, headers=headers)
        body, headers = signed(payout, CONNECT_SECRET)
        connect_type = await client.post("/webhooks/stripe-connect", content=body, headers=headers)
    assert wrong_endpoint.status_code == 200
    assert wrong_endpoint.json() == {"received": True, "outcome": "ignored: not a Connect event type"}
    assert tip_state(db, tip)[0] == "pending" and earnings(db, tip_room["dj"]) == {}
    kept = db.admin.execute("select processed_at, last_error from private.webhook_events where id = %s",
                            (paid["id"],)).fetchone()
    assert kept == (None, "ignored: not a Connect event type")  # recorded, never applied
    assert connect_type.json() == {"received": True, "outcome": "payout paid"}


@pytest.mark.parametrize("change", ["another_intent", "amount", "currency"])
async def test_a_payment_intent_must_match_the_stored_one_in_id_amount_and_currency(db, tip_room, change):
    tip = pending_tip(db, tip_room)  # 10.00 USD
    intent = payment_intent(tip, "succeeded")
    if change == "another_intent":
        intent["id"] = "pi_attacker0000000000000001"  # metadata still names the tip
    elif change == "amount":
        intent["amount"] = intent["amount_received"] = 100
    else:
        intent["currency"] = "eur"
    async with client_for(db, **MONEY_SETTINGS) as client:
        body, headers = signed(stripe_event("payment_intent.succeeded", intent))
        response = await client.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "ignored: mismatch"}
    assert tip_state(db, tip)[0] == "pending"
    assert earnings(db, tip_room["dj"]) == {}
    assert db.admin.execute("select count(*) from public.messages where kind = 'tip'").fetchone()[0] == 0


# --- RevenueCat -------------------------------------------------------------------------------------

@pytest.mark.parametrize("configured", ["", "   "])
async def test_an_empty_revenuecat_secret_is_not_configured(db, configured):
    user_id = db.create_user("fan")
    event = revenuecat_event("INITIAL_PURCHASE", str(user_id), entitlement_ids=("dj_pro",))
    async with client_for(db, **{**MONEY_SETTINGS, "revenuecat_webhook_authorization": configured}) as client:
        no_header = await client.post("/webhooks/revenuecat", json=event)
        empty_header = await client.post("/webhooks/revenuecat", json=event, headers={"Authorization": ""})
    assert no_header.status_code == 503 and empty_header.status_code == 503
    assert db.as_user(user_id).rpc_rows("my_plan")[0]["plan_id"] == "free"
    assert events_recorded(db) == 0


async def test_a_missing_or_empty_revenuecat_authorization_is_a_401(db):
    user_id = db.create_user("fan")
    event = revenuecat_event("INITIAL_PURCHASE", str(user_id), entitlement_ids=("dj_pro",))
    async with client_for(db, **MONEY_SETTINGS) as client:
        missing = await client.post("/webhooks/revenuecat", json=event)
        empty = await client.post("/webhooks/revenuecat", json=event, headers={"Authorization": ""})
        right = await client.post("/webhooks/revenuecat", json=event, headers={"Authorization": REVENUECAT_AUTH})
    assert missing.status_code == 401 and empty.status_code == 401
    assert right.status_code == 200


@pytest.mark.parametrize("text", ["\u0000", "\ud83c"])
async def test_revenuecat_text_postgres_cannot_store_is_cleaned_not_refused(db, text):
    # RevenueCat drops an event after five non-200 answers: clean it, keep the exact body beside it.
    event = revenuecat_event("INITIAL_PURCHASE", str(db.create_user("fan")), product_id=f"x{text}y")
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await client.post("/webhooks/revenuecat", content=json.dumps(event).encode(),
                                     headers={"Authorization": REVENUECAT_AUTH, "Content-Type": "application/json"})
    assert response.status_code == 200 and response.json()["outcome"] == "granted premium"
    assert events_recorded(db) == 1


# --- What the app calls -----------------------------------------------------------------------------

async def chunks(body: bytes, size: int = 64 * 1024):
    """A body without Content-Length (chunked): the cap must hold while reading."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


async def test_tips_authenticate_before_reading_the_body_and_cap_it(db, tip_room):
    five_mib = b'{"message": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    with respx.mock(assert_all_called=False) as router:
        create_route, _ = fake_payment_intents(router)
        async with client_for(db, **MONEY_SETTINGS) as client:
            garbage = await client.post("/tips", content=b"{not json", headers={"Content-Type": "application/json"})
            invalid = await client.post("/tips", json={"amount": "lots"})
            anonymous_big = await client.post("/tips", content=five_mib, headers={"Content-Type": "application/json"})
            big = await client.post("/tips", content=five_mib,
                                    headers={**auth(tip_room["listener"]), "Content-Type": "application/json"})
            chunked = await client.post("/tips", content=chunks(five_mib), headers=auth(tip_room["listener"]))
            fine = await client.post("/tips", json=tip_body(tip_room), headers=auth(tip_room["listener"]))
    assert [r.status_code for r in (garbage, invalid, anonymous_big)] == [401] * 3
    assert garbage.json()["detail"]["error"] == "invalid_token"
    assert big.status_code == 413 and chunked.status_code == 413
    assert fine.status_code == 200 and create_route.call_count == 1


async def test_checkout_authenticates_before_reading_the_body(db):
    async with client_for(db, **MONEY_SETTINGS) as client:
        garbage = await client.post("/checkout", content=b"\xff{", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 401


async def test_a_nul_in_a_tip_message_is_a_422(db, tip_room):
    with respx.mock(assert_all_called=False) as router:
        create_route, _ = fake_payment_intents(router)
        async with client_for(db, **MONEY_SETTINGS) as client:
            response = await client.post("/tips", json=tip_body(tip_room, message="hi\u0000there"),
                                         headers=auth(tip_room["listener"]))
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["detail"][0]["msg"]
    assert create_route.call_count == 0
    assert db.admin.execute("select count(*) from public.tips").fetchone()[0] == 0


LONE_SURROGATE = "\\ud83c"  # as it travels in JSON: an escape UTF-8 cannot encode


@pytest.mark.parametrize(("path", "body"), [
    ("/tips", '{"session_id": "%s", "amount": 500, "currency": "usd", "idempotency_key": "tip-key-0001", '
              '"message": "' + LONE_SURROGATE + '"}'),
    ("/tips", '{"session_id": "' + LONE_SURROGATE + '", "amount": 500, "currency": "usd", '
              '"idempotency_key": "tip-key-0001"}'),
    ("/tips", '{"session_id": "%s", "amount": 500, "currency": "' + LONE_SURROGATE + 'sd", '
              '"idempotency_key": "tip-key-0001"}'),
    ("/checkout", '{"plan_id": "' + LONE_SURROGATE + '"}'),
])
async def test_a_lone_surrogate_in_a_json_body_is_a_clean_422(db, tip_room, path, body):
    body = body.replace("%s", str(tip_room["session"]))
    with respx.mock(assert_all_called=False) as router:
        create_route, _ = fake_payment_intents(router)
        async with client_for(db, **MONEY_SETTINGS) as client:
            response = await client.post(path, content=body.encode(), headers={
                **auth(tip_room["listener"]), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)  # FastAPI's shape, rendered
    assert create_route.call_count == 0


async def test_the_422_handler_renders_lone_surrogates_for_every_route(db):
    """Routes whose body FastAPI parses itself (json.loads keeps a lone
    surrogate): the validation error echoes it, and must still render."""
    app = create_app(settings_for(db))

    class Probe(BaseModel):
        id: uuid.UUID
        count: int

    @app.post("/probe")
    async def probe(body: Probe) -> dict[str, str]:
        return {"id": str(body.id)}

    async with running_app(app) as client:
        response = await client.post("/probe", content=('{"id": "' + LONE_SURROGATE + '", "count": "'
                                                        + LONE_SURROGATE + '"}').encode(),
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert {tuple(error["loc"]) for error in errors} == {("body", "id"), ("body", "count")}
    assert all(error["input"] == "\\ud83c" for error in errors)


async def test_checkout_for_a_user_who_no_longer_exists_calls_stripe_never(db):
    user_id = db.create_user("gone")
    token = user_token(user_id)
    db.admin.execute("delete from auth.users where id = %s", (user_id,))
    soft_deleted = db.create_user("soft")
    db.admin.execute("update auth.users set deleted_at = now() where id = %s", (soft_deleted,))
    with respx.mock(assert_all_called=False) as router:
        stripe_calls = router.route(url__startswith=STRIPE_API).mock(
            return_value=stripe_object_response({"id": "cus_x", "object": "customer"}))
        async with client_for(db, **MONEY_SETTINGS) as client:
            gone = await client.post("/checkout", json={"plan_id": "premium"},
                                     headers={"Authorization": f"Bearer {token}"})
            soft = await client.post("/checkout", json={"plan_id": "premium"},
                                     headers={"Authorization": f"Bearer {user_token(soft_deleted)}"})
    assert gone.status_code == 401 and soft.status_code == 401, gone.text
    assert "no longer exists" in gone.json()["detail"]["message"]
    assert stripe_calls.call_count == 0
    assert db.admin.execute("select count(*) from public.stripe_customers").fetchone()[0] == 0


# --- Tokens -----------------------------------------------------------------------------------------

def probe_app(db, **overrides):
    app = create_app(settings_for(db, supabase_jwt_secret=None, **overrides))

    @app.get("/probe")
    async def probe(user: UserDep) -> dict[str, str]:
        return {"user_id": str(user.id)}

    return app


@respx.mock
async def test_unknown_kids_cannot_make_us_refetch_the_jwks(respx_mock, db):
    private_key, jwks = es256_key_and_jwks("key-1")
    jwks_route = respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(200, json=jwks))
    user_id = uuid.uuid4()
    async with running_app(probe_app(db)) as client:
        async def attempt(n: int) -> httpx.Response:
            token = es256_token(private_key, f"made-up-{n}", user_id)
            return await client.get("/probe", headers={"Authorization": f"Bearer {token}"})

        first = await asyncio.gather(*(attempt(n) for n in range(25)))
        again = [await attempt(n) for n in range(25, 50)]
        known = await client.get("/probe", headers={"Authorization":
                                                    f"Bearer {es256_token(private_key, 'key-1', user_id)}"})
    assert jwks_route.call_count == 1
    assert {r.status_code for r in first + again} == {401}
    assert known.status_code == 200


@respx.mock
async def test_an_unreachable_jwks_is_not_hammered_either(respx_mock, db):
    private_key, _ = es256_key_and_jwks("key-1")
    jwks_route = respx_mock.get(JWKS_URL).mock(return_value=httpx.Response(503))
    async with running_app(probe_app(db)) as client:
        responses = [await client.get("/probe", headers={"Authorization":
                                                         f"Bearer {es256_token(private_key, 'key-1', uuid.uuid4())}"})
                     for _ in range(25)]
    assert jwks_route.call_count == 1
    assert {r.status_code for r in responses} == {401}
    assert "signing keys unavailable" in responses[-1].json()["detail"]["message"]


# --- /readyz ----------------------------------------------------------------------------------------

async def test_readyz_tells_strangers_nothing_but_logs_why(db, caplog):
    caplog.set_level(logging.WARNING, logger="openparty")
    latest = db.admin.execute("select max(version) from supabase_migrations.schema_migrations").fetchone()[0]
    db.admin.execute("delete from supabase_migrations.schema_migrations where version = %s", (latest,))
    async with client_for(db) as client:
        pending = await client.get("/readyz")
    async with client_for(db, db_pool_timeout_seconds=2,
                          edge_database_url="postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1") as client:
        unreachable = await client.get("/readyz")
    for response in (pending, unreachable):
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "reason": "not ready"}
    assert latest not in pending.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"versions={latest}" in logged and "reason=database_unreachable" in logged


def test_the_documented_request_bodies_are_self_contained(db):
    document = create_app(settings_for(db)).openapi()
    for path in ("/tips", "/checkout"):
        schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert "$ref" not in json.dumps(schema) and schema["required"]
    assert document["paths"]["/checkout"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "properties"]["plan_id"]["enum"] == ["premium", "dj_pro"]
