"""Plans and entitlements: web checkout and Stripe subscription events,
RevenueCat events, the effective plan, and plans gating limits."""

import time

import httpx
import psycopg
import pytest
import respx

from tests.apphelpers import client_for, user_token
from tests.providers import (
    MONEY_SETTINGS,
    REVENUECAT_AUTH,
    STRIPE_API,
    checkout_session,
    form,
    invoice,
    new_id,
    revenuecat_event,
    signed,
    stripe_event,
    stripe_object_response,
    subscription,
)
from tests.room import go_live, join, make_dj, refused


def my_plan(db, user_id):
    return db.as_user(user_id).rpc_rows("my_plan")[0]


async def deliver(client, event):
    body, headers = signed(event)
    return await client.post("/webhooks/stripe", content=body, headers=headers)


async def test_checkout_creates_the_customer_once_and_a_subscription_session(db):
    user_id = db.create_user("fan")
    with respx.mock(assert_all_called=False) as router:
        customers = router.post(f"{STRIPE_API}/v1/customers").mock(
            return_value=stripe_object_response({"id": "cus_fan1", "object": "customer"}))
        sessions = router.post(f"{STRIPE_API}/v1/checkout/sessions").mock(
            return_value=stripe_object_response({"id": "cs_test_1", "object": "checkout.session",
                                                 "url": "https://checkout.stripe.com/c/pay/cs_test_1"}))
        async with client_for(db, **MONEY_SETTINGS) as client:
            headers = {"Authorization": f"Bearer {user_token(user_id)}"}
            first = await client.post("/checkout", json={"plan_id": "premium"}, headers=headers)
            second = await client.post("/checkout", json={"plan_id": "dj_pro"}, headers=headers)
            bad = await client.post("/checkout", json={"plan_id": "free"}, headers=headers)
    assert first.status_code == 200 and first.json()["url"].startswith("https://checkout.stripe.com/")
    assert customers.call_count == 1 and second.status_code == 200
    sent = form(sessions.calls[0].request)
    assert sent["client_reference_id"] == str(user_id) and sent["mode"] == "subscription"
    assert sent["line_items[0][price]"] == "price_premium_monthly" and sent["customer"] == "cus_fan1"
    assert sent["subscription_data[metadata][user_id]"] == str(user_id)
    assert form(sessions.calls[1].request)["line_items[0][price]"] == "price_dj_pro_monthly"
    assert bad.status_code == 422
    assert db.as_user(user_id).value("select stripe_customer_id from public.stripe_customers") == "cus_fan1"


async def test_a_web_subscription_grants_its_plan_until_it_ends(db):
    user_id = db.create_user("fan")
    sub_id, customer = new_id("sub"), new_id("cus")
    base = int(time.time()) - 1000
    async with client_for(db, **MONEY_SETTINGS) as client:
        early = await deliver(client, stripe_event("customer.subscription.created",
                                                   subscription(sub_id, customer, "incomplete", user_id=user_id),
                                                   created=base))
        # Metadata names the user, so the subscription applies even before checkout completes.
        assert early.json()["outcome"] == "subscription incomplete"
        assert my_plan(db, user_id)["plan_id"] == "free"
        await deliver(client, stripe_event("checkout.session.completed", checkout_session(user_id, customer, sub_id),
                                           created=base + 1))
        await deliver(client, stripe_event("customer.subscription.updated",
                                           subscription(sub_id, customer, "active", user_id=user_id), created=base + 2))
        plan = my_plan(db, user_id)
        assert (plan["plan_id"], plan["source"], plan["max_participants"]) == ("premium", "stripe", 100)

        await deliver(client, stripe_event("customer.subscription.updated",
                                           subscription(sub_id, customer, "past_due", user_id=user_id), created=base + 3))
        assert my_plan(db, user_id)["plan_id"] == "premium"  # Stripe is still retrying the payment
        await deliver(client, stripe_event("customer.subscription.deleted",
                                           subscription(sub_id, customer, "canceled", user_id=user_id), created=base + 5))
        late = await deliver(client, stripe_event("customer.subscription.updated",
                                                  subscription(sub_id, customer, "active", user_id=user_id),
                                                  created=base + 4))
    assert late.status_code == 200
    assert my_plan(db, user_id)["plan_id"] == "free"  # the older event did not undo the cancellation


