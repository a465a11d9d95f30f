"""Provider webhooks: verify, validate, record the event (kept even if applying
fails), apply it with one SQL function, answer.

200: applied, a duplicate, or deliberately ignored (the outcome says which).
     An event with text Postgres cannot store (NUL, a lone surrogate) is kept
     as received (webhook_events.raw_body) and applied with that text cleaned:
     the provider would only resend the same bytes.
400: bad signature or a body that is not an event: not UTF-8, not JSON, not
     the event's shape (nothing recorded).
401: RevenueCat authorization missing or wrong. 413: body too large.
500: recorded but could not be applied: the provider retries, the retry applies it.
503: the database is unreachable or the endpoint is not configured: retried too.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NamedTuple

import psycopg
import stripe
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.deps import PoolDep, SettingsDep, postgres_text_problem, read_body_within, storable
from openparty import queries
from openparty.db import Pool, fetch_one
from openparty.settings import Settings

log = logging.getLogger("openparty.webhooks")
router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# What the Connect endpoint applies: events about the connected accounts
# themselves. Anything else signed with the Connect secret (a payment of a
# connected account, say) is recorded and answered 200 "ignored": it must not
# move our tips or subscriptions, and a 4xx would only make Stripe retry it.
CONNECT_EVENT_PREFIXES = ("account.", "capability.", "person.", "payout.")
NOT_A_CONNECT_EVENT = "ignored: not a Connect event type"


class StripeEventData(BaseModel):
    object: dict[str, Any]


class StripeEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(pattern=r"^evt_\w+$")
    type: str = Field(min_length=1, max_length=100)
    created: int
    account: str | None = None
    data: StripeEventData


class RevenueCatEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100)
    event_timestamp_ms: int
    environment: str | None = None
    app_user_id: str | None = None


class RevenueCatBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    api_version: str
    event: RevenueCatEvent


def not_configured(what: str) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail={"error": "not_configured", "message": what})


def bad_request(error: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail={"error": error, "message": message})


class VerifiedEvent(NamedTuple):
    payload: dict[str, Any]  # storable: text Postgres cannot hold is cleaned
    raw_body: str | None  # the body as received, when cleaning changed something


def verified_stripe_event(secrets_setting: str, *, connect: bool) -> Callable[..., Awaitable[VerifiedEvent]]:
    """A dependency: the event, once its signature verifies with one of the secrets."""

    async def verify(request: Request, settings: SettingsDep) -> VerifiedEvent:
        secrets = settings.secret_list(getattr(settings, secrets_setting))
        if not secrets:
            raise not_configured(f"OPENPARTY_{secrets_setting.upper()} is not set")
        raw = await read_body_within(request, settings.max_webhook_body_bytes)
        try:
            body = raw.decode("utf-8")  # stripe-python would decode it and raise (a 500)
        except UnicodeDecodeError as exc:
            raise bad_request("invalid_event", "the body is not UTF-8") from exc
        header = request.headers.get("stripe-signature")
        tolerance = max(1, settings.stripe_webhook_tolerance_seconds)  # 0 would skip the age check
        for secret in secrets:
            try:
                stripe.WebhookSignature.verify_header(body, header, secret, tolerance)
                break
            except stripe.SignatureVerificationError:
                continue
        else:
            log.warning("webhook.stripe.bad_signature")
            raise bad_request("invalid_signature", "the Stripe-Signature header does not verify")
        try:
            payload: dict[str, Any] = json.loads(body)
            event = StripeEvent.model_validate(payload)
        except (ValueError, ValidationError) as exc:
            raise bad_request("invalid_event", f"not a Stripe event: {exc}") from exc
        if connect and not event.account:
            raise bad_request("invalid_event", "a Connect event carries an account")
        if problem := postgres_text_problem(payload):
            # Signed by Stripe, so retrying will not change it: keep the body as
            # received (JSON text holds \u0000 as an escape) and store clean text.
            log.warning("webhook.stripe.cleaned id=%s problem=%s", event.id, problem)
            cleaned: dict[str, Any] = storable(payload)  # type: ignore[assignment]
            return VerifiedEvent(cleaned, body)
        return VerifiedEvent(payload, None)

    return verify


async def record_and_apply(pool: Pool, *, provider: str, event_id: str, event: dict[str, Any],
                           apply: str, apply_params: dict[str, Any], raw_body: str | None = None) -> JSONResponse:
    """Record the event in its own transaction, then apply it in another (not
    one pipeline: that would be one transaction, and a failed apply would take
    the record with it). Applying an event already applied answers 'duplicate';
    a failure to apply leaves the record and notes the error."""
    try:
        async with pool.connection() as conn:
            try:
                await conn.execute(queries.RECORD_WEBHOOK_EVENT,
                                   {"provider": provider, "event": json.dumps(event), "raw_body": raw_body})
                outcome = (await fetch_one(conn, apply, {"event_id": event_id, **apply_params}))["outcome"]
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                await conn.execute(queries.NOTE_WEBHOOK_EVENT_FAILURE,
                                   {"provider": provider, "event_id": event_id, "error": str(exc)})
                log.error("webhook.%s.apply_failed id=%s error=%s", provider, event_id, exc)
                return JSONResponse({"error": "apply_failed", "message": "recorded; will apply on retry"}, 500)
    except (psycopg.OperationalError, PoolTimeout) as exc:
        log.error("webhook.%s.database_unavailable id=%s error=%s", provider, event_id, exc)
        return JSONResponse({"error": "database_unavailable"}, status.HTTP_503_SERVICE_UNAVAILABLE)
    log.info("webhook.%s.%s id=%s outcome=%s", provider, "duplicate" if outcome == "duplicate" else "applied",
             event_id, outcome)
    return JSONResponse({"received": True, "outcome": outcome})


def price_plans(settings: Settings) -> str:
    """The Stripe price ids we sell, each to its plan ({"price_...": "premium"})."""
    return json.dumps({price: plan.value for plan, price in settings.stripe_prices.items()})


async def apply_stripe_event(pool: Pool, event: VerifiedEvent, settings: Settings) -> JSONResponse:
    return await record_and_apply(pool, provider="stripe", event_id=event.payload["id"], event=event.payload,
                                  apply=queries.APPLY_STRIPE_EVENT, apply_params={"prices": price_plans(settings)},
                                  raw_body=event.raw_body)


async def record_only(pool: Pool, *, provider: str, event_id: str, event: dict[str, Any],
                      reason: str, raw_body: str | None = None) -> JSONResponse:
    """Keep the event (unapplied, the reason noted with it) and answer 200 'ignored'."""
    try:
        async with pool.connection() as conn:
            await conn.execute(queries.RECORD_WEBHOOK_EVENT,
                               {"provider": provider, "event": json.dumps(event), "raw_body": raw_body})
            await conn.execute(queries.NOTE_WEBHOOK_EVENT_FAILURE,
                               {"provider": provider, "event_id": event_id, "error": reason})
    except (psycopg.OperationalError, PoolTimeout) as exc:
        log.error("webhook.%s.database_unavailable id=%s error=%s", provider, event_id, exc)
        return JSONResponse({"error": "database_unavailable"}, status.HTTP_503_SERVICE_UNAVAILABLE)
    log.warning("webhook.%s.ignored id=%s type=%s reason=%s", provider, event_id, event.get("type"), reason)
    return JSONResponse({"received": True, "outcome": reason})


PlatformEvent = Annotated[VerifiedEvent, Depends(verified_stripe_event("stripe_webhook_secrets", connect=False))]
ConnectEvent = Annotated[VerifiedEvent, Depends(verified_stripe_event("stripe_connect_webhook_secrets", connect=True))]


@router.post("/stripe")
async def stripe_webhook(event: PlatformEvent, pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    return await apply_stripe_event(pool, event, settings)


@router.post("/stripe-connect")
async def stripe_connect_webhook(event: ConnectEvent, pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    if not str(event.payload["type"]).startswith(CONNECT_EVENT_PREFIXES):
        return await record_only(pool, provider="stripe", event_id=event.payload["id"], event=event.payload,
                                 reason=NOT_A_CONNECT_EVENT, raw_body=event.raw_body)
    return await apply_stripe_event(pool, event, settings)


class RevenueCatDelivery(NamedTuple):
    event: dict[str, Any]  # storable: text Postgres cannot hold is cleaned
    raw_body: str | None  # the body exactly as received, when cleaning changed something


async def authorized_revenuecat_event(request: Request, settings: SettingsDep) -> RevenueCatDelivery:
    """The event of an authorized RevenueCat delivery, ready to record. RevenueCat
    retries a non-200 five times and then drops the event, so text Postgres
    cannot store (a NUL in a subscriber attribute, say) is cleaned, not refused:
    the event is stored cleaned and applied, and the exact body kept beside it."""
    configured = settings.revenuecat_webhook_authorization
    if configured is None or not configured.get_secret_value().strip():
        # Blank is not a secret: an empty expected value would match a missing header.
        raise not_configured("OPENPARTY_REVENUECAT_WEBHOOK_AUTHORIZATION is not set")
    given = request.headers.get("authorization")
    if not given or not hmac.compare_digest(given.encode(), configured.get_secret_value().encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail={"error": "unauthorized"})
    body = await read_body_within(request, settings.max_webhook_body_bytes)
    try:
        raw_text = body.decode("utf-8")
        # json, not pydantic's parser: that refuses an unpaired surrogate escape, which we clean below
        parsed = RevenueCatBody.model_validate(json.loads(raw_text))
    except (ValueError, ValidationError) as exc:
        raise bad_request("invalid_event", f"not a RevenueCat event: {exc}") from exc
    event = parsed.event.model_dump(mode="json")
    if postgres_text_problem(event) is None:
        return RevenueCatDelivery(event, None)
    log.warning("webhook.revenuecat.text_cleaned id=%s", event.get("id"))
    cleaned: dict[str, Any] = storable(event)  # type: ignore[assignment]
    return RevenueCatDelivery(cleaned, raw_text)  # JSON text: a NUL in it is the escape \u0000


@router.post("/revenuecat")
async def revenuecat_webhook(delivery: Annotated[RevenueCatDelivery, Depends(authorized_revenuecat_event)],
                             pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    return await record_and_apply(pool, provider="revenuecat", event_id=delivery.event["id"], event=delivery.event,
                                  apply=queries.APPLY_REVENUECAT_EVENT,
                                  apply_params={"environment": settings.revenuecat_environment},
                                  raw_body=delivery.raw_body)
