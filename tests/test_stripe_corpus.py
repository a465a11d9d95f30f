"""Stripe's published objects (tests/stripe_corpus.py, at the API versions before
and after 2025-03-31 basil) posted signed to our real endpoints: disputes and
inquiries, objects we did not create, both shapes of subscriptions and
invoices, portal plan switches, NUL in payloads, payouts, invoices the user
reads, and billing self-service."""

import json
import time

import httpx
import pytest
import respx

from tests import stripe_corpus as corpus
from tests.apphelpers import client_for, user_token
from tests.providers import CONNECT_SECRET, MONEY_SETTINGS, STRIPE_API, STRIPE_SECRETS, form, new_id, signed
from tests.room import ACCOUNT_ID, make_dj
from tests.test_tips import earnings, pending_tip, tip_state

PRICES = MONEY_SETTINGS["stripe_prices"]
both_versions = pytest.mark.parametrize("version", corpus.VERSIONS)


async def post(client, event, *, connect=False):
    body, headers = signed(event, CONNECT_SECRET if connect else STRIPE_SECRETS[0])
    return await client.post("/webhooks/stripe-connect" if connect else "/webhooks/stripe", content=body,
                             headers=headers)


async def outcome(client, event, **kwargs):
    response = await post(client, event, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["outcome"]


def stored_outcome(db, event):
    return db.admin.execute("select outcome from private.webhook_events where id = %s", (event["id"],)).fetchone()[0]


async def paid_tip(db, client, room, version):
    """A tip whose PaymentIntent succeeded with charge ch_...; returns (tip, charge id)."""
    tip = pending_tip(db, room)
    charge_id = new_id("ch")
    succeeded = corpus.event(version, "payment_intent.succeeded",
                             corpus.payment_intent(version, tip, "succeeded", charge_id=charge_id))
    assert await outcome(client, succeeded) == "tip succeeded"
    return tip, charge_id


# --- disputes: inquiries move no money; funds follow funds_withdrawn / funds_reinstated -----------

@both_versions
async def test_a_card_inquiry_takes_nothing_from_the_dj(db, tip_room, version):
    async with client_for(db, **MONEY_SETTINGS) as client:
        tip, charge_id = await paid_tip(db, client, tip_room, version)
        opened = corpus.event(version, "charge.dispute.created",
                              corpus.dispute(version, tip, charge_id, "warning_needs_response"))
        assert await outcome(client, opened) == "inquiry warning_needs_response"
        assert earnings(db, tip_room["dj"])["usd"] == (900, 0, 0, 900)
        closed = corpus.event(version, "charge.dispute.closed", corpus.dispute(version, tip, charge_id, "warning_closed"))
        assert await outcome(client, closed) == "inquiry warning_closed"
        late_copy = corpus.event(version, "charge.dispute.created",
                                 corpus.dispute(version, tip, charge_id, "warning_needs_response"))
        await outcome(client, late_copy)
    assert tip_state(db, tip) == ("succeeded", 0, "warning_closed")
    assert earnings(db, tip_room["dj"])["usd"] == (900, 0, 0, 900)


async def test_an_inquiry_settled_by_a_full_refund_debits_once(db, tip_room):
    version = "post_basil"
    async with client_for(db, **MONEY_SETTINGS) as client:
        tip, charge_id = await paid_tip(db, client, tip_room, version)
        await outcome(client, corpus.event(version, "charge.dispute.created",
                                           corpus.dispute(version, tip, charge_id, "warning_needs_response")))
        refunded = corpus.event(version, "charge.refunded", corpus.charge(version, tip, charge_id, amount_refunded=1000))
        assert await outcome(client, refunded) == "tip refunded 1000 of 1000"
        await outcome(client, corpus.event(version, "charge.dispute.closed",
                                           corpus.dispute(version, tip, charge_id, "warning_closed")))
    assert tip_state(db, tip) == ("refunded", 1000, "warning_closed")
    assert earnings(db, tip_room["dj"])["usd"] == (900, -900, 0, 0)


@both_versions
async def test_a_chargeback_moves_money_on_funds_withdrawn_and_reinstated(db, tip_room, version):
    async with client_for(db, **MONEY_SETTINGS) as client:
        tip, charge_id = await paid_tip(db, client, tip_room, version)

        def dispute_event(event_type, status):
            return corpus.event(version, event_type, corpus.dispute(version, tip, charge_id, status,
                                                                    with_payment_intent=True))

        reinstated = dispute_event("charge.dispute.funds_reinstated", "won")
        early = await post(client, reinstated)
        assert early.status_code == 500  # nothing withdrawn yet: kept, Stripe retries
        assert await outcome(client, dispute_event("charge.dispute.created", "needs_response")) \
            == "dispute needs_response"
        assert tip_state(db, tip) == ("disputed", 0, "needs_response")
        assert earnings(db, tip_room["dj"])["usd"][3] == 900  # the status alone moves nothing
        withdrawn = dispute_event("charge.dispute.funds_withdrawn", "needs_response")
        assert await outcome(client, withdrawn) == "dispute funds withdrawn (needs_response)"
        assert await outcome(client, withdrawn) == "duplicate"
        assert earnings(db, tip_room["dj"])["usd"] == (900, 0, -900, 0)
        await outcome(client, dispute_event("charge.dispute.updated", "under_review"))
        assert await outcome(client, reinstated) == "dispute funds reinstated (won)"  # Stripe's retry
        await outcome(client, dispute_event("charge.dispute.closed", "won"))
        await outcome(client, dispute_event("charge.dispute.updated", "under_review"))  # late: no step back
    assert tip_state(db, tip) == ("disputed", 0, "won")
    assert earnings(db, tip_room["dj"])["usd"] == (900, 0, 0, 900)


async def test_a_lost_chargeback_after_a_partial_refund_withdraws_only_what_is_left(db, tip_room):
    version = "pre_basil"
    async with client_for(db, **MONEY_SETTINGS) as client:
        tip, charge_id = await paid_tip(db, client, tip_room, version)
        await outcome(client, corpus.event(version, "charge.refunded",
                                           corpus.charge(version, tip, charge_id, amount_refunded=400)))
        await outcome(client, corpus.event(version, "charge.dispute.funds_withdrawn",
                                           corpus.dispute(version, tip, charge_id, "needs_response", amount=600)))
        await outcome(client, corpus.event(version, "charge.dispute.closed",
                                           corpus.dispute(version, tip, charge_id, "lost", amount=600)))
    assert tip_state(db, tip) == ("disputed", 400, "lost")
    assert earnings(db, tip_room["dj"])["usd"] == (900, -360, -540, 0)


# --- objects we did not create: recorded, 200 "ignored" ------------------------------------------

@both_versions
async def test_subscriptions_and_invoices_we_did_not_create_are_ignored(db, version):
    stranger_customer, sub_id = new_id("cus"), new_id("sub")
    period_end = int(time.time()) + 30 * 86400
    events = [
        corpus.event(version, "customer.subscription.created",
                     corpus.subscription(version, sub_id, stranger_customer, "active", price_id="price_someone_else",
                                         period_end=period_end)),
        corpus.event(version, "customer.subscription.updated",
                     corpus.subscription(version, sub_id, stranger_customer, "past_due", price_id=PRICES["premium"],
                                         period_end=period_end)),
        corpus.event(version, "invoice.paid",
                     corpus.invoice(version, stranger_customer, sub_id, status="paid", period_end=period_end)),
        corpus.event(version, "invoice.payment_failed",
                     corpus.invoice(version, stranger_customer, sub_id, status="open", period_end=period_end)),
        corpus.event(version, "customer.updated", corpus.published(version, "customer")),
    ]
    async with client_for(db, **MONEY_SETTINGS) as client:
        outcomes = [await outcome(client, e) for e in events]
    assert outcomes == ["ignored: not a customer of ours"] * 4 + ["ignored: unhandled type"]
    assert db.admin.execute("select count(*) from private.webhook_events where processed_at is not null").fetchone()[0] \
        == 5
    assert db.admin.execute("select count(*) from public.entitlements").fetchone()[0] == 0
    assert db.admin.execute("select count(*) from public.invoices").fetchone()[0] == 0


# --- both API-version shapes ---------------------------------------------------------------------

def entitlement(db, user_id):
    return db.as_user(user_id).one("select plan_id, extract(epoch from expires_at)::bigint as ends, billing_issue "
                                   "from public.entitlements")


@both_versions
async def test_both_shapes_give_the_end_date_extend_on_invoices_and_flag_billing_issues(db, version):
    user_id = db.create_user("fan")
    customer, sub_id = new_id("cus"), new_id("sub")
    db.admin.execute("select private.attach_stripe_customer(%s, %s)", (user_id, customer))
    first_end = int(time.time()) + 30 * 86400
    renewed_end = first_end + 30 * 86400
    meta = {"user_id": str(user_id), "plan_id": "premium"}
    async with client_for(db, **MONEY_SETTINGS) as client:
        created = corpus.event(version, "customer.subscription.created", corpus.subscription(
            version, sub_id, customer, "active", price_id=PRICES["premium"], period_end=first_end, metadata=meta))
        assert await outcome(client, created) == "subscription active"
        assert entitlement(db, user_id) == {"plan_id": "premium", "ends": first_end, "billing_issue": False}
        failed = corpus.event(version, "invoice.payment_failed",
                              corpus.invoice(version, customer, sub_id, status="open", period_end=renewed_end))
        assert await outcome(client, failed) == "invoice payment failed"
        assert entitlement(db, user_id)["billing_issue"] is True
        paid = corpus.event(version, "invoice.paid", corpus.invoice(
            version, customer, sub_id, status="paid", period_end=renewed_end,
            invoice_id=failed["data"]["object"]["id"]))
        assert await outcome(client, paid) == "invoice paid"
    assert entitlement(db, user_id) == {"plan_id": "premium", "ends": renewed_end, "billing_issue": False}
    assert db.as_user(user_id).sql("select status, amount_paid, payment_failed, subscription_id from public.invoices") \
        == [{"status": "paid", "amount_paid": 499, "payment_failed": False, "subscription_id": sub_id}]


async def test_an_invoice_paid_before_its_subscription_lands_is_kept_and_read_later(db):
    version = "pre_basil"
    user_id = db.create_user("fan")
    customer, sub_id = new_id("cus"), new_id("sub")
    db.admin.execute("select private.attach_stripe_customer(%s, %s)", (user_id, customer))
    soon = int(time.time()) + 60
    later = soon + 30 * 86400
    async with client_for(db, **MONEY_SETTINGS) as client:
        early = corpus.event(version, "invoice.paid",
                             corpus.invoice(version, customer, sub_id, status="paid", period_end=later))
        assert (await outcome(client, early)).startswith("invoice paid kept: no entitlement")
        await outcome(client, corpus.event(version, "customer.subscription.created", corpus.subscription(
            version, sub_id, customer, "active", price_id=PRICES["premium"], period_end=soon)))
    assert entitlement(db, user_id)["ends"] == later


async def test_a_plan_switch_in_the_customer_portal_follows_the_price(db):
    version = "post_basil"
    user_id = db.create_user("fan")
    customer, sub_id = new_id("cus"), new_id("sub")
    db.admin.execute("select private.attach_stripe_customer(%s, %s)", (user_id, customer))
    ends = int(time.time()) + 30 * 86400
    meta = {"user_id": str(user_id), "plan_id": "premium"}  # what our checkout wrote; the portal never changes it
    base = int(time.time()) - 100
    async with client_for(db, **MONEY_SETTINGS) as client:
        await outcome(client, corpus.event(version, "customer.subscription.created", corpus.subscription(
            version, sub_id, customer, "active", price_id=PRICES["premium"], period_end=ends, metadata=meta),
            created=base))
        assert entitlement(db, user_id)["plan_id"] == "premium"
        upgraded = corpus.event(version, "customer.subscription.updated", corpus.subscription(
            version, sub_id, customer, "active", price_id=PRICES["dj_pro"], period_end=ends, metadata=meta),
            created=base + 1)
        assert await outcome(client, upgraded) == "subscription active"
        assert db.as_user(user_id).rpc_rows("my_plan")[0]["plan_id"] == "dj_pro"
        downgraded = corpus.event(version, "customer.subscription.updated", corpus.subscription(
            version, sub_id, customer, "active", price_id=PRICES["premium"], period_end=ends, metadata=meta),
            created=base + 2)
        assert await outcome(client, downgraded) == "subscription active"
    assert db.as_user(user_id).rpc_rows("my_plan")[0]["plan_id"] == "premium"


# --- NUL anywhere: kept as received, stored clean, never a 500 ------------------------------------

async def test_nul_in_a_payload_is_kept_raw_and_stored_clean(db, tip_room):
    version = "post_basil"
    tip = pending_tip(db, tip_room)
    intent = corpus.payment_intent(version, tip, "succeeded", charge_id=new_id("ch"))
    intent["description"] = "tip\u0000 for the set"
    intent["metadata"]["note\u0000"] = "lone \ud83c and nul \u0000"
    event = corpus.event(version, "payment_intent.succeeded", intent)
    body = json.dumps(event).encode()  # ASCII: both travel as \u escapes, as Stripe sends them
    payout_event = corpus.event(version, "payout.failed", corpus.payout(
        version, new_id("po"), "failed", failure_code="account_closed",
        failure_message="The bank account has been closed\u0000."), account=ACCOUNT_ID)
    async with client_for(db, **MONEY_SETTINGS) as client:
        body, headers = signed(body)
        response = await client.post("/webhooks/stripe", content=body, headers=headers)
        failed_payout = await post(client, payout_event, connect=True)
    assert response.status_code == 200 and response.json()["outcome"] == "tip succeeded"
    raw, payload = db.admin.execute("select raw_body, payload from private.webhook_events where id = %s",
                                    (event["id"],)).fetchone()
    assert raw == body.decode() and json.loads(raw) == event  # faithfully: the exact bytes Stripe signed
    assert payload["data"]["object"]["description"] == "tip for the set"
    assert payload["data"]["object"]["metadata"]["note"] == "lone \ufffd and nul "
    assert tip_state(db, tip)[0] == "succeeded"
    assert failed_payout.status_code == 200 and failed_payout.json()["outcome"] == "payout failed"
    assert db.as_user(tip_room["dj"]).value("select failure_message from public.payouts") == \
        "The bank account has been closed."
    clean = db.admin.execute("select raw_body from private.webhook_events where id = %s", (payout_event["id"],))
    assert clean.fetchone()[0] is not None
    untouched = corpus.event(version, "customer.updated", corpus.published(version, "customer"))
    async with client_for(db, **MONEY_SETTINGS) as client:
        await outcome(client, untouched)
    assert db.admin.execute("select raw_body from private.webhook_events where id = %s",
                            (untouched["id"],)).fetchone()[0] is None  # payload is the body


# --- payouts (Connect) and invoices: the owner reads them ----------------------------------------

@both_versions
async def test_payout_history_from_connect_events_for_the_dj_only(db, tip_room, version):
    dj = tip_room["dj"]
    payout_id = new_id("po")
    arrival = int(time.time()) + 2 * 86400
    base = int(time.time()) - 100

    def payout_event(event_type, status, created, **extra):
        return corpus.event(version, event_type, corpus.payout(version, payout_id, status, arrival_date=arrival,
                                                               **extra), account=ACCOUNT_ID, created=created)

    async with client_for(db, **MONEY_SETTINGS) as client:
        assert await outcome(client, payout_event("payout.created", "pending", base), connect=True) == "payout pending"
        assert await outcome(client, payout_event("payout.paid", "paid", base + 2), connect=True) == "payout paid"
        late = await outcome(client, payout_event("payout.updated", "in_transit", base + 1), connect=True)
        assert late.startswith("unchanged")
        platform_own = corpus.event(version, "payout.paid", corpus.payout(version, new_id("po"), "paid"))
        assert await outcome(client, platform_own) == "ignored: not a DJ's connected account"
        foreign = corpus.event(version, "payout.paid", corpus.payout(version, new_id("po"), "paid"),
                               account="acct_someone_else")
        assert await outcome(client, foreign, connect=True) == "ignored: not a DJ's connected account"
    rows = db.as_user(dj).sql("select id, amount, currency, status, extract(epoch from arrival_date)::bigint as arrives, "
                              "failure_code from public.payouts")
    assert rows == [{"id": payout_id, "amount": 900, "currency": "usd", "status": "paid", "arrives": arrival,
                     "failure_code": None}]
    assert db.as_user(tip_room["listener"]).sql("select * from public.payouts") == []


async def test_invoices_are_read_by_their_user_only(db):
    version = "post_basil"
    fan, other = db.create_user("fan"), db.create_user("other")
    customer = new_id("cus")
    db.admin.execute("select private.attach_stripe_customer(%s, %s)", (fan, customer))
    ends = int(time.time()) + 30 * 86400
    async with client_for(db, **MONEY_SETTINGS) as client:
        finalized = corpus.invoice(version, customer, new_id("sub"), status="open", period_end=ends)
        await outcome(client, corpus.event(version, "invoice.finalized", finalized, created=int(time.time()) - 5))
        paid = {**finalized, "status": "paid", "amount_paid": 499, "amount_remaining": 0}
        await outcome(client, corpus.event(version, "invoice.paid", paid, created=int(time.time()) - 5))
        stale = corpus.event(version, "invoice.updated", finalized, created=int(time.time()) - 6)
        await outcome(client, stale)
    rows = db.as_user(fan).sql("select id, number, status, amount_due, amount_paid, hosted_invoice_url, "
                               "extract(epoch from period_end)::bigint as period_end from public.invoices")
    assert rows == [{"id": finalized["id"], "number": finalized["number"], "status": "paid", "amount_due": 499,
                     "amount_paid": 499, "hosted_invoice_url": finalized["hosted_invoice_url"], "period_end": ends}]
    assert db.as_user(other).sql("select * from public.invoices") == []


# --- billing self-service: the customer portal and the Express dashboard --------------------------

def auth(user_id):
    return {"Authorization": f"Bearer {user_token(user_id)}"}


async def test_the_billing_portal_for_a_customer_and_409_without_one(db):
    version = "post_basil"
    fan, newcomer = db.create_user("fan"), db.create_user("newcomer")
    db.admin.execute("select private.attach_stripe_customer(%s, 'cus_fan_portal')", (fan,))
    portal = corpus.published(version, "billing_portal.session")
    portal.update(customer="cus_fan_portal", return_url="https://openparty.app/account/billing")
    with respx.mock(assert_all_called=True) as router:
        route = router.post(f"{STRIPE_API}/v1/billing_portal/sessions").mock(
            return_value=httpx.Response(200, json=portal))
        async with client_for(db, **MONEY_SETTINGS) as client:
            ok = await client.post("/billing/portal", headers=auth(fan))
            missing = await client.post("/billing/portal", headers=auth(newcomer))
            anonymous = await client.post("/billing/portal")
    assert ok.status_code == 200 and ok.json() == {"url": portal["url"]}
    assert form(route.calls.last.request) == {"customer": "cus_fan_portal",
                                              "return_url": "https://openparty.app/account/billing"}
    assert route.call_count == 1
    assert missing.status_code == 409 and missing.json()["detail"]["error"] == "no_stripe_customer"
    assert anonymous.status_code == 401


async def test_a_dj_gets_an_express_dashboard_link(db, tip_room):
    version = "pre_basil"
    link = corpus.published(version, "login_link")
    not_onboarded = make_dj(db, "newdj")
    db.admin.execute("insert into public.payout_accounts (dj_id, stripe_account_id) values (%s, 'acct_new')",
                     (not_onboarded,))
    with respx.mock(assert_all_called=True) as router:
        route = router.post(f"{STRIPE_API}/v1/accounts/{ACCOUNT_ID}/login_links").mock(
            return_value=httpx.Response(200, json=link))
        async with client_for(db, **MONEY_SETTINGS) as client:
            ok = await client.post("/dj/dashboard-link", headers=auth(tip_room["dj"]))
            listener = await client.post("/dj/dashboard-link", headers=auth(tip_room["listener"]))
            unfinished = await client.post("/dj/dashboard-link", headers=auth(not_onboarded))
            no_account = await client.post("/dj/dashboard-link", headers=auth(make_dj(db, "fresh")))
    assert ok.status_code == 200 and ok.json() == {"url": link["url"], "created": link["created"]}
    assert route.call_count == 1
    assert listener.status_code == 403
    assert unfinished.status_code == 409 and unfinished.json()["detail"]["error"] == "onboarding_incomplete"
    assert no_account.status_code == 409 and no_account.json()["detail"]["error"] == "no_payout_account"


# --- reconciliation: every pending tip gets its turn; abandoned ones are canceled at Stripe -------

def fake_intents(router, intents: dict[str, dict], *, refuse_cancel: frozenset[str] = frozenset()):
    """GET /v1/payment_intents/{id} answers the intent as it stands; POST .../cancel
    cancels it (Stripe's 400 payment_intent_unexpected_state for one already paid)."""

    def retrieve(request, intent_id):
        return httpx.Response(200, json=intents[intent_id])

    def cancel(request, intent_id):
        if intent_id in refuse_cancel:  # the payer completed it a moment ago
            intents[intent_id] = {**intents[intent_id], "status": "succeeded", "latest_charge": new_id("ch")}
            return httpx.Response(400, json={"error": {
                "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
                "message": "This PaymentIntent's status is succeeded, but must be one of requires_payment_method, "
                           "requires_capture, requires_confirmation, requires_action, processing."}})
        assert form(request)["cancellation_reason"] == "abandoned"
        intents[intent_id] = {**intents[intent_id], "status": "canceled", "cancellation_reason": "abandoned",
                              "canceled_at": int(time.time())}
        return httpx.Response(200, json=intents[intent_id])

    retrieve_route = router.get(url__regex=rf"{STRIPE_API}/v1/payment_intents/(?P<intent_id>pi_\w+)$").mock(
        side_effect=retrieve)
    cancel_route = router.post(url__regex=rf"{STRIPE_API}/v1/payment_intents/(?P<intent_id>pi_\w+)/cancel$").mock(
        side_effect=cancel)
    return retrieve_route, cancel_route


def statuses(db, tips):
    return [db.admin.execute("select status::text from public.tips where id = %s", (t["id"],)).fetchone()[0]
            for t in tips]


async def test_reconciliation_reaches_every_pending_tip_and_cancels_abandoned_ones(db, tip_room):
    from tests.workerhelpers import worker_context
    from workers import maintenance

    version = "post_basil"
    open_sheets = [pending_tip(db, tip_room) for _ in range(3)]  # payment sheets closed without paying
    lost_webhook = pending_tip(db, tip_room)  # paid; its success webhook never arrived
    for age, tip in zip((5, 4, 3, 2), [*open_sheets, lost_webhook], strict=True):
        db.admin.execute("update public.tips set created_at = now() - make_interval(hours => %s) where id = %s",
                         (age, tip["id"]))
    intents = {t["stripe_payment_intent_id"]: corpus.payment_intent(version, t, "requires_payment_method")
               for t in open_sheets}
    intents[lost_webhook["stripe_payment_intent_id"]] = corpus.payment_intent(
        version, lost_webhook, "succeeded", charge_id=new_id("ch"))
    settings = {**MONEY_SETTINGS, "reconcile_batch_size": 3, "reconcile_abandon_tip_minutes": 24 * 60}
    with respx.mock(assert_all_called=False) as router:
        retrieve_route, cancel_route = fake_intents(router, intents)
        async with worker_context(db, None, **settings) as ctx:
            first_round = await maintenance.reconcile(ctx)
            assert statuses(db, [*open_sheets, lost_webhook]) == ["pending"] * 4  # the 3 oldest: still open
            second_round = await maintenance.reconcile(ctx)
    assert (first_round, second_round) == (3, 1 + 2)  # then the one not checked yet first
    assert statuses(db, [lost_webhook]) == ["succeeded"]
    assert cancel_route.call_count == 0  # open for hours only: not abandoned yet

    # A day later they count as abandoned: canceled at Stripe, then here; one
    # the payer completed meanwhile is not canceled (Stripe refuses), and the
    # next round applies its success.
    db.admin.execute("update public.tips set created_at = created_at - interval '1 day' where status = 'pending'")
    paid_meanwhile = open_sheets[0]["stripe_payment_intent_id"]
    with respx.mock(assert_all_called=False) as router:
        _, cancel_route = fake_intents(router, intents, refuse_cancel=frozenset({paid_meanwhile}))
        async with worker_context(db, None, **settings) as ctx:
            await maintenance.reconcile(ctx)
            assert statuses(db, open_sheets) == ["pending", "canceled", "canceled"]
            await maintenance.reconcile(ctx)
    assert statuses(db, open_sheets) == ["succeeded", "canceled", "canceled"]
    assert cancel_route.call_count == 3
    reasons = db.admin.execute("select failure_reason from public.tips where status = 'canceled'").fetchall()
    assert reasons == [("abandoned",), ("abandoned",)]


def search_result(*intents):
    """Stripe's search answer (API reference, "Search PaymentIntents": object search_result)."""
    return httpx.Response(200, json={"object": "search_result", "data": list(intents), "has_more": False,
                                     "next_page": None, "url": "/v1/payment_intents/search"})


async def test_a_tip_whose_payment_intent_was_never_stored_is_found_by_its_metadata(db, tip_room):
    from tests.workerhelpers import worker_context
    from workers import maintenance

    version = "pre_basil"
    paid, never_sent, foreign = (pending_tip(db, tip_room) for _ in range(3))
    db.admin.execute("update public.tips set stripe_payment_intent_id = null, created_at = now() - interval '2 hours'")
    paid_intent = corpus.payment_intent(version, paid, "succeeded", charge_id=new_id("ch"))
    wrong_amount = {**corpus.payment_intent(version, foreign, "succeeded"), "amount": 1}

    def search(request):
        query = request.url.params["query"]
        if str(paid["id"]) in query:
            return search_result(paid_intent)
        if str(foreign["id"]) in query:
            return search_result(wrong_amount)
        return search_result()

    with respx.mock(assert_all_called=True) as router:
        route = router.get(f"{STRIPE_API}/v1/payment_intents/search").mock(side_effect=search)
        async with worker_context(db, None, **MONEY_SETTINGS) as ctx:
            await maintenance.reconcile(ctx)
    assert route.call_count == 3
    assert route.calls[0].request.url.params["query"].startswith("metadata['tip_id']:'")
    assert statuses(db, [paid, never_sent, foreign]) == ["succeeded", "canceled", "pending"]
    assert db.admin.execute("select stripe_payment_intent_id from public.tips where id = %s",
                            (paid["id"],)).fetchone()[0] == paid["stripe_payment_intent_id"]
    assert earnings(db, tip_room["dj"])["usd"][0] == 900
