"""`scripts/dev`: the whole local stack in one foreground process.

Embedded Postgres on port 54322 (started, or reused if already running),
migrated with the stand-ins, seeded with demo data; the functions API on
uvicorn; the workers; a loopback Stripe stand-in; local secrets, so user tokens
and webhook signatures verify; a heartbeat that keeps the demo rooms live.
Ctrl-C (or SIGTERM) stops all of it, Postgres included.

One stack per checkout: a second `scripts/dev` exits with one line and touches
nothing of the running one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import SecretStr

from localstack.database import DATABASE, LocalDatabase, enable_service_logins
from localstack.devstate import DEMO_USERS, LOCAL_ROOT, DevSecrets, DevState, issuer_of, user_token
from localstack.fake_stripe import FakeStripe
from localstack.postgres import LocalPostgres, binary
from openparty.logs import configure_logging
from openparty.migrate import SUPABASE_DIR, migrate
from openparty.plans import PaidPlan
from openparty.settings import Settings, get_settings

log = logging.getLogger("openparty.devstack")
HOST = "127.0.0.1"
# The demo DJ and listeners ping as the app would (the app pings every ~30 s).
HEARTBEAT_SECONDS = 30.0
LOCAL_PRICES = {"premium": "price_local_premium_monthly", "dj_pro": "price_local_dj_pro_monthly"}

# As the app does: each demo user (seed.sql's and scripts/demo's, @...openparty.test) pings the live
# sessions they host or listen to (rejoining first if the idle cleanup closed their participation).
HEARTBEAT_SQL = """
do $heartbeat$
declare
  v_row record;
begin
  for v_row in
    select s.id as session_id, s.dj_id as user_id, true as is_dj from public.sessions s
    join auth.users u on u.id = s.dj_id
    where s.status = 'live' and u.email like '%@openparty.test'
    union all
    select distinct p.session_id, p.user_id, false from public.session_participants p
    join public.sessions s on s.id = p.session_id
    join auth.users u on u.id = p.user_id
    where s.status = 'live' and u.email like '%@openparty.test'
  loop
    perform set_config('request.jwt.claims', json_build_object('sub', v_row.user_id, 'role', 'authenticated')::text, true);
    begin
      if not v_row.is_dj then
        perform public.join_session(v_row.session_id);  -- back in, if the idle cleanup closed the participation
      end if;
      perform public.session_heartbeat(v_row.session_id);
    exception when others then  -- one refused row (a ban, say) does not stop the others
      raise warning 'demo heartbeat of % in %: %', v_row.user_id, v_row.session_id, sqlerrm;
    end;
  end loop;
  perform set_config('request.jwt.claims', '', true);
end
$heartbeat$;
"""


class AlreadyRunning(Exception):
    pass


@contextlib.contextmanager
def single_instance(lock_path: Path) -> Iterator[IO[str]]:
    """Hold `lock_path` for as long as this stack runs (released by the kernel if
    the process dies); a second holder gets AlreadyRunning at once."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")  # noqa: SIM115 (held for the whole run)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise AlreadyRunning(handle.read().strip() or "?") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield handle
    finally:
        handle.close()


def bind(port: int, what: str, setting: str) -> socket.socket:
    """Take the port now (so nothing is started when it is busy); 0 = any free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise SystemExit(f"scripts/dev: port {port} ({what}) is in use by another program: "
                         f"stop it or set {setting} to another port.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def seed(admin_url: str) -> None:
    """supabase/seed.sql: idempotent demo data (also what `supabase db reset` loads)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute((SUPABASE_DIR / "seed.sql").read_text())


def start_database(local_root: Path, pg_port: int) -> LocalDatabase:
    server = LocalPostgres(local_root / "postgres", port=pg_port or None)
    if server.running_port() is None and pg_port and not port_is_free(pg_port):
        raise SystemExit(f"scripts/dev: Postgres port {pg_port} is in use by another program (a `supabase start` "
                         "database?): stop it or set OPENPARTY_LOCAL_PG_PORT to another port (0 = any free one).")
    server.start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (DATABASE,)).fetchone() is None:
            conn.execute(f"create database {DATABASE}")
    return LocalDatabase(server, server.url(DATABASE))


def prepare(local: LocalDatabase) -> None:
    report = migrate(local.admin_url, stand_ins=True)
    enable_service_logins(local.admin_url)
    seed(local.admin_url)
    log.info("devstack.migrated new=%s", report.applied)


