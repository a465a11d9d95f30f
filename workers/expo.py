"""Expo's push API over httpx, and the logging stand-in used when no access
token is configured. Facts: up to 100 messages per send request, up to 1000
ids per receipts request; request-level 429/5xx, network errors and bodies
that are not JSON (a proxy's page) are transient. What each Expo answer
means (for tickets and receipts alike, and for whole requests) is decided
here, once; the SQL only records the flags it is handed.

The error policy, request by request:
- 200 with one ticket per message: each ticket judged (judge_error).
- 200 whose body is not JSON, or has no ticket list: transient (retry).
- 400 PUSH_TOO_MANY_EXPERIENCE_IDS: the request mixed Expo projects. Its
  `details` maps each project to its tokens: our project's messages are sent
  again at once on their own; the other projects' tokens are disabled
  (`foreign Expo project ...`) and their deliveries fail.
- 401 / 403, or an UNAUTHORIZED error: the access token is refused. Nothing
  in the request is spent: AccessTokenRefused is raised, the dispatcher gives
  the batch back (attempts refunded) and pauses until the token works again.
- 429 and 5xx: transient. Other 4xx: permanent for those messages.
- A connection lost before the request was written (connect errors, write
  errors): transient. Lost after it was written (read timeout, reset, no
  answer): Expo may have accepted it, so the delivery's guarantee decides:
  at-least-once kinds are sent again, at-most-once kinds become `unknown`
  and are never resent (the kinds are chosen in push.sql)."""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

log = logging.getLogger("openparty.push")
MAX_MESSAGES_PER_REQUEST = 100
MAX_RECEIPT_IDS_PER_REQUEST = 1000
GZIP_ABOVE_BYTES = 1024

# Per-message errors: retry these later; these mean the token is gone for good
# (stop using it); any other error fails that delivery, as it will not fix itself.
RETRY_ERRORS = frozenset({"MessageRateExceeded"})
TOKEN_GONE_ERRORS = frozenset({"DeviceNotRegistered"})
TOO_MANY_EXPERIENCE_IDS = "PUSH_TOO_MANY_EXPERIENCE_IDS"
UNAUTHORIZED_CODES = frozenset({"UNAUTHORIZED", "invalid_token"})
# Raised before anything was written: the request never reached Expo.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError, httpx.WriteTimeout)
RECEIPTS_KEPT_FOR = timedelta(hours=24)  # Expo keeps receipts this long; none by then: expired


def message_error(ticket_or_receipt: dict[str, Any]) -> str:
    """The error code of a ticket or receipt whose status is not ok."""
    details = ticket_or_receipt.get("details") or {}
    return str(details.get("error") or ticket_or_receipt.get("message") or "unknown error")


def judge_error(error: str) -> tuple[str, bool]:
    """(outcome, disable_token) for a per-message error: outcome is retry or failed."""
    return ("retry" if error in RETRY_ERRORS else "failed"), error in TOKEN_GONE_ERRORS


def receipt_record(ticket_id: str, receipt: dict[str, Any] | None, sent_at: datetime,
                   now: datetime) -> dict[str, Any] | None:
    """What to record for one ticket's receipt; None while it may still come."""
    if receipt is None:
        if now - sent_at <= RECEIPTS_KEPT_FOR:
            return None
        return {"ticket_id": ticket_id, "status": "expired", "error": None, "disable_token": False}
    if receipt.get("status") == "ok":
        return {"ticket_id": ticket_id, "status": "ok", "error": None, "disable_token": False}
    error = message_error(receipt)
    result, disable_token = judge_error(error)
    return {"ticket_id": ticket_id, "status": "error", "error": error, "disable_token": disable_token,
            "retry": result == "retry"}


class AccessTokenRefused(Exception):
    """Expo refused our access token (401/403 or UNAUTHORIZED): a configuration
    fault that no retry of the messages fixes."""


