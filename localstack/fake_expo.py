"""A local HTTP server on loopback that speaks Expo's push API: /push/send
(tickets, per-token errors, forced request-level statuses such as 429) and
/push/getReceipts. It records every request for assertions."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                compressed = self.headers.get("Content-Encoding") == "gzip"
                payload = json.loads(gzip.decompress(raw) if compressed else raw)
                if self.path.endswith("/push/send"):
                    status, body = fake._send(dict(self.headers), payload, compressed)
                elif self.path.endswith("/push/getReceipts"):
                    status, body = fake._receipts(payload["ids"])
                else:
                    status, body = 404, {"errors": [{"code": "NOT_FOUND"}]}
                encoded = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
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
              compressed: bool) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.send_requests.append({"headers": headers, "messages": messages, "gzip": compressed})
            if self.forced_statuses:
                status = self.forced_statuses.pop(0)
                return status, {"errors": [{"code": "TOO_MANY_REQUESTS" if status == 429 else "INTERNAL_SERVER_ERROR",
                                            "message": "forced by the test"}]}
            tickets = []
            for message in messages:
                token = message["to"]
                if token in self.not_registered:
                    tickets.append({"status": "error", "message": f"{token} is not a registered push notification recipient",
                                    "details": {"error": "DeviceNotRegistered"}})
                elif token in self.rate_exceeded_once:
                    self.rate_exceeded_once.discard(token)
                    tickets.append({"status": "error", "message": "too many", "details": {"error": "MessageRateExceeded"}})
                else:
                    ticket_id = str(uuid.uuid4())
                    self.tickets[ticket_id] = token
                    tickets.append({"status": "ok", "id": ticket_id})
            return 200, {"data": tickets}

    def _receipts(self, ids: list[str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.receipt_requests.append(ids)
            return 200, {"data": {i: self.receipts.get(i, {"status": "ok"}) for i in ids if i in self.tickets}}

    def delivered(self) -> list[str]:
        """Tokens that got a message (an ok ticket), in order, repeats included."""
        return list(self.tickets.values())
