"""OpenParty's benchmarks (DESIGN.md's performance targets), on a fresh embedded
Postgres with durability on (fsync, synchronous_commit), the same machine for
every side of each comparison. Prints one line per target: the figure, the
target, PASS or MISS. Run: scripts/bench [--only NAME ...] [--seconds N].
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import stripe  # noqa: E402

from localstack.database import enable_service_logins  # noqa: E402
from localstack.postgres import LocalPostgres, binary  # noqa: E402
from openparty.migrate import migrate  # noqa: E402

CLIENTS = 8
results: list[tuple[str, str, str, bool]] = []


def one(cursor: psycopg.Cursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The row of a query that always returns one (a count, an insert ... returning)."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the query returned no row")
    return row


def report(name: str, figure: str, target: str, ok: bool) -> None:
    results.append((name, figure, target, ok))
    print(f"{'PASS' if ok else 'MISS'}  {name}: {figure}  (target: {target})", flush=True)


# --- setup ------------------------------------------------------------------------------------

def fresh_database(base: Path) -> tuple[LocalPostgres, str]:
    server = LocalPostgres(base, settings={"shared_buffers": "1GB", "max_connections": "200"})
    server.start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("create database bench")
    url = server.url("bench")
    migrate(url, stand_ins=True)
    enable_service_logins(url)
    return server, url


def bulk_users(conn: psycopg.Connection, n: int, prefix: str) -> None:
    """n users with deterministic ids md5('<prefix><i>')::uuid, inserted as Supabase Auth would."""
    conn.execute(
        """insert into auth.users (id, aud, role, email, raw_user_meta_data, created_at, updated_at)
           select md5(%(p)s || i)::uuid, 'authenticated', 'authenticated', %(p)s || i || '@bench.test',
                  jsonb_build_object('username', %(p)s || i), now(), now()
           from generate_series(0, %(n)s - 1) i""", {"p": prefix, "n": n})


def live_room(conn: psycopg.Connection, listeners: int, prefix: str) -> str:
    dj = f"md5('{prefix}dj')::uuid"
    conn.execute(f"""insert into auth.users (id, aud, role, raw_user_meta_data, created_at)
                     values ({dj}, 'authenticated', 'authenticated', '{{"username": "{prefix}dj"}}', now())""")
    conn.execute(f"update public.profiles set is_dj = true where id = {dj}")
    conn.execute("update public.plans set max_participants = 1000000")
    session_id = one(conn.execute(
        f"insert into public.sessions (dj_id, title, status, started_at, last_heartbeat_at) "
        f"values ({dj}, 'bench', 'live', now(), now()) returning id"))[0]
    bulk_users(conn, listeners, prefix)
    conn.execute("""insert into public.session_participants (session_id, user_id)
                    select %(s)s, md5(%(p)s || i)::uuid from generate_series(0, %(n)s - 1) i""",
                 {"s": session_id, "p": prefix, "n": listeners})
    conn.execute("update public.sessions set listener_count = %s where id = %s", (listeners, session_id))
    conn.execute("analyze")  # as autovacuum would after a bulk load
    return str(session_id)


def pgbench(url: str, script: str, seconds: int, clients: int = CLIENTS) -> float:
    """Transactions per second of `script` (pgbench, `clients` connections)."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    done = subprocess.run([binary("pgbench"), "-n", "-M", "simple", "-c", str(clients), "-j", "2", "-T", str(seconds),
                           "-f", f.name, url], capture_output=True, text=True)
    os.unlink(f.name)
    if done.returncode != 0 or "failed" in done.stdout and "number of failed transactions: 0" not in done.stdout:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    tps = re.search(r"tps = ([\d.]+)", done.stdout)
    if tps is None:
        raise RuntimeError(f"pgbench printed no tps:\n{done.stdout}")
    return float(tps.group(1))


# PostgREST's request, as pgbench runs it in one round trip (`\;` joins the
# commands): begin, the caller's role and claims, the statement, commit. Each
# transaction takes the next of N users, so a user sends at most once per N.
AS_NEXT_USER = ("begin \\; select set_config('role', 'authenticated', true), "
                "set_config('request.jwt.claims', json_build_object('role', 'authenticated', 'sub', "
                "md5('{prefix}' || (nextval('public.bench_seq') % {n}))::uuid)::text, true) \\; ")


def drain_ticks(url: str) -> None:
    """Run the ticker until nothing is pending (no tick spacing: a drain after a run)."""
    with psycopg.connect(url, autocommit=True) as conn:
        while one(conn.execute("select private.room_tick(interval '0', 1000, 5000)"))[0]:
            pass


