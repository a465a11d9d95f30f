-- Moderation: appointing moderators, timeouts and bans, and the audit log.

create table public.moderation_actions (
  id bigint generated always as identity primary key,
  session_id uuid references public.sessions (id) on delete cascade,
  actor_id uuid default auth.uid() references public.profiles (id) on delete set null,
  target_user_id uuid references public.profiles (id) on delete set null,
  message_id bigint,
  action text not null check (action in ('delete_message', 'timeout', 'ban', 'unban', 'appoint_moderator',
                                         'remove_moderator', 'end_session')),
  detail jsonb not null default '{}',
  created_at timestamptz not null default now()
);
comment on table public.moderation_actions is 'Audit log of every moderation action; the session''s DJ and moderators read it, nobody edits it. A timeout, ban or unban is requested by inserting its row (applied by a trigger).';
create index moderation_actions_session on public.moderation_actions (session_id, created_at desc);
create index moderation_actions_actor on public.moderation_actions (actor_id);
create index moderation_actions_target on public.moderation_actions (target_user_id);
revoke all on public.moderation_actions from anon, authenticated, service_role;
grant select on public.moderation_actions to authenticated;
-- The DJ and moderators ask for a sanction by logging it (the insert policy and
-- the moderation_actions_apply trigger below); the actor, time and message are
-- the server's.
grant insert (session_id, target_user_id, action, detail) on public.moderation_actions to authenticated;
grant select, insert on public.moderation_actions to service_role;
alter table public.moderation_actions enable row level security;

-- Moderation. A banned moderator is no moderator (bans remove the role, and a
-- ban counts even if a moderator row were left behind).
create function private.may_moderate(p_session_id uuid, p_uid uuid) returns boolean
language sql stable
set search_path = ''
as $$
  select (exists (select 1 from public.sessions s where s.id = p_session_id and s.dj_id = p_uid)
          or exists (select 1 from public.session_moderators m where m.session_id = p_session_id and m.user_id = p_uid))
     and not private.is_banned(p_session_id, p_uid)
$$;
revoke all on function private.may_moderate(uuid, uuid) from public, anon, authenticated, service_role;

create function private.log_moderation(p_session_id uuid, p_action text, p_target uuid,
                                       p_message_id bigint default null, p_detail jsonb default '{}')
returns void
language sql
set search_path = ''
as $$
  insert into public.moderation_actions (session_id, actor_id, target_user_id, message_id, action, detail)
  values (p_session_id, (select auth.uid()), p_target, p_message_id, p_action, p_detail)
$$;
revoke all on function private.log_moderation(uuid, text, uuid, bigint, jsonb) from public, anon, authenticated, service_role;

-- Sanctions (timeout, ban, unban) are asked for by logging them: the caller
-- inserts the moderation_actions row, its insert policy (policies/moderation.sql)
-- says who may act, and the triggers below record and apply it. The public
-- RPCs timeout_user / ban_user / unban_user are the app's entry points: they
-- check the caller on what the caller can read (the same answers as before),
-- then insert. A direct insert can do nothing the RPCs cannot.

-- The row records exactly what was asked: who (the caller), when, and the
-- action's own detail ({seconds, reason} / {reason} / {}), nothing else.
create function private.moderation_actions_normalize() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.actor_id := coalesce((select auth.uid()), new.actor_id);
  new.message_id := null;
  new.created_at := now();
  new.detail := case new.action
                  when 'timeout' then jsonb_build_object('seconds', new.detail -> 'seconds',
                                                         'reason', coalesce(new.detail ->> 'reason', ''))
                  when 'ban' then jsonb_build_object('reason', coalesce(new.detail ->> 'reason', ''))
                  else '{}'::jsonb end;
  return new;
end;
$$;
revoke all on function private.moderation_actions_normalize() from public, anon, authenticated, service_role;

create trigger moderation_actions_normalize
before insert on public.moderation_actions
for each row when (new.action in ('timeout', 'ban', 'unban'))
execute function private.moderation_actions_normalize();

-- Applies a logged sanction. Security definer: it writes the target's
-- session_sanctions row, closes a banned user's participation and removes a
-- banned moderator's role. It runs after the insert policy has admitted the
-- caller, so the room's lock is taken only for someone allowed to act; under
-- it every rule is checked again (the actor may have lost the role meanwhile),
-- and each refusal rolls the log row back with it.
create function private.moderation_actions_apply() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session public.sessions := private.lock_session(new.session_id);
  v_seconds numeric;
