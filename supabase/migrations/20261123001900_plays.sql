-- The play log: every song that plays in a session, whatever its provider, is
-- logged from the queue's status transitions (a trigger on queue_items, the one
-- path every now-playing change takes): start, end, time played, and the
-- listeners present with how long each of them heard it. A listener's play
-- counts as a stream once they heard 30 s of it (as the industry counts).
-- The DJ playing a song, and the artist of a catalog track, never stream it
-- (no self-streaming). Artists read their stats, listeners their own history.
-- Policies: supabase/policies/plays.sql.

------------------------------------------------------------------------------
-- Plays and their listeners
------------------------------------------------------------------------------
create table public.plays (
  id bigint generated always as identity primary key,
  queue_item_id bigint unique references public.queue_items (id) on delete set null,
  session_id uuid references public.sessions (id) on delete set null,
  dj_id uuid references public.profiles (id) on delete set null,
  provider text not null,
  provider_ref text not null,
  track_id uuid references public.tracks (id) on delete set null,
  title text not null,
  artist text not null,
  started_at timestamptz not null,
  ended_at timestamptz,
  ms_played int constraint plays_ms_played_nonnegative check (ms_played >= 0),
  listeners_at_start int not null default 0,
  listeners int not null default 0,
  streams int not null default 0,
  constraint plays_end_after_start check (ended_at >= started_at)
);
comment on table public.plays is 'One row per song played in a session (any provider), from its start to its end. Kept, anonymised, when the session or its DJ is deleted: artists'' stats and payouts rest on it.';
comment on column public.plays.track_id is 'the catalog track, when provider is openparty';
comment on column public.plays.ms_played is 'ended_at - started_at in milliseconds; null while playing';
comment on column public.plays.listeners is 'listeners present at any time during the play (closed plays)';
comment on column public.plays.streams is 'listeners who heard at least 30 s of it';
create index plays_session on public.plays (session_id, started_at desc);
create index plays_dj on public.plays (dj_id, started_at desc);
create index plays_track on public.plays (track_id, started_at) where track_id is not null;
create index plays_started on public.plays (started_at);
create index plays_open on public.plays (session_id) where ended_at is null;
revoke all on public.plays from anon, authenticated, service_role;
grant select on public.plays to authenticated, service_role;
alter table public.plays enable row level security;

create table public.play_listeners (
  id bigint generated always as identity primary key,
  play_id bigint not null references public.plays (id) on delete cascade,
  user_id uuid references public.profiles (id) on delete set null,
  ms_listened int not null constraint play_listeners_ms_nonnegative check (ms_listened >= 0),
  is_stream boolean generated always as (ms_listened >= 30000) stored,
  unique (play_id, user_id)
);
comment on table public.play_listeners is 'Who heard a play and for how long (overlap of their presence with the play). is_stream: 30 s or more. A listener who deletes their account is anonymised (user_id null): the count stays.';
create index play_listeners_user on public.play_listeners (user_id, play_id desc);
revoke all on public.play_listeners from anon, authenticated, service_role;
grant select on public.play_listeners to authenticated, service_role;
alter table public.play_listeners enable row level security;