def where_the_time_goes(url: str, transactions: dict[str, str], n: int = 2000) -> None:
    """For the record: the backend's CPU time per transaction of each script
    (one connection, /proc/<pid>/schedstat, so other load on the machine
    barely moves it), and the functions that took most of it (self time,
    track_functions = all)."""
    with psycopg.connect(url, autocommit=True) as conn:
        schedstat = Path(f"/proc/{conn.info.backend_pid}/schedstat")
        if not schedstat.exists():
            print("      where the time goes: needs Linux /proc (skipped)", flush=True)
            return
        conn.execute("set track_functions = 'all'")

        def function_self_ms() -> dict[str, float]:
            conn.execute("select pg_stat_force_next_flush()")  # flushed as this autocommit statement ends
            conn.execute("select pg_stat_clear_snapshot()")
            return {name: ms for name, ms in conn.execute(
                "select schemaname || '.' || funcname, self_time from pg_stat_user_functions")}

        for label, script in transactions.items():
            statements = [part.strip().rstrip(";") for part in script.split("\\;")]
            for _ in range(50):  # warm the plan caches
                for statement in statements:
                    conn.execute(statement)
            before, cpu_before = function_self_ms(), int(schedstat.read_text().split()[0])
            for _ in range(n):
                for statement in statements:
                    conn.execute(statement)
            cpu_us = (int(schedstat.read_text().split()[0]) - cpu_before) / n / 1000
            after = function_self_ms()
            spent = sorted(((ms - before.get(name, 0.0)) * 1000 / n, name) for name, ms in after.items())[::-1]
            top = ", ".join(f"{name} {us:.0f}" for us, name in spent[:4] if us >= 1)
            print(f"      where the time goes, {label}: {cpu_us:.0f} µs backend CPU per transaction"
                  + (f"; self time µs: {top}" if top else ""), flush=True)


def raw_insert_tps(url: str, session_id: str, seconds: int) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table if not exists public.bench_raw (like public.messages including defaults including identity); "
                     "alter table public.bench_raw drop constraint if exists bench_raw_pkey; "
                     "alter table public.bench_raw add primary key (id); "
                     "create index if not exists bench_raw_page on public.bench_raw (session_id, id desc)")
    return pgbench(url, f"insert into public.bench_raw (session_id, sender_id, body) "
                        f"values ('{session_id}', md5(random()::text)::uuid, 'hello everyone');\n", seconds)


def bench_chat(url: str, seconds: int) -> None:
    users = 40_000  # > 3 s x any rate we reach: nobody hits the base rate limit
    with psycopg.connect(url, autocommit=True) as conn:
        session_id = live_room(conn, users, "chat")
        conn.execute("create sequence public.bench_seq; grant usage on sequence public.bench_seq to authenticated")
        # Auto slow mode would refuse nearly every line of this 40,000-listener
        # room (by design: 70 s between lines per listener); the throughput of
        # the send path is measured with it off. Every rule still runs.
        conn.execute("update private.room_tick_settings set auto_slow_mode_listeners = 2147483647")
    drain_ticks(url)  # the setup's joins
    raw = raw_insert_tps(url, session_id, seconds)
    chat = pgbench(url, AS_NEXT_USER.format(prefix="chat", n=users)
                   + f"insert into public.messages (session_id, body) values ('{session_id}', 'hello everyone') \\; "
                   "commit;\n", seconds)
    drain_ticks(url)
    with psycopg.connect(url) as conn:
        sent = one(conn.execute("select count(*) from public.messages"))[0]
    # For the record (not a target): the same sends with one broadcast each
    # (the room below the tick threshold), and raw inserts committed
    # asynchronously as chat and votes are.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update private.room_tick_settings set listener_threshold = 1000000")
    immediate = pgbench(url, AS_NEXT_USER.format(prefix="chat", n=users)
                        + f"insert into public.messages (session_id, body) values ('{session_id}', 'hello everyone') \\; "
                        "commit;\n", seconds)
    raw_async = pgbench(url, "begin \\; set local synchronous_commit = off \\; insert into public.bench_raw "
                        f"(session_id, sender_id, body) values ('{session_id}', md5(random()::text)::uuid, 'hello everyone') "
                        "\\; commit;\n", seconds)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update private.room_tick_settings set listener_threshold = default")
    print(f"      for the record: chat with one broadcast per line {immediate:.0f} tps ({immediate / raw:.2f}x); "
          f"raw inserts committed asynchronously {raw_async:.0f} tps (chat batched = {chat / raw_async:.2f}x of that)",
          flush=True)
    where_the_time_goes(url, {
        "request envelope (begin, role and claims, commit)": AS_NEXT_USER.format(prefix="chat", n=users) + "commit;",
        "raw insert committed asynchronously": "begin \\; set local synchronous_commit = off \\; insert into "
        f"public.bench_raw (session_id, sender_id, body) values ('{session_id}', md5(random()::text)::uuid, 'hi') "
        "\\; commit;",
        "chat line (batched)": AS_NEXT_USER.format(prefix="chat", n=users)
        + f"insert into public.messages (session_id, body) values ('{session_id}', 'hello everyone') \\; commit;"})
    with psycopg.connect(url) as conn:
        batched = one(conn.execute(
            "select count(*) from realtime.messages r, jsonb_array_elements(r.payload -> 'changes') c "
            "where r.event = 'room_batch' and c ->> 'event' = 'message_created'"))[0]
        batches = one(conn.execute("select count(*) from realtime.messages where event = 'room_batch'"))[0]
        conn.execute("update private.room_tick_settings set auto_slow_mode_listeners = default")
    report("chat send vs raw insert", f"{chat:.0f} tps vs {raw:.0f} tps = {chat / raw:.2f}x "
           f"({sent} messages, all {batched} in {batches} room batches; a 40,000-listener room)", ">= 0.5x raw",
           chat / raw >= 0.5 and batched == sent)
    global RAW_TPS
    RAW_TPS = raw