@pytest.mark.parametrize("status", ["incomplete", "incomplete_expired", "unpaid", "canceled", "paused"])
async def test_statuses_that_grant_nothing(db, status):
    user_id = db.create_user("fan")
    async with client_for(db, **MONEY_SETTINGS) as client:
        await deliver(client, stripe_event("customer.subscription.created",
                                           subscription(new_id("sub"), new_id("cus"), status, user_id=user_id)))
    assert my_plan(db, user_id)["plan_id"] == "free"


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
async def test_statuses_that_grant_the_plan(db, status):
    user_id = db.create_user("fan")
    async with client_for(db, **MONEY_SETTINGS) as client:
        await deliver(client, stripe_event("customer.subscription.created",
                                           subscription(new_id("sub"), new_id("cus"), status, user_id=user_id,
                                                        plan_id="dj_pro")))
    assert my_plan(db, user_id)["plan_id"] == "dj_pro"


async def test_invoices_extend_the_period_and_an_early_invoice_is_kept_for_its_subscription(db):
    user_id = db.create_user("fan")
    sub_id, customer = new_id("sub"), new_id("cus")
    db.admin.execute("select private.attach_stripe_customer(%s, %s)", (user_id, customer))  # as /checkout does
    soon = int(time.time()) + 60
    later = soon + 30 * 86400
    async with client_for(db, **MONEY_SETTINGS) as client:
        early_invoice = stripe_event("invoice.paid", invoice(sub_id, customer, paid=True, period_end=later))
        first_try = await deliver(client, early_invoice)
        assert first_try.status_code == 200  # kept, nothing to retry: the subscription reads it when it lands
        await deliver(client, stripe_event("customer.subscription.created",
                                           subscription(sub_id, customer, "active", user_id=user_id, period_end=soon)))
        failed = await deliver(client, stripe_event("invoice.payment_failed",
                                                    invoice(sub_id, customer, paid=False, period_end=later)))
    assert first_try.json()["outcome"].startswith("invoice paid kept: no entitlement")
    assert failed.json()["outcome"] == "invoice payment failed"
    row = db.as_user(user_id).one("select extract(epoch from expires_at)::bigint as ends, billing_issue "
                                  "from public.entitlements")
    assert row == {"ends": later, "billing_issue": True}


def test_expiry_is_honoured_at_read_time(db):
    user_id = db.create_user("fan")
    db.admin.execute("insert into public.entitlements (user_id, source, source_ref, plan_id, expires_at, last_event_at) "
                     "values (%s, 'revenuecat', 'tx1', 'premium', now() + interval '1 hour', now())", (user_id,))
    assert my_plan(db, user_id)["plan_id"] == "premium"
    db.admin.execute("update public.entitlements set expires_at = now() - interval '1 second'")
    assert my_plan(db, user_id)["plan_id"] == "free"  # no webhook needed


def test_the_highest_plan_wins_and_the_app_cannot_write_entitlements(db):
    user_id = db.create_user("fan")
    for ref, plan in (("a", "premium"), ("b", "dj_pro")):
        db.admin.execute("insert into public.entitlements (user_id, source, source_ref, plan_id, last_event_at) "
                         "values (%s, 'stripe', %s, %s, now())", (user_id, ref, plan))
    assert my_plan(db, user_id)["plan_id"] == "dj_pro"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(user_id).sql("update public.entitlements set plan_id = 'dj_pro'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(user_id).sql("insert into public.entitlements (user_id, source, source_ref, plan_id, last_event_at) "
                                "values (%s, 'stripe', 'c', 'dj_pro', now())", (user_id,))
    assert db.as_user(db.create_user("other")).sql("select * from public.entitlements") == []


def test_a_plan_change_changes_the_limits(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id, max_participants=1000)
    db.admin.execute("update public.plans set max_participants = 2 where id = 'free'")
    join(db, session["id"], "one")
    join(db, session["id"], "two")
    with refused("PT409", "full"):
        join(db, session["id"], "three")
    db.admin.execute("insert into public.entitlements (user_id, source, source_ref, plan_id, last_event_at) "
                     "values (%s, 'stripe', 'sub_x', 'premium', now())", (dj_id,))
    join(db, session["id"], "three")  # premium allows 100
    dj = db.as_user(dj_id)
    for n in range(5):
        dj.sql("insert into public.sessions (title) values (%s)", (f"s{n}",))  # premium: 5 scheduled
    with refused("PT403", "allows 5 scheduled sessions"):
        dj.sql("insert into public.sessions (title) values ('sixth')")