begin
  if new.actor_id is null or not private.may_moderate(new.session_id, new.actor_id) then
    raise exception using errcode = 'PT403', message = 'only the DJ and moderators can do this';
  end if;
  if new.action = 'unban' then
    if new.target_user_id = new.actor_id then
      raise exception using errcode = 'PT403', message = 'you cannot lift your own sanction';
    end if;
    delete from public.session_sanctions x where x.session_id = new.session_id and x.user_id = new.target_user_id;
    return null;
  end if;

  if new.target_user_id = v_session.dj_id then
    raise exception using errcode = 'PT403', message = 'the DJ cannot be sanctioned in their own session';
  end if;
  if new.target_user_id = new.actor_id then
    raise exception using errcode = 'PT409', message = 'you cannot sanction yourself';
  end if;
  if v_session.dj_id <> new.actor_id and exists (
      select 1 from public.session_moderators m where m.session_id = new.session_id and m.user_id = new.target_user_id) then
    raise exception using errcode = 'PT403', message = 'only the DJ can sanction a moderator';
  end if;

  if new.action = 'timeout' then
    if jsonb_typeof(new.detail -> 'seconds') = 'number' then
      v_seconds := (new.detail ->> 'seconds')::numeric;
    end if;
    if v_seconds is null or v_seconds not between 10 and 86400 then
      raise exception using errcode = 'PT422', message = 'a timeout lasts 10 s to 24 h';
    end if;
    insert into public.session_sanctions as x (session_id, user_id, kind, until, reason, created_by)
    values (new.session_id, new.target_user_id, 'timeout', now() + make_interval(secs => v_seconds::float8),
            new.detail ->> 'reason', new.actor_id)
    on conflict (session_id, user_id) do update
      set until = excluded.until, reason = excluded.reason, created_by = excluded.created_by, created_at = now()
      where x.kind = 'timeout';
    if not found then
      raise exception using errcode = 'PT409', message = 'this user is already banned from the session';
    end if;
    return null;
  end if;

  insert into public.session_sanctions as x (session_id, user_id, kind, until, reason, created_by)
  values (new.session_id, new.target_user_id, 'ban', null, new.detail ->> 'reason', new.actor_id)
  on conflict (session_id, user_id) do update
    set kind = 'ban', until = null, reason = excluded.reason, created_by = excluded.created_by, created_at = now();
  perform private.close_participation(new.session_id, new.target_user_id);
  -- A banned moderator loses the role (logged as remove_moderator by the
  -- session_moderators_log trigger). A timeout keeps it: it only silences the
  -- moderator's chat for a while, and they cannot lift it themselves.
  delete from public.session_moderators m where m.session_id = new.session_id and m.user_id = new.target_user_id;
  return null;
end;
$$;
revoke all on function private.moderation_actions_apply() from public, anon, authenticated, service_role;

create trigger moderation_actions_apply
after insert on public.moderation_actions
for each row when (new.action in ('timeout', 'ban', 'unban'))
execute function private.moderation_actions_apply();