-- What an artist may know about who heard their tracks: each listen, with a
-- pseudonym per (artist, listener) instead of the listener (unique listeners
-- are counted over it), kept by play_listeners_for_artists. A listener who
-- deletes their account loses their pseudonym (cascade), and their listens
-- their key (set null): they stop counting as a unique listener, as before.
create table private.artist_listener_keys (
  artist_id uuid not null references public.profiles (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  listener_key uuid not null default gen_random_uuid() unique,
  primary key (artist_id, user_id)
);
comment on table private.artist_listener_keys is 'A random pseudonym per (artist, listener): artists count unique listeners without learning who. Internal: RLS on, no policies.';
create index artist_listener_keys_user on private.artist_listener_keys (user_id);
alter table private.artist_listener_keys enable row level security;

create table private.track_listens (
  play_listener_id bigint primary key references public.play_listeners (id) on delete cascade,
  play_id bigint not null references public.plays (id) on delete cascade,
  artist_id uuid not null references public.profiles (id) on delete cascade,
  track_id uuid not null references public.tracks (id) on delete cascade,
  listener_key uuid references private.artist_listener_keys (listener_key) on delete set null,
  ms_listened int not null,
  is_stream boolean not null
);
comment on table private.track_listens is 'Each listen of a catalog track, for its artist (policy track_listens_select): the listener only as a per-artist pseudonym. Kept by play_listeners_for_artists.';
create index track_listens_artist on private.track_listens (artist_id, play_id);
create index track_listens_play on private.track_listens (play_id);
create index track_listens_track on private.track_listens (track_id);
create index track_listens_key on private.track_listens (listener_key);
revoke all on private.track_listens from anon, authenticated, service_role;
-- authenticated: public.my_track_stats() (security invoker) counts the caller's tracks' listens.
grant select on private.track_listens to authenticated;
alter table private.track_listens enable row level security;

-- One statement per batch of listeners (close_play inserts a play's at once).
create function private.play_listeners_for_artists() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into private.artist_listener_keys (artist_id, user_id)
  select distinct t.artist_id, i.user_id
  from inserted i join public.plays p on p.id = i.play_id join public.tracks t on t.id = p.track_id
  where i.user_id is not null
  on conflict (artist_id, user_id) do nothing;
  insert into private.track_listens (play_listener_id, play_id, artist_id, track_id, listener_key, ms_listened, is_stream)
  select i.id, i.play_id, t.artist_id, t.id, k.listener_key, i.ms_listened, i.is_stream
  from inserted i join public.plays p on p.id = i.play_id join public.tracks t on t.id = p.track_id
  left join private.artist_listener_keys k on k.artist_id = t.artist_id and k.user_id = i.user_id;
  return null;
end;
$$;
revoke all on function private.play_listeners_for_artists() from public, anon, authenticated, service_role;

create trigger play_listeners_for_artists
after insert on public.play_listeners
referencing new table as inserted
for each statement execute function private.play_listeners_for_artists();

------------------------------------------------------------------------------
-- Logging from the queue
------------------------------------------------------------------------------
-- Close a play at p_ended_at: its listeners are the session's participants
-- whose presence overlaps the play (present now, or left after it started),
-- each with the overlap; the DJ and the track's artist are left out.
create function private.close_play(p_play_id bigint, p_ended_at timestamptz) returns void
language plpgsql
set search_path = ''
as $$
declare
  v_play public.plays;
  v_end timestamptz;
  v_artist uuid;
begin
  select * into v_play from public.plays p where p.id = p_play_id and p.ended_at is null for update;
  if not found then
    return;  -- closed already
  end if;
  v_end := greatest(v_play.started_at, coalesce(p_ended_at, now()));
  select t.artist_id into v_artist from public.tracks t where t.id = v_play.track_id;
  insert into public.play_listeners (play_id, user_id, ms_listened)
  select v_play.id, sp.user_id,
         (extract(epoch from least(coalesce(sp.left_at, v_end), v_end) - greatest(sp.joined_at, v_play.started_at))
          * 1000)::int
  from public.session_participants sp
  where sp.session_id = v_play.session_id
    and sp.joined_at < v_end
    and (sp.left_at is null or sp.left_at > v_play.started_at)
    and sp.user_id is distinct from v_play.dj_id
    and sp.user_id is distinct from v_artist
  on conflict (play_id, user_id) do nothing;
  update public.plays p
  set ended_at = v_end,
      ms_played = (extract(epoch from v_end - p.started_at) * 1000)::int,
      listeners = (select count(*) from public.play_listeners l where l.play_id = p.id),
      streams = (select count(*) from public.play_listeners l where l.play_id = p.id and l.is_stream)
  where p.id = v_play.id;
end;
$$;
revoke all on function private.close_play(bigint, timestamp with time zone) from public, anon, authenticated, service_role;

-- queued -> playing opens a play; playing -> anything closes it.
-- Security definer: the DJ's advance (or the system's) writes the log, which
-- no app role may write.
create function private.queue_items_log_plays() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_play_id bigint;
begin
  if old.status = 'playing' then
    select p.id into v_play_id from public.plays p where p.queue_item_id = new.id;
    if v_play_id is not null then
      perform private.close_play(v_play_id, coalesce(new.ended_at, now()));
    end if;
  end if;
  if new.status = 'playing' then
    insert into public.plays (queue_item_id, session_id, dj_id, provider, provider_ref, track_id, title, artist,
                              started_at, listeners_at_start)
    select new.id, new.session_id, s.dj_id, new.provider, new.provider_ref,
           (select t.id from public.tracks t where new.provider = 'openparty' and t.id::text = new.provider_ref),
           new.title, new.artist, coalesce(new.started_at, now()),
           (select count(*) from public.session_participants sp
            where sp.session_id = new.session_id and sp.left_at is null and sp.user_id is distinct from s.dj_id)
    from public.sessions s where s.id = new.session_id
    on conflict (queue_item_id) do nothing;
  end if;
  return null;
end;
$$;
revoke all on function private.queue_items_log_plays() from public, anon, authenticated, service_role;

create trigger queue_items_log_plays
after update of status on public.queue_items
for each row when (old.status is distinct from new.status and (old.status = 'playing' or new.status = 'playing'))
execute function private.queue_items_log_plays();

-- A session that ends closes its open play at its end time.
create function private.sessions_close_plays() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_play_id bigint;
begin
  for v_play_id in select p.id from public.plays p where p.session_id = new.id and p.ended_at is null loop
    perform private.close_play(v_play_id, coalesce(new.ended_at, now()));
  end loop;
  return null;
end;
$$;
revoke all on function private.sessions_close_plays() from public, anon, authenticated, service_role;

create trigger sessions_close_plays
after update of status on public.sessions
for each row when (new.status = 'ended' and old.status is distinct from new.status)
execute function private.sessions_close_plays();

------------------------------------------------------------------------------
-- What the app reads
------------------------------------------------------------------------------
-- Your listening history, newest first (RLS: your own play_listeners rows).
create function public.my_listening_history(p_limit int default 50, p_before timestamptz default null)
returns table (play_id bigint, session_id uuid, provider text, provider_ref text, track_id uuid, title text,
               artist text, started_at timestamptz, ms_listened int, is_stream boolean)
language sql stable security invoker
set search_path = ''
as $$
  select p.id, p.session_id, p.provider, p.provider_ref, p.track_id, p.title, p.artist, p.started_at,
         l.ms_listened, l.is_stream
  from public.play_listeners l
  join public.plays p on p.id = l.play_id
  where l.user_id = (select auth.uid())
    and (p_before is null or p.started_at < p_before)
  order by p.started_at desc
  limit least(greatest(coalesce(p_limit, 50), 1), 200)
$$;
comment on function public.my_listening_history(integer, timestamp with time zone) is 'Songs you heard in sessions, newest first: ms_listened and whether it counted as a stream (30 s). Page with p_before = the last started_at.';
revoke all on function public.my_listening_history(integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function public.my_listening_history(integer, timestamp with time zone) to authenticated;

-- An artist's stats per track over [p_from, p_to): plays, streams (30 s),
-- unique listeners, minutes heard. Security invoker: tracks and plays of the
-- caller's tracks (their policies), listens as pseudonyms (track_listens_select).
create function public.my_track_stats(p_from timestamptz default now() - interval '30 days',
                                      p_to timestamptz default now())
returns table (track_id uuid, title text, plays bigint, streams bigint, unique_listeners bigint, minutes numeric)
language sql stable security invoker
set search_path = ''
as $$
  select t.id, t.title,
         count(distinct p.id),
         count(l.play_listener_id) filter (where l.is_stream),
         count(distinct l.listener_key),
         round(coalesce(sum(l.ms_listened), 0) / 60000.0, 1)
  from public.tracks t
  left join public.plays p on p.track_id = t.id and p.ended_at is not null
                           and p.started_at >= p_from and p.started_at < p_to
  left join private.track_listens l on l.play_id = p.id and l.artist_id = (select auth.uid())
  where t.artist_id = (select auth.uid())
  group by t.id, t.title
  order by count(l.play_listener_id) filter (where l.is_stream) desc, t.title
$$;
comment on function public.my_track_stats(timestamp with time zone, timestamp with time zone) is 'Your tracks'' plays, streams (a listener heard 30 s), unique listeners and minutes heard, for plays started in [p_from, p_to) (default: the last 30 days).';
revoke all on function public.my_track_stats(timestamp with time zone, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function public.my_track_stats(timestamp with time zone, timestamp with time zone) to authenticated;
