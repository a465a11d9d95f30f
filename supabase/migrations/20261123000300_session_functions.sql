-- Session transitions, joining and leaving, and moderation: the multi-row
-- changes the app makes through RPC. Each public function is a security
-- invoker wrapper over a private security definer one that checks the caller
-- itself (the linter flags definer functions in the exposed schema).

create function private.require_user() returns uuid
language plpgsql stable
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  return v_uid;
end;
$$;
grant execute on function private.require_user() to authenticated, service_role;

create function private.session_capacity(p_session public.sessions) returns int
language sql stable
set search_path = ''
as $$ select least(p_session.max_participants, (private.plan_of(p_session.dj_id)).max_participants) $$;
comment on function private.session_capacity(public.sessions) is 'Listeners a session admits: its own max_participants, capped by its DJ''s plan.';

-- Lock the session row and return it; every change to a session's listeners
-- takes this lock first (session, then participant rows), so counts stay exact
-- and concurrent joins/leaves/ends cannot deadlock.
create function private.lock_session(p_session_id uuid) returns public.sessions
language plpgsql
set search_path = ''
as $$
declare
  v_session public.sessions;
begin
  select * into v_session from public.sessions s where s.id = p_session_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = 'session not found';
  end if;
  return v_session;
end;
$$;

create function private.lock_live_session(p_session_id uuid) returns public.sessions
language plpgsql
set search_path = ''
as $$
declare
  v_session public.sessions := private.lock_session(p_session_id);
begin
  if v_session.status <> 'live' then
    raise exception using errcode = 'PT409', message = 'this session is not live';
  end if;
  return v_session;
end;
$$;

create function private.lock_own_session(p_session_id uuid) returns public.sessions
language plpgsql
set search_path = ''
as $$
declare
  v_session public.sessions := private.lock_session(p_session_id);
begin
  if v_session.dj_id is distinct from private.require_user() then
    raise exception using errcode = 'PT403', message = 'only the session''s DJ can do this';
  end if;
  return v_session;
end;
$$;

------------------------------------------------------------------------------
-- Going live and ending
------------------------------------------------------------------------------
create function private.start_session(p_session_id uuid) returns public.sessions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session public.sessions := private.lock_own_session(p_session_id);
begin
  if v_session.status <> 'scheduled' then
    raise exception using errcode = 'PT409', message = format('this session is %s, not scheduled', v_session.status);
  end if;
  begin
    update public.sessions
    set status = 'live', started_at = now(), last_heartbeat_at = now()
    where id = p_session_id
    returning * into v_session;
  exception when unique_violation then
    raise exception using errcode = 'PT409', message = 'you already have a live session: end it first';
  end;
  return v_session;
end;
$$;

create function private.go_live(p_title text, p_description text, p_genres text[], p_cover_url text) returns public.sessions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_session public.sessions;
begin
  begin
    insert into public.sessions (dj_id, title, description, genres, cover_url, status, started_at, last_heartbeat_at)
    values (v_uid, p_title, coalesce(p_description, ''), coalesce(p_genres, '{}'), p_cover_url, 'live', now(), now())
    returning * into v_session;
  exception when unique_violation then
    raise exception using errcode = 'PT409', message = 'you already have a live session: end it first';
  end;
  return v_session;
end;
$$;

-- The one way a session ends, for the DJ and the system alike: final, and
-- every open participation is closed with it.
create function private.end_session(p_session_id uuid, p_reason text) returns public.sessions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session public.sessions := private.lock_session(p_session_id);
begin
  if v_session.status = 'ended' then
    return v_session;
  end if;
  update public.session_participants p
  set left_at = now()
  where p.session_id = p_session_id and p.left_at is null;
  update public.sessions
  set status = 'ended', ended_at = now(), listener_count = 0,
      end_reason = case when v_session.status = 'scheduled' and p_reason = 'dj' then 'canceled' else p_reason end
  where id = p_session_id
  returning * into v_session;
  return v_session;
end;
$$;
grant execute on function private.end_session(uuid, text) to service_role, openparty_worker;

create function private.end_own_session(p_session_id uuid) returns public.sessions
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.lock_own_session(p_session_id);
  return private.end_session(p_session_id, 'dj');
