-- Listening history and stats: the sessions you attended, the songs played in
-- them, and what you listened to over a period (hours, top DJs, top genres).
--
-- Built from what exists now: session_participants keeps only a listener's
-- latest stint in a session, so a trigger here adds up every stint's length
-- into private.listen_time when it closes, and records each day a user
-- listened (streaks, achievements.sql). "Songs heard" are the songs played in
-- sessions you attended (the play log of a later issue will make that exact
-- to your presence).
--
-- The history RPCs run as the caller (issue 10): they read your own
-- listen_time rows and private.songs_played, a copy of the songs played in
-- each session kept by a trigger on queue_items, whose policy says who may
-- read a session's songs (its DJ, and whoever listened to it and is not
-- banned from it); the room's queue_items stay the room's.

create table private.listen_time (
  user_id uuid not null references public.profiles (id) on delete cascade,
  session_id uuid not null references public.sessions (id) on delete cascade,
  seconds bigint not null default 0 check (seconds >= 0),
  first_joined_at timestamptz not null,
  last_left_at timestamptz,
  primary key (user_id, session_id)
);
comment on table private.listen_time is 'Seconds each user listened to each session, summed over closed stints (the open one is added at read time). Written only by its trigger; RLS: each user reads their own rows.';
create index listen_time_session on private.listen_time (session_id);
create index listen_time_user_recent on private.listen_time (user_id, first_joined_at desc);
revoke all on private.listen_time from anon, authenticated, service_role;
-- authenticated: the history RPCs (security invoker) read the caller's own rows (policies/history.sql).
grant select on private.listen_time to authenticated;
alter table private.listen_time enable row level security;

create table private.listening_days (
  user_id uuid not null references public.profiles (id) on delete cascade,
  day date not null,
  primary key (user_id, day)
);
comment on table private.listening_days is 'UTC days on which a user joined a session: the facts listening streaks are derived from. Internal: RLS on, no policies.';
alter table private.listening_days enable row level security;

-- Every join starts a stint (and marks the day); every leave adds the stint's length.
create function private.session_participants_track_listening() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' or (old.left_at is not null and new.left_at is null) then
    insert into private.listen_time (user_id, session_id, first_joined_at)
    values (new.user_id, new.session_id, new.joined_at)
    on conflict (user_id, session_id) do nothing;
    insert into private.listening_days (user_id, day)
    values (new.user_id, (new.joined_at at time zone 'UTC')::date)
    on conflict do nothing;
  elsif old.left_at is null and new.left_at is not null then
    update private.listen_time t
    set seconds = t.seconds + greatest(0, extract(epoch from new.left_at - old.joined_at))::bigint,
        last_left_at = new.left_at
    where t.user_id = new.user_id and t.session_id = new.session_id;
  end if;
  return null;
end;
$$;
revoke all on function private.session_participants_track_listening() from public, anon, authenticated, service_role;

create trigger session_participants_track_listening
after insert or update of left_at on public.session_participants
for each row execute function private.session_participants_track_listening();

-- Seconds a user listened to a session, the open stint included.
create function private.listened_seconds(p_user_id uuid, p_session_id uuid, p_closed bigint) returns bigint
language sql stable
set search_path = ''
as $$
  select p_closed + coalesce((select greatest(0, extract(epoch from now() - p.joined_at))::bigint
                              from public.session_participants p
                              where p.session_id = p_session_id and p.user_id = p_user_id and p.left_at is null), 0)
$$;
revoke all on function private.listened_seconds(uuid, uuid, bigint) from public, anon, authenticated, service_role;
-- authenticated: the history RPCs (security invoker) call it on the caller's own rows.
grant execute on function private.listened_seconds(uuid, uuid, bigint) to authenticated;