def dev_settings(local: LocalDatabase, secrets: DevSecrets, stripe_url: str, base: Settings, api_url: str) -> Settings:
    """The environment's settings, with the local database, secrets and Stripe stand-in;
    the API plays the project's Auth (its JWKS at api_url/auth/v1/.well-known/jwks.json)."""
    return base.model_copy(update={
        "database_url": local.admin_url,
        "edge_database_url": local.url_for("openparty_edge"),
        "worker_database_url": local.url_for("openparty_worker"),
        "supabase_url": api_url,
        "supabase_jwt_secret": SecretStr(secrets.jwt_secret),
        "stripe_secret_key": SecretStr(secrets.stripe_secret_key),
        "stripe_webhook_secrets": SecretStr(secrets.stripe_webhook_secret),
        "stripe_connect_webhook_secrets": SecretStr(secrets.stripe_connect_webhook_secret),
        "revenuecat_webhook_authorization": SecretStr(secrets.revenuecat_authorization),
        "stripe_prices": {PaidPlan(plan): price for plan, price in LOCAL_PRICES.items()},
        "stripe_api_base": stripe_url,
    })


def dev_routes(admin_url: str, secrets: DevSecrets, issuer: str) -> APIRouter:
    """Dev-only routes, added by the local stack and never by functions/: the
    project's JWKS, as Supabase Auth serves it, and tokens for any user."""
    router = APIRouter(tags=["local stack only"])

    @router.get("/auth/v1/.well-known/jwks.json", summary="The local signing key (what Supabase Auth publishes)")
    def jwks() -> dict[str, Any]:
        return secrets.jwks()

    def lookup(user: str) -> tuple[str, str | None]:
        with psycopg.connect(admin_url) as conn:
            row = conn.execute("select u.id::text, u.email from auth.users u left join public.profiles p on p.id = u.id "
                               "where p.username = lower(%(user)s) or u.id::text = %(user)s", {"user": user}).fetchone()
        if row is None:
            raise HTTPException(404, detail={"error": "no_such_user", "message": user})
        return row[0], row[1]

    @router.get("/dev/tokens", summary="Access tokens for the demo users (local stack only)")
    def demo_tokens() -> dict[str, str]:
        tokens = {}
        for name in DEMO_USERS:
            user_id, email = lookup(name)
            tokens[name] = user_token(secrets, issuer, user_id, email=email)
        return tokens

    @router.get("/dev/tokens/{user}", summary="An access token for any user, by username or id (local stack only)")
    def token_for(user: str) -> dict[str, str]:
        user_id, email = lookup(user)
        return {"user_id": user_id, "access_token": user_token(secrets, issuer, user_id, email=email)}

    return router