end;
$$;

-- The DJ's app pings while live; a listener's app pings while listening.
create function private.session_heartbeat(p_session_id uuid) returns timestamptz
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
begin
  update public.sessions s set last_heartbeat_at = now()
  where s.id = p_session_id and s.dj_id = v_uid and s.status = 'live';
  if found then
    return now();
  end if;
  update public.session_participants p set last_seen_at = now()
  where p.session_id = p_session_id and p.user_id = v_uid and p.left_at is null;
  if found then
    return now();
  end if;
  raise exception using errcode = 'PT404', message = 'you are not in this live session';
end;
$$;

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
    for update skip locked), 'heartbeat_lost')
$$;
comment on function private.end_silent_sessions(interval, int, timestamptz) is 'Ends up to p_limit live sessions without a DJ heartbeat for p_silence; returns how many.';
grant execute on function private.end_silent_sessions(interval, int, timestamptz) to service_role, openparty_worker;

------------------------------------------------------------------------------
-- Joining and leaving
------------------------------------------------------------------------------
create function private.join_session(p_session_id uuid) returns public.session_participants
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_session public.sessions := private.lock_live_session(p_session_id);
  v_participant public.session_participants;
  v_first_time boolean;
begin
  if v_session.dj_id = v_uid then
    raise exception using errcode = 'PT409', message = 'you host this session';
  end if;
  if exists (select 1 from public.session_sanctions x
             where x.session_id = p_session_id and x.user_id = v_uid and x.kind = 'ban') then
    raise exception using errcode = 'PT403', message = 'you are banned from this session';
  end if;
  if exists (select 1 from public.user_blocks b where b.blocker_id = v_session.dj_id and b.blocked_id = v_uid) then
    raise exception using errcode = 'PT403', message = 'you cannot join this session';
  end if;

  update public.session_participants p set last_seen_at = now()
  where p.session_id = p_session_id and p.user_id = v_uid and p.left_at is null
  returning * into v_participant;
  if found then
    return v_participant;  -- already here: joining again changes nothing
  end if;

  if v_session.listener_count >= private.session_capacity(v_session) then
    raise exception using errcode = 'PT409', message = 'this session is full';
  end if;

  insert into public.session_participants as p (session_id, user_id)
  values (p_session_id, v_uid)
  on conflict (session_id, user_id) do update
    set left_at = null, joined_at = now(), last_seen_at = now()
  returning (xmax = 0) into v_first_time;  -- xmax = 0: a fresh row, not a re-join
  select * into v_participant from public.session_participants p
  where p.session_id = p_session_id and p.user_id = v_uid;

  update public.sessions
  set listener_count = listener_count + 1,
      peak_listener_count = greatest(peak_listener_count, listener_count + 1),
      total_listener_count = total_listener_count + v_first_time::int
  where id = p_session_id;
  return v_participant;
end;
$$;

-- Close one participation and keep the count; the caller holds the session lock.
create function private.close_participation(p_session_id uuid, p_user_id uuid) returns boolean
language plpgsql
set search_path = ''
as $$
begin
  update public.session_participants p set left_at = now()
  where p.session_id = p_session_id and p.user_id = p_user_id and p.left_at is null;
  if not found then
    return false;
  end if;
  update public.sessions set listener_count = listener_count - 1 where id = p_session_id;
  return true;
end;
$$;

create function private.leave_session(p_session_id uuid) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
begin
  perform private.lock_session(p_session_id);
  return private.close_participation(p_session_id, v_uid);
end;
$$;

------------------------------------------------------------------------------
-- Moderation
------------------------------------------------------------------------------
create function private.require_moderator(p_session_id uuid, p_target uuid) returns public.sessions
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_session public.sessions := private.lock_session(p_session_id);
begin
  if v_session.dj_id <> v_uid and not exists (
      select 1 from public.session_moderators m where m.session_id = p_session_id and m.user_id = v_uid) then
    raise exception using errcode = 'PT403', message = 'only the DJ and moderators can do this';
  end if;
  if p_target is not null then
    if p_target = v_session.dj_id then
      raise exception using errcode = 'PT403', message = 'the DJ cannot be sanctioned in their own session';
    end if;
    if p_target = v_uid then
      raise exception using errcode = 'PT409', message = 'you cannot sanction yourself';
    end if;
    if v_session.dj_id <> v_uid and exists (
        select 1 from public.session_moderators m where m.session_id = p_session_id and m.user_id = p_target) then
      raise exception using errcode = 'PT403', message = 'only the DJ can sanction a moderator';
    end if;
  end if;
  return v_session;