------------------------------------------------------------------------------
-- The songs played in each session, for those who may read them
------------------------------------------------------------------------------
create table private.songs_played (
  item_id bigint primary key references public.queue_items (id) on delete cascade,
  session_id uuid not null references public.sessions (id) on delete cascade,
  title text not null,
  artist text not null,
  album_art_url text,
  duration_ms int not null,
  provider text not null,
  provider_ref text not null,
  status public.queue_item_status not null,
  started_at timestamptz not null,
  ended_at timestamptz
);
comment on table private.songs_played is 'The queue items that started playing (playing, played, skipped), copied by a trigger on queue_items: what history shows of a session. RLS: its DJ, and whoever listened to it and is not banned from it.';
create index songs_played_session on private.songs_played (session_id, started_at);
revoke all on private.songs_played from anon, authenticated, service_role;
-- authenticated: the history RPCs (security invoker) read it under its policy (policies/history.sql).
grant select on private.songs_played to authenticated;
alter table private.songs_played enable row level security;

create function private.queue_items_record_played() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.started_at is not null and new.status in ('playing', 'played', 'skipped') then
    insert into private.songs_played as p (item_id, session_id, title, artist, album_art_url, duration_ms, provider,
                                           provider_ref, status, started_at, ended_at)
    values (new.id, new.session_id, new.title, new.artist, new.album_art_url, new.duration_ms, new.provider,
            new.provider_ref, new.status, new.started_at, new.ended_at)
    on conflict (item_id) do update
      set status = excluded.status, started_at = excluded.started_at, ended_at = excluded.ended_at;
  elsif tg_op = 'UPDATE' and old.started_at is not null then
    delete from private.songs_played p where p.item_id = new.id;
  end if;
  return null;
end;
$$;
revoke all on function private.queue_items_record_played() from public, anon, authenticated, service_role;

create trigger queue_items_record_played
after insert or update of status, started_at, ended_at on public.queue_items
for each row execute function private.queue_items_record_played();

------------------------------------------------------------------------------
-- Your history
------------------------------------------------------------------------------
create function public.my_sessions_attended(p_from timestamptz default null, p_to timestamptz default null,
                                            p_limit int default 50, p_offset int default 0)
returns table (session_id uuid, title text, dj_id uuid, dj_username text, genres text[], status public.session_status,
               started_at timestamptz, ended_at timestamptz, first_joined_at timestamptz, listened_seconds bigint)
language sql stable security invoker
set search_path = ''
as $$
  select s.id, s.title, s.dj_id, d.username, s.genres, s.status, s.started_at, s.ended_at, t.first_joined_at,
         private.listened_seconds(t.user_id, t.session_id, t.seconds)
  from private.listen_time t
  join public.sessions s on s.id = t.session_id
  join public.profiles d on d.id = s.dj_id
  where t.user_id = (select auth.uid())
    and (p_from is null or t.first_joined_at >= p_from)
    and (p_to is null or t.first_joined_at < p_to)
    and not exists (select 1 from public.session_sanctions x
                    where x.session_id = t.session_id and x.user_id = t.user_id and x.kind = 'ban')
  order by t.first_joined_at desc
  limit least(greatest(coalesce(p_limit, 50), 1), 200) offset greatest(coalesce(p_offset, 0), 0)
$$;
comment on function public.my_sessions_attended(timestamptz, timestamptz, integer, integer) is 'Sessions you listened to (newest first; joined within [p_from, p_to)), with how long you listened.';
revoke all on function public.my_sessions_attended(timestamptz, timestamptz, integer, integer) from public, anon, authenticated, service_role;
grant execute on function public.my_sessions_attended(timestamptz, timestamptz, integer, integer) to authenticated;

-- The songs of a session, for whoever was there (any time) or hosts it: the
-- policy of private.songs_played decides.
create function public.session_songs(p_session_id uuid)
returns table (item_id bigint, title text, artist text, album_art_url text, duration_ms int, provider text,
               provider_ref text, status public.queue_item_status, started_at timestamptz, ended_at timestamptz)
language sql stable security invoker
set search_path = ''
as $$
  select q.item_id, q.title, q.artist, q.album_art_url, q.duration_ms, q.provider, q.provider_ref, q.status,
         q.started_at, q.ended_at
  from private.songs_played q
  where q.session_id = p_session_id
  order by q.started_at
$$;
comment on function public.session_songs(uuid) is 'The songs played in a session (live or finished), in play order: for its DJ and anyone who listened to it (not banned); empty otherwise.';
revoke all on function public.session_songs(uuid) from public, anon, authenticated, service_role;
grant execute on function public.session_songs(uuid) to authenticated;

