"""Expo's push API over httpx, and the logging stand-in used when no access
token is configured. Facts: up to 100 messages per send request, up to 1000
ids per receipts request; request-level 429/5xx and network errors are
transient. What each per-message error means (for tickets and receipts alike)
is decided here, once; the SQL only records the flags it is handed."""

from __future__ import annotations

import gzip
import json
import logging
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
    return {"ticket_id": ticket_id, "status": "error", "error": error, "disable_token": judge_error(error)[1]}


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    token: str
    title: str
    body: str
    data: dict[str, Any]

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
    def __init__(self, http: httpx.AsyncClient, push_url: str, receipts_url: str, access_token: str | None) -> None:
        self.http, self.push_url, self.receipts_url = http, push_url, receipts_url
        self.headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "Content-Type": "application/json"}
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"

    async def _post(self, url: str, payload: Any) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = dict(self.headers)
        if len(body) > GZIP_ABOVE_BYTES:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return await self.http.post(url, content=body, headers=headers, timeout=30)

    async def send(self, deliveries: list[Delivery]) -> list[dict[str, Any]]:
        assert len(deliveries) <= MAX_MESSAGES_PER_REQUEST
        try:
            response = await self._post(self.push_url, [d.message() for d in deliveries])
        except httpx.HTTPError as exc:
            log.warning("push.send_network_error error=%s", exc)
            return [outcome(d, "retry", error=f"network: {type(exc).__name__}") for d in deliveries]
        if response.status_code == 429 or response.status_code >= 500:
            log.warning("push.send_transient status=%s", response.status_code)
            return [outcome(d, "retry", error=f"HTTP {response.status_code}") for d in deliveries]
        if response.status_code != 200:
            error = f"HTTP {response.status_code}: {response.text[:200]}"
            log.error("push.send_refused %s", error)
            return [outcome(d, "failed", error=error) for d in deliveries]
        tickets = response.json().get("data", [])
        results = []
        for delivery, ticket in zip(deliveries, tickets, strict=False):
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

    async def receipts(self, ticket_ids: list[str]) -> dict[str, dict[str, Any]]:
        assert len(ticket_ids) <= MAX_RECEIPT_IDS_PER_REQUEST
        response = await self._post(self.receipts_url, {"ids": ticket_ids})
        response.raise_for_status()
        receipts: dict[str, dict[str, Any]] = response.json().get("data", {})
        return receipts
