"""What the app calls for money: create-tip, dj-connect (payout onboarding),
web checkout, and billing self-service (the customer portal, the DJ's
Express dashboard). Each verifies the user's token, validates the body, lets one SQL
function decide, and talks to Stripe."""

from __future__ import annotations

import logging
from typing import Annotated, TypeVar
from uuid import UUID

import stripe
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from functions.deps import (
    PoolDep,
    SettingsDep,
    StorableText,
    UserDep,
    authenticated_json,
    json_body_doc,
    maybe_row,
    one_row,
    stripe_gateway,
)
from openparty import queries
from openparty.plans import PaidPlan
from openparty.stripe_gateway import StripeGateway

log = logging.getLogger("openparty.money")
router = APIRouter(tags=["money"])
Gateway = Annotated[StripeGateway, Depends(stripe_gateway)]
T = TypeVar("T")


class TipRequest(BaseModel):
    session_id: UUID
    amount: int = Field(gt=0, le=10_000_000, description="minor units (cents)")
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    message: StorableText = Field(default="", max_length=140)
    idempotency_key: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_\-:.]+$")


class TipResponse(BaseModel):
    tip_id: UUID
    status: str
    amount: int
    currency: str
    platform_fee: int
    payment_intent_id: str
    client_secret: str


class ConnectResponse(BaseModel):
    stripe_account_id: str
    onboarding_url: str
    expires_at: int
    charges_enabled: bool
    payouts_enabled: bool


class PortalResponse(BaseModel):
    url: str


class DashboardLinkResponse(BaseModel):
    url: str
    created: int


class CheckoutRequest(BaseModel):
    plan_id: PaidPlan


class CheckoutResponse(BaseModel):
    checkout_session_id: str
    url: str


# Bodies are read after the token verifies, and only up to a small size.
TipBody = Annotated[TipRequest, Depends(authenticated_json(TipRequest))]
CheckoutBody = Annotated[CheckoutRequest, Depends(authenticated_json(CheckoutRequest))]


def from_stripe(value: T | None, what: str) -> T:
    """A field Stripe's types leave optional but our request always gets back."""
    if value is None:
        log.error("stripe.missing_field field=%s", what)
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail={"error": "stripe_unavailable",
                                                                 "message": "payment provider error; retry"})
    return value


def stripe_failed(exc: stripe.StripeError) -> HTTPException:
    log.error("stripe.request_failed error=%s", exc)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, detail={"error": "stripe_unavailable",
                                                               "message": "payment provider error; retry"})


@router.post("/tips", response_model=TipResponse, openapi_extra=json_body_doc(TipRequest))
async def create_tip(body: TipBody, user: UserDep, pool: PoolDep, settings: SettingsDep,
                     gateway: Gateway) -> TipResponse:
    """Tip the DJ of a live session you are in. The same idempotency_key returns
    the same tip and PaymentIntent; confirm it in the app with client_secret."""
    tip = await one_row(pool, queries.CREATE_TIP, {
        "tipper_id": user.id, "session_id": body.session_id, "amount": body.amount,
        "currency": body.currency.lower(), "message": body.message, "client_key": body.idempotency_key,
        "fee_bps": settings.platform_fee_bps})
    try:
        intent = await gateway.tip_payment_intent(tip)
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    if tip["stripe_payment_intent_id"] is None:
        tip = await one_row(pool, queries.ATTACH_PAYMENT_INTENT, {"tip_id": tip["id"], "payment_intent_id": intent.id})
    log.info("tips.created tip=%s intent=%s", tip["id"], intent.id)
    return TipResponse(tip_id=tip["id"], status=tip["status"], amount=tip["amount"], currency=tip["currency"],
                       platform_fee=tip["platform_fee"], payment_intent_id=intent.id,
                       client_secret=from_stripe(intent.client_secret, "client_secret"))


