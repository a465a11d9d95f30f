-- Creator analytics: daily rollups per DJ (UTC days), computed by the worker
-- job `creator_rollups` (idempotent: a day is recomputed from the facts and
-- replaced; backfillable: the job catches up from the first session, a few
-- days per run, and `python -m workers.analytics FROM TO` recomputes a range).
-- A DJ reads their own series through rpc/creator_analytics.
--
-- What each number counts (the day is the UTC day):
--   sessions          sessions that went live that day
--   minutes_live      minutes on air within the day (a session over midnight counts on both days)
--   unique_listeners  distinct listeners who first joined one of the DJ's sessions that day
--   peak_listeners    the highest peak of the sessions on air that day
--   chat_messages     listeners' text messages in the DJ's sessions that day
--   tips_net          per currency, minor units, the DJ's earnings entries that day (tips net of the
--                     platform fee, less refunds and disputes)
--   new_followers     follows made that day and still in place
--   reactions         reactions sent in sessions that went live that day

create table private.dj_daily_stats (
  dj_id uuid not null references public.profiles (id) on delete cascade,
  day date not null,
  sessions int not null default 0,
  minutes_live int not null default 0,
  unique_listeners int not null default 0,
  peak_listeners int not null default 0,
  chat_messages int not null default 0,
  tips_net jsonb not null default '{}',
  new_followers int not null default 0,
  reactions bigint not null default 0,
  computed_at timestamptz not null default now(),
  primary key (dj_id, day)
);
comment on table private.dj_daily_stats is 'One row per DJ per UTC day with activity, recomputed (replaced) by the rollup. A DJ reads their own rows (policy dj_daily_stats_select).';
revoke all on private.dj_daily_stats from anon, authenticated, service_role;
-- authenticated: public.creator_analytics() (security invoker) reads the caller's own rows (policy dj_daily_stats_select).
grant select on private.dj_daily_stats to authenticated;
alter table private.dj_daily_stats enable row level security;

create table private.rollup_progress (
  job text primary key,
  next_day date not null,
  updated_at timestamptz not null default now()
);
comment on table private.rollup_progress is 'Where the creator rollup resumes: the first day not yet final. Internal: RLS on, no policies.';
alter table private.rollup_progress enable row level security;

-- Recompute one day for every DJ with anything that day (or a row to correct).
create function private.rollup_dj_day(p_day date) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_start timestamptz := p_day::timestamp at time zone 'UTC';
  v_end timestamptz := (p_day + 1)::timestamp at time zone 'UTC';
  v_count int;
begin
  with on_air as (
    select s.* from public.sessions s
    where s.started_at is not null and s.started_at < v_end and coalesce(s.ended_at, now()) >= v_start
  ), djs as (
    select a.dj_id from on_air a
    union select e.dj_id from private.earnings_entries e where e.created_at >= v_start and e.created_at < v_end
    union select f.followee_id from public.follows f where f.created_at >= v_start and f.created_at < v_end
    union select d.dj_id from private.dj_daily_stats d where d.day = p_day
  ), computed as (
    select d.dj_id,
      (select count(*) from on_air a where a.dj_id = d.dj_id and a.started_at >= v_start)::int as sessions,
      coalesce((select sum(extract(epoch from least(coalesce(a.ended_at, now()), v_end) - greatest(a.started_at, v_start)))
                from on_air a where a.dj_id = d.dj_id), 0)::int / 60 as minutes_live,
      (select count(distinct t.user_id) from on_air a join private.listen_time t on t.session_id = a.id
       where a.dj_id = d.dj_id and t.first_joined_at >= v_start and t.first_joined_at < v_end)::int as unique_listeners,
      coalesce((select max(a.peak_listener_count) from on_air a where a.dj_id = d.dj_id), 0) as peak_listeners,
      (select count(*) from on_air a join public.messages m on m.session_id = a.id
       where a.dj_id = d.dj_id and m.kind = 'text' and m.sender_id is distinct from a.dj_id
         and m.created_at >= v_start and m.created_at < v_end)::int as chat_messages,
      coalesce((select jsonb_object_agg(x.currency, x.net) from (
                  select e.currency, sum(e.amount)::bigint as net from private.earnings_entries e
                  where e.dj_id = d.dj_id and e.created_at >= v_start and e.created_at < v_end
                  group by e.currency) x), '{}'::jsonb) as tips_net,
      (select count(*) from public.follows f
       where f.followee_id = d.dj_id and f.created_at >= v_start and f.created_at < v_end)::int as new_followers,
      coalesce((select sum(r.total) from on_air a join private.room_reactions r on r.session_id = a.id
                where a.dj_id = d.dj_id and a.started_at >= v_start), 0)::bigint as reactions
    from djs d
  )
  insert into private.dj_daily_stats as t (dj_id, day, sessions, minutes_live, unique_listeners, peak_listeners,
                                           chat_messages, tips_net, new_followers, reactions, computed_at)
  select c.dj_id, p_day, c.sessions, c.minutes_live, c.unique_listeners, c.peak_listeners, c.chat_messages,
         c.tips_net, c.new_followers, c.reactions, now()
  from computed c
  on conflict (dj_id, day) do update
    set sessions = excluded.sessions, minutes_live = excluded.minutes_live,
        unique_listeners = excluded.unique_listeners, peak_listeners = excluded.peak_listeners,
        chat_messages = excluded.chat_messages, tips_net = excluded.tips_net,
        new_followers = excluded.new_followers, reactions = excluded.reactions, computed_at = excluded.computed_at;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
