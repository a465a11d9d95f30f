"""How long a monthly artist payout run takes on a synthetic month (not part of
scripts/bench): a fresh embedded Postgres, migrated, filled with artists,
tracks, subscribers, their revenue and their streams, then one run timed.

    .venv/bin/python scripts/bench_payouts.py [--artists N] [--listeners N] [--plays N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localstack.postgres import FAST_UNSAFE_SETTINGS, LocalPostgres  # noqa: E402
from openparty.migrate import migrate  # noqa: E402

FILL = """
insert into auth.users (id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at)
select gen_random_uuid(), 'authenticated', 'authenticated', 'u' || n || '@bench.test', '{}', '{}', now(), now()
from generate_series(1, %(artists)s + %(listeners)s) n;
create temporary table people as select id, row_number() over (order by id) as n from public.profiles;
update public.profiles p set is_artist = true from people x where x.id = p.id and x.n <= %(artists)s;
insert into storage.objects (bucket_id, name, owner_id)
select 'tracks', x.id || '/' || t || '.mp3', x.id::text from people x, generate_series(1, 4) t where x.n <= %(artists)s;
insert into public.tracks (artist_id, title, artist_name, duration_ms, audio_path, status, published_at)
select x.id, 'Track ' || t, 'Artist', 180000, x.id || '/' || t || '.mp3', 'processing', null
from people x, generate_series(1, 4) t where x.n <= %(artists)s;
update public.tracks set status = 'published', published_at = now();
insert into public.stripe_customers (user_id, stripe_customer_id)
select x.id, 'cus_' || x.n from people x where x.n > %(artists)s;
insert into private.webhook_events (provider, id, type, event_at, payload, processed_at, outcome)
select 'stripe', 'evt_' || x.n, 'invoice.paid', '2026-10-10',
       jsonb_build_object('data', jsonb_build_object('object', jsonb_build_object(
         'customer', 'cus_' || x.n, 'amount_paid', 499 + (x.n %% 7) * 100, 'currency', 'usd'))), now(), 'invoice paid'
from people x where x.n > %(artists)s;
create temporary table track_list as select id, row_number() over (order by id) as n from public.tracks;
insert into public.plays (provider, provider_ref, track_id, title, artist, started_at, ended_at, ms_played)
select 'openparty', t.id::text, t.id, 't', 'a', '2026-10-01'::timestamptz + make_interval(secs => p),
       '2026-10-01'::timestamptz + make_interval(secs => p + 180), 180000
from generate_series(1, %(plays)s) p
join track_list t on t.n = 1 + (p * 7919) %% (select count(*) from track_list);
insert into public.play_listeners (play_id, user_id, ms_listened)
select pl.id, x.id, case when (pl.id + k) %% 5 = 0 then 20000 else 180000 end
from public.plays pl
cross join generate_series(0, 3) k
join people x on x.n = %(artists)s + 1 + (((pl.id * 4 + k) * 104729) %% %(listeners)s)
on conflict do nothing;
"""
RUN = "select pool, streams from private.run_artist_payouts('2026-10-01', 'usd', 5000, %s, 1000)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--artists", type=int, default=1000)
    parser.add_argument("--listeners", type=int, default=20000)
    parser.add_argument("--plays", type=int, default=100000)
    args = parser.parse_args()
    server = LocalPostgres(Path(tempfile.mkdtemp(prefix="openparty-bench-payouts-")), settings=FAST_UNSAFE_SETTINGS)
    server.start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("create database bench")
        url = server.url("bench")
        migrate(url, stand_ins=True)
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.transaction():
                for statement in filter(str.strip, FILL.split(";\n")):
                    conn.execute(statement, vars(args))
            conn.execute("analyze")
            streams, listeners = conn.execute("select count(*) filter (where is_stream), count(distinct user_id) "
                                              "from public.play_listeners").fetchone()
            for model in ("user_centric", "pro_rata"):
                with conn.transaction(force_rollback=True):
                    started = time.perf_counter()
                    run = conn.execute(RUN, (model,)).fetchone()
                    seconds = time.perf_counter() - started
                    statements, paid = conn.execute(
                        "select count(*), sum(case when model = 'pro_rata' then pro_rata_amount "
                        "else user_centric_amount end) from public.artist_statements").fetchone()
                print(f"{model}: {args.artists} artists, {listeners} listeners, {args.plays} plays, {streams} streams: "
                      f"run in {seconds:.2f} s, {statements} statements, pool {run[0]} = paid {paid}")
    finally:
        server.destroy()


if __name__ == "__main__":
    main()