RAW_TPS = 0.0


def bench_votes(url: str, seconds: int) -> None:
    users = 40_000
    with psycopg.connect(url, autocommit=True) as conn:
        session_id = live_room(conn, users, "vote")
        conn.execute("create sequence if not exists public.bench_seq; grant usage on sequence public.bench_seq to authenticated")
        item = one(conn.execute(
            "insert into public.queue_items (session_id, added_by, title, artist, duration_ms, provider, provider_ref) "
            "values (%s, md5('votedj')::uuid, 'Hot song', 'Artist', 200000, 'spotify', 'hot') returning id",
            (session_id,)))[0]
    # Each user votes up the first time round and switches on the next: every call changes the tally.
    script = AS_NEXT_USER.format(prefix="vote", n=users) + (
        f"select public.vote({item}, case when (currval('public.bench_seq') / {users}) % 2 = 0 then 1 else -1 end) \\; "
        "commit;\n")
    drain_ticks(url)  # the setup's joins
    votes = pgbench(url, script, seconds)
    where_the_time_goes(url, {"vote (batched)": script})
    counts = ("select count(*) filter (where value = 1), count(*) filter (where value = -1) "
              "from public.queue_votes where item_id = %s")
    with psycopg.connect(url) as conn:
        # Exact before the ticker folds (row + pending, as every read adds them), and after.
        before = one(conn.execute("select q.up_votes + coalesce(sum(d.up_delta), 0), "
                                  "q.down_votes + coalesce(sum(d.down_delta), 0) from public.queue_items q "
                                  "left join private.queue_vote_deltas d on d.item_id = q.id "
                                  "where q.id = %s group by q.id", (item,)))
        true_up, true_down = one(conn.execute(counts, (item,)))
    drain_ticks(url)
    with psycopg.connect(url) as conn:
        up, down = one(conn.execute("select up_votes, down_votes from public.queue_items where id = %s", (item,)))
    exact = tuple(before) == (true_up, true_down) == (up, down)
    raw = RAW_TPS or raw_insert_tps(url, session_id, seconds)
    report("voting on one song vs raw insert", f"{votes:.0f} tps vs {raw:.0f} tps = {votes / raw:.2f}x; "
           f"tally {up}/{down} vs rows {true_up}/{true_down} (before the fold {before[0]}/{before[1]}; "
           f"a 40,000-listener room: deferred tallies)", ">= 0.5x raw, exact tallies",
           votes / raw >= 0.5 and exact)


# --- fan-out: a simulated room against the real database ----------------------------------------

# Supabase Realtime (PLATFORM_NOTES): a broadcast counts 1 + 1 per subscribed
# client; Pro allows 500 messages/s (2,500 without a spend cap); 5M a month
# are included, then $2.50 per million.
PRICE_PER_MILLION = 2.50
PRO_RATE, UNCAPPED_RATE = 500, 2500

# The hot room profile: events per second across the room. Chat attempts are
# what listeners try; auto slow mode and the rate limit refuse some.
FANOUT_PROFILE = {"chat": 20.0, "vote": 20.0, "join": 0.5, "leave": 0.5, "skip": 0.2, "advance": 1 / 30}


