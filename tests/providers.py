"""Payloads shaped as Stripe and RevenueCat send them (Stripe API version pinned
by stripe-python 16: 2026-10-28.endive), signing, and Stripe's API faked at the
HTTP boundary with respx."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import httpx
import stripe

STRIPE_API_VERSION = "2026-10-28.endive"
STRIPE_SECRETS = ("whsec_test_current", "whsec_test_next")
CONNECT_SECRET = "whsec_test_connect"
REVENUECAT_AUTH = "Bearer rc-webhook-secret"
STRIPE_API = "https://api.stripe.com"

MONEY_SETTINGS = {
    "stripe_secret_key": "sk_test_openparty",
    "stripe_webhook_secrets": ",".join(STRIPE_SECRETS),
    "stripe_connect_webhook_secrets": CONNECT_SECRET,
    "revenuecat_webhook_authorization": REVENUECAT_AUTH,
    "stripe_prices": {"premium": "price_premium_monthly", "dj_pro": "price_dj_pro_monthly"},
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def stripe_event(event_type: str, obj: dict[str, Any], *, account: str | None = None,
                 created: int | None = None, event_id: str | None = None) -> dict[str, Any]:
    event = {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    if account:
        event["account"] = account
    return event


def signed(event: dict[str, Any] | bytes, secret: str = STRIPE_SECRETS[0], timestamp: int | None = None):
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


def payment_intent(tip: dict[str, Any], status: str, *, error: str | None = None) -> dict[str, Any]:
    return {
        "id": tip["stripe_payment_intent_id"],
        "object": "payment_intent",
        "amount": tip["amount"],
        "amount_received": tip["amount"] if status == "succeeded" else 0,
        "application_fee_amount": tip["platform_fee"],
        "currency": tip["currency"],
        "status": status,
        "latest_charge": "ch_" + tip["stripe_payment_intent_id"][3:],
        "last_payment_error": {"code": "card_declined", "message": error, "type": "card_error"} if error else None,
        "metadata": {"tip_id": str(tip["id"]), "session_id": str(tip["session_id"])},
        "transfer_data": {"destination": tip["stripe_account_id"]},
        "client_secret": tip["stripe_payment_intent_id"] + "_secret_x",
    }


def charge(tip: dict[str, Any], amount_refunded: int) -> dict[str, Any]:
    return {
        "id": "ch_" + tip["stripe_payment_intent_id"][3:],
        "object": "charge",
        "amount": tip["amount"],
        "amount_refunded": amount_refunded,
        "currency": tip["currency"],
        "payment_intent": tip["stripe_payment_intent_id"],
        "refunded": amount_refunded == tip["amount"],
        "status": "succeeded",
        "metadata": {"tip_id": str(tip["id"])},
    }


def dispute(tip: dict[str, Any], status: str, dispute_id: str = "dp_test_1") -> dict[str, Any]:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": tip["amount"],
        "charge": "ch_" + tip["stripe_payment_intent_id"][3:],
        "currency": tip["currency"],
        "payment_intent": tip["stripe_payment_intent_id"],
        "reason": "fraudulent",
        "status": status,
    }


def account(account_id: str, *, ready: bool, currently_due: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": account_id,
        "object": "account",
        "charges_enabled": ready,
        "payouts_enabled": ready,
        "details_submitted": ready,
        "requirements": {"currently_due": currently_due or [], "disabled_reason": None if ready else "requirements.past_due"},
        "controller": {"stripe_dashboard": {"type": "express"}},
    }


def subscription(sub_id: str, customer: str, status: str, *, user_id: uuid.UUID, plan_id: str = "premium",
                 period_end: int | None = None, cancel_at_period_end: bool = False) -> dict[str, Any]:
    now = int(time.time())
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {"user_id": str(user_id), "plan_id": plan_id},
        "items": {"object": "list", "data": [{
            "id": new_id("si"), "object": "subscription_item",
            "price": {"id": f"price_{plan_id}_monthly", "object": "price"},
            "current_period_start": now - 86400, "current_period_end": period_end or now + 30 * 86400,
        }]},
    }


def invoice(sub_id: str, customer: str, *, paid: bool, period_end: int) -> dict[str, Any]:
    return {
        "id": new_id("in"),
        "object": "invoice",
        "customer": customer,
        "status": "paid" if paid else "open",
        "currency": "usd",
        "created": period_end - 30 * 86400,
        "total": 499,
        "amount_due": 499,
        "amount_paid": 499 if paid else 0,
        "amount_remaining": 0 if paid else 499,
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub_id, "metadata": {}}},
        "lines": {"object": "list", "data": [{"id": new_id("il"), "period": {"start": period_end - 30 * 86400,
                                                                               "end": period_end}}]},
    }


def checkout_session(user_id: uuid.UUID, customer: str, sub_id: str) -> dict[str, Any]:
    return {
        "id": new_id("cs"),
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": str(user_id),
        "customer": customer,
        "subscription": sub_id,
        "payment_status": "paid",
        "status": "complete",
        "metadata": {"user_id": str(user_id), "plan_id": "premium"},
    }


def revenuecat_event(event_type: str, app_user_id: str | None, *, entitlement_ids=("premium",),
                     expires_in_s: int | None = 30 * 86400, at_ms: int | None = None,
                     environment: str = "PRODUCTION", original_transaction_id: str = "1000000123",
                     **extra: Any) -> dict[str, Any]:
    now_ms = at_ms or int(time.time() * 1000)
    event = {
        "id": str(uuid.uuid4()).upper(),
        "type": event_type,
        "app_user_id": app_user_id,
        "original_app_user_id": app_user_id,
        "aliases": [app_user_id] if app_user_id else [],
        "product_id": "openparty_premium_monthly",
        "entitlement_ids": list(entitlement_ids),
        "entitlement_id": None,
        "period_type": "NORMAL",
        "purchased_at_ms": now_ms,
        "expiration_at_ms": now_ms + expires_in_s * 1000 if expires_in_s is not None else None,
        "event_timestamp_ms": now_ms,
        "environment": environment,
        "store": "APP_STORE",
        "transaction_id": original_transaction_id + "9",
        "original_transaction_id": original_transaction_id,
        "currency": "USD",
        "price": 4.99,
        "country_code": "US",
    }
    if app_user_id is None:
        event.pop("app_user_id")
    event.update(extra)
    return {"api_version": "1.0", "event": event}


def form(request: httpx.Request) -> dict[str, str]:
    """A Stripe API request's form-encoded body, flattened (a[b]=c stays 'a[b]')."""
    return {key: values[0] for key, values in parse_qs(request.content.decode()).items()}


def stripe_object_response(obj: dict[str, Any], status_code: int = 200) -> httpx.Response:
    return httpx.Response(status_code, json=obj, headers={"request-id": new_id("req")})