# --- RevenueCat ---------------------------------------------------------------------------------

async def rc(client, body, authorization=REVENUECAT_AUTH):
    return await client.post("/webhooks/revenuecat", json=body, headers={"Authorization": authorization})


async def test_revenuecat_authorization_and_bodies(db):
    user_id = db.create_user("fan")
    body = revenuecat_event("INITIAL_PURCHASE", str(user_id))
    async with client_for(db, **MONEY_SETTINGS) as client:
        wrong = await rc(client, body, authorization="Bearer guess")
        missing = await client.post("/webhooks/revenuecat", json=body)
        garbage = await client.post("/webhooks/revenuecat", content=b"{nope", headers={"Authorization": REVENUECAT_AUTH})
        unknown = await rc(client, revenuecat_event("SOMETHING_NEW", str(user_id)))
        ok = await rc(client, body)
        again = await rc(client, body)
    assert (wrong.status_code, missing.status_code, garbage.status_code) == (401, 401, 400)
    assert unknown.status_code == 200 and unknown.json()["outcome"] == "ignored: unhandled type"
    assert ok.json()["outcome"] == "granted premium" and again.json()["outcome"] == "duplicate"
    assert my_plan(db, user_id)["plan_id"] == "premium"


@pytest.mark.parametrize("grant", ["INITIAL_PURCHASE", "RENEWAL", "NON_RENEWING_PURCHASE", "SUBSCRIPTION_EXTENDED",
                                   "TEMPORARY_ENTITLEMENT_GRANT", "REFUND_REVERSED", "UNCANCELLATION",
                                   "PRODUCT_CHANGE"])
async def test_revenuecat_grant_types(db, grant):
    user_id = db.create_user("fan")
    async with client_for(db, **MONEY_SETTINGS) as client:
        response = await rc(client, revenuecat_event(grant, str(user_id), entitlement_ids=["dj_pro"]))
    assert response.status_code == 200
    assert my_plan(db, user_id)["plan_id"] == "dj_pro"


async def test_revenuecat_cancellation_expiration_billing_and_order(db):
    user_id = db.create_user("fan")
    t0 = int(time.time() * 1000) - 60_000
    async with client_for(db, **MONEY_SETTINGS) as client:
        await rc(client, revenuecat_event("INITIAL_PURCHASE", str(user_id), at_ms=t0))
        await rc(client, revenuecat_event("BILLING_ISSUE", str(user_id), at_ms=t0 + 1000))
        assert my_plan(db, user_id)["plan_id"] == "premium"
        await rc(client, revenuecat_event("SUBSCRIPTION_PAUSED", str(user_id), at_ms=t0 + 1500))
        await rc(client, revenuecat_event("CANCELLATION", str(user_id), at_ms=t0 + 2000, cancel_reason="UNSUBSCRIBE"))
        assert my_plan(db, user_id)["plan_id"] == "premium"  # access until expiry
        await rc(client, revenuecat_event("EXPIRATION", str(user_id), at_ms=t0 + 4000, expires_in_s=-1))
        late = await rc(client, revenuecat_event("RENEWAL", str(user_id), at_ms=t0 + 3000))
    assert late.status_code == 200
    assert my_plan(db, user_id)["plan_id"] == "free"  # the late renewal did not resurrect it


async def test_revenuecat_refund_cancellation_ends_access_and_reversal_restores(db):
    user_id = db.create_user("fan")
    t0 = int(time.time() * 1000) - 60_000
    async with client_for(db, **MONEY_SETTINGS) as client:
        await rc(client, revenuecat_event("INITIAL_PURCHASE", str(user_id), at_ms=t0))
        await rc(client, revenuecat_event("CANCELLATION", str(user_id), at_ms=t0 + 1000, expires_in_s=-30,
                                          cancel_reason="CUSTOMER_SUPPORT"))
        assert my_plan(db, user_id)["plan_id"] == "free"
        await rc(client, revenuecat_event("REFUND_REVERSED", str(user_id), at_ms=t0 + 2000))
    assert my_plan(db, user_id)["plan_id"] == "premium"


