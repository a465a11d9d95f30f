"""`scripts/demo`: play a whole live session against the running dev stack and
print what each party sees.

New demo users (a DJ and two listeners, fresh each run) act exactly as the
app would: table writes and RPCs as PostgREST runs them (the `authenticator`
login, `role` authenticated, `request.jwt.claims`), the money calls over HTTP
with their access tokens, Stripe's side through the local stand-in and signed
webhooks. What each party receives on Realtime is read the way Realtime
authorizes it (their role and claims, `realtime.topic` set, the receive policy
of realtime.messages, checked once when the channel is joined, as Realtime
does); their pushes are what the workers recorded in logging mode.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx
import psycopg
from psycopg.rows import dict_row

from localstack.devstate import DevState, issuer_of, user_token
from localstack.send_event import deliver_stripe, payment_intent_event, stripe_event

TOPIC_WIDTH = 10


@dataclass
class Party:
    """One app user: PostgREST-style SQL, HTTP with a token, Realtime and push inboxes."""

    name: str
    user_id: uuid.UUID
    state: DevState
    conn: psycopg.Connection[dict[str, Any]]
    topics: dict[str, Any] = field(default_factory=dict)  # joined channel -> when it was joined
    seen: set[Any] = field(default_factory=set)

    @property
    def claims(self) -> dict[str, Any]:
        return {"sub": str(self.user_id), "role": "authenticated", "aud": "authenticated", "is_anonymous": False}

    def sql(self, query: str, params: dict[str, Any] | None = None, topic: str | None = None) -> list[dict[str, Any]]:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute("set local role authenticated")
            cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(self.claims),))
            if topic:
                cur.execute("select set_config('realtime.topic', %s, true)", (topic,))
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def rpc(self, function: str, **args: Any) -> Any:
        named = ", ".join(f"{name} => %({name})s" for name in args)
        return self.sql(f"select public.{function}({named}) as result", args)[0]["result"]

    def rpc_row(self, function: str, **args: Any) -> dict[str, Any]:
        """A function returning a row (PostgREST answers it as one JSON object)."""
        named = ", ".join(f"{name} => %({name})s" for name in args)
        rows = self.sql(f"select * from public.{function}({named})", args)
        return rows[0] if rows else {}

    def http(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        token = user_token(self.state.secrets, issuer_of(self.state.api_url), self.user_id)
        return httpx.post(self.state.api_url + path, json=body, timeout=15, headers={"Authorization": f"Bearer {token}"})


def describe(event: str, payload: dict[str, Any], names: dict[str, str]) -> str:
    def who(key: str) -> str:
        return names.get(str(payload.get(key)), str(payload.get(key, "?"))[:8])

    if event == "message_created":
        return f"{payload.get('sender_username') or who('sender_id')} ({payload.get('kind')}): {payload.get('body')}"
    if event in ("listener_joined", "listener_left"):
        return who("user_id")
    if event == "listener_count":
        return f"{payload.get('listener_count')} listening (peak {payload.get('peak_listener_count')})"
    if event in ("queue_item_added", "now_playing"):
        return f"{payload.get('title')} by {payload.get('artist')}" + (" [fallback]" if payload.get("from_fallback") else "")
    if event == "queue_item_votes":
        return f"song {payload.get('id')}: +{payload.get('up_votes')} -{payload.get('down_votes')}"
    if event == "queue_item_status":
        return f"song {payload.get('id')} {payload.get('status')}"
    if event == "skip_votes":
        return f"{payload.get('votes')}/{payload.get('threshold')} to skip"
    if event in ("session_live", "session_ended"):
        return f"{payload.get('status')}" + (f" ({payload['end_reason']})" if payload.get("end_reason") else "")
    if event == "new_follower":
        return str(payload.get("username"))
    if event == "tip_received":
        return f"{payload.get('amount')} {payload.get('currency')} from {who('tipper_id')}"
    compact = {k: v for k, v in payload.items() if not isinstance(v, dict | list)}
    return json.dumps(compact)[:100]


class Demo:
    def __init__(self, state: DevState, out: TextIO, push_wait_seconds: float = 10) -> None:
        self.state, self.out, self.push_wait = state, out, push_wait_seconds
        self.admin = psycopg.connect(state.database_url, autocommit=True, row_factory=dict_row)
        self.parties: list[Party] = []
        self.names: dict[str, str] = {}
        self.pushes_seen: set[int] = set()
        self.started = time.monotonic()
        self.refusals = 0
        self.suffix = secrets.token_hex(2)

    def say(self, line: str = "") -> None:
        print(line, file=self.out, flush=True)

    def step(self, title: str) -> None:
        self.say(f"\n== {title} " + "=" * max(3, 66 - len(title)))

    def act(self, party: Party, what: str, result: str = "") -> None:
        self.say(f"  {party.name:<14} -> {what}" + (f"   => {result}" if result else ""))

    def user(self, name: str, *, dj: bool = False) -> Party:
        """A new user, inserted as Supabase Auth does (the sign-up trigger makes the profile)."""
        user_id = uuid.uuid4()
        username = f"{name}_{self.suffix}"
        with self.admin.transaction():
            self.admin.execute("set local role supabase_auth_admin")
            self.admin.execute(
                "insert into auth.users (id, aud, role, email, raw_user_meta_data, raw_app_meta_data, "
                "email_confirmed_at, created_at, updated_at) values (%s, 'authenticated', 'authenticated', %s, %s, "
                "'{\"provider\": \"email\"}', now(), now(), now())",
                (user_id, f"{username}@demo.openparty.test", json.dumps({"username": username})))
        conn = psycopg.connect(self.state.authenticator_url, autocommit=True, row_factory=dict_row,
                               application_name=f"demo {username}")
        party = Party(username, user_id, self.state, conn)
        self.subscribe(party, f"user:{user_id}")
        if dj:
            party.sql("update public.profiles set is_dj = true where id = %(id)s", {"id": user_id})
        self.parties.append(party)
        self.names[str(user_id)] = username
        return party

    def subscribe(self, party: Party, topic: str) -> None:
        """Join a private channel as Realtime authorizes it: once, at join, by the
        receive policy on realtime.messages (a probe row read as the user, rolled back)."""
        with self.admin.transaction(force_rollback=True):
            self.admin.execute("insert into realtime.messages (topic, extension, event, payload, private) "
                               "values (%(t)s, 'broadcast', 'probe', '{}', true)", {"t": topic})
            self.admin.execute("set local role authenticated")
            self.admin.execute("select set_config('request.jwt.claims', %(c)s, true), "
                               "set_config('realtime.topic', %(t)s, true)", {"c": json.dumps(party.claims), "t": topic})
            allowed = self.admin.execute("select exists (select 1 from realtime.messages m where m.topic = %(t)s "
                                         "and m.event = 'probe') as ok", {"t": topic}).fetchone()
        if not (allowed and allowed["ok"]):
            raise AssertionError(f"{party.name} may not join {topic}")
        party.topics[topic] = self.admin.execute("select clock_timestamp() as at").fetchone()["at"]  # type: ignore[index]

    def realtime(self, party: Party) -> list[tuple[str, str, dict[str, Any]]]:
        """New broadcasts on the channels this party joined."""
        new = []
        for topic, since in party.topics.items():
            for row in self.admin.execute("select id, event, payload from realtime.messages m where m.topic = %(t)s "
                                          "and m.extension = 'broadcast' and m.inserted_at >= %(since)s "
                                          "order by m.inserted_at, m.ctid", {"t": topic, "since": since}):
                if row["id"] not in party.seen:
                    party.seen.add(row["id"])
                    new.append((topic, row["event"], row["payload"]))
        return new

    def refused(self, party: Party, what: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except psycopg.Error as exc:
            self.refusals += 1
            status = exc.sqlstate[2:] if exc.sqlstate and exc.sqlstate.startswith("PT") else exc.sqlstate
            self.act(party, what, f"refused: HTTP {status} {exc.diag.message_primary}")
            return
        raise AssertionError(f"{what} was not refused")

    def show(self) -> None:
        """What every party received since the last look: Realtime, then push."""
        for party in self.parties:
            for topic, event, payload in self.realtime(party):
                where = topic.split(":")[0]
                self.say(f"  {'':<14}    {party.name} sees [{where}] {event}: {describe(event, payload, self.names)}")
        for row in self.admin.execute(
                "select d.id, o.user_id, o.kind, o.title, o.body, d.status from private.push_deliveries d "
                "join private.notification_outbox o on o.id = d.outbox_id where o.user_id = any(%(users)s) "
                "and d.status in ('logged', 'sent') order by d.id", {"users": [p.user_id for p in self.parties]}):
            if row["id"] not in self.pushes_seen:
                self.pushes_seen.add(row["id"])
                self.say(f"  {'':<14}    {self.names[str(row['user_id'])]} gets a push ({row['kind']}, {row['status']}): "
                         f"{row['title']} - {row['body']}")

    def wait_for_pushes(self) -> int:
        """Until the workers have dispatched every notification of the demo users."""
        users = [p.user_id for p in self.parties]
        deadline = time.monotonic() + self.push_wait
        pending = 1
        while time.monotonic() < deadline:
            pending = self.admin.execute("select count(*) as n from private.notification_outbox where user_id = any(%(u)s) "
                                         "and status in ('pending', 'claimed') and not_before <= now()",
                                         {"u": users}).fetchone()["n"]  # type: ignore[index]
            if not pending:
                break
            time.sleep(0.2)
        self.show()
        return int(pending)

    def run(self) -> int:
        self.say(f"OpenParty demo: a live session on {self.state.api_url}, as each party sees it")
        self.step("1. Sign-up: a DJ and two listeners, who follow the DJ; everyone registers a phone")
        dj, ana, ben = self.user("dj_lina", dj=True), self.user("ana"), self.user("ben")
        for listener in (ana, ben):
            listener.rpc("follow", p_user_id=dj.user_id)
            listener.rpc("register_push_token", p_token=f"ExponentPushToken[demo-{listener.name}]", p_platform="ios")
            self.act(listener, f"rpc/follow {dj.name}; rpc/register_push_token")
        dj.rpc("register_push_token", p_token=f"ExponentPushToken[demo-{dj.name}]", p_platform="android")
        self.act(dj, "rpc/register_push_token")
        dj.sql("insert into public.dj_fallback_tracks (dj_id, position, title, artist, duration_ms, provider, provider_ref) "
               "values (%(id)s, 0, 'Windowlicker', 'Aphex Twin', 366000, 'isrc', 'GBBKS9900048')", {"id": dj.user_id})
        self.act(dj, "insert dj_fallback_tracks (what plays when the queue runs dry)")
        self.show()

        self.step("2. The DJ goes live; followers are told")
        session = dj.rpc_row("go_live", p_title="Sunset deep house", p_description="demo", p_genres=["house"])["id"]
        self.act(dj, "rpc/go_live 'Sunset deep house'", f"session {str(session)[:8]}")
        self.subscribe(dj, f"session:{session}")
        self.wait_for_pushes()

        self.step("3. Listeners join")
        for listener in (ana, ben):
            listener.rpc("join_session", p_session_id=session)
            self.subscribe(listener, f"session:{session}")
            self.act(listener, "rpc/join_session")
        self.show()

        self.step("4. Chat, and a message sent too fast")
        ana.sql("insert into public.messages (session_id, body) values (%(s)s, 'hi from Lisbon!')", {"s": session})
        self.act(ana, "insert messages 'hi from Lisbon!'")
        self.refused(ana, "insert messages 'and again!' (at once)", lambda: ana.sql(
            "insert into public.messages (session_id, body) values (%(s)s, 'and again!')", {"s": session}))
        ben.sql("insert into public.messages (session_id, body) values (%(s)s, %(b)s)",
                {"s": session, "b": f"@{ana.name} welcome"})
        self.act(ben, f"insert messages '@{ana.name} welcome' (a mention)")
        self.show()

        self.step("5. Songs and votes")
        songs = {}
        for party, title, artist, ref in ((ana, "Strings of Life", "Rhythim Is Rhythim", "USTX18700001"),
                                          (ben, "Can You Feel It", "Mr. Fingers", "USTX18600002"),
                                          (ben, "Your Love", "Frankie Knuckles", "USTX18700003")):
            row = party.sql("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
                            "values (%(s)s, %(t)s, %(a)s, 240000, 'isrc', %(r)s) returning id",
                            {"s": session, "t": title, "a": artist, "r": ref})[0]
            songs[title] = row["id"]
            self.act(party, f"insert queue_items '{title}'")
        for party, title, value in ((ana, "Your Love", 1), (ben, "Your Love", 1), (ana, "Can You Feel It", -1)):
            party.rpc("vote", p_item_id=songs[title], p_value=value)
            self.act(party, f"rpc/vote {'+1' if value > 0 else '-1'} '{title}'")
        order = ana.sql("select title, play_rank from public.session_queue(%(s)s) order by play_rank", {"s": session})
        self.act(ana, "rpc/session_queue", ", ".join(f"{r['play_rank']}. {r['title']}" for r in order))
        self.show()

        self.step("6. Auto-play: the best-voted song starts; the room votes to skip it; the queue runs dry")
        playing = dj.rpc_row("advance", p_session_id=session)
        self.act(dj, "rpc/advance", f"now playing '{playing.get('title')}'")
        for listener in (ana, ben):
            result = listener.rpc("vote_skip", p_session_id=session)
            self.act(listener, "rpc/vote_skip", f"{result.get('votes')}/{result.get('threshold')}"
                     + (" -> skipped" if result.get("skipped") else ""))
        for _ in range(3):
            playing = dj.rpc_row("advance", p_session_id=session)
            fallback = " (from the fallback list)" if playing.get("from_fallback") else ""
            now = f"now playing '{playing['title']}'{fallback}" if playing.get("title") else "nothing left to play"
            self.act(dj, "rpc/advance", now)
        self.wait_for_pushes()

        self.step("7. A tip: payout onboarding, POST /tips, Stripe confirms through the webhook")
        connect = dj.http("/dj/connect")
        self.act(dj, "POST /dj/connect", f"{connect.status_code} account {connect.json().get('stripe_account_id')}")
        account = httpx.post(connect.json()["onboarding_url"], timeout=10).json()  # the DJ completes Stripe's form
        answer = deliver_stripe(self.state, stripe_event("account.updated", account, account=account["id"]), connect=True)
        self.act(dj, "completes onboarding; Stripe sends account.updated", f"{answer.status_code} {answer.json().get('outcome')}")
        tip = ana.http("/tips", {"session_id": str(session), "amount": 500, "currency": "usd", "message": "great set!",
                                 "idempotency_key": f"demo-{uuid.uuid4().hex[:12]}"})
        self.act(ana, "POST /tips 5.00 usd 'great set!'", f"{tip.status_code} {tip.json().get('status')} "
                 f"{tip.json().get('payment_intent_id')}")
        tip_row = self.admin.execute("select * from public.tips where id = %(id)s", {"id": tip.json()["tip_id"]}).fetchone()
        assert tip_row is not None
        answer = deliver_stripe(self.state, payment_intent_event(self.state, "succeeded", tip_row))
        self.act(ana, "pays in the app; Stripe sends payment_intent.succeeded",
                 f"{answer.status_code} {answer.json().get('outcome')}")
        earnings = dj.sql("select currency, tips, net from public.my_earnings()")
        self.act(dj, "rpc/my_earnings", ", ".join(f"{r['tips']} tip(s), net {r['net']} {r['currency']}" for r in earnings))
        self.wait_for_pushes()

        self.step("8. The end")
        dj.rpc("end_session", p_session_id=session)
        self.act(dj, "rpc/end_session")
        self.refused(ben, "insert messages 'one more?'", lambda: ben.sql(
            "insert into public.messages (session_id, body) values (%(s)s, 'one more?')", {"s": session}))
        self.show()
        pending = self.wait_for_pushes()
        self.say(f"\nDone in {time.monotonic() - self.started:.1f} s: {len(self.pushes_seen)} pushes (logging mode), "
                 f"{self.refusals} refusals, {pending} notifications still pending.")
        return 0

    def close(self) -> None:
        for party in self.parties:
            party.conn.close()
        self.admin.close()


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, state: DevState | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    demo = Demo(state or DevState.load(), out)
    try:
        return demo.run()
    finally:
        demo.close()


if __name__ == "__main__":
    raise SystemExit(main())
