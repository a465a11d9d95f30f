-- Chat: messages with rules enforced in the database (membership, sanctions,
-- followers-only, blocked terms, rate limit and slow mode), their broadcast,
-- soft deletion by the sender or the room's moderators, and history pages.

create table public.messages (
  id bigint generated always as identity primary key,
  session_id uuid not null references public.sessions (id) on delete cascade,
  sender_id uuid default auth.uid() references public.profiles (id) on delete set null,
  kind text not null default 'text' check (kind in ('text', 'system', 'tip')),
  body text not null constraint messages_body_length check (char_length(body) <= 500 and btrim(body) <> ''),
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  deleted_at timestamptz,
  deleted_by uuid references public.profiles (id) on delete set null
);
comment on table public.messages is 'Chat of a session. Participants send text; system and tip messages come only from the server. Deleted messages are kept (soft delete) for audit.';
comment on column public.messages.kind is 'text: a participant wrote it; system: the server announces something; tip: a tip arrived (metadata has amount and currency)';
create index messages_session_page on public.messages (session_id, id desc);
create index messages_sender on public.messages (sender_id);
-- Partial: nearly every message has no deleter, and chat's hot path should not
-- add a null key to this index per line (it serves the foreign key's cascade).
create index messages_deleted_by on public.messages (deleted_by) where deleted_by is not null;
revoke all on public.messages from anon, authenticated, service_role;
grant select on public.messages to authenticated;
grant insert (session_id, body) on public.messages to authenticated;
-- Soft deletion: the sender or the room's DJ and moderators (messages_update
-- policy) set deleted_at; messages_guard_deletion stamps it and who did it.
grant update (deleted_at) on public.messages to authenticated;
grant select, insert, update, delete on public.messages to service_role;
alter table public.messages enable row level security;

create table public.dj_blocked_terms (
  dj_id uuid not null references public.profiles (id) on delete cascade,
  term text not null constraint dj_blocked_terms_term_length check (char_length(term) between 1 and 50),
  created_at timestamptz not null default now(),
  primary key (dj_id, term)
);
comment on table public.dj_blocked_terms is 'Terms a DJ does not allow in their sessions'' chat (case-insensitive substring match).';
revoke all on public.dj_blocked_terms from anon, authenticated, service_role;
grant select, delete on public.dj_blocked_terms to authenticated;
grant insert (term) on public.dj_blocked_terms to authenticated;
grant select, insert, delete on public.dj_blocked_terms to service_role;
alter table public.dj_blocked_terms enable row level security;

create function private.dj_blocked_terms_normalize() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.dj_id := coalesce((select auth.uid()), new.dj_id);
  new.term := lower(btrim(new.term));
  return new;
end;
$$;
revoke all on function private.dj_blocked_terms_normalize() from public, anon, authenticated, service_role;

create trigger dj_blocked_terms_normalize
before insert on public.dj_blocked_terms
for each row execute function private.dj_blocked_terms_normalize();

-- message_created (published by the chat trigger, private.messages_enforce_rules_and_broadcast):
-- at once in a small room, in the next room_batch in a large one (private.room_publish).
create function private.broadcast_message(p_message public.messages, p_sender_username text) returns void
language sql
set search_path = ''
as $$
  select private.room_publish(p_message.session_id, 'message_created', jsonb_build_object(
    'id', p_message.id, 'session_id', p_message.session_id, 'sender_id', p_message.sender_id,
    'sender_username', p_sender_username, 'kind', p_message.kind, 'body', p_message.body,
    'metadata', p_message.metadata, 'created_at', p_message.created_at))
$$;
revoke all on function private.broadcast_message(public.messages, text) from public, anon, authenticated, service_role;

-- Auto slow mode: a large room's chat has a minimum interval per listener that
-- grows with the room, so its batches stay readable: none below
-- room_tick_settings.auto_slow_mode_listeners (200), then
-- ceil(auto_slow_mode_factor (0.35) * sqrt(listeners)) seconds, at most 120:
-- 200 listeners 5 s, 1,000 12 s, 10,000 35 s, 100,000 111 s. The DJ's own
-- slow mode applies when it is stricter; the DJ and moderators are exempt.
create function private.auto_slow_mode_seconds(p_listeners int) returns int
language sql stable
set search_path = ''
as $$
  select case when p_listeners >= c.auto_slow_mode_listeners and p_listeners > 0
              then least(120, ceil(c.auto_slow_mode_factor * sqrt(p_listeners))::int) else 0 end
  from private.room_tick_settings c
$$;
comment on function private.auto_slow_mode_seconds(integer) is 'The automatic chat interval (seconds) of a room with this many listeners; 0 for small rooms.';
revoke all on function private.auto_slow_mode_seconds(integer) from public, anon, authenticated, service_role;