def bench_fanout(url: str, seconds: int, listeners: int = 1000) -> None:
    """Replay FANOUT_PROFILE in a room of `listeners` for `seconds` of wall-clock
    time (ticks are real time), the ticker running every second as the worker
    does. Deliveries are counted from the broadcasts the database wrote; the
    one-event-per-change design is the same changes, one broadcast each."""
    import random
    import threading

    prefix = "fan"
    with psycopg.connect(url, autocommit=True) as conn:
        session_id = live_room(conn, listeners, prefix)
        dj = str(uuid.UUID(hex=hashlib.md5(f"{prefix}dj".encode()).hexdigest()))
        conn.execute("update public.session_participants set last_seen_at = now()")
        conn.execute("update public.sessions set max_participants = 100000 where id = %s", (session_id,))
        # Spare users who join during the run; songs to vote on and to play.
        bulk_users(conn, 500, prefix + "x")
        items = [one(conn.execute(
            "insert into public.queue_items (session_id, added_by, title, artist, duration_ms, provider, provider_ref) "
            "values (%s, %s, %s, 'Artist', 200000, 'spotify', %s) returning id", (session_id, dj, f"song {n}", f"s{n}")))[0]
            for n in range(30)]
    drain_ticks(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from realtime.messages")
    def user(name: str) -> str:
        return str(uuid.UUID(hex=hashlib.md5(name.encode()).hexdigest()))

    present = [user(f"{prefix}{i}") for i in range(listeners)]
    away = [user(f"{prefix}x{i}") for i in range(500)]
    rng = random.Random(12)
    done: dict[str, int] = {k: 0 for k in FANOUT_PROFILE}
    refused: dict[str, int] = {k: 0 for k in FANOUT_PROFILE}
    chat_commits: dict[int, float] = {}
    changes_at: list[float] = []  # when each change committed (the naive design broadcasts each)
    flushes: list[tuple[float, int, list[int]]] = []  # (when committed, changes in it, chat ids in it)
    stop = threading.Event()

    def ticker() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            last_seq = 0
            while not stop.is_set():
                started = time.perf_counter()
                conn.execute("select private.room_tick(interval '0.9 seconds', 500, 500)")
                committed = time.perf_counter()
                for seq, payload in conn.execute(
                        "select (payload ->> 'seq')::bigint, payload from realtime.messages "
                        "where event = 'room_batch' and (payload ->> 'seq')::bigint > %s order by 1", (last_seq,)):
                    last_seq = seq
                    ids = [c["payload"]["id"] for c in payload["changes"] if c["event"] == "message_created"]
                    flushes.append((committed, len(payload["changes"]), ids))
                time.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))

    def act(conn: psycopg.Connection, kind: str) -> None:
        def as_user(uid: str, sql: str, params: tuple[Any, ...]) -> Any:
            with conn.transaction():
                conn.execute("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                             (json.dumps({"role": "authenticated", "sub": uid}),))
                return conn.execute(sql, params).fetchone()
        try:
            if kind == "chat":
                row = as_user(rng.choice(present), "insert into public.messages (session_id, body) values (%s, %s) "
                              "returning id", (session_id, "what a track"))
                chat_commits[row[0]] = time.perf_counter()
            elif kind == "vote":
                as_user(rng.choice(present), "select public.vote(%s, %s)", (rng.choice(items), rng.choice((1, -1))))
            elif kind == "join":
                uid = away.pop(rng.randrange(len(away)))
                as_user(uid, "select public.join_session(%s)", (session_id,))
                present.append(uid)
            elif kind == "leave":
                uid = present.pop(rng.randrange(len(present)))
                as_user(uid, "select public.leave_session(%s)", (session_id,))
                away.append(uid)
            elif kind == "skip":
                as_user(rng.choice(present), "select public.vote_skip(%s)", (session_id,))
            elif kind == "advance":
                as_user(dj, "select public.advance(%s)", (session_id,))
            done[kind] += 1
            changes_at.extend([time.perf_counter()] * (2 if kind in ("join", "leave", "advance") else 1))
        except psycopg.Error:
            refused[kind] += 1

    def generator(kinds: list[str]) -> None:
        rate = sum(FANOUT_PROFILE[k] for k in kinds)
        weights = [FANOUT_PROFILE[k] for k in kinds]
        with psycopg.connect(url.replace("postgres@", "authenticator@"), autocommit=True) as conn:
            next_at = time.perf_counter()
            while not stop.is_set():
                next_at += rng.expovariate(rate)
                time.sleep(max(0.0, next_at - time.perf_counter()))
                act(conn, rng.choices(kinds, weights)[0])

    with psycopg.connect(url.replace("postgres@", "authenticator@"), autocommit=True) as conn:
        act(conn, "advance")  # a song is playing
    threads = [threading.Thread(target=ticker), threading.Thread(target=generator, args=(["chat"],)),
               threading.Thread(target=generator, args=(["vote", "join", "leave", "skip", "advance"],))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    topic = f"session:{session_id}"
    with psycopg.connect(url, autocommit=True) as conn:
        immediate = one(conn.execute("select count(*) from realtime.messages where topic = %s and event <> 'room_batch'",
                                     (topic,)))[0]
        subscribers = one(conn.execute("select listener_count + 1 from public.sessions where id = %s", (session_id,)))[0]
        pending = one(conn.execute("select count(*) from private.room_changes"))[0]
    batches = len(flushes)
    # The one-event-per-change design: a broadcast per chat line, per vote
    # (a tally), two per join or leave (the event and the count), per skip vote,
    # and two per song change (the old song's status, now playing).
    naive_events = done["chat"] + done["vote"] + 2 * (done["join"] + done["leave"]) + done["skip"] + 2 * done["advance"]
    hours = elapsed / 3600
    tick_deliveries = (batches + immediate) * (1 + subscribers)
    naive_deliveries = naive_events * (1 + subscribers)
    per_second = [0] * (int(elapsed) + 2)
    for when, _, _ in flushes:
        per_second[int(when - started)] += 1
    peak_ticks = max(per_second) * (1 + subscribers)
    naive_per_second = [0] * (int(elapsed) + 2)
    for when in changes_at:
        naive_per_second[int(when - started)] += 1
    peak_naive = max(naive_per_second) * (1 + subscribers)
    latencies = sorted(when - chat_commits[i] for when, _, ids in flushes for i in ids if i in chat_commits)
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 2 else float("nan")
    rate = batches / elapsed
    print(f"      room profile: {listeners} listeners; attempts/s {json.dumps(FANOUT_PROFILE)}; {elapsed:.1f} s real time; "
          f"done {json.dumps(done)}; refused {json.dumps(refused)} (slow mode, rate limit, skip threshold)", flush=True)
    for name, deliveries, peak in (("one event per change", naive_deliveries, peak_naive),
                                   ("room ticks (1 s)", tick_deliveries, peak_ticks)):
        cost_hour = deliveries / hours / 1e6 * PRICE_PER_MILLION
        print(f"      {name:>22}: {deliveries / hours / subscribers:,.0f} deliveries per listener-hour; "
              f"{deliveries / elapsed:,.0f} deliveries/s (peak {peak:,.0f}/s: {peak / PRO_RATE:.1f}x Pro's {PRO_RATE}/s, "
              f"{peak / UNCAPPED_RATE:.1f}x the uncapped {UNCAPPED_RATE}/s); ${cost_hour:,.2f} per room-hour beyond the "
              f"included 5M/month (${cost_hour * 24 * 30:,.0f} a month 24/7)", flush=True)
    report("fan-out: broadcasts per second, 1,000-listener room", f"{rate:.2f} broadcasts/s ({batches} batches, "
           f"{immediate} immediate, {pending} left pending at the stop) vs {naive_events / elapsed:.1f}/s one per change",
           "<= ~1/s", rate <= 1.05 and immediate == 0)
    report("fan-out: chat commit -> room broadcast", f"p99 {p99 * 1000:.0f} ms, median "
           f"{statistics.median(latencies) * 1000 if latencies else float('nan'):.0f} ms ({len(latencies)} lines)",
           "p99 <= 1.5 s", p99 <= 1.5)


def bench_hot_reads(url: str, samples: int) -> None:
    """100k sessions, 1M messages, 1M votes; authenticated vs service_role latency."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update public.plans set max_participants = 1000000")
        bulk_users(conn, 20_000, "r")
        conn.execute("update public.profiles set is_dj = true where username like 'r%'")
        conn.execute("set session_replication_role = replica")  # bulk load without triggers
        conn.execute("""insert into public.sessions (id, dj_id, title, status, started_at, ended_at, end_reason,
                                                     listener_count, genres)
                        select md5('s' || i)::uuid, md5('r' || (i % 20000))::uuid, 'session ' || i,
                               case when i < 1000 then 'live' else 'ended' end::public.session_status,
                               now() - interval '2 hours', case when i >= 1000 then now() - interval '1 hour' end,
                               case when i >= 1000 then 'dj' end, (i * 7919) % 500,
                               array[(array['house', 'techno', 'jazz', 'pop'])[1 + i % 4]]
                        from generate_series(0, 99999) i""")
        # one live session per DJ: DJs 0..999 are live
        conn.execute("""insert into public.session_participants (session_id, user_id, last_seen_at)
                        select md5('s' || (i % 1000))::uuid, md5('r' || i)::uuid, now()
                        from generate_series(1000, 19999) i""")
        conn.execute("""insert into public.messages (session_id, sender_id, body, created_at)
                        select md5('s' || (i % 1000))::uuid, md5('r' || (1000 + i % 19000))::uuid, 'message ' || i,
                               now() - make_interval(secs => 1000000 - i)
                        from generate_series(0, 999999) i""")
        conn.execute("""insert into public.queue_items (session_id, added_by, title, artist, duration_ms, provider,
                                                        provider_ref, up_votes)
                        select md5('s' || (i % 1000))::uuid, md5('r' || (1000 + i % 19000))::uuid, 'song ' || i, 'a',
                               200000, 'spotify', 'ref' || i, 0
                        from generate_series(0, 49999) i""")
        conn.execute("""insert into public.queue_votes (item_id, user_id, value)
                        select q.id, md5('r' || (1000 + (q.id * 31 + v) % 19000))::uuid, 1
                        from public.queue_items q, generate_series(0, 19) v
                        on conflict do nothing""")
        conn.execute("""update public.queue_items q set up_votes = t.n
                        from (select item_id, count(*) n from public.queue_votes group by item_id) t
                        where t.item_id = q.id""")
        # one song playing in every live session (live_now shows it)
        conn.execute("""update public.queue_items q set status = 'playing', started_at = now()
                        where q.id in (select min(i.id) from public.queue_items i group by i.session_id)""")
        # what the room_access triggers would have written: each DJ hosts, each listener is present
        # (rooms of the benches before this one have their rows already)
        conn.execute("""insert into private.room_access (user_id, session_id, hosts)
                        select s.dj_id, s.id, true from public.sessions s
                        on conflict (user_id, session_id) do update set hosts = true""")
        conn.execute("""insert into private.room_access (user_id, session_id, present)
                        select p.user_id, p.session_id, true from public.session_participants p where p.left_at is null
                        on conflict (user_id, session_id) do update set present = true""")
        # what queue_items_live_now_playing would have written: the playing song of each room, for live_now
        conn.execute("""insert into private.live_now_playing (session_id, item_id, title, artist, album_art_url,
                                                              spotify_id, apple_music_id, started_at)
                        select q.session_id, q.id, q.title, q.artist, q.album_art_url, q.spotify_id, q.apple_music_id,
                               q.started_at
                        from public.queue_items q where q.status = 'playing'
                        on conflict (session_id) do nothing""")
        conn.execute("set session_replication_role = origin")
        conn.execute("vacuum analyze")
        counts = one(conn.execute("select (select count(*) from public.sessions), (select count(*) from public.messages), "
                              "(select count(*) from public.queue_votes)"))
    # A listener of live session 7 (user r1007: 1000 + 7).
    session = str(uuid.UUID(hex=hashlib.md5(b"s7").hexdigest()))
    user = str(uuid.UUID(hex=hashlib.md5(b"r1007").hexdigest()))
    reads = {
        "live-now feed": "select * from public.live_now(null, 50)",
        "latest 50 messages": f"select * from public.messages where session_id = '{session}' order by id desc limit 50",
        "queue with tallies": f"select * from public.session_queue('{session}')",
    }
    # The baseline is the same read bypassing RLS, as service_role does: run by
    # the tables' owner (the app's RPCs are not granted to service_role).
    claims = json.dumps({"role": "authenticated", "sub": user})
    with psycopg.connect(url, autocommit=True) as owner, \
            psycopg.connect(url.replace("postgres@", "authenticator@"), autocommit=True) as api:
        for name, query in reads.items():
            timings = {}
            for role, conn in (("service_role", owner), ("authenticated", api)):
                latencies = []
                for n in range(samples + 50):
                    with conn.transaction():
                        if conn is api:
                            conn.execute("set local role authenticated")
                        conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                        started = time.perf_counter()
                        rows = conn.execute(query).fetchall()
                        if n >= 50:  # warm-up excluded
                            latencies.append((time.perf_counter() - started) * 1000)
                assert rows, f"{name} returned nothing as {role}"
                timings[role] = latencies
            p50 = {r: statistics.median(v) for r, v in timings.items()}
            p99 = {r: statistics.quantiles(v, n=100)[98] for r, v in timings.items()}
            ratio = p50["authenticated"] / p50["service_role"]
            report(f"hot read under RLS: {name}",
                   f"p50 {p50['authenticated']:.2f} ms vs service {p50['service_role']:.2f} ms = {ratio:.2f}x; "
                   f"p99 {p99['authenticated']:.2f} ms ({counts[0]} sessions, {counts[1]} messages, {counts[2]} votes)",
                   "<= 1.3x service role, p99 < 5 ms", ratio <= 1.3 and p99["authenticated"] < 5)


def bench_go_live(url: str) -> None:
    followers = 100_000
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""insert into auth.users (id, aud, role, raw_user_meta_data, created_at)
                        values (md5('stardj')::uuid, 'authenticated', 'authenticated', '{"username": "stardj"}', now())""")
        conn.execute("update public.profiles set is_dj = true where id = md5('stardj')::uuid")
        bulk_users(conn, followers, "f")
        conn.execute("set session_replication_role = replica")
        conn.execute("insert into public.follows (follower_id, followee_id) "
                     "select md5('f' || i)::uuid, md5('stardj')::uuid from generate_series(0, %s - 1) i", (followers,))
        conn.execute("set session_replication_role = origin")
        conn.execute("analyze")
        conn.execute("delete from private.notification_outbox")
    with psycopg.connect(url) as conn:
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"role": "authenticated", "sub": str(uuid.UUID(hex=hashlib.md5(b'stardj').hexdigest()))}),))
        started = time.perf_counter()
        conn.execute("select public.go_live('Big night')")
        conn.commit()
        elapsed = time.perf_counter() - started
        queued = one(conn.execute("select count(*) from private.notification_outbox where kind = 'followed_dj_live'"))[0]
    report("DJ with 100k followers goes live", f"{queued} notifications enqueued in {elapsed:.2f} s (committed)",
           "all enqueued in < 2 s", queued == followers and elapsed < 2)


