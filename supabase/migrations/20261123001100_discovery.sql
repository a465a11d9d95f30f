-- Discovery: the live-now feed, DJ search and suggestions. All security
-- invoker, so what a caller finds is what RLS lets them see.

create index profiles_username_trgm on public.profiles using gin (username extensions.gin_trgm_ops);
create index profiles_display_name_trgm on public.profiles using gin (display_name extensions.gin_trgm_ops);
create index profiles_djs on public.profiles (follower_count desc) where is_dj;
create index profiles_genres on public.profiles using gin (genres);

-- What live rooms play, for people browsing before they join (the queue
-- itself is for the room only). What is public is the playing song's title,
-- artist, art, ids in other services and start: a projection of the one
-- 'playing' row of queue_items per session, kept by the trigger below; nothing
-- else of queue_items (who added it, votes, the rest of the queue) is copied.
-- The select policy says who reads it: anyone, for live sessions only.
create table private.live_now_playing (
  session_id uuid primary key references public.sessions (id) on delete cascade,
  item_id bigint not null,
  title text not null,
  artist text not null,
  album_art_url text,
  spotify_id text,
  apple_music_id text,
  started_at timestamptz
);
comment on table private.live_now_playing is 'The playing song of each session (public fields only), kept by queue_items_live_now_playing; readable by anyone while the session is live (policy live_now_playing_select).';
create index live_now_playing_item on private.live_now_playing (item_id);
revoke all on private.live_now_playing from anon, authenticated, service_role;
-- anon, authenticated: public.live_now() (security invoker) shows what each live room plays.
grant select (session_id, title, artist, album_art_url, spotify_id, apple_music_id, started_at)
  on private.live_now_playing to anon, authenticated;
alter table private.live_now_playing enable row level security;

create function private.queue_items_live_now_playing() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op <> 'DELETE' and new.status = 'playing' then
    insert into private.live_now_playing as n
      (session_id, item_id, title, artist, album_art_url, spotify_id, apple_music_id, started_at)
    values (new.session_id, new.id, new.title, new.artist, new.album_art_url, new.spotify_id,
            new.apple_music_id, new.started_at)
    on conflict (session_id) do update
      set item_id = excluded.item_id, title = excluded.title, artist = excluded.artist,
          album_art_url = excluded.album_art_url, spotify_id = excluded.spotify_id,
          apple_music_id = excluded.apple_music_id, started_at = excluded.started_at;
  elsif tg_op <> 'INSERT' and old.status = 'playing' then
    delete from private.live_now_playing n where n.item_id = old.id;
  end if;
  return null;
end;
$$;
revoke all on function private.queue_items_live_now_playing() from public, anon, authenticated, service_role;

create trigger queue_items_live_now_playing
after insert or delete or update of status, title, artist, album_art_url, spotify_id, apple_music_id, started_at
on public.queue_items
for each row execute function private.queue_items_live_now_playing();

-- Live sessions, biggest first; a signed-in user's followed DJs come first.
-- Planned per call (force_custom_plan): the page size and the caller decide
-- the best plan, and a generic one guesses badly. Two index-ordered branches (followed DJs' sessions; everyone else's by
-- listener count), each stopping at the page's end, then the page is joined
-- to profiles: the cost does not grow with the number of live sessions.
create function public.live_now(p_genre text default null, p_limit int default 50, p_offset int default 0)
returns table (session_id uuid, dj_id uuid, dj_username text, dj_display_name text, dj_avatar_url text,
               title text, cover_url text, genres text[], listener_count int, started_at timestamptz,
               followed boolean, now_playing_title text, now_playing_artist text, now_playing_album_art_url text,
               now_playing_spotify_id text, now_playing_apple_music_id text, now_playing_started_at timestamptz)
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
       and exists (select 1 from private.discovery_visibility v where v.dj_id = s.dj_id)  -- not hidden from me
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
         pg.listener_count, pg.started_at, pg.followed, np.title, np.artist, np.album_art_url, np.spotify_id,
         np.apple_music_id, np.started_at
  from page pg
  -- limit 1 keeps this a per-row index lookup (the planner may not flatten it)
  cross join lateral (select p.username, p.display_name, p.avatar_url from public.profiles p
                      where p.id = pg.dj_id limit 1) p
  left join private.live_now_playing np on np.session_id = pg.id
  order by pg.followed desc, pg.listener_count desc, pg.started_at
$$;
comment on function public.live_now(text, int, int) is 'The live-now feed: followed DJs first (signed in), then by listener count; optional genre; with what each room plays now.';
revoke all on function public.live_now(text, integer, integer) from public, anon, authenticated, service_role;
grant execute on function public.live_now(text, integer, integer) to anon, authenticated;

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
    and exists (select 1 from private.discovery_visibility v where v.dj_id = p.id)  -- not hidden from me
    and p.id not in (select private.my_blocked_ids())
  order by greatest(extensions.similarity(p.username, q.text), extensions.similarity(coalesce(p.display_name, ''), q.text)) desc,
           p.follower_count desc
  limit least(greatest(coalesce(p_limit, 20), 1), 50)
$$;
comment on function public.search_djs(text, int) is 'Search DJs by username / display name (at least 2 characters), best match first.';
revoke all on function public.search_djs(text, integer) from public, anon, authenticated, service_role;
grant execute on function public.search_djs(text, integer) to anon, authenticated;

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
      and exists (select 1 from private.discovery_visibility v where v.dj_id = d.id)  -- not hidden from me
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
revoke all on function public.suggested_djs(integer) from public, anon, authenticated, service_role;
grant execute on function public.suggested_djs(integer) to authenticated;

-- "A DJ went live", for browse screens: one private broadcast on topic
-- `discovery` (any signed-in user may receive it: realtime.sql) carrying ids
-- only (the app refetches live_now). Throttled per DJ: going live again within
-- 10 minutes of the last announcement is not announced, so ending and
-- restarting cannot flood every browse screen.
create table private.live_announcements (
  dj_id uuid primary key references public.profiles (id) on delete cascade,
  announced_at timestamptz not null
);
comment on table private.live_announcements is 'When each DJ''s going live was last announced on the discovery topic. Internal: RLS on, no policies.';
alter table private.live_announcements enable row level security;

create function private.sessions_announce_live() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.status <> 'live' or (tg_op = 'UPDATE' and old.status = 'live') then
    return null;
  end if;
  insert into private.live_announcements as a (dj_id, announced_at) values (new.dj_id, now())
  on conflict (dj_id) do update set announced_at = excluded.announced_at
    where a.announced_at <= now() - interval '10 minutes';
  if found then
    perform private.broadcast('discovery', 'session_live', jsonb_build_object(
      'session_id', new.id, 'dj_id', new.dj_id, 'genres', new.genres, 'started_at', new.started_at));
  end if;
  return null;
end;
$$;
revoke all on function private.sessions_announce_live() from public, anon, authenticated, service_role;

create trigger sessions_announce_live
after insert or update of status on public.sessions
for each row execute function private.sessions_announce_live();