-- The chat rules, and the broadcast of the new message. One BEFORE trigger for
-- both, because this is chat's hot path: the broadcast row is written in the
-- same transaction, so a message that fails any later check is never announced.
-- Security definer: it reads the session, sanctions, follows and blocked terms,
-- and stamps the sender's last_message_at.
--
-- Durability: chat messages are committed asynchronously (synchronous_commit
-- off for this transaction): a database crash may lose the last fraction of a
-- second of chat, never a part of a message's effects. Money, sessions and
-- everything else stay fully durable.
create function private.messages_enforce_rules_and_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  -- Everyone's floor: 1 message per 3 s per user per session; slow mode raises it.
  c_base_interval constant interval := interval '3 seconds';
  v_uid uuid := (select auth.uid());
  v_room record;
  v_interval interval;
  v_last timestamptz;
  v_wait int;
begin
  if v_uid is null then
    -- The server itself (system and tip messages, service tasks): no rules.
    perform private.broadcast_message(new, (select p.username from public.profiles p where p.id = new.sender_id));
    return new;
  end if;
  new.sender_id := v_uid;
  new.kind := 'text';
  new.metadata := '{}';
  new.body := btrim(new.body);

  -- Everything the rules need, in one query.
  select s.dj_id, s.status, s.chat_enabled, s.slow_mode_seconds, s.listener_count, x.kind as sanction, x.until as sanction_until,
         me.username,
         exists (select 1 from public.session_moderators m where m.session_id = s.id and m.user_id = v_uid)
           as is_moderator,
         s.followers_only_chat and not exists (select 1 from public.follows f
                                                where f.follower_id = v_uid and f.followee_id = s.dj_id)
           as not_following,
         exists (select 1 from public.dj_blocked_terms t
                 where t.dj_id = s.dj_id and strpos(lower(new.body), t.term) > 0) as has_blocked_term
  into v_room
  from public.sessions s
  left join public.session_sanctions x on x.session_id = s.id and x.user_id = v_uid
  left join public.profiles me on me.id = v_uid
  where s.id = new.session_id;

  if not found or v_room.status <> 'live' then
    raise exception using errcode = 'PT409', message = 'chat is closed: this session is not live';
  end if;
  if v_room.dj_id <> v_uid then  -- the DJ is not rate limited in their own room
    if not v_room.chat_enabled then
      raise exception using errcode = 'PT403', message = 'the DJ has turned chat off';
    end if;
    if v_room.sanction = 'ban' then
      raise exception using errcode = 'PT403', message = 'you are banned from this session';
    elsif v_room.sanction_until > now() then
      raise exception using errcode = 'PT403',
        message = format('you are timed out: wait %s s', ceil(extract(epoch from v_room.sanction_until - now()))::int);
    end if;
    if v_room.has_blocked_term then
      raise exception using errcode = 'PT422', message = 'your message contains a term this DJ does not allow';
    end if;
    if v_room.is_moderator then
      v_interval := c_base_interval;  -- moderators skip slow mode and followers-only
    elsif v_room.not_following then
      raise exception using errcode = 'PT403', message = 'followers-only chat: follow the DJ to chat';
    else
      -- The stricter of the DJ's slow mode and the room's automatic one.
      v_interval := greatest(c_base_interval, make_interval(secs => v_room.slow_mode_seconds),
                             make_interval(secs => private.auto_slow_mode_seconds(v_room.listener_count)));
    end if;

    -- Claim the send slot atomically: concurrent sends by one user serialize on
    -- this row, and only one of them finds the interval elapsed.
    update public.session_participants p
    set last_message_at = now(), last_seen_at = now()
    where p.session_id = new.session_id and p.user_id = v_uid and p.left_at is null
      and (p.last_message_at is null or p.last_message_at <= now() - v_interval);
    if not found then
      select p.last_message_at into v_last from public.session_participants p
      where p.session_id = new.session_id and p.user_id = v_uid and p.left_at is null;
      if not found then
        raise exception using errcode = 'PT403', message = 'join the session to chat';
      end if;
      v_wait := greatest(1, ceil(extract(epoch from v_last + v_interval - now()))::int);
      raise exception using errcode = 'PT429',
        message = format('%s: wait %s s', case when v_interval > c_base_interval then 'slow mode' else 'too fast' end,
                         v_wait),
        detail = jsonb_build_object('retry_after', v_wait)::text;
    end if;
  end if;

  perform set_config('synchronous_commit', 'off', true);
  perform private.broadcast_message(new, v_room.username);
  return new;
end;
$$;
revoke all on function private.messages_enforce_rules_and_broadcast() from public, anon, authenticated, service_role;

create trigger messages_enforce_rules_and_broadcast
before insert on public.messages
for each row execute function private.messages_enforce_rules_and_broadcast();

