-- Reactions: listeners send emoji reactions in a room (a fixed set),
-- rate-limited per listener, counted in small durable per-room counters and
-- published aggregated: at most one `reactions` event per room per second
-- (small rooms), at most one per room_batch (large rooms).
-- A reaction is not a row: only the counters (pending since the last event,
-- and a running total per session for analytics) are kept.
--
-- The one place that turns counters into an event is
-- private.flush_room_reactions(session_id): react() calls it opportunistically
-- and the `room_events` worker job flushes what is left every second. It
-- publishes through private.room_publish (sessions.sql, README "Room ticks"):
-- a small room gets the event at once; a large room (or one with changes
-- pending) gets it in its next `room_batch`, one `reactions` change per batch
-- carrying every reaction since the room's last one (merged with a change
-- still pending, so nothing is lost when two flushes fall in one tick).

------------------------------------------------------------------------------
-- Event gates: at most one event of a kind per topic per interval, across
-- concurrent transactions. Shared by reactions and battles (battles.sql).
------------------------------------------------------------------------------
create table private.room_event_gates (
  topic text not null,
  event text not null,
  last_sent_at timestamptz not null default '-infinity',
  primary key (topic, event)
);
comment on table private.room_event_gates is 'When an aggregated event was last sent on a topic: the throttle of reactions and battle tallies. Internal: RLS on, no policies.';
create index room_event_gates_stale on private.room_event_gates (last_sent_at);
alter table private.room_event_gates enable row level security;

-- True (and the gate stamped) when this event may go out now. A transaction
-- that finds the gate held by another skips (false) instead of waiting: the
-- holder sends, or the next tick does. Two transactions cannot both pass
-- within p_every: the second re-reads the stamped row under its lock.
create function private.pass_event_gate(p_topic text, p_event text, p_every interval) returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_last timestamptz;
begin
  insert into private.room_event_gates (topic, event) values (p_topic, p_event) on conflict do nothing;
  select g.last_sent_at into v_last from private.room_event_gates g
  where g.topic = p_topic and g.event = p_event
  for update skip locked;
  if not found or v_last > pg_catalog.clock_timestamp() - p_every then
    return false;
  end if;
  update private.room_event_gates g set last_sent_at = pg_catalog.clock_timestamp()
  where g.topic = p_topic and g.event = p_event;
  return true;
end;
$$;
revoke all on function private.pass_event_gate(text, text, interval) from public, anon, authenticated, service_role;

-- Gates of rooms and battles quiet for a day are removed (a gate is made again
-- on its next event); held ones are skipped.
create function private.purge_event_gates(p_limit int) returns int
language plpgsql
set search_path = ''
as $$
declare
  v_count int;
begin
  delete from private.room_event_gates g
  where (g.topic, g.event) in (select x.topic, x.event from private.room_event_gates x
                               where x.last_sent_at < now() - interval '1 day'
                               limit p_limit for update skip locked);
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
revoke all on function private.purge_event_gates(integer) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Counters
------------------------------------------------------------------------------
-- Each room's counters are split in shards (by listener) so concurrent
-- reactions to one room do not queue on one row.
create table private.room_reactions (
  session_id uuid not null references public.sessions (id) on delete cascade,
  kind text not null constraint room_reactions_kind check (kind in ('fire', 'heart', 'laugh', 'clap', 'wow', 'hundred')),
  shard smallint not null check (shard between 0 and 7),
  pending int not null default 0 check (pending >= 0),
  total bigint not null default 0 check (total >= 0),
  primary key (session_id, kind, shard)
) with (fillfactor = 70);
comment on table private.room_reactions is 'Reaction counters per room, kind and shard: pending = not yet broadcast, total = since the session began (analytics). Internal: RLS on, no policies.';
create index room_reactions_pending on private.room_reactions (session_id) where pending > 0;
alter table private.room_reactions enable row level security;