async def test_revenuecat_finds_the_user_through_aliases_and_transfers(db):
    first, second = db.create_user("first"), db.create_user("second")
    anonymous = "$RCAnonymousID:8f1c2d"
    t0 = int(time.time() * 1000) - 60_000
    async with client_for(db, **MONEY_SETTINGS) as client:
        await rc(client, revenuecat_event("INITIAL_PURCHASE", anonymous, at_ms=t0,
                                          aliases=[anonymous, str(first)], original_app_user_id=anonymous))
        assert my_plan(db, first)["plan_id"] == "premium"
        transfer = revenuecat_event("TRANSFER", None, at_ms=t0 + 1000, transferred_from=[str(first)],
                                    transferred_to=[str(second)])
        assert (await rc(client, transfer)).json()["outcome"] == f"transferred 1 to {second}"
        nobody = await rc(client, revenuecat_event("INITIAL_PURCHASE", "someone-else", original_transaction_id="77"))
    assert my_plan(db, first)["plan_id"] == "free"
    assert my_plan(db, second)["plan_id"] == "premium"
    assert nobody.json()["outcome"] == "ignored: no user for this event"


async def test_sandbox_events_are_kept_apart_from_production(db):
    user_id = db.create_user("fan")
    async with client_for(db, **MONEY_SETTINGS) as client:
        sandbox = await rc(client, revenuecat_event("INITIAL_PURCHASE", str(user_id), environment="SANDBOX"))
    assert sandbox.status_code == 200 and sandbox.json()["outcome"].startswith("ignored: SANDBOX")
    assert my_plan(db, user_id)["plan_id"] == "free"
    async with client_for(db, **MONEY_SETTINGS, revenuecat_environment="SANDBOX") as client:
        taken = await rc(client, revenuecat_event("INITIAL_PURCHASE", str(user_id), environment="SANDBOX",
                                                  original_transaction_id="555"))
    assert taken.json()["outcome"] == "granted premium"


# --- dj-connect ---------------------------------------------------------------------------------

async def test_dj_connect_creates_the_account_once_and_returns_fresh_links(db):
    dj_id = make_dj(db)
    with respx.mock(assert_all_called=False) as router:
        accounts = router.post(f"{STRIPE_API}/v1/accounts").mock(
            return_value=stripe_object_response({"id": "acct_new1", "object": "account", "charges_enabled": False}))
        links = router.post(f"{STRIPE_API}/v1/account_links").mock(side_effect=lambda request: stripe_object_response(
            {"object": "account_link", "url": f"https://connect.stripe.com/setup/e/{new_id('x')}",
             "expires_at": int(time.time()) + 300, "created": int(time.time())}))
        async with client_for(db, **MONEY_SETTINGS) as client:
            headers = {"Authorization": f"Bearer {user_token(dj_id)}"}
            first = await client.post("/dj/connect", headers=headers)
            second = await client.post("/dj/connect", headers=headers)
            listener = await client.post("/dj/connect", headers={"Authorization": f"Bearer {user_token(db.create_user('x'))}"})
    assert first.status_code == 200 and second.status_code == 200
    assert accounts.call_count == 1
    sent = form(accounts.calls[0].request)
    assert sent["controller[stripe_dashboard][type]"] == "express"
    assert sent["capabilities[transfers][requested]"] == "true"
    assert accounts.calls[0].request.headers["Idempotency-Key"] == f"dj-account-{dj_id}"
    link_sent = form(links.calls[0].request)
    assert (link_sent["account"], link_sent["type"]) == ("acct_new1", "account_onboarding")
    assert first.json()["onboarding_url"] != second.json()["onboarding_url"]
    assert first.json()["payouts_enabled"] is False  # only account.updated can change that
    assert listener.status_code == 403
    assert db.as_user(dj_id).value("select stripe_account_id from public.payout_accounts") == "acct_new1"


async def test_dj_connect_reports_a_stripe_failure_as_502(db):
    dj_id = make_dj(db)
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{STRIPE_API}/v1/accounts").mock(return_value=httpx.Response(400, json={
            "error": {"type": "invalid_request_error", "message": "Connect is not enabled"}}))
        async with client_for(db, **MONEY_SETTINGS) as client:
            response = await client.post("/dj/connect", headers={"Authorization": f"Bearer {user_token(dj_id)}"})
    assert response.status_code == 502
    assert db.admin.execute("select count(*) from public.payout_accounts").fetchone()[0] == 0
