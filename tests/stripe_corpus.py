"""Stripe objects and events built from Stripe's own published example objects.

The shapes come verbatim from github.com/stripe/openapi `openapi/fixtures3.json`
at two commits, kept in `tests/corpus/stripe/` (each file's `_source` names
the repository, path and commit):

- `pre_basil`: commit b819eedc (2025-02-14), the API before 2025-03-31.basil:
  the period end at `subscription.current_period_end`, an invoice's
  subscription at `invoice.subscription`, `invoice.paid` a boolean.
- `post_basil`: commit f6c2a48f (2026-08-21), the API since basil: the period
  on `items.data[].current_period_end`, the subscription at
  `invoice.parent.subscription_details.subscription`, no `invoice.paid`.

Each builder copies the published object and sets only the fields that make
the scenario (ids, amounts, statuses, dates, metadata); every other field,
null or not, stays as Stripe publishes it. Events use the published `event`
envelope and are posted signed as Stripe signs them (`Stripe-Signature:
t=...,v1=...`, HMAC-SHA256 of `t.body`).
"""

from __future__ import annotations

import copy
import json
import time
from functools import cache
from pathlib import Path
from typing import Any

from tests.providers import STRIPE_API_VERSION, new_id

CORPUS = Path(__file__).parent / "corpus" / "stripe"
VERSIONS = ("pre_basil", "post_basil")
# The events' api_version field (we never read it): the version current when
# each fixture was published (pre basil), and the one the project pins.
API_VERSION = {"pre_basil": "2025-01-27.acacia", "post_basil": STRIPE_API_VERSION}


@cache
def _fixtures(version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / f"fixtures3_{version}.json").read_text())
    return data


def published(version: str, resource: str) -> dict[str, Any]:
    """A fresh copy of Stripe's example object of that resource."""
    obj: dict[str, Any] = copy.deepcopy(_fixtures(version)["resources"][resource])
    return obj


def event(version: str, event_type: str, obj: dict[str, Any], *, account: str | None = None,
          created: int | None = None) -> dict[str, Any]:
    envelope = published(version, "event")
    envelope.update(id=new_id("evt"), type=event_type, created=created or int(time.time()),
                    api_version=API_VERSION[version], data={"object": obj}, pending_webhooks=1)
    if account is not None:
        envelope["account"] = account
    return envelope


def payment_intent(version: str, tip: dict[str, Any], status: str, *, charge_id: str | None = None,
                   error: dict[str, Any] | None = None) -> dict[str, Any]:
    obj = published(version, "payment_intent")
    obj.update(id=tip["stripe_payment_intent_id"], amount=tip["amount"], currency=tip["currency"], status=status,
               amount_received=tip["amount"] if status == "succeeded" else 0,
               application_fee_amount=tip["platform_fee"], latest_charge=charge_id,
               last_payment_error=error, client_secret=f"{tip['stripe_payment_intent_id']}_secret_x",
               metadata={"tip_id": str(tip["id"]), "session_id": str(tip["session_id"])},
               transfer_data={"destination": tip["stripe_account_id"]})
    return obj


def charge(version: str, tip: dict[str, Any], charge_id: str, *, amount_refunded: int = 0) -> dict[str, Any]:
    obj = published(version, "charge")
    obj.update(id=charge_id, amount=tip["amount"], amount_captured=tip["amount"], amount_refunded=amount_refunded,
               currency=tip["currency"], payment_intent=tip["stripe_payment_intent_id"], captured=True,
               refunded=amount_refunded == tip["amount"])
    return obj


def dispute(version: str, tip: dict[str, Any], charge_id: str, status: str, *, dispute_id: str = "dp_corpus_1",
            with_payment_intent: bool = False, amount: int | None = None) -> dict[str, Any]:
    """Stripe's example dispute is an inquiry (`warning_needs_response`,
    `case_type: inquiry`) with `payment_intent: null`; a chargeback says
    `case_type: chargeback`."""
    obj = published(version, "dispute")
    obj.update(id=dispute_id, charge=charge_id, amount=amount or tip["amount"], currency=tip["currency"],
               status=status, payment_intent=tip["stripe_payment_intent_id"] if with_payment_intent else None)
    obj["payment_method_details"]["card"]["case_type"] = "inquiry" if status.startswith("warning_") else "chargeback"
    return obj


def subscription(version: str, sub_id: str, customer: str, status: str, *, price_id: str,
                 period_end: int, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    obj = published(version, "subscription")
    obj.update(id=sub_id, customer=customer, status=status, metadata=metadata or {}, cancel_at_period_end=False,
               cancel_at=None, canceled_at=None, ended_at=None, trial_start=None, trial_end=None)
    item = obj["items"]["data"][0]
    item.update(id=new_id("si"), subscription=sub_id)
    item["price"]["id"] = price_id
    obj["items"]["url"] = f"/v1/subscription_items?subscription={sub_id}"
    if version == "pre_basil":
        obj.update(current_period_start=period_end - 30 * 86400, current_period_end=period_end)
        assert "current_period_end" not in item
    else:
        item.update(current_period_start=period_end - 30 * 86400, current_period_end=period_end)
        assert "current_period_end" not in obj
    return obj


def invoice(version: str, customer: str, sub_id: str | None, *, status: str, period_end: int, amount: int = 499,
            invoice_id: str | None = None) -> dict[str, Any]:
    obj = published(version, "invoice")
    paid = status == "paid"
    invoice_id = invoice_id or new_id("in")
    obj.update(id=invoice_id, customer=customer, status=status, number=f"OP-{invoice_id[-6:].upper()}",
               currency="usd", total=amount, subtotal=amount, amount_due=amount, amount_paid=amount if paid else 0,
               amount_remaining=0 if paid else amount, attempted=True, attempt_count=1,
               billing_reason="subscription_cycle", created=period_end - 30 * 86400,
               hosted_invoice_url=f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
               invoice_pdf=f"https://pay.stripe.com/invoice/acct_test/{invoice_id}/pdf")
    obj["status_transitions"]["paid_at"] = int(time.time()) if paid else None
    line = obj["lines"]["data"][0]
    line.update(id=new_id("il"), invoice=invoice_id, amount=amount,
                period={"start": period_end - 30 * 86400, "end": period_end})
    if version == "pre_basil":
        obj.update(subscription=sub_id, paid=paid)
        line["subscription"] = sub_id
    else:
        assert "paid" not in obj
        obj["parent"] = None if sub_id is None else {
            "type": "subscription_details", "quote_details": None,
            "subscription_details": {"subscription": sub_id, "metadata": {}}}
    return obj


def payout(version: str, payout_id: str, status: str, *, amount: int = 900, arrival_date: int | None = None,
           failure_code: str | None = None, failure_message: str | None = None) -> dict[str, Any]:
    obj = published(version, "payout")
    obj.update(id=payout_id, status=status, amount=amount, currency="usd",
               arrival_date=arrival_date or int(time.time()) + 2 * 86400, created=int(time.time()),
               failure_code=failure_code, failure_message=failure_message)
    return obj