@router.post("/dj/connect", response_model=ConnectResponse)
async def dj_connect(user: UserDep, pool: PoolDep, settings: SettingsDep, gateway: Gateway) -> ConnectResponse:
    """Create (once) or reuse the DJ's Stripe connected account and return a
    fresh onboarding link. Readiness arrives later from account.updated."""
    account = await maybe_row(pool, queries.PAYOUT_ACCOUNT_OF, {"dj_id": user.id})
    try:
        if account is None or account["stripe_account_id"] is None:
            created = await gateway.create_express_account(user.id, user.claims.get("email"))
            account = await one_row(pool, queries.ATTACH_PAYOUT_ACCOUNT,
                                    {"dj_id": user.id, "stripe_account_id": created.id})
        link = await gateway.onboarding_link(account["stripe_account_id"], settings.connect_refresh_url,
                                             settings.connect_return_url)
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    return ConnectResponse(stripe_account_id=account["stripe_account_id"], onboarding_url=link.url,
                           expires_at=link.expires_at, charges_enabled=account["charges_enabled"],
                           payouts_enabled=account["payouts_enabled"])


@router.post("/checkout", response_model=CheckoutResponse, openapi_extra=json_body_doc(CheckoutRequest))
async def checkout(body: CheckoutBody, user: UserDep, pool: PoolDep, settings: SettingsDep,
                   gateway: Gateway) -> CheckoutResponse:
    """A Stripe Checkout session for a web subscription to a plan."""
    price_id = settings.stripe_prices.get(body.plan_id)
    if price_id is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            detail={"error": "not_configured", "message": f"no Stripe price for {body.plan_id}"})
    try:
        customer_id = (await one_row(pool, queries.STRIPE_CUSTOMER_OF, {"user_id": user.id}))["customer_id"]
        if customer_id is None:
            customer = await gateway.create_customer(user.id, user.claims.get("email"))
            customer_id = (await one_row(pool, queries.ATTACH_STRIPE_CUSTOMER,
                                         {"user_id": user.id, "customer_id": customer.id}))["customer_id"]
        session = await gateway.subscription_checkout(
            user_id=user.id, customer_id=customer_id, plan_id=body.plan_id.value, price_id=price_id,
            success_url=settings.checkout_success_url, cancel_url=settings.checkout_cancel_url)
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    return CheckoutResponse(checkout_session_id=session.id, url=from_stripe(session.url, "url"))


def wrong_state(error: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail={"error": error, "message": message})


@router.post("/billing/portal", response_model=PortalResponse)
async def billing_portal(user: UserDep, pool: PoolDep, settings: SettingsDep, gateway: Gateway) -> PortalResponse:
    """A Stripe customer-portal session for your web subscription: change plan,
    cancel, update the card, download invoices. 409 until you have subscribed
    on the web (no Stripe customer)."""
    customer_id = (await one_row(pool, queries.STRIPE_CUSTOMER_OF, {"user_id": user.id}))["customer_id"]
    if customer_id is None:
        raise wrong_state("no_stripe_customer", "no web subscription yet: subscribe with POST /checkout first")
    try:
        session = await gateway.billing_portal(customer_id, settings.billing_portal_return_url)
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    return PortalResponse(url=session.url)


@router.post("/dj/dashboard-link", response_model=DashboardLinkResponse)
async def dj_dashboard_link(user: UserDep, pool: PoolDep, gateway: Gateway) -> DashboardLinkResponse:
    """A single-use login link to the DJ's Stripe Express dashboard (balance,
    payouts, bank details). 403 for neither DJ nor artist; 409 before onboarding is done."""
    account = await maybe_row(pool, queries.PAYOUT_ACCOUNT_OF, {"dj_id": user.id})
    if account is None or account["stripe_account_id"] is None:
        raise wrong_state("no_payout_account", "set up payouts first: POST /dj/connect")
    if not account["details_submitted"]:
        raise wrong_state("onboarding_incomplete", "finish Stripe onboarding first: POST /dj/connect")
    try:
        link = await gateway.dashboard_login_link(account["stripe_account_id"])
    except stripe.StripeError as exc:
        raise stripe_failed(exc) from exc
    return DashboardLinkResponse(url=link.url, created=link.created)