-- Soft deletion from the app is one transition: deleted_at from null to now,
-- stamped with who did it (deleted_by). The column grant allows no other
-- column, the messages_update policy says who (the sender; the room's DJ and
-- moderators), and this trigger refuses undeleting or re-dating. The server
-- (no signed-in user) writes as it means.
create function private.messages_guard_deletion() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null or new.deleted_at is not distinct from old.deleted_at then
    return new;
  end if;
  if old.deleted_at is not null then
    raise exception using errcode = 'PT409', message = 'a deleted message stays deleted';
  end if;
  new.deleted_at := now();
  new.deleted_by := v_uid;
  return new;
end;
$$;
revoke all on function private.messages_guard_deletion() from public, anon, authenticated, service_role;

create trigger messages_guard_deletion
before update of deleted_at on public.messages
for each row execute function private.messages_guard_deletion();

-- message_deleted, and the moderation log when someone deleted another's
-- message. Security definer: the log and the room's events are the server's.
create function private.messages_log_and_broadcast_deletion() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.deleted_by is not null and new.deleted_by is distinct from new.sender_id then
    insert into public.moderation_actions (session_id, actor_id, target_user_id, message_id, action, detail)
    values (new.session_id, new.deleted_by, new.sender_id, new.id, 'delete_message', jsonb_build_object('body', new.body));
  end if;
  perform private.room_publish(new.session_id, 'message_deleted', jsonb_build_object('id', new.id));
  return null;
end;
$$;
revoke all on function private.messages_log_and_broadcast_deletion() from public, anon, authenticated, service_role;

create trigger messages_log_and_broadcast_deletion
after update of deleted_at on public.messages
for each row when (old.deleted_at is null and new.deleted_at is not null)
execute function private.messages_log_and_broadcast_deletion();

-- Deleting (soft), under the caller's own rights: who asks is checked first,
-- on what they can read: the sender, or the DJ or a moderator of the
-- message's room. Anyone else gets the same 404 whether the message exists,
-- was deleted or never existed, and no row: walking ids reveals nothing. Only
-- then the row is written (and locked). A repeat returns the deleted row.
create function public.delete_message(p_message_id bigint) returns public.messages
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_message public.messages;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  select * into v_message from public.messages m where m.id = p_message_id;
  if not found or (v_message.sender_id is distinct from v_uid
                   and not exists (select 1 from private.my_moderated_session_ids() s where s = v_message.session_id)) then
    raise exception using errcode = 'PT404', message = 'message not found';
  end if;
  if v_message.deleted_at is null then
    update public.messages m set deleted_at = now() where m.id = p_message_id and m.deleted_at is null;
    select * into v_message from public.messages m where m.id = p_message_id;
    if not found then  -- a moderator removed it meanwhile: hidden from its sender now
      raise exception using errcode = 'PT404', message = 'message not found';
    end if;
  end if;
  return v_message;
end;
$$;
comment on function public.delete_message(bigint) is 'Soft-delete a message: your own, or any in a session you host or moderate (logged).';
revoke all on function public.delete_message(bigint) from public, anon, authenticated, service_role;
grant execute on function public.delete_message(bigint) to authenticated;

-- Pages of chat under the caller's RLS: newest first by default; p_before /
-- p_after are message ids (cursors); p_limit 1-100.
create function public.chat_history(p_session_id uuid, p_before bigint default null, p_after bigint default null,
                                    p_limit int default 50, p_oldest_first boolean default false)
returns table (id bigint, session_id uuid, sender_id uuid, sender_username text, sender_avatar_url text,
               kind text, body text, metadata jsonb, created_at timestamptz)
language plpgsql stable security invoker
set search_path = ''
set plan_cache_mode = force_custom_plan
as $$
declare
  v_limit int := least(greatest(coalesce(p_limit, 50), 1), 100);
begin
  -- Two queries rather than a computed ORDER BY, so each walks messages_session_page.
  if p_oldest_first then
    return query
      select m.id, m.session_id, m.sender_id, p.username, p.avatar_url, m.kind, m.body, m.metadata, m.created_at
      from public.messages m left join public.profiles p on p.id = m.sender_id
      where m.session_id = p_session_id and m.deleted_at is null
        and (p_before is null or m.id < p_before) and (p_after is null or m.id > p_after)
      order by m.id asc
      limit v_limit;
  else
    return query
      select m.id, m.session_id, m.sender_id, p.username, p.avatar_url, m.kind, m.body, m.metadata, m.created_at
      from public.messages m left join public.profiles p on p.id = m.sender_id
      where m.session_id = p_session_id and m.deleted_at is null
        and (p_before is null or m.id < p_before) and (p_after is null or m.id > p_after)
      order by m.id desc
      limit v_limit;
  end if;
end;
$$;
comment on function public.chat_history(uuid, bigint, bigint, int, boolean) is 'A page of visible messages with sender names. Cursor: p_before / p_after message id.';
revoke all on function public.chat_history(uuid, bigint, bigint, integer, boolean) from public, anon, authenticated, service_role;
grant execute on function public.chat_history(uuid, bigint, bigint, integer, boolean) to authenticated;
