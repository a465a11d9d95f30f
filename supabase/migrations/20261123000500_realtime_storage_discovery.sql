-- Live channels (Realtime broadcast from the database), storage buckets, and
-- discovery (live-now feed, DJ search, suggestions).

------------------------------------------------------------------------------
-- Realtime. Topics: session:<id> for a room, user:<id> for one person.
-- Broadcasts come only from these triggers and functions, never from clients.
------------------------------------------------------------------------------
create function private.broadcast(p_topic text, p_event text, p_payload jsonb) returns void
language sql
set search_path = ''
as $$ select realtime.send(p_payload, p_event, p_topic, true) $$;
comment on function private.broadcast(text, text, jsonb) is 'Send a private broadcast from the database (realtime.send).';

-- Who may receive on a topic: the user on user:<own id>; the DJ, moderators
-- and present participants on session:<id>.
create function private.can_receive_topic(p_topic text) returns boolean
language sql stable security definer
set search_path = ''
as $$
  select case
    when p_topic is null or (select auth.uid()) is null then false
    when p_topic = 'user:' || (select auth.uid())::text then true
    when p_topic ~ '^session:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      then substr(p_topic, 9)::uuid in (select private.my_session_ids())
    else false
  end
$$;
grant execute on function private.can_receive_topic(text) to authenticated;

-- message_created (sent by the chat trigger, private.messages_enforce_rules_and_broadcast)
create function private.broadcast_message(p_message public.messages, p_sender_username text) returns void
language sql
set search_path = ''
as $$
  select private.broadcast('session:' || p_message.session_id, 'message_created', jsonb_build_object(
    'id', p_message.id, 'session_id', p_message.session_id, 'sender_id', p_message.sender_id,
    'sender_username', p_sender_username, 'kind', p_message.kind, 'body', p_message.body,
    'metadata', p_message.metadata, 'created_at', p_message.created_at))
$$;

-- message_deleted
create function private.messages_broadcast_deletion() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.broadcast('session:' || new.session_id, 'message_deleted', jsonb_build_object('id', new.id));
  return null;
end;
$$;

create trigger messages_broadcast_deletion
after update of deleted_at on public.messages
for each row when (old.deleted_at is null and new.deleted_at is not null)
execute function private.messages_broadcast_deletion();

-- Listener joins and leaves, with the count after the change.
create function private.session_participants_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_joined boolean := new.left_at is null;
begin
  if tg_op = 'UPDATE' and (old.left_at is null) = v_joined then
    return null;  -- a heartbeat or chat stamp, not a join or leave
  end if;
  -- Ending the whole session is announced once, as session_ended.
  if not v_joined and exists (select 1 from public.sessions s where s.id = new.session_id and s.status = 'ended') then
    return null;
  end if;
  perform private.broadcast('session:' || new.session_id,
    case when v_joined then 'listener_joined' else 'listener_left' end,
    jsonb_build_object('user_id', new.user_id,
                       'username', (select p.username from public.profiles p where p.id = new.user_id)));
  return null;
end;
$$;

create trigger session_participants_broadcast
after insert or update of left_at on public.session_participants
for each row execute function private.session_participants_broadcast();

-- The settings a session_updated event carries (the queue migration adds its own).
create function private.session_settings(p_session public.sessions) returns jsonb
language sql immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'session_id', p_session.id, 'title', p_session.title, 'description', p_session.description,
    'cover_url', p_session.cover_url, 'genres', p_session.genres, 'max_participants', p_session.max_participants,
    'voting_enabled', p_session.voting_enabled, 'tips_enabled', p_session.tips_enabled,
    'chat_enabled', p_session.chat_enabled, 'slow_mode_seconds', p_session.slow_mode_seconds,
    'followers_only_chat', p_session.followers_only_chat)
$$;

create function private.sessions_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_topic text := 'session:' || new.id;
begin
  if new.status is distinct from old.status then
    perform private.broadcast(v_topic, case new.status when 'live' then 'session_live' else 'session_ended' end,
      jsonb_build_object('session_id', new.id, 'status', new.status, 'end_reason', new.end_reason,
                         'started_at', new.started_at, 'ended_at', new.ended_at));
    return null;
  end if;
  if new.listener_count is distinct from old.listener_count then
    perform private.broadcast(v_topic, 'listener_count',
      jsonb_build_object('listener_count', new.listener_count, 'peak_listener_count', new.peak_listener_count));
  end if;
  if private.session_settings(new) is distinct from private.session_settings(old) then
    perform private.broadcast(v_topic, 'session_updated', private.session_settings(new));
  end if;
  return null;
