-- Room ticks: the ticker that sends each large room's pending changes as one
-- batched broadcast per tick (DESIGN.md, "The fan-out budget"; README "Room
-- ticks"). What a change is and when it is queued rather than sent at once is
-- private.room_publish (sessions.sql, before the first trigger that publishes);
-- large rooms' vote tallies are folded by private.fold_vote_deltas (queue.sql).
--
-- The worker calls private.room_tick every tick (OPENPARTY_ROOM_TICK_SECONDS,
-- default 1 s). One call is one transaction: each room it flushes is claimed
-- with `for update skip locked` on its room_ticks row (a second replica skips
-- it), its pending changes are deleted and sent as one `room_batch` broadcast
-- (realtime.send inserts the broadcast row, so the send and the delete commit
-- together), and the row records when. A ticker that dies mid-run rolls back:
-- nothing is lost and nothing was sent. A room is flushed at most once per
-- p_min_interval (the tick, less a little slack), whatever the number of
-- replicas; each call flushes at most p_max_rooms rooms and p_max_changes
-- changes per room (the rest wait for the next tick, in order).

create table private.room_ticks (
  session_id uuid primary key,
  flushed_at timestamptz not null default '-infinity',
  batches bigint not null default 0,
  last_change_id bigint not null default 0
);
comment on table private.room_ticks is 'One row per room with pending changes (or recently flushed): when its last room_batch went out. The ticker claims rooms through these rows. Internal: RLS on, no policies.';
comment on column private.room_ticks.last_change_id is 'the id of the last change sent: batches of a room carry increasing seq (this id)';
alter table private.room_ticks enable row level security;

-- The payloads of one coalesce key, oldest first, merged: numeric fields summed,
-- every other field from the latest.
create function private.room_sum_payloads(p_payloads jsonb[]) returns jsonb
language sql immutable
set search_path = ''
as $$
  select coalesce(jsonb_object_agg(f.key, f.value), '{}'::jsonb)
  from (
    select e.key,
           case when bool_and(jsonb_typeof(e.value) = 'number')
                then to_jsonb(sum(case when jsonb_typeof(e.value) = 'number' then (e.value #>> '{}')::numeric end))
                else (array_agg(e.value order by p.n desc))[1] end as value
    from unnest(p_payloads) with ordinality as p(payload, n)
    cross join lateral jsonb_each(p.payload) as e
    group by e.key
  ) f
$$;
revoke all on function private.room_sum_payloads(jsonb[]) from public, anon, authenticated, service_role;

-- One room's batch: take (delete) its oldest pending changes, coalesce them
-- and send one room_batch. The caller holds the room's room_ticks row. A
-- batch carries at most p_max_changes changes and about 200 kB of payloads
-- (Realtime's broadcast payload limit is 256 kB on Free, 3,000 kB on Pro);
-- always at least one change, so a room never stalls.
create function private.room_flush(p_session_id uuid, p_max_changes int) returns int
language plpgsql
set search_path = ''
as $$
declare
  c_max_bytes constant int := 200000;
  v_changes jsonb;
  v_taken int;
  v_last bigint;
begin
  with taken as (
    delete from private.room_changes c
    where c.session_id = p_session_id
      and c.id in (select o.id
                   from (select c2.id, sum(octet_length(c2.payload::text)) over (order by c2.id) as running,
                                row_number() over (order by c2.id) as n
                         from private.room_changes c2 where c2.session_id = p_session_id
                         order by c2.id limit p_max_changes) o
                   where o.running <= c_max_bytes or o.n = 1)
    returning c.id, c.event, c.payload, c.coalesce_key, c.merge
  ),
  grouped as (
    select max(t.id) as id, (array_agg(t.event order by t.id desc))[1] as event,
           case when min(t.merge) = 'sum' then private.room_sum_payloads(array_agg(t.payload order by t.id))
                else (array_agg(t.payload order by t.id desc))[1] end as payload,
           count(*) as n
    from taken t
    group by coalesce(t.coalesce_key, 'change:' || t.id)
  )
  select jsonb_agg(jsonb_build_object('event', g.event, 'payload', g.payload) order by g.id),
         sum(g.n)::int, max(g.id)
  into v_changes, v_taken, v_last
  from grouped g;
  if v_taken is null then
    return 0;
  end if;
  if exists (select 1 from public.sessions s where s.id = p_session_id) then
    perform private.broadcast('session:' || p_session_id, 'room_batch',
      jsonb_build_object('session_id', p_session_id, 'seq', v_last, 'changes', v_changes));
  end if;  -- else the session was deleted: nobody is left to tell
  update private.room_ticks t
  set flushed_at = now(), batches = t.batches + 1, last_change_id = v_last
  where t.session_id = p_session_id;
  return v_taken;
end;
$$;
revoke all on function private.room_flush(uuid, integer) from public, anon, authenticated, service_role;

-- The ticker. Returns the number of changes sent.
-- Security definer: the worker's role may execute it and nothing else here.
create function private.room_tick(p_min_interval interval, p_max_rooms int, p_max_changes int)
returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session_id uuid;
  v_sent int := 0;
begin
  -- Rooms with something pending get a row. Only rooms without one are
  -- inserted (a conflicting insert would wait for a ticker flushing that
  -- room); two tickers inserting the same new room: the second waits for the
  -- first to commit, then skips it.
  insert into private.room_ticks (session_id)
  select r.session_id from (
    select c.session_id from private.room_changes c
    union
    select q.session_id from private.queue_vote_deltas d join public.queue_items q on q.id = d.item_id
  ) r
  where not exists (select 1 from private.room_ticks t where t.session_id = r.session_id)
  order by 1  -- one order for every ticker: concurrent inserts cannot deadlock
  on conflict (session_id) do nothing;

  for v_session_id in
    select t.session_id from private.room_ticks t
    where t.flushed_at <= now() - p_min_interval
      and (exists (select 1 from private.room_changes c where c.session_id = t.session_id)
           or exists (select 1 from private.queue_vote_deltas d join public.queue_items q on q.id = d.item_id
                      where q.session_id = t.session_id))
    order by t.flushed_at, t.session_id
    limit p_max_rooms
    for update skip locked
  loop
    perform private.fold_vote_deltas(v_session_id);
    v_sent := v_sent + private.room_flush(v_session_id, p_max_changes);
  end loop;

  -- Rows of rooms with nothing pending and no batch for a minute are dropped.
  delete from private.room_ticks t
  where t.flushed_at < now() - interval '1 minute'
    and not exists (select 1 from private.room_changes c where c.session_id = t.session_id);
  return v_sent;
end;
$$;
comment on function private.room_tick(interval, integer, integer) is 'Send every due room''s pending changes as one room_batch each (the worker''s room_tick job).';
revoke all on function private.room_tick(interval, integer, integer) from public, anon, authenticated, service_role;
grant execute on function private.room_tick(interval, integer, integer) to openparty_worker, service_role;
