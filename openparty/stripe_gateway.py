"""A thin typed client for the Stripe calls we make, over stripe-python's
async API on httpx (tests fake Stripe at that HTTP boundary)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import stripe
from stripe.params import AccountCreateParams, CustomerCreateParams

from openparty.settings import Settings


class StripeGateway:
    def __init__(self, settings: Settings) -> None:
        if settings.stripe_secret_key is None:
            raise RuntimeError("OPENPARTY_STRIPE_SECRET_KEY is not set")
        options: dict[str, Any] = {"http_client": stripe.HTTPXClient(), "max_network_retries": 2}
        if settings.stripe_api_base:
            options["base_addresses"] = {"api": settings.stripe_api_base}
        self.client = stripe.StripeClient(settings.stripe_secret_key.get_secret_value(), **options)

    async def tip_payment_intent(self, tip: dict[str, Any]) -> stripe.PaymentIntent:
        """A destination charge to the DJ's account, the platform fee kept; the
        idempotency key comes from our tip id, so a repeat returns the same intent."""
        if tip["stripe_payment_intent_id"]:
            return await self.client.v1.payment_intents.retrieve_async(tip["stripe_payment_intent_id"])
        return await self.client.v1.payment_intents.create_async(
            {
                "amount": tip["amount"],
                "currency": tip["currency"],
                "application_fee_amount": tip["platform_fee"],
                "transfer_data": {"destination": tip["stripe_account_id"]},
                "automatic_payment_methods": {"enabled": True},
                "description": "OpenParty tip",
                "metadata": {
                    "tip_id": str(tip["id"]),
                    "session_id": str(tip["session_id"]),
                    "tipper_id": str(tip["tipper_id"]),
                    "dj_id": str(tip["dj_id"]),
                },
            },
            {"idempotency_key": f"tip-{tip['id']}"},
        )

    async def retrieve_payment_intent(self, payment_intent_id: str) -> stripe.PaymentIntent:
        return await self.client.v1.payment_intents.retrieve_async(payment_intent_id)

    async def find_tip_payment_intent(self, tip_id: UUID) -> stripe.PaymentIntent | None:
        """The PaymentIntent whose metadata names this tip, if Stripe has one
        (Search API; its index lags writes by up to a minute)."""
        found = await self.client.v1.payment_intents.search_async(
            {"query": f"metadata['tip_id']:'{tip_id}'", "limit": 1})
        return found.data[0] if found.data else None

    async def cancel_payment_intent(self, payment_intent_id: str) -> stripe.PaymentIntent:
        """Cancel an abandoned PaymentIntent (reconciliation); Stripe refuses if it was paid meanwhile."""
        return await self.client.v1.payment_intents.cancel_async(
            payment_intent_id, {"cancellation_reason": "abandoned"},
            {"idempotency_key": f"cancel-{payment_intent_id}"})

    async def create_express_account(self, dj_id: UUID, email: str | None) -> stripe.Account:
        params: AccountCreateParams = {
            "controller": {
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "stripe_dashboard": {"type": "express"},
            },
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"dj_id": str(dj_id)},
        }
        if email:
            params["email"] = email
        return await self.client.v1.accounts.create_async(params, {"idempotency_key": f"dj-account-{dj_id}"})

    async def onboarding_link(self, account_id: str, refresh_url: str, return_url: str) -> stripe.AccountLink:
        return await self.client.v1.account_links.create_async(
            {"account": account_id, "refresh_url": refresh_url, "return_url": return_url, "type": "account_onboarding"}
        )

    async def create_customer(self, user_id: UUID, email: str | None) -> stripe.Customer:
        params: CustomerCreateParams = {"metadata": {"user_id": str(user_id)}}
        if email:
            params["email"] = email
        return await self.client.v1.customers.create_async(params, {"idempotency_key": f"customer-{user_id}"})

    async def subscription_checkout(self, *, user_id: UUID, customer_id: str, plan_id: str, price_id: str,
                                    success_url: str, cancel_url: str) -> stripe.checkout.Session:
        metadata = {"user_id": str(user_id), "plan_id": plan_id}
        return await self.client.v1.checkout.sessions.create_async(
            {
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(user_id),
                "line_items": [{"price": price_id, "quantity": 1}],
                "subscription_data": {"metadata": metadata},
                "metadata": metadata,
                "success_url": success_url,
                "cancel_url": cancel_url,
            }
        )

    async def billing_portal(self, customer_id: str, return_url: str) -> stripe.billing_portal.Session:
        """A customer-portal session: the user manages the subscription, payment methods and invoices."""
        return await self.client.v1.billing_portal.sessions.create_async(
            {"customer": customer_id, "return_url": return_url})

    async def dashboard_login_link(self, account_id: str) -> stripe.LoginLink:
        """A single-use link into the Express dashboard of a DJ's connected account."""
        return await self.client.v1.accounts.login_links.create_async(account_id)

    async def artist_transfer(self, statement: dict[str, Any]) -> stripe.Transfer:
        """Pay an artist's statement from the platform balance to their connected
        account. The idempotency key is the statement's: a retry after a crash or
        a timeout returns the transfer Stripe already made instead of a second one."""
        return await self.client.v1.transfers.create_async(
            {
                "amount": statement["amount"],
                "currency": statement["currency"],
                "destination": statement["destination"],
                "transfer_group": f"artist-payouts-{statement['month']:%Y-%m}",
                "description": f"OpenParty artist payout {statement['month']:%Y-%m}",
                "metadata": {"statement_id": str(statement["statement_id"]), "artist_id": str(statement["artist_id"]),
                             "month": f"{statement['month']:%Y-%m}"},
            },
            {"idempotency_key": f"artist-statement-{statement['statement_id']}"},
        )
