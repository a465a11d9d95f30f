"""The workers' own health endpoint (OPENPARTY_WORKER_HEALTH_PORT), for an
orchestrator's probes: GET /healthz is 200 while the process lives; GET /readyz
is 200 {"status": "ready"}, or 503 {"status": "unavailable", "reason": ...}
while push dispatch is paused (Expo refuses the access token). It listens on
OPENPARTY_WORKER_HEALTH_HOST (loopback by default), so the reason, which names
the configuration fault, stays inside the deployment."""

from __future__ import annotations

import asyncio
import json
import logging

from workers.context import PushHealth

log = logging.getLogger("openparty.workers")


def answer(path: str, health: PushHealth) -> tuple[int, dict[str, str]]:
    if path == "/healthz":
        return 200, {"status": "ok"}
    if path == "/readyz":
        if health.ready:
            return 200, {"status": "ready"}
        return 503, {"status": "unavailable", "reason": f"push paused: {health.paused_reason}"}
    return 404, {"status": "not found"}


async def serve_health(health: PushHealth, host: str, port: int) -> asyncio.Server:
    """A minimal HTTP/1.0 responder: one GET per connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await asyncio.wait_for(reader.readline(), timeout=5)).decode("latin-1").split()
            path = request_line[1] if len(request_line) >= 2 and request_line[0] == "GET" else ""
            status, body = answer(path, health)
            payload = json.dumps(body).encode()
            reason = {200: "OK", 503: "Service Unavailable"}.get(status, "Not Found")
            writer.write(f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    log.info("worker.health listening on %s:%s", host, port)
    return server