end;
$$;

create trigger sessions_broadcast
after update on public.sessions
for each row execute function private.sessions_broadcast();

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

create trigger session_sanctions_broadcast
after insert or update on public.session_sanctions
for each row execute function private.session_sanctions_broadcast();

create function private.follows_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.broadcast('user:' || new.followee_id, 'new_follower', jsonb_build_object(
    'follower_id', new.follower_id,
    'username', (select p.username from public.profiles p where p.id = new.follower_id)));
  return null;
end;
$$;

create trigger follows_broadcast
after insert on public.follows
for each row execute function private.follows_broadcast();

------------------------------------------------------------------------------
-- Storage buckets (the same as supabase.toml declares): public reads by URL,
-- writes only into the owner's folder (policies in supabase/policies/storage.sql).
------------------------------------------------------------------------------
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('avatars', 'avatars', true, 2 * 1024 * 1024, array['image/png', 'image/jpeg', 'image/webp']),
       ('covers', 'covers', true, 5 * 1024 * 1024, array['image/png', 'image/jpeg', 'image/webp'])
on conflict (id) do update
  set public = excluded.public, file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

------------------------------------------------------------------------------
-- Discovery
------------------------------------------------------------------------------
create index profiles_username_trgm on public.profiles using gin (username extensions.gin_trgm_ops);
create index profiles_display_name_trgm on public.profiles using gin (display_name extensions.gin_trgm_ops);
create index profiles_djs on public.profiles (follower_count desc) where is_dj;
create index profiles_genres on public.profiles using gin (genres);

-- Live sessions, biggest first; a signed-in user's followed DJs come first.
-- Planned per call (force_custom_plan): the page size and the caller decide
-- the best plan, and a generic one guesses badly. Two index-ordered branches (followed DJs' sessions; everyone else's by
-- listener count), each stopping at the page's end, then the page is joined
-- to profiles: the cost does not grow with the number of live sessions.
create function public.live_now(p_genre text default null, p_limit int default 50, p_offset int default 0)
returns table (session_id uuid, dj_id uuid, dj_username text, dj_display_name text, dj_avatar_url text,
               title text, cover_url text, genres text[], listener_count int, started_at timestamptz,
               followed boolean)
language sql stable security invoker
set search_path = ''
set plan_cache_mode = force_custom_plan
as $$
  with page_size as (
    select least(greatest(coalesce(p_limit, 50), 1), 100) as n, greatest(coalesce(p_offset, 0), 0) as skip
  ),
  followed_djs as (
    select f.followee_id from public.follows f where f.follower_id = (select auth.uid())
  ),
  candidates as (
    (select s.id, s.dj_id, s.title, s.cover_url, s.genres, s.listener_count, s.started_at, true as followed
     from public.sessions s
     where s.status = 'live' and s.dj_id in (select followee_id from followed_djs)
       and (p_genre is null or s.genres @> array[lower(p_genre)])
     order by s.listener_count desc, s.started_at
     limit (select n + skip from page_size))
    union all
    (select s.id, s.dj_id, s.title, s.cover_url, s.genres, s.listener_count, s.started_at, false
     from public.sessions s
     where s.status = 'live' and s.dj_id not in (select followee_id from followed_djs)
       and s.dj_id not in (select private.blocked_me_ids())
       and (p_genre is null or s.genres @> array[lower(p_genre)])
     order by s.listener_count desc, s.started_at
     limit (select n + skip from page_size))
  ),
  page as (
    select c.* from candidates c
    order by c.followed desc, c.listener_count desc, c.started_at
    limit (select n from page_size) offset (select skip from page_size)
  )
  select pg.id, pg.dj_id, p.username, p.display_name, p.avatar_url, pg.title, pg.cover_url, pg.genres,
         pg.listener_count, pg.started_at, pg.followed
  from page pg
  -- limit 1 keeps this a per-row index lookup (the planner may not flatten it)
  cross join lateral (select p.username, p.display_name, p.avatar_url from public.profiles p
                      where p.id = pg.dj_id limit 1) p
  order by pg.followed desc, pg.listener_count desc, pg.started_at
