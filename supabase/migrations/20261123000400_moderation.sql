-- Moderation: appointing moderators, timeouts and bans, and the audit log.

create table public.moderation_actions (
  id bigint generated always as identity primary key,
  session_id uuid references public.sessions (id) on delete cascade,
  actor_id uuid references public.profiles (id) on delete set null,
  target_user_id uuid references public.profiles (id) on delete set null,
  message_id bigint,
  action text not null check (action in ('delete_message', 'timeout', 'ban', 'unban', 'appoint_moderator',
                                         'remove_moderator', 'end_session')),
  detail jsonb not null default '{}',
  created_at timestamptz not null default now()
);
comment on table public.moderation_actions is 'Audit log of every moderation action; the session''s DJ and moderators read it, nobody edits it.';
create index moderation_actions_session on public.moderation_actions (session_id, created_at desc);
create index moderation_actions_actor on public.moderation_actions (actor_id);
create index moderation_actions_target on public.moderation_actions (target_user_id);
revoke all on public.moderation_actions from anon, authenticated, service_role;
grant select on public.moderation_actions to authenticated;
grant select, insert on public.moderation_actions to service_role;
alter table public.moderation_actions enable row level security;

-- Moderation. The caller's right to act is checked before the room's lock is
-- taken (a stranger never waits on or holds it), and checked again under it.
-- A banned moderator is no moderator (bans remove the role, and a ban counts
-- even if a moderator row were left behind).
create function private.may_moderate(p_session_id uuid, p_uid uuid) returns boolean
language sql stable
set search_path = ''
as $$
  select (exists (select 1 from public.sessions s where s.id = p_session_id and s.dj_id = p_uid)
          or exists (select 1 from public.session_moderators m where m.session_id = p_session_id and m.user_id = p_uid))
     and not private.is_banned(p_session_id, p_uid)
$$;
revoke all on function private.may_moderate(uuid, uuid) from public, anon, authenticated, service_role;

create function private.require_moderator(p_session_id uuid, p_target uuid) returns public.sessions
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_session public.sessions;
begin
  if not private.may_moderate(p_session_id, v_uid) then
    raise exception using errcode = 'PT403', message = 'only the DJ and moderators can do this';
  end if;
  v_session := private.lock_session(p_session_id);
  if not private.may_moderate(p_session_id, v_uid) then
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
revoke all on function private.require_moderator(uuid, uuid) from public, anon, authenticated, service_role;

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
revoke all on function private.timeout_user(uuid, uuid, integer, text) from public, anon, authenticated, service_role;
-- authenticated: public.timeout_user() (security invoker) wraps it; it checks the caller itself.
grant execute on function private.timeout_user(uuid, uuid, integer, text) to authenticated;

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
  -- A banned moderator loses the role (logged as remove_moderator by the
  -- session_moderators_log trigger). A timeout keeps it: it only silences the
  -- moderator's chat for a while, and they cannot lift it themselves.
  delete from public.session_moderators m where m.session_id = p_session_id and m.user_id = p_user_id;
  return v_sanction;
end;
$$;
revoke all on function private.ban_user(uuid, uuid, text) from public, anon, authenticated, service_role;
-- authenticated: public.ban_user() (security invoker) wraps it; it checks the caller itself.
grant execute on function private.ban_user(uuid, uuid, text) to authenticated;

create function private.unban_user(p_session_id uuid, p_user_id uuid) returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_user_id = private.require_user() then
    raise exception using errcode = 'PT403', message = 'you cannot lift your own sanction';
  end if;
  perform private.require_moderator(p_session_id, null);
  delete from public.session_sanctions x where x.session_id = p_session_id and x.user_id = p_user_id;
  if not found then
    return false;
  end if;
  perform private.log_moderation(p_session_id, 'unban', p_user_id);
  return true;
end;
$$;
revoke all on function private.unban_user(uuid, uuid) from public, anon, authenticated, service_role;
-- authenticated: public.unban_user() (security invoker) wraps it; it checks the caller itself.
grant execute on function private.unban_user(uuid, uuid) to authenticated;

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

create function public.timeout_user(p_session_id uuid, p_user_id uuid, p_seconds int, p_reason text default '')
returns public.session_sanctions language sql security invoker set search_path = ''
as $$ select * from private.timeout_user(p_session_id, p_user_id, p_seconds, p_reason) $$;
comment on function public.timeout_user(uuid, uuid, int, text) is 'DJ or moderator: the user may not chat for p_seconds (10 s - 24 h).';
revoke all on function public.timeout_user(uuid, uuid, integer, text) from public, anon, authenticated, service_role;
grant execute on function public.timeout_user(uuid, uuid, integer, text) to authenticated;

create function public.ban_user(p_session_id uuid, p_user_id uuid, p_reason text default '')
returns public.session_sanctions language sql security invoker set search_path = ''
as $$ select * from private.ban_user(p_session_id, p_user_id, p_reason) $$;
comment on function public.ban_user(uuid, uuid, text) is 'DJ or moderator: remove the user from the session; they cannot rejoin or chat.';
revoke all on function public.ban_user(uuid, uuid, text) from public, anon, authenticated, service_role;
grant execute on function public.ban_user(uuid, uuid, text) to authenticated;

create function public.unban_user(p_session_id uuid, p_user_id uuid)
returns boolean language sql security invoker set search_path = ''
as $$ select private.unban_user(p_session_id, p_user_id) $$;
comment on function public.unban_user(uuid, uuid) is 'DJ or moderator: lift a ban or timeout.';
revoke all on function public.unban_user(uuid, uuid) from public, anon, authenticated, service_role;
grant execute on function public.unban_user(uuid, uuid) to authenticated;