def bench_dispatch(url: str, server: LocalPostgres) -> None:
    from localstack.fake_expo import FakeExpo
    from openparty.settings import Settings
    from workers import push
    from workers.runner import make_context

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("""insert into public.push_tokens (user_id, token, platform)
                        select md5('f' || i)::uuid, 'ExponentPushToken[bench-' || i || ']', 'ios'
                        from generate_series(0, 19999) i""")

    async def drain(rate: float, notifications: int) -> tuple[int, float, int]:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("update private.notification_outbox set status = 'sent' where status <> 'sent'")
            conn.execute("""insert into private.notification_outbox (user_id, kind, title, body, collapse_key)
                            select md5('f' || i)::uuid, 'moderation', 'bench', 'bench', 'bench:' || i
                            from generate_series(0, %s - 1) i""", (notifications,))
        with FakeExpo() as expo:
            settings = Settings(_env_file=None, database_url=url,
                                worker_database_url=url.replace("postgres@", "openparty_worker@"),
                                expo_access_token="bench", expo_push_url=f"{expo.base}/push/send",
                                expo_receipts_url=f"{expo.base}/push/getReceipts", push_rate_per_second=rate,
                                push_claim_size=2000, db_pool_max_size=4)
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as http:
                ctx = make_context(settings, http)
                await ctx.pool.open()
                started = time.perf_counter()
                sent = 0
                while (n := await push.dispatch_push(ctx)):
                    sent += n
                elapsed = time.perf_counter() - started
                await ctx.pool.close()
            return sent, elapsed, len(expo.delivered())

    sent, elapsed, delivered = asyncio.run(drain(1_000_000, 20_000))
    report("push dispatch to a local Expo-compatible endpoint", f"{delivered / elapsed:.0f} messages/s "
           f"({delivered} in {elapsed:.1f} s, one worker)", ">= 3,000/s", delivered / elapsed >= 3000 and delivered == 20_000)
    sent, elapsed, delivered = asyncio.run(drain(600, 3_000))
    report("push dispatch capped at Expo's rate", f"{delivered / elapsed:.0f} messages/s ({delivered} in {elapsed:.1f} s)",
           "<= 600/s after a burst of one request (100)", (delivered - 100) / elapsed <= 600)


