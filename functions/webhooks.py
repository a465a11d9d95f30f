"""Provider webhooks: verify, validate, record the event (kept even if applying
fails), apply it with one SQL function, answer.

200: applied, a duplicate, or deliberately ignored (the outcome says which).
400: bad signature or a body that is not an event (nothing recorded).
401: RevenueCat authorization mismatch. 413: body too large.
500: recorded but could not be applied: the provider retries, the retry applies it.
503: the database is unreachable or the endpoint is not configured: retried too.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import psycopg
import stripe
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.deps import PoolDep, SettingsDep, read_body_within
from openparty import queries
from openparty.db import Pool, fetch_one

log = logging.getLogger("openparty.webhooks")
router = APIRouter(prefix="/webhooks", tags=["webhooks"])


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


def verified_stripe_event(secrets_setting: str, *, connect: bool) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A dependency: the event, once its signature verifies with one of the secrets."""

    async def verify(request: Request, settings: SettingsDep) -> dict[str, Any]:
        secrets = settings.secret_list(getattr(settings, secrets_setting))
        if not secrets:
            raise not_configured(f"OPENPARTY_{secrets_setting.upper()} is not set")
        body = await read_body_within(request, settings.max_webhook_body_bytes)
        header = request.headers.get("stripe-signature")
        for secret in secrets:
            try:
                stripe.WebhookSignature.verify_header(body, header, secret, settings.stripe_webhook_tolerance_seconds)
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
        return payload

    return verify


async def record_and_apply(pool: Pool, *, provider: str, event_id: str, event: dict[str, Any],
                           apply: str, apply_params: dict[str, Any]) -> JSONResponse:
    """Record the event in its own transaction, then apply it in another (not
    one pipeline: that would be one transaction, and a failed apply would take
    the record with it). Applying an event already applied answers 'duplicate';
    a failure to apply leaves the record and notes the error."""
    try:
        async with pool.connection() as conn:
            try:
                await conn.execute(queries.RECORD_WEBHOOK_EVENT, {"provider": provider, "event": json.dumps(event)})
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


async def apply_stripe_event(pool: Pool, event: dict[str, Any]) -> JSONResponse:
    return await record_and_apply(pool, provider="stripe", event_id=event["id"], event=event,
                                  apply=queries.APPLY_STRIPE_EVENT, apply_params={})


PlatformEvent = Annotated[dict[str, Any], Depends(verified_stripe_event("stripe_webhook_secrets", connect=False))]
ConnectEvent = Annotated[dict[str, Any], Depends(verified_stripe_event("stripe_connect_webhook_secrets", connect=True))]


@router.post("/stripe")
async def stripe_webhook(event: PlatformEvent, pool: PoolDep) -> JSONResponse:
    return await apply_stripe_event(pool, event)


@router.post("/stripe-connect")
async def stripe_connect_webhook(event: ConnectEvent, pool: PoolDep) -> JSONResponse:
    return await apply_stripe_event(pool, event)


async def authorized_revenuecat_body(request: Request, settings: SettingsDep) -> RevenueCatBody:
    if settings.revenuecat_webhook_authorization is None:
        raise not_configured("OPENPARTY_REVENUECAT_WEBHOOK_AUTHORIZATION is not set")
    expected = settings.revenuecat_webhook_authorization.get_secret_value().encode()
    given = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(given, expected):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail={"error": "unauthorized"})
    body = await read_body_within(request, settings.max_webhook_body_bytes)
    try:
        return RevenueCatBody.model_validate_json(body)
    except ValidationError as exc:
        raise bad_request("invalid_event", f"not a RevenueCat event: {exc}") from exc


@router.post("/revenuecat")
async def revenuecat_webhook(body: Annotated[RevenueCatBody, Depends(authorized_revenuecat_body)],
                             pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    event = body.event.model_dump(mode="json")
    return await record_and_apply(pool, provider="revenuecat", event_id=body.event.id, event=event,
                                  apply=queries.APPLY_REVENUECAT_EVENT,
                                  apply_params={"environment": settings.revenuecat_environment})