end;
$$;

create function private.log_moderation(p_session_id uuid, p_action text, p_target uuid,
                                       p_message_id bigint default null, p_detail jsonb default '{}')
returns void
language sql
set search_path = ''
as $$
  insert into public.moderation_actions (session_id, actor_id, target_user_id, message_id, action, detail)
  values (p_session_id, (select auth.uid()), p_target, p_message_id, p_action, p_detail)
$$;

create function private.timeout_user(p_session_id uuid, p_user_id uuid, p_seconds int, p_reason text)
returns public.session_sanctions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_sanction public.session_sanctions;
begin
  perform private.require_moderator(p_session_id, p_user_id);
  if p_seconds is null or p_seconds not between 10 and 86400 then
    raise exception using errcode = 'PT422', message = 'a timeout lasts 10 s to 24 h';
  end if;
  insert into public.session_sanctions as x (session_id, user_id, kind, until, reason, created_by)
  values (p_session_id, p_user_id, 'timeout', now() + make_interval(secs => p_seconds), coalesce(p_reason, ''),
          (select auth.uid()))
  on conflict (session_id, user_id) do update
    set until = excluded.until, reason = excluded.reason, created_by = excluded.created_by, created_at = now()
    where x.kind = 'timeout'
  returning * into v_sanction;
  if not found then
    raise exception using errcode = 'PT409', message = 'this user is already banned from the session';
  end if;
  perform private.log_moderation(p_session_id, 'timeout', p_user_id, null,
                                 jsonb_build_object('seconds', p_seconds, 'reason', coalesce(p_reason, '')));
  return v_sanction;
end;
$$;

create function private.ban_user(p_session_id uuid, p_user_id uuid, p_reason text)
returns public.session_sanctions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_sanction public.session_sanctions;
begin
  perform private.require_moderator(p_session_id, p_user_id);
  insert into public.session_sanctions as x (session_id, user_id, kind, until, reason, created_by)
  values (p_session_id, p_user_id, 'ban', null, coalesce(p_reason, ''), (select auth.uid()))
  on conflict (session_id, user_id) do update
    set kind = 'ban', until = null, reason = excluded.reason, created_by = excluded.created_by, created_at = now()
  returning * into v_sanction;
  perform private.close_participation(p_session_id, p_user_id);
  perform private.log_moderation(p_session_id, 'ban', p_user_id, null, jsonb_build_object('reason', coalesce(p_reason, '')));
  return v_sanction;
end;
$$;

create function private.unban_user(p_session_id uuid, p_user_id uuid) returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.require_moderator(p_session_id, null);
  delete from public.session_sanctions x where x.session_id = p_session_id and x.user_id = p_user_id;
  if not found then
    return false;
  end if;
  perform private.log_moderation(p_session_id, 'unban', p_user_id);
  return true;
end;
$$;

-- Appointing and removing moderators goes through the table (DJ-only policy);
-- this trigger writes the audit log.
create function private.session_moderators_log() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    perform private.log_moderation(new.session_id, 'appoint_moderator', new.user_id);
    return new;
  end if;
  perform private.log_moderation(old.session_id, 'remove_moderator', old.user_id);
  return old;
end;
$$;

create trigger session_moderators_log
after insert or delete on public.session_moderators
for each row execute function private.session_moderators_log();

create function private.session_moderators_guard() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.sessions s where s.id = new.session_id and s.status = 'ended') then
    raise exception using errcode = 'PT409', message = 'this session has ended';
  end if;
  if exists (select 1 from public.sessions s where s.id = new.session_id and s.dj_id = new.user_id) then
    raise exception using errcode = 'PT409', message = 'the DJ already moderates their own session';
  end if;
  return new;
end;
$$;

