-- The sweeps that end sessions and close participations without anyone asking:
-- a DJ whose app stopped pinging, an abandoned room, a schedule long past, a
-- listener who went silent. The cleanup worker calls them. Each works in a
-- bounded batch, skips rows another replica holds, takes its clock as a
-- parameter (tests move it), and returns how many rows it handled. They live
-- after chat and queue because "abandoned" reads both.

-- The cleanup worker's shape: pick a bounded batch (skipping rows another
-- replica holds), end each; returns how many.
create function private.end_sessions(p_session_ids uuid[], p_reason text) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  foreach v_id in array p_session_ids loop
    perform private.end_session(v_id, p_reason);
  end loop;
  return coalesce(cardinality(p_session_ids), 0);
end;
$$;
revoke all on function private.end_sessions(uuid[], text) from public, anon, authenticated, service_role;

-- Used by the cleanup worker: end live sessions whose DJ stopped pinging.
create function private.end_silent_sessions(p_silence interval, p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  select private.end_sessions(array(
    select s.id from public.sessions s
    where s.status = 'live' and coalesce(s.last_heartbeat_at, s.started_at) < p_now - p_silence
    order by s.last_heartbeat_at
    limit p_limit
    for no key update skip locked), 'heartbeat_lost')
$$;
comment on function private.end_silent_sessions(interval, int, timestamptz) is 'Ends up to p_limit live sessions without a DJ heartbeat for p_silence; returns how many.';
revoke all on function private.end_silent_sessions(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.end_silent_sessions(interval, integer, timestamp with time zone) to openparty_worker, service_role;

-- Live sessions where nothing happened (no chat, no join, no track start) for
-- p_idle, and live at least that long: the DJ's app is probably still pinging
-- from a pocket. Reason 'abandoned'.
create function private.end_abandoned_sessions(p_idle interval, p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  select private.end_sessions(array(
    select s.id from public.sessions s
    where s.status = 'live' and s.started_at < p_now - p_idle
      and not exists (select 1 from public.messages m where m.session_id = s.id and m.created_at >= p_now - p_idle)
      and not exists (select 1 from public.session_participants p
                      where p.session_id = s.id and p.joined_at >= p_now - p_idle)
      -- songs the system started by itself (fallback, recommendations: auto-advance) are no sign of life
      and not exists (select 1 from public.queue_items q where q.session_id = s.id and q.started_at >= p_now - p_idle
                                                          and q.origin not in ('fallback', 'recommendation'))
    order by s.started_at
    limit p_limit
    for no key update skip locked), 'abandoned')
$$;
revoke all on function private.end_abandoned_sessions(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.end_abandoned_sessions(interval, integer, timestamp with time zone) to openparty_worker, service_role;

-- Scheduled sessions whose time is long past: reason 'never_started'.
create function private.end_stale_scheduled_sessions(p_grace interval, p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  select private.end_sessions(array(
    select s.id from public.sessions s
    where s.status = 'scheduled' and s.scheduled_for < p_now - p_grace
    order by s.scheduled_for
    limit p_limit
    for no key update skip locked), 'never_started')
$$;
revoke all on function private.end_stale_scheduled_sessions(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.end_stale_scheduled_sessions(interval, integer, timestamp with time zone) to openparty_worker, service_role;

-- Listeners whose app stopped pinging: close their participation, counts kept.
create function private.close_idle_participations(p_idle interval, p_limit int, p_now timestamptz default now())
returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session_id uuid;
  v_user_id uuid;
  v_count int := 0;
begin
  for v_session_id, v_user_id in
    select p.session_id, p.user_id from public.session_participants p
    where p.left_at is null and p.last_seen_at < p_now - p_idle
    order by p.session_id
    limit p_limit
  loop
    -- The session lock first, as every change of listeners takes it.
    perform 1 from public.sessions s where s.id = v_session_id for no key update skip locked;
    continue when not found;
    if private.close_participation(v_session_id, v_user_id) then
      v_count := v_count + 1;
    end if;
  end loop;
  return v_count;
end;
$$;
revoke all on function private.close_idle_participations(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.close_idle_participations(interval, integer, timestamp with time zone) to openparty_worker, service_role;
