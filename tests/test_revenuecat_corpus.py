"""RevenueCat as it really sends: every published sample event and the shapes
its field table documents (null and absent fields), posted with the
dashboard's Authorization header exactly as RevenueCat does.

Sources:
- tests/corpus/revenuecat/published_samples.json: the samples of
  https://www.revenuecat.com/docs/integrations/webhooks/sample-events
  (RevenueCat/docs, code_blocks/integrations/webhooks/, commit bf39a9c), verbatim.
- The field table of https://www.revenuecat.com/docs/integrations/webhooks/event-types-and-fields
  (RevenueCat/docs docs/integrations/webhooks/event-types-and-fields.mdx, same
  commit): `entitlement_ids` "can be NULL if the product_id is not mapped to any
  entitlements"; `expiration_at_ms` "can be NULL for non-subscription
  purchases"; TRANSFER has no `app_user_id`; TEMPORARY_ENTITLEMENT_GRANT
  guarantees app_user_id, purchased_at_ms, expiration_at_ms (at most 24 h
  ahead), event_timestamp_ms, product_id, entitlement_ids, store and
  transaction_id, and its published sample carries no `environment`; a
  refund is a CANCELLATION with cancel_reason CUSTOMER_SUPPORT; TEST is the
  dashboard's button (no sample is published: it is built on the page's
  "Events format" example, event-types-and-fields_1.json, with the nullable
  fields null).
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.apphelpers import client_for
from tests.providers import MONEY_SETTINGS, REVENUECAT_AUTH

CORPUS = json.loads((Path(__file__).parent / "corpus" / "revenuecat" / "published_samples.json").read_text())
SAMPLES: dict[str, dict[str, Any]] = CORPUS["samples"]
# Every type RevenueCat lists in its field table's `type` row.
DOCUMENTED_TYPES = ("TEST", "INITIAL_PURCHASE", "NON_RENEWING_PURCHASE", "RENEWAL", "PRODUCT_CHANGE", "CANCELLATION",
                    "BILLING_ISSUE", "SUBSCRIBER_ALIAS", "SUBSCRIPTION_PAUSED", "UNCANCELLATION", "TRANSFER",
                    "SUBSCRIPTION_EXTENDED", "EXPIRATION", "TEMPORARY_ENTITLEMENT_GRANT", "INVOICE_ISSUANCE",
                    "VIRTUAL_CURRENCY_TRANSACTION", "EXPERIMENT_ENROLLMENT", "REFUND_REVERSED")


def published(name: str, *, user: str | None = None, plan: str | None = None, at_ms: int | None = None,
              **fields: Any) -> dict[str, Any]:
    """A published sample as RevenueCat sends it, with a fresh event id (the
    samples share ids, and we deduplicate on it); `user` puts one of our users
    where the sample has its app user id (aliases keep the anonymous ids),
    `plan` where it names an entitlement, `at_ms` moves every timestamp."""
    body = copy.deepcopy(SAMPLES[name]["body"])
    event = body["event"]
    event["id"] = str(uuid.uuid4()).upper()
    if user is not None:
        event["app_user_id"] = user
    if plan is not None and isinstance(event.get("entitlement_ids"), list):
        event["entitlement_ids"] = [plan]
    if at_ms is not None:
        shift = at_ms - event["event_timestamp_ms"]
        for key in ("event_timestamp_ms", "purchased_at_ms", "expiration_at_ms"):
            if isinstance(event.get(key), int):
                event[key] += shift
    event.update(fields)
    return body


def dashboard_event(**fields: Any) -> dict[str, Any]:
    """The dashboard's TEST event: the field table's shape with what may be null, null."""
    now_ms = int(time.time() * 1000)
    event = {
        "aliases": None, "app_id": "yourAppID", "app_user_id": "yourCustomerAppUserID", "commission_percentage": None,
        "country_code": "US", "currency": None, "entitlement_id": None, "entitlement_ids": None,
        "environment": "PRODUCTION", "event_timestamp_ms": now_ms, "expiration_at_ms": None, "id": str(uuid.uuid4()),
        "is_family_share": None, "offer_code": None, "original_app_user_id": "yourCustomerAppUserID",
        "original_transaction_id": None, "period_type": "NORMAL", "presented_offering_id": None, "price": None,
        "price_in_purchased_currency": None, "product_id": "test_product", "purchased_at_ms": now_ms,
        "store": "APP_STORE", "subscriber_attributes": {}, "takehome_percentage": None, "tax_percentage": None,
        "transaction_id": None, "type": "TEST",
    }
    event.update(fields)
    return {"api_version": "1.0", "event": event}


async def post(client, body: dict[str, Any] | bytes):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post("/webhooks/revenuecat", content=content,
                             headers={"Authorization": REVENUECAT_AUTH, "Content-Type": "application/json"})


def plan_of(db, user_id) -> str:
    return db.as_user(user_id).rpc_rows("my_plan")[0]["plan_id"]


def recorded(db, event_id: str) -> dict[str, Any]:
    cur = db.admin.execute("select processed_at is not null as applied, outcome, last_error, payload, raw_body "
                           "from private.webhook_events where provider = 'revenuecat' and id = %s", (event_id,))
    row = cur.fetchone()
    assert row is not None, f"event {event_id} was not recorded"
    return dict(zip([c.name for c in cur.description], row, strict=True))


def test_the_corpus_covers_every_published_type():
    published_types = {sample["body"]["event"]["type"] for sample in SAMPLES.values()}
    # TEST and SUBSCRIBER_ALIAS have no published sample: built below from the field table.
    assert set(DOCUMENTED_TYPES) - published_types == {"TEST", "SUBSCRIBER_ALIAS"}


async def test_every_published_sample_is_recorded_and_answered_200(db):
    async with client_for(db, **MONEY_SETTINGS) as client:
        for name in sorted(SAMPLES):
            body = published(name)
            response = await post(client, body)
            again = await post(client, body)
            assert response.status_code == 200, (name, response.text)
            assert again.json()["outcome"] == "duplicate", name
            row = recorded(db, body["event"]["id"])
            assert row["applied"] and row["last_error"] is None, name


@pytest.mark.parametrize("name", ["INITIAL_PURCHASE", "RENEWAL", "UNCANCELLATION", "NON_RENEWING_PURCHASE",
                                  "SUBSCRIPTION_EXTENDED", "REFUND_REVERSED", "PRODUCT_CHANGE"])
async def test_published_grants_reach_our_user(db, name):
    user_id = db.create_user("fan")
    async with client_for(db, **MONEY_SETTINGS) as client:
        # as published, every expiration is long past (PRODUCT_CHANGE's even precedes its event)
        now_ms = int(time.time() * 1000)
        response = await post(client, published(name, user=str(user_id), plan="premium", at_ms=now_ms,
                                                expiration_at_ms=now_ms + 7 * 86400 * 1000))
    assert response.json()["outcome"] == "granted premium"
    assert plan_of(db, user_id) == "premium"


async def test_null_entitlement_ids_and_aliases_are_recorded_and_grant_nothing(db):
    user_id = db.create_user("fan")
    async with client_for(db, **MONEY_SETTINGS) as client:
        for event_type in DOCUMENTED_TYPES:
            body = dashboard_event(type=event_type, app_user_id=str(user_id), original_app_user_id=str(user_id))
            if event_type == "TRANSFER":  # no app_user_id; transferred_from / _to instead
                del body["event"]["app_user_id"]
                body["event"] |= {"transferred_from": [str(user_id)], "transferred_to": None}
            response = await post(client, body)
            assert response.status_code == 200, (event_type, response.text)
            assert recorded(db, body["event"]["id"])["applied"], event_type
    assert plan_of(db, user_id) == "free"
    assert db.admin.execute("select count(*) from public.entitlements").fetchone()[0] == 0


async def test_aliases_null_still_finds_the_user(db):
    user_id = db.create_user("fan")
    body = published("INITIAL_PURCHASE", plan="dj_pro", at_ms=int(time.time() * 1000), aliases=None,
                     original_app_user_id=str(user_id), app_user_id="not-ours")
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await post(client, body)
    assert response.json()["outcome"] == "granted dj_pro"
    assert plan_of(db, user_id) == "dj_pro"


async def test_the_published_invoice_issuance_and_a_dashboard_test_event(db):
    user_id = db.create_user("fan")
    invoice = published("INVOICE_ISSUANCE", user=str(user_id))
    test = dashboard_event(app_user_id=str(user_id))
    async with client_for(db, **MONEY_SETTINGS) as client:
        answers = [await post(client, invoice), await post(client, test)]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["outcome"] for a in answers] == ["ignored: unhandled type"] * 2
    assert plan_of(db, user_id) == "free"


# --- TEMPORARY_ENTITLEMENT_GRANT ------------------------------------------------------------------

async def test_a_temporary_grant_without_environment_grants_for_at_most_a_day(db):
    user_id = db.create_user("fan")
    now_ms = int(time.time() * 1000)
    # The published sample has only app_user_id and store; the field table
    # guarantees these too. No environment, as published.
    grant = published("TEMPORARY_ENTITLEMENT_GRANT", user=str(user_id), at_ms=now_ms, purchased_at_ms=now_ms,
                      expiration_at_ms=now_ms + 48 * 3600 * 1000, product_id="openparty_premium_monthly",
                      entitlement_ids=["premium"], transaction_id="rc_temp_1")
    assert "environment" not in grant["event"]
    async with client_for(db, **MONEY_SETTINGS) as client:
        granted = await post(client, grant)
        assert granted.json()["outcome"] == "granted premium"
        assert plan_of(db, user_id) == "premium"
        hours = db.admin.execute("select extract(epoch from expires_at - now()) / 3600 from public.entitlements "
                                 "where user_id = %s", (user_id,)).fetchone()[0]
        assert 23 < hours <= 24  # capped at the documented 24 hours
        # The store could not validate it: an EXPIRATION with the same transaction_id.
        expired = await post(client, published("EXPIRATION", user=str(user_id), plan="premium", at_ms=now_ms + 1000,
                                               transaction_id="rc_temp_1", original_transaction_id="2000000999"))
    assert expired.json()["outcome"] == "expired"
    assert plan_of(db, user_id) == "free"


async def test_the_bare_published_temporary_grant_is_recorded_with_nothing_to_grant(db):
    user_id = db.create_user("fan")
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await post(client, published("TEMPORARY_ENTITLEMENT_GRANT", user=str(user_id)))
    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored: no entitlement maps to a plan"


# --- refunds --------------------------------------------------------------------------------------

async def test_a_refunded_lifetime_purchase_is_revoked_and_a_reversal_restores_it(db):
    user_id = db.create_user("fan")
    t0 = int(time.time() * 1000) - 60_000
    async with client_for(db, **MONEY_SETTINGS) as client:
        bought = await post(client, published("NON_RENEWING_PURCHASE", user=str(user_id), plan="premium", at_ms=t0))
        assert bought.json()["outcome"] == "granted premium"
        assert db.admin.execute("select expires_at from public.entitlements").fetchone()[0] is None  # lifetime
        refund = published("CANCELLATION_REFUND", user=str(user_id), plan="premium", at_ms=t0 + 1000,
                           expiration_at_ms=None, transaction_id="123456789012345",
                           original_transaction_id="123456789012345", product_id="2100_tokens")
        assert refund["event"]["cancel_reason"] == "CUSTOMER_SUPPORT"
        refunded = await post(client, refund)
        assert refunded.json()["outcome"] == "refunded: access ended"
        assert plan_of(db, user_id) == "free"
        reversed_ = await post(client, published("REFUND_REVERSED", user=str(user_id), plan="premium",
                                                 at_ms=t0 + 2000, expiration_at_ms=None))
    assert reversed_.json()["outcome"] == "granted premium"
    assert plan_of(db, user_id) == "premium"


async def test_an_unsubscribe_without_expiration_keeps_access(db):
    user_id = db.create_user("fan")
    t0 = int(time.time() * 1000) - 60_000
    async with client_for(db, **MONEY_SETTINGS) as client:
        await post(client, published("NON_RENEWING_PURCHASE", user=str(user_id), plan="premium", at_ms=t0))
        await post(client, published("CANCELLATION", user=str(user_id), plan="premium", at_ms=t0 + 1000,
                                     expiration_at_ms=None, original_transaction_id="123456789012345"))
    assert plan_of(db, user_id) == "premium"


# --- purchases before login -----------------------------------------------------------------------

async def test_an_anonymous_purchase_is_held_and_the_transfer_moves_it(db):
    user_id = db.create_user("fan")
    anonymous = "$RCAnonymousID:8069238d6049ce87cc529853916d624c"
    now_ms = int(time.time() * 1000)
    purchase = published("INITIAL_PURCHASE", user=anonymous, plan="premium", at_ms=now_ms,
                         original_app_user_id=anonymous, aliases=[anonymous])
    # The published TRANSFER, event_timestamp_ms (year 4466) and all.
    transfer = published("TRANSFER", transferred_from=[anonymous], transferred_to=[str(user_id)])
    async with client_for(db, **MONEY_SETTINGS) as client:
        held = await post(client, purchase)
        assert held.status_code == 200
        assert held.json()["outcome"] == f"held premium for {anonymous} until login"
        assert plan_of(db, user_id) == "free"
        moved = await post(client, transfer)
        assert moved.json()["outcome"] == f"transferred 1 to {user_id}"
        assert plan_of(db, user_id) == "premium"
        # A later event still applies (the transfer's odd timestamp did not freeze the entitlement).
        expired = await post(client, published("EXPIRATION", user=str(user_id), plan="premium", at_ms=now_ms + 5000))
    assert expired.json()["outcome"] == "expired"
    assert plan_of(db, user_id) == "free"


async def test_a_transfer_between_our_users_and_to_nobody(db):
    first, second = db.create_user("first"), db.create_user("second")
    now_ms = int(time.time() * 1000)
    async with client_for(db, **MONEY_SETTINGS) as client:
        await post(client, published("INITIAL_PURCHASE", user=str(first), plan="premium", at_ms=now_ms))
        to_nobody = await post(client, published("TRANSFER", transferred_from=[str(first)], transferred_to=None))
        moved = await post(client, published("TRANSFER", transferred_from=[str(first)], transferred_to=[str(second)]))
    assert to_nobody.status_code == 200 and to_nobody.json()["outcome"] == "ignored: transfer to nobody"
    assert moved.json()["outcome"] == f"transferred 1 to {second}"
    assert (plan_of(db, first), plan_of(db, second)) == ("free", "premium")


async def test_a_purchase_by_a_stranger_id_is_not_held(db):
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await post(client, published("INITIAL_PURCHASE", plan="premium"))  # app_user_id 1234567890
    assert response.json()["outcome"] == "ignored: no user for this event"
    assert db.admin.execute("select count(*) from public.entitlements").fetchone()[0] == 0


# --- text Postgres cannot store -------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["\\u0000", "\\ud83c"])
async def test_text_postgres_cannot_store_is_cleaned_and_the_raw_body_kept(db, bad):
    user_id = db.create_user("fan")
    body = published("INITIAL_PURCHASE", user=str(user_id), plan="premium", at_ms=int(time.time() * 1000))
    body["event"]["subscriber_attributes"]["$displayName"] = {"updated_at_ms": 1662955084635, "value": "DJ@@Nova"}
    body["event"]["product_id"] = "premium@@monthly"
    raw = json.dumps(body).replace("@@", bad).encode()
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await post(client, raw)
        again = await post(client, raw)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "granted premium" and again.json()["outcome"] == "duplicate"
    payload = recorded(db, body["event"]["id"])["payload"]
    cleaned = "DJNova" if bad == "\\u0000" else "DJ\ufffdNova"
    assert payload["subscriber_attributes"]["$displayName"]["value"] == cleaned
    assert "_openparty_raw_body" not in payload
    assert recorded(db, body["event"]["id"])["raw_body"] == raw.decode()  # byte for byte
    assert plan_of(db, user_id) == "premium"