def bench_webhooks(url: str, seconds: int) -> None:
    """The functions app under uvicorn in its own process; 8 concurrent senders."""
    secret = "whsec_bench"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "OPENPARTY_EDGE_DATABASE_URL": url.replace("postgres@", "openparty_edge@"),
           "OPENPARTY_STRIPE_WEBHOOK_SECRETS": secret, "OPENPARTY_DB_POOL_MAX_SIZE": "8",
           "OPENPARTY_LOG_LEVEL": "WARNING"}  # one INFO line per event would flood the report
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "functions.app:app", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env, cwd=REPO)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

        # Requests are signed before the clock starts, and sent over raw
        # keep-alive sockets, so the load generator takes little of the CPU
        # the server needs (client and server share this machine).
        def signed_request() -> bytes:
            event = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "api_version": "2026-10-28.endive",
                     "created": int(time.time()), "type": "payment_intent.succeeded", "livemode": False,
                     "data": {"object": {"id": f"pi_{uuid.uuid4().hex[:24]}", "object": "payment_intent",
                                         "status": "succeeded", "metadata": {}}}}
            body = json.dumps(event).encode()
            header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
            return (f"POST /webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Stripe-Signature: {header}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

        prepared = [signed_request() for _ in range(seconds * 1500)]

        async def load() -> tuple[list[float], int]:
            latencies: list[float] = []
            errors = 0
            deadline = time.perf_counter() + seconds

            async def sender() -> None:
                nonlocal errors
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                while time.perf_counter() < deadline and prepared:
                    request = prepared.pop()
                    started = time.perf_counter()
                    writer.write(request)
                    status_line = await reader.readline()
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    await reader.readexactly(length)
                    latencies.append((time.perf_counter() - started) * 1000)
                    errors += b" 200 " not in status_line
                writer.close()

            await asyncio.gather(*(sender() for _ in range(8)))
            return latencies, errors

        latencies, errors = asyncio.run(load())
    finally:
        server.terminate()
        server.wait(timeout=30)
    rate = len(latencies) / seconds
    p99 = statistics.quantiles(latencies, n=100)[98]
    with psycopg.connect(url) as conn:
        recorded = one(conn.execute("select count(*) from private.webhook_events where processed_at is not null"))[0]
    report("signed Stripe webhooks (verify, record, apply)", f"{rate:.0f} events/s, p99 {p99:.1f} ms, {errors} errors, "
           f"{recorded} recorded (uvicorn, one worker process, 8 concurrent senders)", ">= 500/s, p99 < 50 ms",
           rate >= 500 and p99 < 50 and errors == 0)


# --- issue 15: reactions and battle votes (separate functions, for an easy merge) -----------------

def social_raw_tps(url: str, seconds: int) -> float:
    """The raw single-row insert rate of this run (chat's measurement, or the same insert measured here)."""
    if RAW_TPS:
        return RAW_TPS
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table if not exists public.bench_raw_social (id bigint generated always as identity "
                     "primary key, session_id uuid, sender_id uuid, body text, created_at timestamptz default now())")
        conn.execute("create index if not exists bench_raw_social_session on public.bench_raw_social (session_id, id)")
    return pgbench(url, "insert into public.bench_raw_social (session_id, sender_id, body) "
                        "values (md5(random()::text)::uuid, md5(random()::text)::uuid, 'hello everyone');\n", seconds)


def bench_reactions(url: str, seconds: int) -> None:
    """Reactions in one hot (large) room, with the ticker running as in production: every call
    counted (rate limit, sharded counter), at most one broadcast per second for the room (its
    `room_batch`, where the `reactions` change rides), and the counts exact."""
    users = 40_000  # each user reacts once per 40k calls: under the 10 per 5 s limit
    with psycopg.connect(url, autocommit=True) as conn:
        session_id = live_room(conn, users, "react")
        conn.execute("create sequence if not exists public.bench_seq; "
                     "grant usage on sequence public.bench_seq to authenticated")
    kinds = "array['fire', 'heart', 'laugh', 'clap', 'wow', 'hundred']"
    script = AS_NEXT_USER.format(prefix="react", n=users) + (
        f"select public.react('{session_id}', ({kinds})[1 + currval('public.bench_seq') % 6]) \\; commit;\n")
    import threading

    stop = threading.Event()

    def ticker() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("select private.room_tick(interval '0.9 seconds', 500, 500)")
                stop.wait(1.0)

    ticking = threading.Thread(target=ticker)
    ticking.start()
    started = time.monotonic()
    try:
        tps = pgbench(url, script, seconds)
    finally:
        stop.set()
        ticking.join()
    elapsed = time.monotonic() - started
    with psycopg.connect(url, autocommit=True) as conn:
        events = one(conn.execute("select count(*) from realtime.messages where topic = %s "
                                  "and (event = 'reactions' or event = 'room_batch')", (f"session:{session_id}",)))[0]
        conn.execute("update private.room_event_gates set last_sent_at = '-infinity'")
        conn.execute("select private.flush_room_reactions(%s)", (session_id,))
    drain_ticks(url)
    with psycopg.connect(url, autocommit=True) as conn:
        sent = one(conn.execute(
            "select coalesce(sum(c.v::int), 0) from realtime.messages m "
            "cross join lateral (select m.payload -> 'counts' as counts where m.event = 'reactions' "
            "                    union all select ch -> 'payload' -> 'counts' "
            "                    from jsonb_array_elements(m.payload -> 'changes') ch "
            "                    where m.event = 'room_batch' and ch ->> 'event' = 'reactions') r "
            "cross join lateral jsonb_each_text(r.counts) c(k, v) "
            "where m.topic = %s", (f"session:{session_id}",)))[0]
        counted = one(conn.execute("select coalesce(sum(total), 0) from private.room_reactions"))[0]
    raw = social_raw_tps(url, seconds)
    exact = sent == counted
    report("reactions in one room vs raw insert",
           f"{tps:.0f} tps vs {raw:.0f} tps = {tps / raw:.2f}x; {events} broadcasts in {elapsed:.1f} s "
           f"({events / elapsed:.2f}/s); counted {counted}, broadcast {sent}",
           ">= 0.5x raw, <= ~1 broadcast/s, exact", tps / raw >= 0.5 and events <= elapsed + 2 and exact)


def bench_battle_votes(url: str, seconds: int) -> None:
    """Votes in one battle round (one hot round): one vote per listener per round, exact."""
    users = 60_000
    with psycopg.connect(url, autocommit=True) as conn:
        session_id = live_room(conn, users, "battle")
        conn.execute("""insert into auth.users (id, aud, role, raw_user_meta_data, created_at)
                        values (md5('battleopp')::uuid, 'authenticated', 'authenticated',
                                '{"username": "battleopp"}', now())""")
        conn.execute("update public.profiles set is_dj = true where id = md5('battleopp')::uuid")
        battle = one(conn.execute(
            "insert into public.battles (challenger_id, opponent_id, session_id, status, rounds, round_seconds, "
            "started_at, responded_at) values (md5('battledj')::uuid, md5('battleopp')::uuid, %s, 'live', 1, 900, "
            "now(), now()) returning id", (session_id,)))[0]
        conn.execute("insert into public.battle_rounds (battle_id, round, starts_at, ends_at) "
                     "values (%s, 1, now(), now() + interval '1 hour')", (battle,))
        conn.execute("create sequence if not exists public.bench_seq; "
                     "grant usage on sequence public.bench_seq to authenticated")
    script = AS_NEXT_USER.format(prefix="battle", n=users) + (
        f"select public.vote_battle('{battle}', case when currval('public.bench_seq') % 3 = 0 "
        f"then md5('battleopp')::uuid else md5('battledj')::uuid end) \\; commit;\n")
    tps = pgbench(url, script, seconds)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = one(conn.execute("select count(*) from public.battle_votes where battle_id = %s", (battle,)))[0]
        conn.execute("select private.close_battle_rounds(10, now() + interval '2 hours')")
        c, o = one(conn.execute("select challenger_votes, opponent_votes from public.battle_rounds "
                                "where battle_id = %s", (battle,)))
    raw = social_raw_tps(url, seconds)
    exact = c + o == rows
    report("battle votes in one round vs raw insert",
           f"{tps:.0f} tps vs {raw:.0f} tps = {tps / raw:.2f}x; result {c}+{o} = {c + o} vs {rows} vote rows",
           ">= 0.5x raw, exact", tps / raw >= 0.5 and exact)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


BENCHES = ["chat", "votes", "fanout", "reads", "golive", "dispatch", "webhooks", "reactions", "battles"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=BENCHES, default=BENCHES)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each throughput run")
    parser.add_argument("--samples", type=int, default=1000, help="timed queries per hot read and role")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="openparty-bench-"))
    server, url = fresh_database(base)
    print(f"bench: Postgres {server.url()} (fsync on), {os.cpu_count()} cores, {CLIENTS} clients", flush=True)
    try:
        if "chat" in args.only:
            bench_chat(url, args.seconds)
        if "votes" in args.only:
            bench_votes(url, args.seconds)
        if "fanout" in args.only:
            bench_fanout(url, args.seconds)
        if "reads" in args.only:
            bench_hot_reads(url, args.samples)
        if "golive" in args.only or "dispatch" in args.only:
            bench_go_live(url)
        if "dispatch" in args.only:
            bench_dispatch(url, server)
        if "webhooks" in args.only:
            bench_webhooks(url, args.seconds)
        if "reactions" in args.only:
            bench_reactions(url, args.seconds)
        if "battles" in args.only:
            bench_battle_votes(url, args.seconds)
    finally:
        server.destroy()
    missed = [name for name, _, _, ok in results if not ok]
    print(f"bench: {len(results) - len(missed)} of {len(results)} targets met" + (f"; missed: {missed}" if missed else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