-- Per-listener rate limit: at most 10 reactions per 5 s window. Reacting is
-- writing your own row here (rpc/react): last_kind is the reaction; the
-- triggers below check who may react, count the window and publish.
create table private.reaction_senders (
  session_id uuid not null references public.sessions (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  last_kind text not null,
  window_started_at timestamptz not null default now(),
  sent_in_window int not null default 0,
  primary key (session_id, user_id)
) with (fillfactor = 70);
comment on table private.reaction_senders is 'One row per listener and room: writing last_kind is a reaction (rpc/react); the triggers keep the rate limit (10 per 5 s) and the counters. RLS: your own row.';
create index reaction_senders_user on private.reaction_senders (user_id);
revoke all on private.reaction_senders from anon, authenticated, service_role;
-- authenticated: public.react() (security invoker) writes the caller's own row;
-- the window columns are the triggers' alone.
grant select, insert (session_id, last_kind), update (last_kind) on private.reaction_senders to authenticated;
alter table private.reaction_senders enable row level security;

------------------------------------------------------------------------------
-- The flush: pending counts -> one `reactions` event (through room_publish)
------------------------------------------------------------------------------
create function private.flush_room_reactions(p_session_id uuid) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_counts jsonb;
begin
  if not private.pass_event_gate('session:' || p_session_id, 'reactions', interval '1 second') then
    return null;
  end if;
  -- Counters held by a reaction still in flight are skipped, not waited on:
  -- they go out with the next event, so no reaction is counted twice or lost.
  with taken as (
    select r.kind, r.shard, r.pending from private.room_reactions r
    where r.session_id = p_session_id and r.pending > 0
    for update skip locked
  ), zeroed as (
    update private.room_reactions r set pending = 0
    from taken t
    where r.session_id = p_session_id and r.kind = t.kind and r.shard = t.shard
    returning t.kind, t.pending
  )
  select jsonb_object_agg(z.kind, z.n) into v_counts
  from (select zeroed.kind, sum(zeroed.pending)::int as n from zeroed group by zeroed.kind) z;
  if v_counts is null then
    -- Nothing to send: give the second back so the next reaction goes at once.
    update private.room_event_gates g set last_sent_at = '-infinity'
    where g.topic = 'session:' || p_session_id and g.event = 'reactions';
    return null;
  end if;
  -- A `reactions` change still waiting for the room's tick is taken back and
  -- its counts added to these: the batch carries one change with the sum, at
  -- the position of the latest ('last' under the key 'reactions'). Flushes of
  -- a room are serialised by its gate (held until commit); a change the
  -- ticker is sending is waited for, then found gone (already sent).
  with taken as (
    delete from private.room_changes c
    where c.session_id = p_session_id and c.coalesce_key = 'reactions'
    returning c.payload -> 'counts' as counts
  )
  select jsonb_object_agg(x.kind, x.n) into v_counts
  from (select e.key as kind, sum(e.value::int)::int as n
        from (select v_counts as counts union all select t.counts from taken t) c
        cross join lateral jsonb_each_text(c.counts) e
        group by e.key) x;
  perform private.room_publish(p_session_id, 'reactions',
    jsonb_build_object('session_id', p_session_id, 'counts', v_counts), 'reactions', 'last');
  return v_counts;
end;
$$;
comment on function private.flush_room_reactions(uuid) is 'Publish one aggregated `reactions` event for a room (private.room_publish: at once in a small room, in the next room_batch in a large one) if a second has passed since the last: the only sender of reaction events.';
revoke all on function private.flush_room_reactions(uuid) from public, anon, authenticated, service_role;

-- Every room with pending reactions (the worker's per-second sweep).
create function private.flush_pending_reactions(p_limit int) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session uuid;
  v_count int := 0;
begin
  for v_session in
    select distinct r.session_id from private.room_reactions r where r.pending > 0 limit p_limit
  loop
    if private.flush_room_reactions(v_session) is not null then
      v_count := v_count + 1;
    end if;
  end loop;
  return v_count;
end;
$$;
revoke all on function private.flush_pending_reactions(integer) from public, anon, authenticated, service_role;
grant execute on function private.flush_pending_reactions(integer) to openparty_worker, service_role;

------------------------------------------------------------------------------
-- Reacting: a write to your own reaction_senders row
------------------------------------------------------------------------------
-- Who and how often, before the row is written (security definer: it reads
-- the room whatever the caller may read). Checked in this order: the kind
-- (422), the room (403: a present, unbanned listener or the DJ of a live
-- session; no lock taken), then the window (429), counted on the row's
-- latest version (the row lock orders a listener's concurrent reactions).
create function private.reaction_senders_before_write() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.last_kind is null or new.last_kind not in ('fire', 'heart', 'laugh', 'clap', 'wow', 'hundred') then
    raise exception using errcode = 'PT422', message = 'unknown reaction: use fire, heart, laugh, clap, wow or hundred';
  end if;
  if tg_op = 'INSERT' then
    new.user_id := coalesce((select auth.uid()), new.user_id);
    if new.user_id is null then
      raise exception using errcode = 'PT401', message = 'sign in first';
    end if;
  end if;
  if not exists (select 1 from public.sessions s where s.id = new.session_id and s.status = 'live'
                 and (s.dj_id = new.user_id
                      or exists (select 1 from public.session_participants p
                                 where p.session_id = s.id and p.user_id = new.user_id and p.left_at is null)))
     or private.is_banned(new.session_id, new.user_id) then
    raise exception using errcode = 'PT403', message = 'join this live session to react';
  end if;
  if tg_op = 'INSERT' then
    new.window_started_at := now();
    new.sent_in_window := 1;
  elsif old.window_started_at <= now() - interval '5 seconds' then
    new.window_started_at := now();
    new.sent_in_window := 1;
  else
    new.window_started_at := old.window_started_at;
    new.sent_in_window := old.sent_in_window + 1;
    if new.sent_in_window > 10 then
      raise exception using errcode = 'PT429', message = 'too many reactions: wait a moment',
        detail = json_build_object('retry_after',
          greatest(1, ceil(extract(epoch from new.window_started_at + interval '5 seconds' - now()))))::text;
    end if;
  end if;
  return new;
end;
$$;
revoke all on function private.reaction_senders_before_write() from public, anon, authenticated, service_role;

create trigger reaction_senders_before_write
before insert or update of last_kind on private.reaction_senders
for each row execute function private.reaction_senders_before_write();

-- The reaction counted (in the listener's shard) and published.
create function private.reaction_senders_count() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into private.room_reactions as r (session_id, kind, shard, pending, total)
  values (new.session_id, new.last_kind, abs(hashtext(new.user_id::text)) % 8, 1, 1)
  on conflict (session_id, kind, shard) do update set pending = r.pending + 1, total = r.total + 1;
  perform private.flush_room_reactions(new.session_id);
  return null;
end;
$$;
revoke all on function private.reaction_senders_count() from public, anon, authenticated, service_role;

create trigger reaction_senders_count
after insert or update of last_kind on private.reaction_senders
for each row execute function private.reaction_senders_count();

-- One statement: the upsert of the caller's row (its triggers do the rest).
-- A repeat checks the room twice (the insert's trigger, then the update's,
-- which also holds a direct update of the row to the same rules).
create function public.react(p_session_id uuid, p_kind text) returns boolean
language plpgsql security invoker
set search_path = ''
as $$
begin
  -- Reactions are ephemeral: no disk flush awaited (like chat and votes).
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  insert into private.reaction_senders as r (session_id, last_kind) values (p_session_id, p_kind)
  on conflict (session_id, user_id) do update set last_kind = excluded.last_kind;
  return true;
end;
$$;
comment on function public.react(uuid, text) is 'Send a reaction (fire, heart, laugh, clap, wow, hundred) in a live room you are in. 10 per 5 s (PT429). Published aggregated (private.room_publish): `reactions` {session_id, counts} at most once a second, or once per room_batch in a large room.';
revoke all on function public.react(uuid, text) from public, anon, authenticated, service_role;
grant execute on function public.react(uuid, text) to authenticated;