revoke all on function private.rollup_dj_day(date) from public, anon, authenticated, service_role;

-- Backfill: recompute every day of [p_from, p_to] (at most 366 days a call).
create function private.rollup_dj_days(p_from date, p_to date) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_day date;
  v_count int := 0;
begin
  if p_from is null or p_to is null or p_to < p_from or p_to - p_from > 365 then
    raise exception using errcode = 'PT422', message = 'a range of 1 to 366 days';
  end if;
  for v_day in select g::date from generate_series(p_from, p_to, interval '1 day') g loop
    v_count := v_count + private.rollup_dj_day(v_day);
  end loop;
  return v_count;
end;
$$;
revoke all on function private.rollup_dj_days(date, date) from public, anon, authenticated, service_role;
grant execute on function private.rollup_dj_days(date, date) to openparty_worker, service_role;

-- The job: resume where it stopped (the first time: the first day anyone went
-- live), at most p_max_days days a run, and always recompute yesterday and
-- today (late facts: a session ending, a refund). Run under the job's
-- advisory lock; safe to repeat.
create function private.rollup_creator_analytics(p_max_days int, p_today date default (now() at time zone 'UTC')::date)
returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_from date;
  v_to date;
  v_count int;
begin
  select r.next_day into v_from from private.rollup_progress r where r.job = 'dj_daily';
  v_from := least(coalesce(v_from, (select min(s.started_at at time zone 'UTC')::date from public.sessions s), p_today),
                  p_today - 1);
  v_to := least(p_today, v_from + greatest(p_max_days, 1) - 1);
  v_count := private.rollup_dj_days(v_from, v_to);
  insert into private.rollup_progress (job, next_day) values ('dj_daily', least(v_to + 1, p_today - 1))
  on conflict (job) do update set next_day = excluded.next_day, updated_at = now();
  return v_count;
end;
$$;
revoke all on function private.rollup_creator_analytics(integer, date) from public, anon, authenticated, service_role;
grant execute on function private.rollup_creator_analytics(integer, date) to openparty_worker, service_role;

-- A DJ's own series, one row per day of the range (days without activity are
-- zeros). Security invoker: dj_daily_stats_select shows a DJ only their own rows.
create function public.creator_analytics(p_from date, p_to date)
returns table (day date, sessions int, minutes_live int, unique_listeners int, peak_listeners int,
               chat_messages int, tips_net jsonb, new_followers int, reactions bigint, computed_at timestamptz)
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  if not exists (select 1 from public.profiles p where p.id = v_uid and p.is_dj) then
    raise exception using errcode = 'PT403', message = 'creator analytics are for DJs';
  end if;
  if p_from is null or p_to is null or p_to < p_from or p_to - p_from > 365 then
    raise exception using errcode = 'PT422', message = 'a range of 1 to 366 days';
  end if;
  return query
  select g::date, coalesce(s.sessions, 0), coalesce(s.minutes_live, 0), coalesce(s.unique_listeners, 0),
         coalesce(s.peak_listeners, 0), coalesce(s.chat_messages, 0), coalesce(s.tips_net, '{}'::jsonb),
         coalesce(s.new_followers, 0), coalesce(s.reactions, 0::bigint), s.computed_at
  from generate_series(p_from, p_to, interval '1 day') g
  left join private.dj_daily_stats s on s.dj_id = v_uid and s.day = g::date
  order by 1;
end;
$$;
comment on function public.creator_analytics(date, date) is 'DJ only (PT403): your daily rollups for [p_from, p_to] (≤ 366 days), a row per day; computed_at null = nothing that day (or not rolled up yet).';
revoke all on function public.creator_analytics(date, date) from public, anon, authenticated, service_role;
grant execute on function public.creator_analytics(date, date) to authenticated;