-- The RPCs' own checks, before anything is written or locked, on what the
-- caller can read (sessions, the room's moderators): the answers the app has
-- always had (the insert policy alone would answer 42501). Returns the caller.
create function private.check_may_sanction(p_session_id uuid, p_target uuid, p_action text) returns uuid
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_dj_id uuid;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  if p_action = 'unban' and p_target = v_uid then
    raise exception using errcode = 'PT403', message = 'you cannot lift your own sanction';
  end if;
  if not exists (select 1 from private.my_moderated_session_ids() s where s = p_session_id) then
    raise exception using errcode = 'PT403', message = 'only the DJ and moderators can do this';
  end if;
  if p_action <> 'unban' then
    select s.dj_id into v_dj_id from public.sessions s where s.id = p_session_id;
    if p_target = v_dj_id then
      raise exception using errcode = 'PT403', message = 'the DJ cannot be sanctioned in their own session';
    end if;
    if p_target = v_uid then
      raise exception using errcode = 'PT409', message = 'you cannot sanction yourself';
    end if;
    if v_dj_id <> v_uid and exists (
        select 1 from public.session_moderators m where m.session_id = p_session_id and m.user_id = p_target) then
      raise exception using errcode = 'PT403', message = 'only the DJ can sanction a moderator';
    end if;
  end if;
  return v_uid;
end;
$$;
revoke all on function private.check_may_sanction(uuid, uuid, text) from public, anon, authenticated, service_role;
-- authenticated: public.timeout_user / ban_user / unban_user (security invoker) call it; it is
-- security invoker too and reads only what the caller may read.
grant execute on function private.check_may_sanction(uuid, uuid, text) to authenticated;

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
  -- Deleting the moderator's account or the room cascades here: a log row
  -- could reference neither (and the room's log goes with the room).
  if not exists (select 1 from public.profiles p where p.id = old.user_id)
     or not exists (select 1 from public.sessions s where s.id = old.session_id) then
    return old;
  end if;
  perform private.log_moderation(old.session_id, 'remove_moderator', old.user_id);
  return old;
end;
$$;
revoke all on function private.session_moderators_log() from public, anon, authenticated, service_role;

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
  if private.is_banned(new.session_id, new.user_id) then
    raise exception using errcode = 'PT409', message = 'lift the ban before appointing this user';
  end if;
  return new;
end;
$$;
revoke all on function private.session_moderators_guard() from public, anon, authenticated, service_role;

create trigger session_moderators_guard
before insert on public.session_moderators
for each row execute function private.session_moderators_guard();

-- Personal events: sanctions to their target, new followers to the followee.
create function private.session_sanctions_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.broadcast('user:' || new.user_id, 'sanctioned', jsonb_build_object(
    'session_id', new.session_id, 'kind', new.kind, 'until', new.until, 'reason', new.reason));
  return null;
end;
$$;
revoke all on function private.session_sanctions_broadcast() from public, anon, authenticated, service_role;

create trigger session_sanctions_broadcast
after insert or update on public.session_sanctions
for each row execute function private.session_sanctions_broadcast();

-- The sanction as it now stands. created_by is the caller (who just set it);
-- the column is not readable by the app, so it is filled in, not read.
create function public.timeout_user(p_session_id uuid, p_user_id uuid, p_seconds int, p_reason text default '')
returns public.session_sanctions
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_uid uuid := private.check_may_sanction(p_session_id, p_user_id, 'timeout');
  v_sanction public.session_sanctions;
begin
  if p_seconds is null or p_seconds not between 10 and 86400 then
    raise exception using errcode = 'PT422', message = 'a timeout lasts 10 s to 24 h';
  end if;
  insert into public.moderation_actions (session_id, target_user_id, action, detail)
  values (p_session_id, p_user_id, 'timeout', jsonb_build_object('seconds', p_seconds, 'reason', coalesce(p_reason, '')));
  select x.session_id, x.user_id, x.kind, x.until, x.reason, v_uid, x.created_at into v_sanction
  from public.session_sanctions x where x.session_id = p_session_id and x.user_id = p_user_id;
  return v_sanction;
end;
$$;
comment on function public.timeout_user(uuid, uuid, int, text) is 'DJ or moderator: the user may not chat for p_seconds (10 s - 24 h).';
revoke all on function public.timeout_user(uuid, uuid, integer, text) from public, anon, authenticated, service_role;
grant execute on function public.timeout_user(uuid, uuid, integer, text) to authenticated;

create function public.ban_user(p_session_id uuid, p_user_id uuid, p_reason text default '')
returns public.session_sanctions
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_uid uuid := private.check_may_sanction(p_session_id, p_user_id, 'ban');
  v_sanction public.session_sanctions;
begin
  insert into public.moderation_actions (session_id, target_user_id, action, detail)
  values (p_session_id, p_user_id, 'ban', jsonb_build_object('reason', coalesce(p_reason, '')));
  select x.session_id, x.user_id, x.kind, x.until, x.reason, v_uid, x.created_at into v_sanction
  from public.session_sanctions x where x.session_id = p_session_id and x.user_id = p_user_id;
  return v_sanction;
end;
$$;
comment on function public.ban_user(uuid, uuid, text) is 'DJ or moderator: remove the user from the session; they cannot rejoin or chat.';
revoke all on function public.ban_user(uuid, uuid, text) from public, anon, authenticated, service_role;
grant execute on function public.ban_user(uuid, uuid, text) to authenticated;

-- false when the user has no sanction here (nothing is logged then).
create function public.unban_user(p_session_id uuid, p_user_id uuid)
returns boolean
language plpgsql security invoker
set search_path = ''
as $$
begin
  perform private.check_may_sanction(p_session_id, p_user_id, 'unban');
  if not exists (select 1 from public.session_sanctions x where x.session_id = p_session_id and x.user_id = p_user_id) then
    return false;
  end if;
  insert into public.moderation_actions (session_id, target_user_id, action) values (p_session_id, p_user_id, 'unban');
  return true;
end;
$$;
comment on function public.unban_user(uuid, uuid) is 'DJ or moderator: lift a ban or timeout.';
revoke all on function public.unban_user(uuid, uuid) from public, anon, authenticated, service_role;
grant execute on function public.unban_user(uuid, uuid) to authenticated;