$$;
comment on function public.live_now(text, int, int) is 'The live-now feed: followed DJs first (signed in), then by listener count; optional genre.';

-- DJs by username or display name (trigram similarity; substring matches too).
create function public.search_djs(p_query text, p_limit int default 20)
returns table (id uuid, username text, display_name text, avatar_url text, genres text[], follower_count int,
               is_live boolean)
language sql stable security invoker
set search_path = ''
set plan_cache_mode = force_custom_plan
as $$
  with q as (select lower(btrim(p_query)) as text)
  select p.id, p.username, p.display_name, p.avatar_url, p.genres, p.follower_count,
         exists (select 1 from public.sessions s where s.dj_id = p.id and s.status = 'live')
  from public.profiles p, q
  where p.is_dj
    and char_length(q.text) >= 2
    and (p.username operator(extensions.%) q.text or p.display_name operator(extensions.%) q.text
         or p.username like '%' || q.text || '%' or lower(p.display_name) like '%' || q.text || '%')
    and p.id not in (select private.blocked_me_ids())
    and p.id not in (select private.my_blocked_ids())
  order by greatest(extensions.similarity(p.username, q.text), extensions.similarity(coalesce(p.display_name, ''), q.text)) desc,
           p.follower_count desc
  limit least(greatest(coalesce(p_limit, 20), 1), 50)
$$;
comment on function public.search_djs(text, int) is 'Search DJs by username / display name (at least 2 characters), best match first.';

-- Suggested DJs: followed by people you follow (3 points each), sharing your
-- genres (1 point each), live now (2 points); never yourself, DJs you follow,
-- or anyone blocked either way.
create function public.suggested_djs(p_limit int default 20)
returns table (id uuid, username text, display_name text, avatar_url text, genres text[], follower_count int,
               is_live boolean, score int)
language sql stable security invoker
set search_path = ''
set plan_cache_mode = force_custom_plan
as $$
  with me as (
    select p.id, p.genres from public.profiles p where p.id = (select auth.uid())
  ),
  by_friends as (
    select f2.followee_id as dj_id, 3 * count(*)::int as points
    from public.follows f1
    join public.follows f2 on f2.follower_id = f1.followee_id
    where f1.follower_id = (select auth.uid())
    group by f2.followee_id
  ),
  candidates as (
    select d.id, d.username, d.display_name, d.avatar_url, d.genres, d.follower_count,
           exists (select 1 from public.sessions s where s.dj_id = d.id and s.status = 'live') as is_live,
           coalesce(bf.points, 0) as friend_points,
           (select count(*)::int from unnest(d.genres) g, me where g = any (me.genres)) as genre_points
    from public.profiles d
    left join by_friends bf on bf.dj_id = d.id
    where d.is_dj
      and d.id <> (select auth.uid())
      and d.id not in (select f.followee_id from public.follows f where f.follower_id = (select auth.uid()))
      and d.id not in (select private.blocked_me_ids())
      and d.id not in (select private.my_blocked_ids())
  )
  select c.id, c.username, c.display_name, c.avatar_url, c.genres, c.follower_count, c.is_live,
         c.friend_points + c.genre_points + case when c.is_live then 2 else 0 end as score
  from candidates c
  where c.friend_points + c.genre_points > 0 or c.is_live
  order by score desc, c.follower_count desc, c.id
  limit least(greatest(coalesce(p_limit, 20), 1), 50)
$$;
comment on function public.suggested_djs(int) is 'DJs you may like, best first (see the scoring in the README).';

revoke all on function public.live_now(text, int, int), public.search_djs(text, int), public.suggested_djs(int)
  from public, anon, authenticated;
grant execute on function public.live_now(text, int, int), public.search_djs(text, int) to anon, authenticated;
grant execute on function public.suggested_djs(int) to authenticated;
grant execute on function private.blocked_me_ids(), private.my_blocked_ids() to anon;