create trigger session_moderators_guard
before insert on public.session_moderators
for each row execute function private.session_moderators_guard();

------------------------------------------------------------------------------
-- The public RPC surface (security invoker wrappers)
------------------------------------------------------------------------------
create function public.go_live(p_title text, p_description text default '', p_genres text[] default '{}',
                               p_cover_url text default null)
returns public.sessions language sql security invoker set search_path = ''
as $$ select * from private.go_live(p_title, p_description, p_genres, p_cover_url) $$;
comment on function public.go_live(text, text, text[], text) is 'Create a session and start it at once. 409 if you already have a live session; 403 unless you are a DJ.';

create function public.start_session(p_session_id uuid)
returns public.sessions language sql security invoker set search_path = ''
as $$ select * from private.start_session(p_session_id) $$;
comment on function public.start_session(uuid) is 'Start your scheduled session. 409 unless scheduled, or if another of yours is live.';

create function public.end_session(p_session_id uuid)
returns public.sessions language sql security invoker set search_path = ''
as $$ select * from private.end_own_session(p_session_id) $$;
comment on function public.end_session(uuid) is 'End your session (a scheduled one is canceled). Final; closes every participation. Idempotent.';

create function public.session_heartbeat(p_session_id uuid)
returns timestamptz language sql security invoker set search_path = ''
as $$ select private.session_heartbeat(p_session_id) $$;
comment on function public.session_heartbeat(uuid) is 'Ping while live (DJ) or while listening (participant). 404 if you are not in the live session.';

create function public.join_session(p_session_id uuid)
returns public.session_participants language sql security invoker set search_path = ''
as $$ select * from private.join_session(p_session_id) $$;
comment on function public.join_session(uuid) is 'Join a live session (idempotent). 409 not live / full; 403 banned or blocked by the DJ.';

create function public.leave_session(p_session_id uuid)
returns boolean language sql security invoker set search_path = ''
as $$ select private.leave_session(p_session_id) $$;
comment on function public.leave_session(uuid) is 'Leave a session. Returns false if you were not in it.';

create function public.timeout_user(p_session_id uuid, p_user_id uuid, p_seconds int, p_reason text default '')
returns public.session_sanctions language sql security invoker set search_path = ''
as $$ select * from private.timeout_user(p_session_id, p_user_id, p_seconds, p_reason) $$;
comment on function public.timeout_user(uuid, uuid, int, text) is 'DJ or moderator: the user may not chat for p_seconds (10 s - 24 h).';

create function public.ban_user(p_session_id uuid, p_user_id uuid, p_reason text default '')
returns public.session_sanctions language sql security invoker set search_path = ''
as $$ select * from private.ban_user(p_session_id, p_user_id, p_reason) $$;
comment on function public.ban_user(uuid, uuid, text) is 'DJ or moderator: remove the user from the session; they cannot rejoin or chat.';

create function public.unban_user(p_session_id uuid, p_user_id uuid)
returns boolean language sql security invoker set search_path = ''
as $$ select private.unban_user(p_session_id, p_user_id) $$;
comment on function public.unban_user(uuid, uuid) is 'DJ or moderator: lift a ban or timeout.';

do $grants$
declare
  v_fn text;
begin
  foreach v_fn in array array[
    'private.go_live(text, text, text[], text)', 'private.start_session(uuid)', 'private.end_own_session(uuid)',
    'private.session_heartbeat(uuid)', 'private.join_session(uuid)', 'private.leave_session(uuid)',
    'private.timeout_user(uuid, uuid, int, text)', 'private.ban_user(uuid, uuid, text)', 'private.unban_user(uuid, uuid)',
    'public.go_live(text, text, text[], text)', 'public.start_session(uuid)', 'public.end_session(uuid)',
    'public.session_heartbeat(uuid)', 'public.join_session(uuid)', 'public.leave_session(uuid)',
    'public.timeout_user(uuid, uuid, int, text)', 'public.ban_user(uuid, uuid, text)', 'public.unban_user(uuid, uuid)'
  ] loop
    execute format('revoke all on function %s from public, anon', v_fn);
    execute format('grant execute on function %s to authenticated', v_fn);
  end loop;
end
$grants$;
