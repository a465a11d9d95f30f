"""`scripts/send-event TYPE [options]`: deliver a provider event to the running
dev stack, signed with its local secrets (in the spirit of `stripe trigger`).

  payment_intent.succeeded | payment_intent.payment_failed | payment_intent.canceled  [--tip ID]
      the tip's PaymentIntent (default: the newest pending tip) moves at the
      Stripe stand-in, then its event goes to /webhooks/stripe
  charge.refunded [--tip ID] [--amount N]            a refund (default: in full)
  account.updated [--dj USERNAME]                    the DJ's onboarding completes (default dj_nova),
                                                     sent to /webhooks/stripe-connect
  customer.subscription.created | .updated | .deleted  --user USERNAME [--plan premium] [--status active]
  revenuecat TYPE --user USERNAME [--plan premium]   e.g. INITIAL_PURCHASE, RENEWAL, EXPIRATION

Payloads follow the providers' published shapes: Stripe's API reference (the
Event, PaymentIntent, Charge, Account and Subscription objects, API version
2026-10-28) and RevenueCat's webhook event reference (sample events).
Prints the HTTP answer; exits 1 unless it is a 2xx.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import uuid
from typing import Any

import httpx
import psycopg
import stripe
from psycopg.rows import dict_row

from localstack.devstate import DevState
from localstack.fake_stripe import API_VERSION, new_id


def stripe_event(event_type: str, obj: dict[str, Any], *, account: str | None = None) -> dict[str, Any]:
    """The Event object as Stripe delivers it to an endpoint."""
    event: dict[str, Any] = {
        "id": new_id("evt"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
        "data": {"object": obj, "previous_attributes": None} if event_type.endswith(".updated") else {"object": obj},
        "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": event_type,
    }
    if account:
        event["account"] = account
    if event["data"].get("previous_attributes") is None:
        event["data"].pop("previous_attributes", None)
    return event


def deliver_stripe(state: DevState, event: dict[str, Any], *, connect: bool = False) -> httpx.Response:
    body = json.dumps(event)
    secret = state.secrets.stripe_connect_webhook_secret if connect else state.secrets.stripe_webhook_secret
    header = stripe.WebhookSignature.generate_signature_header(body, secret)
    path = "/webhooks/stripe-connect" if connect else "/webhooks/stripe"
    return httpx.post(state.api_url + path, content=body.encode(), timeout=10,
                      headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8",
                               "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})


def deliver_revenuecat(state: DevState, event: dict[str, Any]) -> httpx.Response:
    return httpx.post(state.api_url + "/webhooks/revenuecat", json={"api_version": "1.0", "event": event}, timeout=10,
                      headers={"Authorization": state.secrets.revenuecat_authorization})


def _stand_in(state: DevState, method: str, path: str) -> dict[str, Any] | None:
    response = httpx.request(method, state.stripe_api_url + path, timeout=10,
                             headers={"Authorization": f"Bearer {state.secrets.stripe_secret_key}"})
    return response.json() if response.status_code == 200 else None


def _row(state: DevState, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    with psycopg.connect(state.database_url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchone()


def user_id_of(state: DevState, user: str) -> str:
    row = _row(state, "select u.id::text as id from auth.users u left join public.profiles p on p.id = u.id "
                      "where p.username = lower(%(user)s) or u.id::text = %(user)s", {"user": user})
    if row is None:
        raise SystemExit(f"send-event: no user {user!r}")
    return str(row["id"])


def tip_of(state: DevState, tip_id: str | None) -> dict[str, Any]:
    if tip_id:
        tip = _row(state, "select * from public.tips where id::text = %(id)s", {"id": tip_id})
    else:
        tip = _row(state, "select * from public.tips where status = 'pending' and stripe_payment_intent_id is not null "
                          "order by created_at desc limit 1", {})
    if tip is None or tip["stripe_payment_intent_id"] is None:
        raise SystemExit("send-event: no such tip with a PaymentIntent (create one with POST /tips first)")
    return tip


def payment_intent_event(state: DevState, outcome: str, tip: dict[str, Any]) -> dict[str, Any]:
    """The tip's PaymentIntent, moved at the stand-in, as its event."""
    intent = _stand_in(state, "POST", f"/_local/payment_intents/{tip['stripe_payment_intent_id']}/{outcome}")
    if intent is None:
        raise SystemExit(f"send-event: the Stripe stand-in does not know {tip['stripe_payment_intent_id']} "
                         "(it keeps objects in memory: was the stack restarted?)")
    return stripe_event(f"payment_intent.{outcome}", intent)


def charge_refunded_event(tip: dict[str, Any], amount: int | None) -> dict[str, Any]:
    refunded = tip["amount"] if amount is None else amount
    intent = tip["stripe_payment_intent_id"]
    charge = {
        "id": "ch_" + intent.removeprefix("pi_"), "object": "charge", "amount": tip["amount"],
        "amount_captured": tip["amount"], "amount_refunded": refunded, "application_fee": new_id("fee"),
        "application_fee_amount": tip["platform_fee"], "balance_transaction": new_id("txn"),
        "captured": True, "created": int(time.time()), "currency": tip["currency"], "customer": None,
        "description": "OpenParty tip", "disputed": False, "failure_code": None, "failure_message": None,
        "livemode": False, "metadata": {"tip_id": str(tip["id"]), "session_id": str(tip["session_id"])},
        "paid": True, "payment_intent": intent, "refunded": refunded == tip["amount"], "status": "succeeded",
        "transfer_data": {"amount": None, "destination": tip["stripe_account_id"]},
    }
    return stripe_event("charge.refunded", charge)


