"""Expo's push API over httpx, and the logging stand-in used when no access
token is configured. Facts: up to 100 messages per send request, up to 1000
ids per receipts request; request-level 429/5xx and network errors are
transient; a ticket's DeviceNotRegistered means stop using that token."""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

log = logging.getLogger("openparty.push")
MAX_MESSAGES_PER_REQUEST = 100
MAX_RECEIPT_IDS_PER_REQUEST = 1000
GZIP_ABOVE_BYTES = 1024
RETRYABLE_TICKET_ERRORS = {"MessageRateExceeded"}


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
            error = (ticket.get("details") or {}).get("error") or ticket.get("message") or "unknown error"
            if error == "DeviceNotRegistered":
                log.info("push.token_disabled delivery=%s", delivery.delivery_id)
                results.append(outcome(delivery, "failed", error=error, disable_token=True))
            elif error in RETRYABLE_TICKET_ERRORS:
                results.append(outcome(delivery, "retry", error=error))
            else:
                results.append(outcome(delivery, "failed", error=error))
        for delivery in deliveries[len(tickets):]:  # fewer tickets than messages: try those again
            results.append(outcome(delivery, "retry", error="no ticket returned"))
        return results

    async def receipts(self, ticket_ids: list[str]) -> dict[str, dict[str, Any]]:
        assert len(ticket_ids) <= MAX_RECEIPT_IDS_PER_REQUEST
        response = await self._post(self.receipts_url, {"ids": ticket_ids})
        response.raise_for_status()
        receipts: dict[str, dict[str, Any]] = response.json().get("data", {})
        return receipts