create function public.my_songs_heard(p_from timestamptz default null, p_to timestamptz default null,
                                      p_limit int default 50, p_offset int default 0)
returns table (item_id bigint, session_id uuid, session_title text, dj_id uuid, dj_username text, title text,
               artist text, album_art_url text, duration_ms int, provider text, provider_ref text,
               started_at timestamptz)
language sql stable security invoker
set search_path = ''
as $$
  select q.item_id, s.id, s.title, s.dj_id, d.username, q.title, q.artist, q.album_art_url, q.duration_ms, q.provider,
         q.provider_ref, q.started_at
  from private.listen_time t
  join public.sessions s on s.id = t.session_id
  join public.profiles d on d.id = s.dj_id
  join private.songs_played q on q.session_id = t.session_id
  where t.user_id = (select auth.uid())
    and (p_from is null or q.started_at >= p_from)
    and (p_to is null or q.started_at < p_to)
    and not exists (select 1 from public.session_sanctions x
                    where x.session_id = t.session_id and x.user_id = t.user_id and x.kind = 'ban')
  order by q.started_at desc
  limit least(greatest(coalesce(p_limit, 50), 1), 200) offset greatest(coalesce(p_offset, 0), 0)
$$;
comment on function public.my_songs_heard(timestamptz, timestamptz, integer, integer) is 'Songs played in sessions you attended (newest first; started within [p_from, p_to)).';
revoke all on function public.my_songs_heard(timestamptz, timestamptz, integer, integer) from public, anon, authenticated, service_role;
grant execute on function public.my_songs_heard(timestamptz, timestamptz, integer, integer) to authenticated;

------------------------------------------------------------------------------
-- Your stats over a period
------------------------------------------------------------------------------
create function public.my_listening_stats(p_from timestamptz default null, p_to timestamptz default null)
returns jsonb
language sql stable security invoker
set search_path = ''
as $$
  with mine as (
    select t.session_id, s.dj_id, s.genres, private.listened_seconds(t.user_id, t.session_id, t.seconds) as seconds
    from private.listen_time t join public.sessions s on s.id = t.session_id
    where t.user_id = (select auth.uid())
      and t.first_joined_at >= coalesce(p_from, '-infinity') and t.first_joined_at < coalesce(p_to, 'infinity')
      and not exists (select 1 from public.session_sanctions x
                      where x.session_id = t.session_id and x.user_id = t.user_id and x.kind = 'ban')
  )
  select jsonb_build_object(
    'from', p_from, 'to', p_to,
    'sessions', (select count(*) from mine),
    'seconds_listened', (select coalesce(sum(m.seconds), 0) from mine m),
    'hours_listened', (select round(coalesce(sum(m.seconds), 0) / 3600.0, 2) from mine m),
    'songs_heard', (select count(*) from mine m join private.songs_played q on q.session_id = m.session_id),
    'top_djs', coalesce((select jsonb_agg(x order by x.seconds desc, x.username) from (
                  select m.dj_id, p.username, sum(m.seconds)::bigint as seconds, count(*) as sessions
                  from mine m join public.profiles p on p.id = m.dj_id
                  group by m.dj_id, p.username order by 3 desc, 2 limit 5) x), '[]'::jsonb),
    'top_genres', coalesce((select jsonb_agg(g order by g.seconds desc, g.genre) from (
                  select genre, sum(m.seconds)::bigint as seconds
                  from mine m cross join lateral unnest(m.genres) as genre
                  group by genre order by 2 desc, 1 limit 5) g), '[]'::jsonb))
$$;
comment on function public.my_listening_stats(timestamptz, timestamptz) is 'Your listening over [p_from, p_to) (sessions joined in it): sessions, seconds/hours listened, songs heard, top 5 DJs and genres by time.';
revoke all on function public.my_listening_stats(timestamptz, timestamptz) from public, anon, authenticated, service_role;
grant execute on function public.my_listening_stats(timestamptz, timestamptz) to authenticated;