def request_errors(body: Any) -> list[dict[str, Any]]:
    """The request-level errors of an Expo answer ({"errors": [...]}), if any."""
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def decoded(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    token: str
    title: str
    body: str
    data: dict[str, Any]

    at_least_once: bool = False  # resend when unsure whether Expo got it (push.sql decides per kind)

    def message(self) -> dict[str, Any]:
        return {"to": self.token, "title": self.title, "body": self.body, "data": self.data,
                "sound": "default", "priority": "high"}


def outcome(delivery: Delivery, result: str, *, ticket_id: str | None = None, error: str | None = None,
            disable_token: bool = False) -> dict[str, Any]:
    return {"delivery_id": delivery.delivery_id, "outcome": result, "ticket_id": ticket_id, "error": error,
            "disable_token": disable_token}


class PushSender(Protocol):
    async def send(self, deliveries: list[Delivery]) -> list[dict[str, Any]]: ...
    async def receipts(self, ticket_ids: list[str]) -> dict[str, dict[str, Any]]: ...


class LoggingSender:
    """No Expo access token: record what would have been sent, send nothing."""

    async def send(self, deliveries: list[Delivery]) -> list[dict[str, Any]]:
        for delivery in deliveries:
            log.info("push.logged delivery=%s to=%s title=%r", delivery.delivery_id, delivery.token, delivery.title)
        return [outcome(d, "logged") for d in deliveries]

    async def receipts(self, ticket_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {}


class ExpoSender:
    def __init__(self, http: httpx.AsyncClient, push_url: str, receipts_url: str, access_token: str | None,
                 project: str | None = None) -> None:
        self.http, self.push_url, self.receipts_url, self.project = http, push_url, receipts_url, project
        self.headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "Content-Type": "application/json"}
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"

    async def _post(self, url: str, payload: Any) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = dict(self.headers)
        if len(body) > GZIP_ABOVE_BYTES:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        response = await self.http.post(url, content=body, headers=headers, timeout=30)
        body_json = decoded(response)
        codes = {str(e.get("code")) for e in request_errors(body_json)}
        if isinstance(body_json, dict) and body_json.get("error"):
            codes.add(str(body_json["error"]))
        if response.status_code in (401, 403) or codes & UNAUTHORIZED_CODES:
            raise AccessTokenRefused(f"HTTP {response.status_code}: {response.text[:200]}")
        return response

    async def send(self, deliveries: list[Delivery], *, split: bool = True) -> list[dict[str, Any]]:
        assert len(deliveries) <= MAX_MESSAGES_PER_REQUEST
        try:
            response = await self._post(self.push_url, [d.message() for d in deliveries])
        except NOT_SENT_ERRORS as exc:
            log.warning("push.send_network_error error=%s sent=no", exc)
            return [outcome(d, "retry", error=f"network: {type(exc).__name__}") for d in deliveries]
        except httpx.HTTPError as exc:
            # Written, never answered: Expo may have accepted it.
            log.warning("push.send_network_error error=%s sent=maybe", exc)
            return [outcome(d, "retry", error=f"network: {type(exc).__name__} (resent: at least once)")
                    if d.at_least_once else
                    outcome(d, "unknown", error=f"network: {type(exc).__name__} after sending: "
                                               "maybe delivered, not resent (at most once)")
                    for d in deliveries]
        body = decoded(response)
        errors = request_errors(body)
        if split and any(e.get("code") == TOO_MANY_EXPERIENCE_IDS for e in errors):
            return await self._send_per_project(deliveries, errors)
        if response.status_code == 429 or response.status_code >= 500:
            log.warning("push.send_transient status=%s", response.status_code)
            return [outcome(d, "retry", error=f"HTTP {response.status_code}") for d in deliveries]
        if response.status_code != 200:
            error = f"HTTP {response.status_code}: {response.text[:200]}"
            log.error("push.send_refused %s", error)
            return [outcome(d, "failed", error=error) for d in deliveries]
        tickets = body.get("data") if isinstance(body, dict) else None
        if not isinstance(tickets, list):
            # Not JSON (a proxy's page), or request errors in a 200: nothing says Expo took them.
            transient = not errors or any(e.get("isTransient") for e in errors)
            error = "HTTP 200 without tickets: " + (", ".join(str(e.get("code")) for e in errors) or "body is not JSON")
            log.warning("push.send_no_tickets %s", error)
            return [outcome(d, "retry" if transient else "failed", error=error) for d in deliveries]
        results = []
        for delivery, ticket in zip(deliveries, tickets, strict=False):
            if not isinstance(ticket, dict):
                results.append(outcome(delivery, "retry", error="malformed ticket"))
                continue
            if ticket.get("status") == "ok":
                results.append(outcome(delivery, "sent", ticket_id=ticket.get("id")))
                continue
            error = message_error(ticket)
            result, disable_token = judge_error(error)
            if disable_token:
                log.info("push.token_disabled delivery=%s error=%s", delivery.delivery_id, error)
            results.append(outcome(delivery, result, error=error, disable_token=disable_token))
        for delivery in deliveries[len(tickets):]:  # fewer tickets than messages: try those again
            results.append(outcome(delivery, "retry", error="no ticket returned"))
        return results

    async def _send_per_project(self, deliveries: list[Delivery], errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """PUSH_TOO_MANY_EXPERIENCE_IDS: details maps each project to its tokens.
        Ours (OPENPARTY_EXPO_PROJECT, or else the project holding most of the
        request's tokens) are sent again on their own; the others' tokens are retired."""
        details = next((e.get("details") for e in errors if e.get("code") == TOO_MANY_EXPERIENCE_IDS), None)
        project_of = {str(token): str(project) for project, tokens in (details or {}).items()
                      if isinstance(tokens, list) for token in tokens} if isinstance(details, dict) else {}
        counts = Counter(project_of.values())
        ours = self.project or (max(sorted(counts), key=lambda p: counts[p]) if counts else None)
        if not self.project:
            log.warning("push.project_guessed project=%s (set OPENPARTY_EXPO_PROJECT)", ours)
        mine = [d for d in deliveries if project_of.get(d.token, ours) == ours]
        foreign = [d for d in deliveries if project_of.get(d.token, ours) != ours]
        results = [outcome(d, "failed", error=f"foreign Expo project {project_of[d.token]}", disable_token=True)
                   for d in foreign]
        for delivery in foreign:
            log.warning("push.token_disabled delivery=%s error=foreign Expo project %s", delivery.delivery_id,
                        project_of[delivery.token])
        if mine:
            results += await self.send(mine, split=False)
        return results

    async def receipts(self, ticket_ids: list[str]) -> dict[str, dict[str, Any]]:
        assert len(ticket_ids) <= MAX_RECEIPT_IDS_PER_REQUEST
        response = await self._post(self.receipts_url, {"ids": ticket_ids})
        response.raise_for_status()
        body = decoded(response)
        receipts = body.get("data") if isinstance(body, dict) else None
        if not isinstance(receipts, dict):
            raise ValueError(f"Expo answered receipts without a map: {response.text[:200]}")
        return receipts
