"""A local HTTP server on loopback that speaks Expo's push API: /push/send
(tickets, per-token errors, forced request-level answers such as 429) and
/push/getReceipts. It records every request for assertions.

Shapes follow Expo's published material (docs.expo.dev push-notifications/
sending-notifications: ticket and receipt formats, errors; the
expo-server-sdk-node tests; expo/expo#6771 for PUSH_TOO_MANY_EXPERIENCE_IDS'
details): tests/corpus/expo/responses.json lists each with its source."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# expo-server-sdk-node's test "throws an error if the bearer token is invalid"
INVALID_TOKEN = (401, {"error": "invalid_token", "error_description": "The bearer token is invalid"})


class FakeExpo:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.send_requests: list[dict[str, Any]] = []  # {"headers": ..., "messages": [...], "gzip": bool}
        self.receipt_requests: list[list[str]] = []
        self.forced_statuses: list[int] = []  # answer the next send requests with these statuses
        self.not_registered: set[str] = set()  # tokens whose tickets say DeviceNotRegistered
        self.rate_exceeded_once: set[str] = set()  # tokens whose next ticket says MessageRateExceeded
        self.receipts: dict[str, dict[str, Any]] = {}  # ticket id -> receipt (default {"status": "ok"})
        self.tickets: dict[str, str] = {}  # ticket id -> token
        # The next send requests get these answers: (status, JSON body, or a str sent as text/html).
        self.forced: list[tuple[int, Any]] = []
        # Each token's Expo project; tokens not listed belong to default_project. A
        # request mixing projects gets Expo's 400 PUSH_TOO_MANY_EXPERIENCE_IDS.
        self.projects: dict[str, str] = {}
        self.default_project = "@openparty/openparty"
        # Set: a request without "Bearer <access_token>" gets 401 (node SDK's invalid-token body).
        self.access_token: str | None = None
        # The next N send requests are accepted (tickets issued) and the connection
        # dropped without an answer, as when a connection breaks after Expo took a batch.
        self.drop_after_accept = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                compressed = self.headers.get("Content-Encoding") == "gzip"
                payload = json.loads(gzip.decompress(raw) if compressed else raw)
                body: Any
                if self.path.endswith("/push/send"):
                    status, body = fake._send(dict(self.headers), payload, compressed)
                    if status == 0:  # accepted, then the connection drops
                        self.close_connection = True
                        return
                elif not fake._authorized(dict(self.headers)):
                    status, body = INVALID_TOKEN
                elif self.path.endswith("/push/getReceipts"):
                    status, body = fake._receipts(payload["ids"])
                else:
                    status, body = 404, {"errors": [{"code": "NOT_FOUND"}]}
                is_text = isinstance(body, str)
                encoded = body.encode() if is_text else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if is_text else "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/--/api/v2"

    def __enter__(self) -> FakeExpo:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _send(self, headers: dict[str, str], messages: list[dict[str, Any]],
              compressed: bool) -> tuple[int, Any]:
        with self.lock:
            self.send_requests.append({"headers": headers, "messages": messages, "gzip": compressed})
            if not self._authorized(headers):
                return INVALID_TOKEN
            if self.forced:
                return self.forced.pop(0)
            if self.forced_statuses:
                status = self.forced_statuses.pop(0)
                return status, {"errors": [{"code": "TOO_MANY_REQUESTS" if status == 429 else "INTERNAL_SERVER_ERROR",
                                            "message": "forced by the test"}]}
            by_project: dict[str, list[str]] = {}
            for message in messages:
                by_project.setdefault(self.projects.get(message["to"], self.default_project), []).append(message["to"])
            if len(by_project) > 1:
                return 400, {"errors": [{
                    "code": "PUSH_TOO_MANY_EXPERIENCE_IDS",
                    "message": "All push notification messages in the same request must be for the same project; "
                               "check the details field to investigate conflicting tokens.",
                    "details": by_project, "isTransient": False}]}
            tickets = []
            for message in messages:
                token = message["to"]
                if token in self.not_registered:
                    tickets.append({"status": "error",
                                    "message": f'"{token}" is not a registered push notification recipient',
                                    "details": {"error": "DeviceNotRegistered", "expoPushToken": token}})
                elif token in self.rate_exceeded_once:
                    self.rate_exceeded_once.discard(token)
                    tickets.append({"status": "error", "message": "You are sending messages too frequently to the given device.",
                                    "details": {"error": "MessageRateExceeded"}})
                else:
                    ticket_id = str(uuid.uuid4())
                    self.tickets[ticket_id] = token
                    tickets.append({"status": "ok", "id": ticket_id})
            if self.drop_after_accept:
                self.drop_after_accept -= 1
                return 0, None
            return 200, {"data": tickets}

    def _authorized(self, headers: dict[str, str]) -> bool:
        return not self.access_token or headers.get("Authorization") == f"Bearer {self.access_token}"

    def _receipts(self, ids: list[str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.receipt_requests.append(ids)
            return 200, {"data": {i: self.receipts.get(i, {"status": "ok"}) for i in ids if i in self.tickets}}

    def delivered(self) -> list[str]:
        """Tokens that got a message (an ok ticket), in order, repeats included."""
        return list(self.tickets.values())