async def keep_demo_alive(admin_url: str, stop: asyncio.Event, seconds: float = HEARTBEAT_SECONDS) -> None:
    """Dev only: the demo DJ and listeners ping as the app would, and the demo
    room is seeded again if it ended anyway (so it stays live while the stack runs)."""
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
                await conn.execute((SUPABASE_DIR / "seed.sql").read_text())
                await conn.execute(HEARTBEAT_SQL)
        except psycopg.Error as exc:
            log.warning("devstack.heartbeat_failed error=%s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


@dataclass
class Stack:
    """A running dev stack: API, Stripe stand-in, workers, demo heartbeat."""

    local: LocalDatabase
    settings: Settings
    secrets: DevSecrets
    api_socket: socket.socket
    stripe_socket: socket.socket
    state_path: Path
    with_workers: bool = True
    heartbeat_seconds: float = HEARTBEAT_SECONDS

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_socket.getsockname()[1]}"

    async def run(self, on_ready: Callable[[], None] | None = None, stop: asyncio.Event | None = None) -> None:
        """Serve until Ctrl-C / SIGTERM (foreground: no on_ready) or until `stop` is set."""
        from functions.app import create_app

        stop = stop or asyncio.Event()
        app: FastAPI = create_app(self.settings)
        app.include_router(dev_routes(self.local.admin_url, self.secrets, issuer_of(self.api_url)))
        stripe_url = self.settings.stripe_api_base or ""
        fake = FakeStripe(self.secrets.stripe_secret_key, stripe_url)
        quiet: dict[str, Any] = {"log_config": None, "lifespan": "on"}
        api = uvicorn.Server(uvicorn.Config(app, log_level="info", **quiet))
        # (log_level None: uvicorn's loggers are shared, and the API's level stays)
        stripe = uvicorn.Server(uvicorn.Config(fake.app(), log_level=None, **quiet))
        if on_ready is None:  # the foreground stack: Ctrl-C and SIGTERM stop it, in order
            for signum in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        # _serve: uvicorn's serve() without its own signal handling (ours stops everything in order).
        tasks = [asyncio.create_task(stripe._serve(sockets=[self.stripe_socket]), name="stripe"),
                 asyncio.create_task(api._serve(sockets=[self.api_socket]), name="api")]
        if self.with_workers:
            from workers.runner import run_forever

            tasks.append(asyncio.create_task(run_forever(self.settings, stop_when=lambda: api.should_exit),
                                             name="workers"))
        tasks.append(asyncio.create_task(keep_demo_alive(self.local.admin_url, stop, self.heartbeat_seconds),
                                         name="heartbeat"))
        while not (api.started and stripe.started):
            await asyncio.sleep(0.05)
            if any(task.done() for task in tasks):
                break
        DevState(pid=os.getpid(), api_url=self.api_url, stripe_api_url=stripe_url,
                 database_url=self.local.admin_url, authenticator_url=self.local.url_for("authenticator"),
                 secrets=self.secrets).save(self.state_path)
        if on_ready is not None:
            on_ready()
        try:
            while not (api.should_exit or stop.is_set()) and not any(task.done() for task in tasks):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.2)
        finally:
            stop.set()
            api.should_exit = stripe.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            self.state_path.unlink(missing_ok=True)

    def banner(self) -> str:
        url = self.local.admin_url
        tokens = "\n".join(f"    {name:<8} {user_token(self.secrets, issuer_of(self.api_url), uid, hours=24 * 7)}"
                           for name, uid in DEMO_USERS.items())
        return (
            "\nOpenParty local stack\n"
            f"  Postgres   {url}   (data: {self.local.server.data_dir})\n"
            f"  psql       {binary('psql')} {url}\n"
            "  as a user  scripts/psql-as kai        (set role authenticated + request.jwt.claims, as PostgREST)\n"
            f"  API        {self.api_url}   (/healthz, /readyz, /docs, /redoc; /dev/tokens)\n"
            f"  Stripe     {self.settings.stripe_api_base}   (local stand-in; scripts/send-event payment_intent.succeeded)\n"
            f"  Workers    {'running (push in logging mode)' if self.with_workers else 'off'}\n"
            f"  Demo       DJ Nova is live (kept live: heartbeat every {self.heartbeat_seconds:.0f} s)\n"
            "  Try        scripts/demo   (a whole live session, as each party sees it)\n"
            "  Tokens (7 days; Authorization: Bearer <token>; more at /dev/tokens/<username>):\n"
            f"{tokens}\n"
            "  Ctrl-C stops everything.\n"
        )


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=settings.api_port, help="the API's port (OPENPARTY_API_PORT)")
    parser.add_argument("--no-workers", action="store_true")
    parser.add_argument("--stop", action="store_true", help="stop an embedded Postgres left running by a killed stack")
    parser.add_argument("--local-dir", type=Path, default=LOCAL_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configure_logging(settings)
    local_root: Path = args.local_dir

    try:
        with single_instance(local_root / "dev.lock"):
            if args.stop:
                LocalPostgres(local_root / "postgres").stop()
                print("embedded Postgres stopped")
                return 0
            api_socket = bind(args.port, "the API", "OPENPARTY_API_PORT or --port")
            stripe_socket = bind(settings.local_stripe_port, "the Stripe stand-in", "OPENPARTY_LOCAL_STRIPE_PORT")
            local = start_database(local_root, settings.local_pg_port)
            try:
                prepare(local)
                secrets = DevSecrets.load_or_create(local_root)
                stripe_url = f"http://{HOST}:{stripe_socket.getsockname()[1]}"
                api_url = f"http://{HOST}:{api_socket.getsockname()[1]}"
                stack = Stack(local, dev_settings(local, secrets, stripe_url, settings, api_url), secrets, api_socket,
                              stripe_socket, local_root / "dev.json", with_workers=not args.no_workers)
                print(stack.banner(), flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    asyncio.run(stack.run())
            finally:
                local.server.stop()
                print("stopped: API, workers, Stripe stand-in and embedded Postgres", flush=True)
    except AlreadyRunning as running:
        print(f"scripts/dev is already running in this checkout (pid {running}); it is left untouched. "
              "Use it, or stop it with Ctrl-C in its terminal.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