def account_updated_event(state: DevState, dj: str) -> tuple[dict[str, Any], str]:
    dj_id = user_id_of(state, dj)
    row = _row(state, "select stripe_account_id from public.payout_accounts where dj_id = %(id)s", {"id": dj_id})
    if row is None or row["stripe_account_id"] is None:
        raise SystemExit(f"send-event: {dj} has no connected account yet (POST /dj/connect as {dj} first)")
    account = _stand_in(state, "POST", f"/_local/onboarding/{row['stripe_account_id']}")
    if account is None:
        raise SystemExit(f"send-event: the Stripe stand-in does not know {row['stripe_account_id']}")
    return stripe_event("account.updated", account, account=account["id"]), account["id"]


def subscription_event(state: DevState, event_type: str, user: str, plan: str, status: str) -> dict[str, Any]:
    user_id = user_id_of(state, user)
    row = _row(state, "select stripe_customer_id from public.stripe_customers where user_id = %(id)s", {"id": user_id})
    customer = row["stripe_customer_id"] if row else new_id("cus")
    now = int(time.time())
    status = "canceled" if event_type.endswith(".deleted") else status
    subscription = {
        "id": "sub_" + uuid.uuid5(uuid.NAMESPACE_URL, f"{user_id}:{plan}").hex[:24], "object": "subscription",
        "application": None, "billing_cycle_anchor": now, "cancel_at": None, "cancel_at_period_end": False,
        "canceled_at": now if status == "canceled" else None, "collection_method": "charge_automatically",
        "created": now, "currency": "usd", "customer": customer, "default_payment_method": None,
        "ended_at": now if status == "canceled" else None, "latest_invoice": new_id("in"), "livemode": False,
        "metadata": {"user_id": user_id, "plan_id": plan}, "status": status, "trial_end": None, "trial_start": None,
        "items": {"object": "list", "has_more": False, "data": [{
            "id": new_id("si"), "object": "subscription_item", "created": now, "quantity": 1,
            "current_period_start": now, "current_period_end": now + 30 * 86400,
            "price": {"id": f"price_local_{plan}_monthly", "object": "price", "currency": "usd",
                      "recurring": {"interval": "month", "interval_count": 1}, "type": "recurring"}}]},
    }
    return stripe_event(event_type, subscription)


def revenuecat_event(state: DevState, event_type: str, user: str, plan: str) -> dict[str, Any]:
    """Shaped as RevenueCat's sample events (webhook event reference)."""
    user_id = user_id_of(state, user)
    now_ms = int(time.time() * 1000)
    transaction = str(1000000000 + secrets.randbelow(10**9))
    return {
        "id": str(uuid.uuid4()).upper(), "type": event_type, "app_id": "app_local",
        "app_user_id": user_id, "original_app_user_id": user_id, "aliases": [user_id],
        "product_id": f"openparty_{plan}_monthly", "entitlement_ids": [plan], "entitlement_id": None,
        "period_type": "NORMAL", "purchased_at_ms": now_ms,
        "expiration_at_ms": now_ms - 1000 if event_type == "EXPIRATION" else now_ms + 30 * 86400 * 1000,
        "event_timestamp_ms": now_ms, "environment": "PRODUCTION", "store": "APP_STORE",
        "transaction_id": transaction, "original_transaction_id": transaction, "is_family_share": False,
        "country_code": "US", "currency": "USD", "price": 4.99, "price_in_purchased_currency": 4.99,
        "presented_offering_id": None, "subscriber_attributes": {}, "takehome_percentage": 0.85,
        "offer_code": None, "tax_percentage": 0.0, "commission_percentage": 0.15, "renewal_number": 1,
        "expiration_reason": "UNSUBSCRIBE" if event_type == "EXPIRATION" else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/send-event", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("type")
    parser.add_argument("revenuecat_type", nargs="?")
    parser.add_argument("--tip")
    parser.add_argument("--amount", type=int)
    parser.add_argument("--dj", default="dj_nova")
    parser.add_argument("--user")
    parser.add_argument("--plan", default="premium", choices=["premium", "dj_pro"])
    parser.add_argument("--status", default="active")
    args = parser.parse_args(argv)
    state = DevState.load()
    kind = args.type
    if kind.startswith("payment_intent."):
        response = deliver_stripe(state, payment_intent_event(state, kind.removeprefix("payment_intent."),
                                                              tip_of(state, args.tip)))
    elif kind == "charge.refunded":
        response = deliver_stripe(state, charge_refunded_event(tip_of(state, args.tip), args.amount))
    elif kind == "account.updated":
        response = deliver_stripe(state, account_updated_event(state, args.dj)[0], connect=True)
    elif kind.startswith("customer.subscription.") and args.user:
        response = deliver_stripe(state, subscription_event(state, kind, args.user, args.plan, args.status))
    elif kind == "revenuecat" and args.revenuecat_type and args.user:
        response = deliver_revenuecat(state, revenuecat_event(state, args.revenuecat_type, args.user, args.plan))
    else:
        parser.print_help(sys.stderr)
        return 2
    print(response.status_code, response.text)
    return 0 if response.is_success else 1


if __name__ == "__main__":
    raise SystemExit(main())
