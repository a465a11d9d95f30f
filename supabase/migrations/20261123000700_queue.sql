-- The shared queue: songs, votes with exact tallies, fair auto-play, the DJ's
-- fallback list, skip votes, now playing. Its per-session settings are columns
-- of public.sessions (sessions.sql); the rules that read them are here.

-- Queue items
create type public.queue_item_status as enum ('queued', 'playing', 'played', 'skipped', 'removed');
comment on type public.queue_item_status is 'queued: waiting; playing: on air (one per session); played: ran to its end; skipped: cut short by the DJ or a skip vote; removed: taken out of the queue before playing';

create table public.queue_items (
  id bigint generated always as identity primary key,
  session_id uuid not null references public.sessions (id) on delete cascade,
  added_by uuid references public.profiles (id) on delete set null,
  title text not null constraint queue_items_title_length check (char_length(btrim(title)) between 1 and 200),
  artist text not null constraint queue_items_artist_length check (char_length(btrim(artist)) between 1 and 200),
  album_art_url text constraint queue_items_album_art_url_format check (album_art_url ~ '^https?://'),
  duration_ms int not null constraint queue_items_duration_positive check (duration_ms > 0),
  provider text not null constraint queue_items_provider check (provider in ('spotify', 'apple_music', 'youtube', 'isrc', 'openparty', 'other')),
  provider_ref text not null constraint queue_items_provider_ref_length check (char_length(provider_ref) between 1 and 200),
  track_key text generated always as (provider || ':' || lower(provider_ref)) stored,
  spotify_id text constraint queue_items_spotify_id_format check (spotify_id ~ '^[0-9A-Za-z]{22}$'),
  apple_music_id text constraint queue_items_apple_music_id_format check (apple_music_id ~ '^[0-9]{1,20}$'),
  isrc text constraint queue_items_isrc_format check (isrc ~ '^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$'),
  status public.queue_item_status not null default 'queued',
  origin text not null default 'request'
    constraint queue_items_origin check (origin in ('request', 'fallback', 'recommendation', 'spotify', 'app')),
  from_fallback boolean generated always as (origin = 'fallback') stored,
  pinned_at timestamptz,
  dj_position int,
  up_votes int not null default 0 check (up_votes >= 0),
  down_votes int not null default 0 check (down_votes >= 0),
  score int generated always as (up_votes - down_votes) stored,
  skip_votes int not null default 0 check (skip_votes >= 0),
  added_at timestamptz not null default now(),
  started_at timestamptz,
  ended_at timestamptz,
  removed_by uuid references public.profiles (id) on delete set null
);
comment on table public.queue_items is 'Songs of a session''s queue and its play history. Tallies are kept by triggers; the app may only remove a queued song (the DJ or its contributor) and pin one (the DJ); everything else moves through queue_commands and skip votes.';
comment on column public.queue_items.track_key is 'identity of the song for duplicate and replay checks: provider and reference';
comment on column public.queue_items.spotify_id is 'the song''s Spotify track id (22 base-62 characters), whatever its provider: the app opens it in Spotify';
comment on column public.queue_items.apple_music_id is 'the song''s Apple Music catalog id: the app opens it in Apple Music';
comment on column public.queue_items.isrc is 'the recording''s ISRC, to find it in any service';
comment on column public.queue_items.origin is 'request: added by a listener or the DJ; fallback: from the DJ''s fallback list; recommendation: from our play history; spotify: the DJ''s Spotify player played it (polled); app: the DJ''s app reported it (report_track). Only request songs are announced as added.';
comment on column public.queue_items.pinned_at is 'set by the DJ: play next (earliest pin first)';
comment on column public.queue_items.dj_position is 'set by the DJ''s reorder: positioned songs play before unpositioned ones, in this order';
create unique index queue_items_one_playing on public.queue_items (session_id) where status = 'playing';
create unique index queue_items_no_duplicates on public.queue_items (session_id, track_key) where status in ('queued', 'playing');
create index queue_items_queued on public.queue_items (session_id, added_by) where status = 'queued';
create index queue_items_history on public.queue_items (session_id, started_at desc) where status in ('played', 'skipped');
create index queue_items_track on public.queue_items (session_id, track_key, ended_at);
create index queue_items_added_by on public.queue_items (added_by);
create index queue_items_removed_by on public.queue_items (removed_by);
-- Recommendations: every play of a song across sessions, newest first.
create index queue_items_track_plays on public.queue_items (track_key, started_at desc) where status = 'played';
revoke all on public.queue_items from anon, authenticated, service_role;
grant select on public.queue_items to authenticated;
grant insert (session_id, title, artist, album_art_url, duration_ms, provider, provider_ref, spotify_id, apple_music_id, isrc)
  on public.queue_items to authenticated;
-- status (to removed) and pinned_at: remove_from_queue and pin_next (queue_items_guard_app_updates says which changes).
grant update (status, pinned_at) on public.queue_items to authenticated;
grant select, insert, update, delete on public.queue_items to service_role;
alter table public.queue_items enable row level security;

create table public.queue_votes (
  item_id bigint not null references public.queue_items (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  value smallint not null constraint queue_votes_value check (value in (-1, 1)),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (item_id, user_id)
);
comment on table public.queue_votes is 'One vote per user per song: 1 up, -1 down. Delete to withdraw.';
create index queue_votes_user on public.queue_votes (user_id);
revoke all on public.queue_votes from anon, authenticated, service_role;
grant select, delete on public.queue_votes to authenticated;
grant insert (item_id, value), update (value) on public.queue_votes to authenticated;
grant select, insert, update, delete on public.queue_votes to service_role;
alter table public.queue_votes enable row level security;

-- Sharded, deferred tallies: in a large room (private.room_ticked) a vote
-- does not update its song's row, which would make every vote on a hot song
-- wait for the one before it to commit; it adds its change to one of 16 shard
-- rows of the song, picked by its connection (backend pid), so concurrent
-- votes rarely meet: a connection's votes never wait for each other. The
-- ticker folds the shards into queue_items once per tick
-- (private.fold_vote_deltas), a song's shards are folded when its status
-- changes, and every read of a tally adds its shards (private.pending_votes),
-- so tallies are exact at all times. No foreign key: its check would lock the
-- song's row (KEY SHARE by every voter at once).
create table private.queue_vote_deltas (
  item_id bigint not null,
  shard smallint not null constraint queue_vote_deltas_shard check (shard between 0 and 15),
  up_delta int not null default 0,
  down_delta int not null default 0,
  primary key (item_id, shard)
);
comment on table private.queue_vote_deltas is 'Vote changes not yet folded into queue_items tallies (large rooms), up to 16 shard rows per song. The room reads them (with the song''s row: the exact tally); only triggers and the ticker write.';
revoke all on private.queue_vote_deltas from anon, authenticated, service_role;
-- authenticated: the tally reads (private.pending_votes, security invoker) add them up.
grant select on private.queue_vote_deltas to authenticated;
alter table private.queue_vote_deltas enable row level security;

create table public.skip_votes (
  item_id bigint not null references public.queue_items (id) on delete cascade,
  user_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (item_id, user_id)
);
comment on table public.skip_votes is 'Listeners voting to skip the playing song, one row each (vote_skip() inserts it; skip_votes_count counts and skips).';
create index skip_votes_user on public.skip_votes (user_id);
revoke all on public.skip_votes from anon, authenticated, service_role;
grant select on public.skip_votes to authenticated;
-- update (created_at): vote_skip pressed again (on conflict do update); the value itself never changes.
grant insert (item_id), update (created_at) on public.skip_votes to authenticated;
grant select, insert, delete on public.skip_votes to service_role;
alter table public.skip_votes enable row level security;

create table public.dj_fallback_tracks (
  dj_id uuid not null references public.profiles (id) on delete cascade,
  position int not null check (position >= 0),
  title text not null check (char_length(btrim(title)) between 1 and 200),
  artist text not null check (char_length(btrim(artist)) between 1 and 200),
  album_art_url text check (album_art_url ~ '^https?://'),
  duration_ms int not null check (duration_ms > 0),
  provider text not null check (provider in ('spotify', 'apple_music', 'youtube', 'isrc', 'openparty', 'other')),
  provider_ref text not null check (char_length(provider_ref) between 1 and 200),
  spotify_id text check (spotify_id ~ '^[0-9A-Za-z]{22}$'),
  apple_music_id text check (apple_music_id ~ '^[0-9]{1,20}$'),
  isrc text check (isrc ~ '^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$'),
  primary key (dj_id, position)
);
comment on table public.dj_fallback_tracks is 'A DJ''s fallback list: what plays, in position order, when the queue runs dry.';
revoke all on public.dj_fallback_tracks from anon, authenticated, service_role;
grant select, insert, update, delete on public.dj_fallback_tracks to authenticated, service_role;
alter table public.dj_fallback_tracks enable row level security;

create function private.dj_fallback_tracks_owner() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.dj_id := coalesce((select auth.uid()), new.dj_id);
  return new;
end;
$$;
revoke all on function private.dj_fallback_tracks_owner() from public, anon, authenticated, service_role;

create trigger dj_fallback_tracks_owner
before insert on public.dj_fallback_tracks
for each row execute function private.dj_fallback_tracks_owner();

-- Adding songs: the rules
create function private.queue_items_enforce_add_rules() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_session public.sessions;
  v_user_cap int;
  v_last_played timestamptz;
begin
  -- origin is not writable by the app: anything but a request was made by a
  -- server function (advance, a reported track), whoever's call it runs in.
  if new.origin <> 'request' then
    v_uid := null;
  end if;
  new.added_by := coalesce(v_uid, new.added_by);
  new.status := 'queued';
  new.title := btrim(new.title);
  new.artist := btrim(new.artist);
  select * into v_session from public.sessions s where s.id = new.session_id;
  if not found or v_session.status <> 'live' then
    raise exception using errcode = 'PT409', message = 'the queue is closed: this session is not live';
  end if;

  if v_uid is not null and v_uid <> v_session.dj_id then
    if not exists (select 1 from public.session_participants p
                   where p.session_id = new.session_id and p.user_id = v_uid and p.left_at is null)
       or private.is_banned(new.session_id, v_uid) then  -- a ban holds even if a participation was left open
      raise exception using errcode = 'PT403', message = 'join the session to add songs';
    end if;
    if v_session.queue_locked or not v_session.listeners_can_add then
      raise exception using errcode = 'PT403', message = 'the DJ is not taking requests right now';
    end if;
    if new.duration_ms > v_session.max_song_duration_seconds * 1000 then
      raise exception using errcode = 'PT422',
        message = format('songs may last at most %s min here', round(v_session.max_song_duration_seconds / 60.0, 1));
    end if;
    -- The caps below count, then the insert adds: one listener add per session
    -- counts at a time (a transaction-scoped advisory lock keyed by the
    -- session, taken only after the checks above), so concurrent adds cannot
    -- beat max_songs_per_user or max_queue_length.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('openparty.queue_add:' || new.session_id, 0));
    v_user_cap := least(v_session.max_songs_per_user, (private.plan_of(v_uid)).max_queued_songs_per_listener);
    if (select count(*) from public.queue_items q
        where q.session_id = new.session_id and q.added_by = v_uid and q.status = 'queued') >= v_user_cap then
      raise exception using errcode = 'PT403', message = format('you already have %s songs in the queue', v_user_cap);
    end if;
    if (select count(*) from public.queue_items q where q.session_id = new.session_id and q.status = 'queued')
       >= (private.plan_of(v_session.dj_id)).max_queue_length then
      raise exception using errcode = 'PT409', message = 'the queue is full';
    end if;
  end if;

  if exists (select 1 from public.queue_items q
             where q.session_id = new.session_id and q.track_key = new.provider || ':' || lower(new.provider_ref)
               and q.status in ('queued', 'playing')) then
    raise exception using errcode = 'PT409', message = 'this song is already in the queue';
  end if;
  if new.origin in ('spotify', 'app') then
    return new;  -- the DJ already plays it: a fact, not a request (no replay cooldown)
  end if;
  select max(q.ended_at) into v_last_played from public.queue_items q
  where q.session_id = new.session_id and q.track_key = new.provider || ':' || lower(new.provider_ref)
    and q.status in ('played', 'skipped');
  if v_last_played > now() - make_interval(mins => v_session.replay_cooldown_minutes) then
    raise exception using errcode = 'PT409',
      message = format('this song played %s min ago; it can come back after %s min',
                       floor(extract(epoch from now() - v_last_played) / 60)::int, v_session.replay_cooldown_minutes);
  end if;
  return new;
end;
$$;
revoke all on function private.queue_items_enforce_add_rules() from public, anon, authenticated, service_role;

create trigger queue_items_enforce_add_rules
before insert on public.queue_items
for each row execute function private.queue_items_enforce_add_rules();

-- Votes: the rules, and exact tallies kept under the song's row lock
create function private.queue_votes_enforce_rules() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_item record;
begin
  new.user_id := coalesce(v_uid, new.user_id);
  new.updated_at := now();
  -- Everything the rules need, in one query (votes are a hot path).
  select q.status, s.voting_enabled, s.status as session_status,
         exists (select 1 from public.session_participants p
                 where p.session_id = q.session_id and p.user_id = new.user_id and p.left_at is null)
           and not private.is_banned(q.session_id, new.user_id) as may_vote  -- a ban holds even if a participation was left open
  into v_item
  from public.queue_items q join public.sessions s on s.id = q.session_id
  where q.id = new.item_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'song not found';
  end if;
  if v_item.session_status <> 'live' or v_item.status not in ('queued', 'playing') then
    raise exception using errcode = 'PT409', message = 'voting on this song is over';
  end if;
  if not v_item.voting_enabled then
    raise exception using errcode = 'PT403', message = 'the DJ has turned voting off';
  end if;
  if not v_item.may_vote then
    raise exception using errcode = 'PT403', message = 'join the session to vote';
  end if;
  return new;
end;
$$;
revoke all on function private.queue_votes_enforce_rules() from public, anon, authenticated, service_role;

create trigger queue_votes_enforce_rules
before insert or update on public.queue_votes
for each row execute function private.queue_votes_enforce_rules();

-- Durability: a vote commits asynchronously (synchronous_commit off for its
-- transaction): a database crash may lose the last fraction of a second of
-- votes, always together with their tallies, so tallies stay exact.
--
-- A small room: the song's row is updated at once and the room told at once;
-- anyone can flip a vote at will, so a voter's changes are announced at once
-- at most once per 2 s (claimed on their participant row, as chat claims its
-- send slot) and the others ride the next tick. A large room: the change is
-- added to its connection's shard of private.queue_vote_deltas (no lock on the
-- song's row, so votes on a hot song do not queue behind each other), and the
-- ticker folds and announces it.
create function private.queue_votes_maintain_tally() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_item_id bigint := case when tg_op = 'DELETE' then old.item_id else new.item_id end;
  v_old smallint := case when tg_op in ('UPDATE', 'DELETE') then old.value else 0 end;
  v_new smallint := case when tg_op in ('INSERT', 'UPDATE') then new.value else 0 end;
  v_up int := (v_new = 1)::int - (v_old = 1)::int;
  v_down int := (v_new = -1)::int - (v_old = -1)::int;
  v_session_id uuid;
  v_ticked boolean;
  v_item record;
  v_throttled boolean := false;
begin
  if v_old = v_new then
    return null;
  end if;
  perform set_config('synchronous_commit', 'off', true);
  -- The song's room, and whether it is large (private.room_ticked), in one query.
  select q.session_id, coalesce(s.listener_count >= c.listener_threshold, false) into v_session_id, v_ticked
  from public.queue_items q
  join public.sessions s on s.id = q.session_id
  cross join private.room_tick_settings c
  where q.id = v_item_id;
  if v_ticked then
    insert into private.queue_vote_deltas as d (item_id, shard, up_delta, down_delta)
    values (v_item_id, (pg_catalog.pg_backend_pid() % 16)::smallint, v_up, v_down)
    on conflict (item_id, shard) do update
      set up_delta = d.up_delta + excluded.up_delta, down_delta = d.down_delta + excluded.down_delta;
    return null;
  end if;
  if v_uid is not null then
    update public.session_participants p set last_vote_event_at = now()
    where p.session_id = v_session_id and p.user_id = v_uid
      and (p.last_vote_event_at is null or p.last_vote_event_at <= now() - interval '2 seconds');
    v_throttled := not found;
  end if;
  update public.queue_items q
  set up_votes = q.up_votes + v_up, down_votes = q.down_votes + v_down
  where q.id = v_item_id
  returning q.id, q.up_votes, q.down_votes into v_item;
  select v_item.up_votes + pv.up_votes as up_votes, v_item.down_votes + pv.down_votes as down_votes
  into v_item from private.pending_votes_of(v_item_id) pv;  -- left from when the room was large
  perform private.room_publish(v_session_id, 'queue_item_votes', jsonb_build_object(
    'id', v_item_id, 'up_votes', v_item.up_votes, 'down_votes', v_item.down_votes,
    'score', v_item.up_votes - v_item.down_votes), 'tally:' || v_item_id, 'last', v_throttled);
  return null;
end;
$$;
revoke all on function private.queue_votes_maintain_tally() from public, anon, authenticated, service_role;

create trigger queue_votes_maintain_tally
after insert or update or delete on public.queue_votes
for each row execute function private.queue_votes_maintain_tally();

-- One song's vote changes not yet folded into its row. Security invoker: a
-- caller reads the shards of songs they can see (policies/queue.sql), so a
-- stranger adds nothing; triggers and the ticker run it as the owner.
create function private.pending_votes_of(p_item_id bigint, out up_votes int, out down_votes int)
language sql stable
set search_path = ''
as $$
  select coalesce(sum(d.up_delta), 0)::int, coalesce(sum(d.down_delta), 0)::int
  from private.queue_vote_deltas d where d.item_id = p_item_id
$$;
revoke all on function private.pending_votes_of(bigint) from public, anon, authenticated, service_role;
-- authenticated: public.vote() (security invoker) returns the exact tally with it.
grant execute on function private.pending_votes_of(bigint) to authenticated;

-- Vote changes of a session's songs not yet folded into their rows (large
-- rooms), per song. Security invoker, like pending_votes_of: a signed-in
-- caller sees only the songs of rooms they are in.
create function private.pending_votes(p_session_id uuid)
returns table (item_id bigint, up_votes int, down_votes int)
language sql stable
rows 10
set search_path = ''
as $$
  select d.item_id, sum(d.up_delta)::int, sum(d.down_delta)::int
  from private.queue_vote_deltas d
  join public.queue_items q on q.id = d.item_id
  where q.session_id = p_session_id
  group by d.item_id
$$;
comment on function private.pending_votes(uuid) is 'Per song of the session: vote changes not yet folded into queue_items (add them to the row for the exact tally).';
revoke all on function private.pending_votes(uuid) from public, anon, authenticated, service_role;
-- authenticated: public.session_queue() and private.queue_order() (security invoker) read exact tallies with it.
grant execute on function private.pending_votes(uuid) to authenticated;

-- Fold a session's pending vote changes into its songs' rows and announce the
-- new tallies (the ticker calls it, private.room_tick). A song whose row is
-- locked right now (being advanced) is left for the next tick: no waiting, no
-- deadlock. Returns the number of songs whose tally changed.
create function private.fold_vote_deltas(p_session_id uuid) returns int
language plpgsql
set search_path = ''
as $$
declare
  v_item record;
  v_folded int := 0;
begin
  for v_item in
    with locked as (
      select q.id from public.queue_items q
      where q.session_id = p_session_id
        and exists (select 1 from private.queue_vote_deltas d where d.item_id = q.id)
      order by q.id
      for no key update skip locked
    ),
    taken as (
      delete from private.queue_vote_deltas d using locked l where d.item_id = l.id
      returning d.item_id, d.up_delta, d.down_delta
    ),
    sums as (
      select t.item_id, sum(t.up_delta)::int as up, sum(t.down_delta)::int as down from taken t group by t.item_id
    )
    update public.queue_items q set up_votes = q.up_votes + s.up, down_votes = q.down_votes + s.down
    from sums s
    where q.id = s.item_id and (s.up, s.down) <> (0, 0)
    returning q.id, q.up_votes, q.down_votes, q.score
  loop
    perform private.room_publish(p_session_id, 'queue_item_votes', jsonb_build_object(
      'id', v_item.id, 'up_votes', v_item.up_votes, 'down_votes', v_item.down_votes, 'score', v_item.score),
      'tally:' || v_item.id, 'last', true);
    v_folded := v_folded + 1;
  end loop;
  return v_folded;
end;
$$;
revoke all on function private.fold_vote_deltas(uuid) from public, anon, authenticated, service_role;

-- A song leaving the queue (or starting to play) carries its exact tally on
-- its row: its pending changes are folded in under the row lock the status
-- change holds.
-- Security definer: the deltas table is internal, and any writer of a status folds.
create function private.queue_items_fold_pending_votes() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_up int;
  v_down int;
begin
  with taken as (delete from private.queue_vote_deltas d where d.item_id = new.id returning d.up_delta, d.down_delta)
  select sum(t.up_delta)::int, sum(t.down_delta)::int into v_up, v_down from taken t;
  new.up_votes := new.up_votes + coalesce(v_up, 0);
  new.down_votes := new.down_votes + coalesce(v_down, 0);
  return new;
end;
$$;
revoke all on function private.queue_items_fold_pending_votes() from public, anon, authenticated, service_role;

create trigger queue_items_fold_pending_votes
before update of status on public.queue_items
for each row when (new.status is distinct from old.status)
execute function private.queue_items_fold_pending_votes();

-- Play order. One rule for what advance() plays next and for the queue the app
-- shows:
--   1. pinned songs (DJ's "play next"), earliest pin first;
--   2. songs the DJ positioned by reordering, in that order;
--   3. the rest. Fairness on: songs fall into score bands of 2 votes (0-1,
--      2-3, ...; -2 to -1, ...), higher band first; within a band contributors
--      take turns: a song's turn is how many of its contributor's songs have
--      played (or are playing) this session plus its place among that
--      contributor's queued songs (best score, then earliest); lower turn
--      first, then higher score, then earlier added. Fairness off: higher
--      score, then earlier added.
-- Its plan is cached like any (no force_custom_plan): one parameter, matched
-- by index equality, so the generic plan is the custom one, and planning the
-- query each call cost more than running it (so for session_queue and now_playing).
create function private.queue_order(p_session_id uuid)
returns table (item_id bigint, play_rank bigint)
language sql stable
rows 50
set search_path = ''
as $$
  with settings as (
    select s.fairness_enabled as fair from public.sessions s where s.id = p_session_id
  ),
  turns_used as (
    select q.added_by, count(*) as n
    from public.queue_items q
    where q.session_id = p_session_id and q.status in ('playing', 'played', 'skipped')
    group by q.added_by
  ),
  pending as (
    select pv.item_id, pv.up_votes - pv.down_votes as score from private.pending_votes(p_session_id) pv
  ),
  queued as (
    select q.id, q.score + coalesce(pd.score, 0) as score, q.pinned_at, q.dj_position,
           row_number() over (partition by q.added_by order by q.score + coalesce(pd.score, 0) desc, q.id)
             + coalesce(t.n, 0) as turn
    from public.queue_items q
    left join turns_used t on t.added_by is not distinct from q.added_by
    left join pending pd on pd.item_id = q.id
    where q.session_id = p_session_id and q.status = 'queued'
  )
  select q.id,
         row_number() over (order by q.pinned_at nulls last, q.dj_position nulls last,
                                     case when st.fair then floor(q.score / 2.0) end desc nulls last,
                                     case when st.fair then q.turn end nulls last,
                                     q.score desc, q.id)
  from queued q cross join settings st
$$;
comment on function private.queue_order(uuid) is 'The play order of a session''s queued songs (rank 1 plays next); the rule is spelled out above.';
revoke all on function private.queue_order(uuid) from public, anon, authenticated, service_role;
-- authenticated: public.session_queue() (security invoker) orders the queue with it.
grant execute on function private.queue_order(uuid) to authenticated;

-- Recommendations: what plays when the queue and the fallback list are empty,
-- from our own play history (Spotify's recommendation endpoints are closed to
-- new apps). Candidates, scored:
--   3 points each time a song followed the room's current (or last) song in
--     another session (its latest 500 plays);
--   1 point per play in the latest 100 other sessions sharing a genre with the
--     room, or hosted by the same DJ;
-- never a song queued or playing here, nor one played here within the
-- replay cooldown, nor one longer than the room's max duration. Ties: the most
-- recently played first. It reads every session's history, which RLS hides
-- from the DJ: only privileged code calls it (advance_locked, under the
-- definer triggers and auto_advance; refresh_recommendations, under the
-- triggers that keep public.session_recommendations).
-- The latest sessions first (recommendations' neighbours): read backwards, filtered, stopped at 100.
create index sessions_started_at on public.sessions (started_at desc) where started_at is not null;

create function private.recommendations(p_session_id uuid, p_limit int)
returns table (track_key text, title text, artist text, album_art_url text, duration_ms int, provider text,
               provider_ref text, spotify_id text, apple_music_id text, isrc text, score bigint, followed int,
               genre_plays int)
language sql stable
set search_path = ''
as $$
  with room as (
    select s.id, s.dj_id, s.genres, s.replay_cooldown_minutes, s.max_song_duration_seconds
    from public.sessions s where s.id = p_session_id
  ),
  seed as (
    select q.track_key from public.queue_items q
    where q.session_id = p_session_id and q.started_at is not null and q.status in ('playing', 'played', 'skipped')
    order by q.started_at desc, q.id desc
    limit 1
  ),
  seed_plays as (
    select q.session_id, q.started_at from public.queue_items q
    where q.track_key = (select seed.track_key from seed) and q.status = 'played' and q.session_id <> p_session_id
    order by q.started_at desc
    limit 500
  ),
  followed as (
    select n.track_key, count(*)::int as n
    from seed_plays sp
    cross join lateral (
      select nx.track_key from public.queue_items nx
      where nx.session_id = sp.session_id and nx.status in ('played', 'skipped') and nx.started_at > sp.started_at
      order by nx.started_at
      limit 1) n
    group by n.track_key
  ),
  neighbours as (
    select gs.id from public.sessions gs, room r
    where gs.id <> r.id and gs.started_at is not null and (gs.genres && r.genres or gs.dj_id = r.dj_id)
    order by gs.started_at desc
    limit 100
  ),
  genre as (
    select q.track_key, count(*)::int as n
    from neighbours nb join public.queue_items q on q.session_id = nb.id and q.status = 'played'
    group by q.track_key
  ),
  candidates as (
    select c.track_key, sum(c.f)::int as followed, sum(c.g)::int as genre_plays
    from (select f.track_key, f.n as f, 0 as g from followed f
          union all
          select g.track_key, 0, g.n from genre g) c
    where c.track_key is distinct from (select seed.track_key from seed)
    group by c.track_key
  )
  select c.track_key, l.title, l.artist, l.album_art_url, l.duration_ms, l.provider, l.provider_ref, l.spotify_id,
         l.apple_music_id, l.isrc, 3 * c.followed + c.genre_plays as score, c.followed, c.genre_plays
  from candidates c
  cross join room r
  cross join lateral (
    select q.* from public.queue_items q
    where q.track_key = c.track_key and q.status = 'played'
    order by q.started_at desc
    limit 1) l
  where l.duration_ms <= r.max_song_duration_seconds * 1000
    and not exists (select 1 from public.queue_items h
                    where h.session_id = r.id and h.track_key = c.track_key
                      and (h.status in ('queued', 'playing')
                           or h.ended_at > now() - make_interval(mins => r.replay_cooldown_minutes)))
  order by 3 * c.followed + c.genre_plays desc, l.started_at desc
  limit least(greatest(coalesce(p_limit, 10), 1), 50)
$$;
comment on function private.recommendations(uuid, int) is 'Songs to play next in a session from our play history, best first (the scoring is spelled out above).';
revoke all on function private.recommendations(uuid, integer) from public, anon, authenticated, service_role;

-- Advance's last resort: the best recommendation joins the room as a
-- recommendation song (not announced as added); returns its id or null.
create function private.queue_recommendation(p_session public.sessions) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  v_id bigint;
begin
  insert into public.queue_items (session_id, added_by, title, artist, album_art_url, duration_ms, provider,
                                  provider_ref, spotify_id, apple_music_id, isrc, origin)
  select p_session.id, p_session.dj_id, r.title, r.artist, r.album_art_url, r.duration_ms, r.provider, r.provider_ref,
         r.spotify_id, r.apple_music_id, r.isrc, 'recommendation'
  from private.recommendations(p_session.id, 1) r
  returning id into v_id;
  return v_id;
end;
$$;
revoke all on function private.queue_recommendation(public.sessions) from public, anon, authenticated, service_role;

-- What the DJ reads (public.recommendations): the room's best 50
-- recommendations, computed by private.recommendations when the room's seed
-- changes (a song starts playing; the session is created, goes live or
-- changes genres) and dropped when it ends. It draws on other rooms' history,
-- which RLS hides from the DJ row by row; this projection (songs and scores,
-- no rooms, no people) is the DJ's to read. The read filters it again by the
-- room's queue and cooldown at that moment; other rooms' history is as of the
-- last refresh.
create table public.session_recommendations (
  session_id uuid not null references public.sessions (id) on delete cascade,
  rank int not null,
  track_key text not null,
  title text not null,
  artist text not null,
  album_art_url text,
  duration_ms int not null,
  provider text not null,
  provider_ref text not null,
  spotify_id text,
  apple_music_id text,
  isrc text,
  score bigint not null,
  computed_at timestamptz not null default now(),
  primary key (session_id, rank)
);
comment on table public.session_recommendations is 'A room''s best 50 recommendations from our play history, refreshed by triggers when its seed changes; the room''s DJ reads them through recommendations().';
revoke all on public.session_recommendations from anon, authenticated, service_role;
grant select on public.session_recommendations to authenticated, service_role;
alter table public.session_recommendations enable row level security;

-- Called by the triggers below (security definer, or the owner's code).
create function private.refresh_recommendations(p_session_id uuid) returns void
language plpgsql
set search_path = ''
as $$
begin
  delete from public.session_recommendations r where r.session_id = p_session_id;
  insert into public.session_recommendations (session_id, rank, track_key, title, artist, album_art_url, duration_ms,
                                              provider, provider_ref, spotify_id, apple_music_id, isrc, score)
  select p_session_id, o.ordinality, o.track_key, o.title, o.artist, o.album_art_url, o.duration_ms, o.provider,
         o.provider_ref, o.spotify_id, o.apple_music_id, o.isrc, o.score
  from private.recommendations(p_session_id, 50) with ordinality as o;
end;
$$;
revoke all on function private.refresh_recommendations(uuid) from public, anon, authenticated, service_role;

-- A song starts: the seed of the room's recommendations changed.
-- Security definer: private.recommendations reads every room's history.
create function private.queue_items_refresh_recommendations() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.refresh_recommendations(new.session_id);
  return null;
end;
$$;
revoke all on function private.queue_items_refresh_recommendations() from public, anon, authenticated, service_role;

create trigger queue_items_refresh_recommendations
after update of status on public.queue_items
for each row when (new.status = 'playing' and old.status is distinct from 'playing')
execute function private.queue_items_refresh_recommendations();

-- A session is created, goes live or changes genres: refreshed; it ends: dropped.
-- Security definer: as above.
create function private.sessions_refresh_recommendations() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.status = 'ended' then
    delete from public.session_recommendations r where r.session_id = new.id;
  else
    perform private.refresh_recommendations(new.id);
  end if;
  return null;
end;
$$;
revoke all on function private.sessions_refresh_recommendations() from public, anon, authenticated, service_role;

create trigger sessions_refresh_recommendations_insert
after insert on public.sessions
for each row execute function private.sessions_refresh_recommendations();

create trigger sessions_refresh_recommendations_update
after update of status, genres on public.sessions
for each row when (new.status is distinct from old.status or new.genres is distinct from old.genres)
execute function private.sessions_refresh_recommendations();

-- Advancing: the playing song ends, the next one starts
-- Finish the playing song (as played or skipped) and start the next: the queue's
-- first by queue_order, else the DJ's fallback list, else a recommendation. The caller holds the
-- session lock, so concurrent advances run one after the other.
create function private.advance_locked(p_session public.sessions, p_outcome public.queue_item_status)
returns public.queue_items
language plpgsql
set search_path = ''
as $$
declare
  v_next_id bigint;
  v_fallback public.dj_fallback_tracks;
  v_item public.queue_items;
begin
  update public.queue_items q set status = p_outcome, ended_at = now()
  where q.session_id = p_session.id and q.status = 'playing';

  select o.item_id into v_next_id from private.queue_order(p_session.id) o order by o.play_rank limit 1;

  if v_next_id is null and p_session.fallback_enabled then
    -- The first fallback track not played within the cooldown, in list order.
    select f.* into v_fallback from public.dj_fallback_tracks f
    where f.dj_id = p_session.dj_id
      and not exists (select 1 from public.queue_items q
                      where q.session_id = p_session.id and q.track_key = f.provider || ':' || lower(f.provider_ref)
                        and (q.status = 'queued' or q.ended_at > now() - make_interval(mins => p_session.replay_cooldown_minutes)))
    order by f.position
    limit 1;
    if found then
      insert into public.queue_items (session_id, added_by, title, artist, album_art_url, duration_ms, provider,
                                      provider_ref, spotify_id, apple_music_id, isrc, origin)
      values (p_session.id, p_session.dj_id, v_fallback.title, v_fallback.artist, v_fallback.album_art_url,
              v_fallback.duration_ms, v_fallback.provider, v_fallback.provider_ref, v_fallback.spotify_id,
              v_fallback.apple_music_id, v_fallback.isrc, 'fallback')
      returning id into v_next_id;
    end if;
  end if;

  if v_next_id is null and p_session.recommendations_enabled then
    v_next_id := private.queue_recommendation(p_session);
  end if;

  if v_next_id is null then
    return null;  -- nothing to play
  end if;
  update public.queue_items q set status = 'playing', started_at = now(), skip_votes = 0
  where q.id = v_next_id
  returning * into v_item;
  return v_item;
end;
$$;
revoke all on function private.advance_locked(public.sessions, public.queue_item_status) from public, anon, authenticated, service_role;

-- Auto-advance (the worker's job): a live room playing the queue, not paused,
-- whose playing song's duration plus p_grace has passed, or where nothing
-- plays but songs wait, advances exactly as the DJ's advance would (queue,
-- then fallback, then a recommendation). Rooms another transaction holds
-- (the DJ advancing right now) are skipped this round; each candidate is
-- checked again under its lock, so a DJ's advance that landed first wins and
-- the song is never advanced twice. Returns how many rooms advanced.
create function private.auto_advance(p_grace interval, p_limit int, p_now timestamptz default now()) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_id uuid;
  v_session public.sessions;
  v_current public.queue_items;
  v_advanced int := 0;
begin
  for v_id in
    select s.id from public.sessions s
    left join public.queue_items q on q.session_id = s.id and q.status = 'playing'
    where s.status = 'live' and s.plays_from = 'queue' and s.paused_at is null
      and (q.started_at + make_interval(secs => q.duration_ms / 1000.0) + p_grace < p_now
           or (q.id is null and exists (select 1 from public.queue_items w
                                        where w.session_id = s.id and w.status = 'queued')))
    order by q.started_at nulls first
    limit p_limit
  loop
    select * into v_session from public.sessions s where s.id = v_id for no key update skip locked;
    continue when not found or v_session.status <> 'live' or v_session.plays_from <> 'queue'
                  or v_session.paused_at is not null;
    v_current := null;
    select * into v_current from public.queue_items q where q.session_id = v_id and q.status = 'playing';
    if v_current.id is not null then
      continue when v_current.started_at + make_interval(secs => v_current.duration_ms / 1000.0) + p_grace >= p_now;
    else
      continue when not exists (select 1 from public.queue_items w where w.session_id = v_id and w.status = 'queued');
    end if;
    perform private.advance_locked(v_session, 'played');
    v_advanced := v_advanced + 1;
  end loop;
  return v_advanced;
end;
$$;
comment on function private.auto_advance(interval, int, timestamptz) is 'Advances up to p_limit live rooms whose song ended p_grace ago (or that wait with songs queued); returns how many.';
revoke all on function private.auto_advance(interval, integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.auto_advance(interval, integer, timestamp with time zone) to openparty_worker, service_role;

-- Pause and resume: a paused room is left alone by auto-advance, and now
-- playing's position stands still; resuming moves the playing song's start by
-- the pause, so it ends as late as the pause lasted (sessions_resume_playing,
-- for every writer). Security invoker: the DJ writes paused_at on their own
-- session (sessions_update and a column grant, sessions.sql), which
-- sessions_guard_transitions stamps now() and allows only while live.
create function private.set_paused(p_session_id uuid, p_paused boolean) returns public.sessions
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_session public.sessions;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  select * into v_session from public.sessions s where s.id = p_session_id;  -- checks the DJ before it locks
  if not found then
    raise exception using errcode = 'PT404', message = 'session not found';
  elsif v_session.dj_id <> v_uid then
    raise exception using errcode = 'PT403', message = 'only the session''s DJ can do this';
  elsif v_session.status <> 'live' then
    raise exception using errcode = 'PT409', message = 'this session is not live';
  end if;
  update public.sessions s set paused_at = case when p_paused then now() end
  where s.id = p_session_id and (s.paused_at is null) = p_paused
  returning * into v_session;
  if not found then
    select * into v_session from public.sessions s where s.id = p_session_id;  -- already so: idempotent
  end if;
  return v_session;
end;
$$;
revoke all on function private.set_paused(uuid, boolean) from public, anon, authenticated, service_role;
-- authenticated: public.pause_session() / resume_session() (security invoker) call it; it is
-- security invoker too, and writes only what the DJ may write directly.
grant execute on function private.set_paused(uuid, boolean) to authenticated;

-- Security definer: the DJ may not write queue_items' start times.
create function private.sessions_resume_playing() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.queue_items q set started_at = q.started_at + (now() - old.paused_at)
  where q.session_id = new.id and q.status = 'playing';
  return null;
end;
$$;
revoke all on function private.sessions_resume_playing() from public, anon, authenticated, service_role;

create trigger sessions_resume_playing
after update of paused_at on public.sessions
for each row when (old.paused_at is not null and new.paused_at is null)
execute function private.sessions_resume_playing();

-- A track the DJ plays outside the queue (their Spotify player, or what their
-- app reports) becomes now playing the way an advance makes it: the playing
-- song ends as played, and the track starts as a queue item, so it is
-- broadcast (now_playing) and logged like any advance. A queued song that is
-- the same track is the one that starts (the DJ played a request); the same
-- track already playing changes nothing. p_track: title, artist, duration_ms,
-- provider, provider_ref, and optional album_art_url, spotify_id,
-- apple_music_id, isrc, position_ms. The caller holds the session lock.
create function private.set_now_playing(p_session public.sessions, p_track jsonb, p_origin text)
returns public.queue_items
language plpgsql
set search_path = ''
as $$
declare
  v_key text := (p_track ->> 'provider') || ':' || lower(p_track ->> 'provider_ref');
  v_spotify_id text := p_track ->> 'spotify_id';
  v_current public.queue_items;
  v_next_id bigint;
  v_item public.queue_items;
begin
  select * into v_current from public.queue_items q where q.session_id = p_session.id and q.status = 'playing';
  if v_current.id is not null and (v_current.track_key = v_key or v_current.spotify_id = v_spotify_id) then
    return v_current;
  end if;
  update public.queue_items q set status = 'played', ended_at = now()
  where q.session_id = p_session.id and q.status = 'playing';
  select q.id into v_next_id from public.queue_items q
  where q.session_id = p_session.id and q.status = 'queued'
    and (q.track_key = v_key or q.spotify_id = v_spotify_id)
  order by q.id
  limit 1;
  if v_next_id is null then
    insert into public.queue_items (session_id, added_by, title, artist, album_art_url, duration_ms, provider,
                                    provider_ref, spotify_id, apple_music_id, isrc, origin)
    values (p_session.id, p_session.dj_id, left(p_track ->> 'title', 200), left(p_track ->> 'artist', 200),
            p_track ->> 'album_art_url', (p_track ->> 'duration_ms')::int, p_track ->> 'provider',
            p_track ->> 'provider_ref', v_spotify_id, p_track ->> 'apple_music_id', p_track ->> 'isrc', p_origin)
    returning id into v_next_id;
  end if;
  update public.queue_items q
  set status = 'playing', skip_votes = 0,
      started_at = now() - make_interval(secs => least(greatest(coalesce((p_track ->> 'position_ms')::bigint, 0), 0),
                                                      q.duration_ms) / 1000.0)
  where q.id = v_next_id
  returning * into v_item;
  update public.sessions s set last_track_report_at = now() where s.id = p_session.id;
  return v_item;
end;
$$;
revoke all on function private.set_now_playing(public.sessions, jsonb, text) from public, anon, authenticated, service_role;

-- Skip votes. The threshold grows with the log of the active listeners:
--   threshold = min(active, max(2, ceil(2 * ln(active + 1))))
-- where active = present listeners seen (joined, pinged or chatted) in the last
-- 2 minutes. 1 listener: 1; 3: 3; 10: 5; 100: 10; 1,000: 14; 10,000: 19.
-- Only votes of active listeners count.
create function private.skip_threshold(p_active int) returns int
language sql immutable
set search_path = ''
as $$ select greatest(1, least(p_active, greatest(2, ceil(2 * ln(p_active + 1))::int))) $$;
revoke all on function private.skip_threshold(integer) from public, anon, authenticated, service_role;
-- authenticated: private.skip_progress() (security invoker, run by now_playing and vote_skip) computes it; arithmetic only.
grant execute on function private.skip_threshold(integer) to authenticated;

-- The playing song's skip progress as the room sees it: the votes counted at
-- the last skip vote (queue_items.skip_votes, kept by skip_votes_count) and the
-- threshold of the listeners active now. Security invoker: the room reads the
-- song's row and the participant list under their own policies.
create function private.skip_progress(p_item_id bigint, p_session_id uuid, out votes int, out threshold int)
language sql stable
set search_path = ''
as $$
  select
    (select q.skip_votes from public.queue_items q where q.id = p_item_id),
    private.skip_threshold((select count(*)::int from public.session_participants p
                             where p.session_id = p_session_id and p.left_at is null
                               and p.last_seen_at > now() - interval '2 minutes'))
$$;
revoke all on function private.skip_progress(bigint, uuid) from public, anon, authenticated, service_role;
-- authenticated: public.now_playing() and public.vote_skip() (security invoker) read skip progress with it.
grant execute on function private.skip_progress(bigint, uuid) to authenticated;

-- A listener's skip vote is their own row (policy skip_votes_insert: present,
-- not banned, the session's playing song; one per song and listener). Pressing
-- again is an update of that row (vote_skip: on conflict do update), which
-- changes nothing but counts and announces again.
create function private.skip_votes_keep_created_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.created_at := old.created_at;
  return new;
end;
$$;
revoke all on function private.skip_votes_keep_created_at() from public, anon, authenticated, service_role;

create trigger skip_votes_keep_created_at
before update on public.skip_votes
for each row execute function private.skip_votes_keep_created_at();

-- Counts the votes under the room's lock, taken here, after the policy has
-- checked the voter: votes in one room count one after the other, so the
-- count is exact and the song is skipped once. The count of active voters
-- lands on queue_items.skip_votes (the room reads it), the progress is
-- announced, and the song is skipped when it reaches the threshold.
-- Security definer: it counts every listener's votes (RLS shows each only
-- their own), locks the room and advances it.
create function private.skip_votes_count() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session public.sessions;
  v_item public.queue_items;
  v_votes int;
  v_threshold int;
  v_result jsonb;
begin
  select q.* into v_item from public.queue_items q where q.id = new.item_id;
  v_session := private.lock_live_session(v_item.session_id);
  update public.session_participants p set last_seen_at = now()
  where p.session_id = v_session.id and p.user_id = new.user_id and p.left_at is null;
  if not found then
    raise exception using errcode = 'PT403', message = 'join the session to vote';
  end if;
  select q.* into v_item from public.queue_items q where q.id = new.item_id;
  if v_item.status <> 'playing' then
    raise exception using errcode = 'PT409', message = 'this song is no longer playing';  -- skipped or advanced meanwhile
  end if;
  update public.queue_items q
  set skip_votes = (select count(*)::int from public.skip_votes v
                    join public.session_participants p on p.session_id = v_session.id and p.user_id = v.user_id
                    where v.item_id = new.item_id and p.left_at is null
                      and p.last_seen_at > now() - interval '2 minutes')
  where q.id = new.item_id
  returning q.skip_votes into v_votes;
  v_threshold := (private.skip_progress(new.item_id, v_session.id)).threshold;
  v_result := jsonb_build_object('item_id', new.item_id, 'votes', v_votes, 'threshold', v_threshold);
  perform private.room_publish(v_session.id, 'skip_votes', v_result, 'skip_votes', 'last');
  if v_votes >= v_threshold then
    perform private.advance_locked(v_session, 'skipped');
  end if;
  return null;
end;
$$;
revoke all on function private.skip_votes_count() from public, anon, authenticated, service_role;

create trigger skip_votes_count
after insert or update on public.skip_votes
for each row execute function private.skip_votes_count();

-- What the app may change on a song by a direct write (column grants: status
-- and pinned_at; policy queue_items_update: the DJ, or whoever added it while
-- in the room), so a PostgREST PATCH can do nothing remove_from_queue and
-- pin_next cannot: only the DJ pins, only a queued song is pinned (at the
-- time of the write) or removed, and removing is the only status change; who
-- removed it and when are filled in. Writes of the system (security definer
-- bodies, workers) run as another role and are not limited here. Security
-- invoker: current_user is the writer's role.
create function private.queue_items_guard_app_updates() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if current_user <> 'authenticated' then
    return new;
  end if;
  if new.pinned_at is distinct from old.pinned_at then
    if not exists (select 1 from public.sessions s where s.id = old.session_id and s.dj_id = v_uid) then
      raise exception using errcode = 'PT403', message = 'only the session''s DJ can do this';
    end if;
    if old.status <> 'queued' then
      raise exception using errcode = 'PT409', message = 'only a queued song can be pinned';
    end if;
    new.pinned_at := case when new.pinned_at is not null then now() end;
  end if;
  if new.status is distinct from old.status then
    if old.status <> 'queued' then
      raise exception using errcode = 'PT409', message = format('this song is %s, not queued', old.status);
    end if;
    if new.status <> 'removed' then
      raise exception using errcode = 'PT403', message = 'songs start and end only by advance, skip and skip votes';
    end if;
    new.ended_at := now();
    new.removed_by := v_uid;
  end if;
  return new;
end;
$$;
revoke all on function private.queue_items_guard_app_updates() from public, anon, authenticated, service_role;

create trigger queue_items_guard_app_updates
before update of status, pinned_at on public.queue_items
for each row execute function private.queue_items_guard_app_updates();

-- The DJ's queue commands: what the DJ may do to the room that is no write to
-- rows of their own (advance, skip, reorder, report the track their app
-- plays) is an insert here; the policy says who may (the session's DJ) and
-- queue_commands_apply carries it out. Kept as the room's log of DJ actions.
create table public.queue_commands (
  id bigint generated always as identity primary key,
  session_id uuid not null references public.sessions (id) on delete cascade,
  actor_id uuid not null default auth.uid() references public.profiles (id) on delete cascade,
  command text not null
    constraint queue_commands_command check (command in ('advance', 'skip', 'reorder', 'report_track')),
  expected_item_id bigint,
  item_ids bigint[] constraint queue_commands_item_ids check (command = 'reorder' or item_ids is null),
  track jsonb constraint queue_commands_track check ((command = 'report_track') = (jsonb_typeof(track) = 'object')),
  created_at timestamptz not null default now()
);
comment on table public.queue_commands is 'The DJ''s queue actions (advance, skip, reorder, report_track), each applied by a trigger as it is inserted; the public RPCs of the same names insert them.';
comment on column public.queue_commands.command is 'advance: the playing song ended (played), the next starts; skip: the same, the song counts as skipped; reorder: item_ids play first, in that order; report_track: the track the DJ''s app plays becomes now playing';
comment on column public.queue_commands.expected_item_id is 'advance/skip: the song the DJ believes is playing; if another plays by now, nothing changes';
comment on column public.queue_commands.track is 'report_track: title, artist, duration_ms, provider, provider_ref, and optional album_art_url, spotify_id, apple_music_id, isrc, position_ms';
create index queue_commands_session on public.queue_commands (session_id, created_at);
create index queue_commands_actor on public.queue_commands (actor_id);
revoke all on public.queue_commands from anon, authenticated, service_role;
grant select on public.queue_commands to authenticated;
grant insert (session_id, command, expected_item_id, item_ids, track) on public.queue_commands to authenticated;
grant select, insert, delete on public.queue_commands to service_role;
alter table public.queue_commands enable row level security;

-- Carries out a DJ's command. The insert policy has checked the DJ; the room's
-- lock is taken here, after that check, so concurrent commands (and
-- auto-advance, skip votes) run one after the other. Security definer: it
-- moves songs of the whole room, plays fallback and recommended songs, and
-- announces. Errors (not live, too fast) undo the command with its insert.
create function private.queue_commands_apply() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session public.sessions;
  v_current public.queue_items;
  v_wait int;
begin
  -- The room's lock, as private.lock_session takes it but FOR NO KEY UPDATE:
  -- this insert's foreign key check already holds KEY SHARE on the session,
  -- so two DJ commands taking FOR UPDATE would deadlock; NO KEY UPDATE waits
  -- for (and excludes) every other holder of the room's lock all the same.
  select * into v_session from public.sessions s where s.id = new.session_id for no key update;
  if new.command in ('advance', 'skip', 'report_track') and v_session.status <> 'live' then
    raise exception using errcode = 'PT409', message = 'this session is not live';
  end if;
  if new.command in ('advance', 'skip') then
    select * into v_current from public.queue_items q where q.session_id = new.session_id and q.status = 'playing';
    -- a stale advance (a retry, or a second device) changes nothing: one track end advances once
    if new.expected_item_id is null or v_current.id is not distinct from new.expected_item_id then
      perform private.advance_locked(v_session, case new.command when 'skip' then 'skipped'
                                                                 else 'played' end::public.queue_item_status);
    end if;
  elsif new.command = 'reorder' then
    -- The listed songs play first, in this order; the others follow by the rule.
    update public.queue_items q set dj_position = null
    where q.session_id = new.session_id and q.status = 'queued' and q.dj_position is not null
      and not (q.id = any (new.item_ids));
    update public.queue_items q set dj_position = o.n
    from unnest(new.item_ids) with ordinality as o(id, n)
    where q.id = o.id and q.session_id = new.session_id and q.status = 'queued';
    perform private.room_publish(new.session_id, 'queue_reordered', jsonb_build_object('item_ids', new.item_ids),
                                 'queue_reordered', 'last');
  elsif new.command = 'report_track' then
    -- The DJ's app reports the track it plays (Apple Music has no
    -- currently-playing API): a change of track at most once per 5 s (PT429
    -- with retry_after); the same track again changes nothing, free. Not while
    -- now playing follows the DJ's Spotify player.
    if v_session.plays_from = 'spotify' then
      raise exception using errcode = 'PT409', message = 'now playing follows your Spotify player: set plays_from to app';
    end if;
    select * into v_current from public.queue_items q where q.session_id = new.session_id and q.status = 'playing';
    if v_current.id is not null
       and (v_current.track_key = (new.track ->> 'provider') || ':' || lower(new.track ->> 'provider_ref')
            or v_current.spotify_id = new.track ->> 'spotify_id') then
      return null;
    end if;
    if v_session.last_track_report_at > now() - interval '5 seconds' then
      v_wait := ceil(extract(epoch from v_session.last_track_report_at + interval '5 seconds' - now()))::int;
      raise exception using errcode = 'PT429', message = format('too fast: wait %s s', v_wait),
        detail = jsonb_build_object('retry_after', v_wait)::text;
    end if;
    perform private.set_now_playing(v_session, new.track, 'app');
  end if;
  return null;
end;
$$;
revoke all on function private.queue_commands_apply() from public, anon, authenticated, service_role;

create trigger queue_commands_apply
after insert on public.queue_commands
for each row execute function private.queue_commands_apply();

-- The caller must be the session's DJ: the answers of private.lock_own_session
-- (sessions.sql), without its lock. The RPCs ask first so the app gets them
-- rather than the policy's bare refusal.
create function private.require_dj(p_session_id uuid) returns void
language plpgsql stable
set search_path = ''
as $$
begin
  if (select auth.uid()) is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  if not exists (select 1 from public.sessions s where s.id = p_session_id and s.dj_id = (select auth.uid())) then
    if not exists (select 1 from public.sessions s where s.id = p_session_id) then
      raise exception using errcode = 'PT404', message = 'session not found';
    end if;
    raise exception using errcode = 'PT403', message = 'only the session''s DJ can do this';
  end if;
end;
$$;
revoke all on function private.require_dj(uuid) from public, anon, authenticated, service_role;
-- authenticated: the DJ's RPCs (advance, skip, reorder_queue, report_track, security invoker) ask it first.
grant execute on function private.require_dj(uuid) to authenticated;

-- Realtime: queue changes and track changes (tallies: queue_votes_maintain_tally
-- and fold_vote_deltas), through private.room_publish.
create function private.queue_items_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_item jsonb := jsonb_build_object(
    'id', new.id, 'session_id', new.session_id, 'added_by', new.added_by, 'title', new.title, 'artist', new.artist,
    'album_art_url', new.album_art_url, 'duration_ms', new.duration_ms, 'provider', new.provider,
    'provider_ref', new.provider_ref, 'spotify_id', new.spotify_id, 'apple_music_id', new.apple_music_id,
    'isrc', new.isrc, 'origin', new.origin, 'status', new.status, 'score', new.score, 'up_votes', new.up_votes,
    'down_votes', new.down_votes, 'pinned_at', new.pinned_at, 'from_fallback', new.from_fallback,
    'started_at', new.started_at);
begin
  if tg_op = 'INSERT' then
    if new.origin = 'request' then
      perform private.room_publish(new.session_id, 'queue_item_added', v_item);
    end if;
  elsif new.status is distinct from old.status then
    perform private.room_publish(new.session_id,
                                 case new.status when 'playing' then 'now_playing' else 'queue_item_status' end,
                                 v_item || jsonb_build_object('ended_at', new.ended_at));
  elsif new.pinned_at is distinct from old.pinned_at then
    perform private.room_publish(new.session_id, 'queue_item_pinned',
                                 jsonb_build_object('id', new.id, 'pinned_at', new.pinned_at));
  end if;
  return null;
end;
$$;
revoke all on function private.queue_items_broadcast() from public, anon, authenticated, service_role;

create trigger queue_items_broadcast
after insert or update of status, pinned_at on public.queue_items
for each row execute function private.queue_items_broadcast();

-- Reads: the queue in play order with tallies and your vote; now playing
create function public.session_queue(p_session_id uuid)
returns table (id bigint, play_rank bigint, title text, artist text, album_art_url text, duration_ms int,
               provider text, provider_ref text, added_by uuid, added_by_username text, up_votes int,
               down_votes int, score int, my_vote smallint, pinned boolean, added_at timestamptz)
language sql stable security invoker
set search_path = ''
as $$
  select q.id, o.play_rank, q.title, q.artist, q.album_art_url, q.duration_ms, q.provider, q.provider_ref,
         q.added_by, p.username, q.up_votes + coalesce(pv.up_votes, 0), q.down_votes + coalesce(pv.down_votes, 0),
         q.score + coalesce(pv.up_votes - pv.down_votes, 0), v.value, q.pinned_at is not null, q.added_at
  from private.queue_order(p_session_id) o
  join public.queue_items q on q.id = o.item_id and q.session_id = p_session_id
  left join public.profiles p on p.id = q.added_by
  left join public.queue_votes v on v.item_id = q.id and v.user_id = (select auth.uid())
  left join private.pending_votes(p_session_id) pv on pv.item_id = q.id
  order by o.play_rank
$$;
comment on function public.session_queue(uuid) is 'The queue in play order (rank 1 plays next) with tallies and your own vote; empty unless you are in the room (RLS on queue_items).';
revoke all on function public.session_queue(uuid) from public, anon, authenticated, service_role;
grant execute on function public.session_queue(uuid) to authenticated;

create function public.now_playing(p_session_id uuid)
returns table (id bigint, title text, artist text, album_art_url text, duration_ms int, provider text,
               provider_ref text, added_by uuid, started_at timestamptz, position_ms bigint, server_time timestamptz,
               skip_votes int, skip_threshold int, spotify_id text, apple_music_id text, isrc text, origin text,
               paused boolean)
language sql stable security invoker
set search_path = ''
as $$
  select q.id, q.title, q.artist, q.album_art_url, q.duration_ms, q.provider, q.provider_ref, q.added_by,
         q.started_at,
         (extract(epoch from coalesce(s.paused_at, clock_timestamp()) - q.started_at) * 1000)::bigint,
         clock_timestamp(), sp.votes, sp.threshold, q.spotify_id, q.apple_music_id, q.isrc, q.origin,
         s.paused_at is not null
  from public.queue_items q
  join public.sessions s on s.id = q.session_id
  cross join lateral private.skip_progress(q.id, q.session_id) sp
  where q.session_id = p_session_id and q.status = 'playing'
$$;
comment on function public.now_playing(uuid) is 'The playing song, when it started, its position for late joiners (frozen while paused), skip-vote progress, its ids in other services.';
revoke all on function public.now_playing(uuid) from public, anon, authenticated, service_role;
grant execute on function public.now_playing(uuid) to authenticated;

-- The public RPC surface
create function public.vote(p_item_id bigint, p_value int)
returns public.queue_items language plpgsql security invoker set search_path = ''
as $$
declare
  v_item public.queue_items;
begin
  if p_value = 0 then
    delete from public.queue_votes v where v.item_id = p_item_id and v.user_id = (select auth.uid());
  elsif p_value in (-1, 1) then
    insert into public.queue_votes as v (item_id, value) values (p_item_id, p_value)
    on conflict (item_id, user_id) do update set value = excluded.value where v.value <> excluded.value;
  else
    raise exception using errcode = 'PT422', message = 'a vote is 1 (up), -1 (down) or 0 (withdraw)';
  end if;
  select * into v_item from public.queue_items q where q.id = p_item_id;
  -- The exact tally: the row plus what the ticker has not folded in yet (large rooms).
  select v_item.up_votes + pv.up_votes, v_item.down_votes + pv.down_votes into v_item.up_votes, v_item.down_votes
  from private.pending_votes_of(p_item_id) pv;
  v_item.score := v_item.up_votes - v_item.down_votes;
  return v_item;
end;
$$;
comment on function public.vote(bigint, int) is 'Vote on a song: 1 up, -1 down, 0 withdraw. Returns the song with its tallies.';
revoke all on function public.vote(bigint, integer) from public, anon, authenticated, service_role;
grant execute on function public.vote(bigint, integer) to authenticated;

create function public.advance(p_session_id uuid, p_expected_item_id bigint default null)
returns public.queue_items language plpgsql security invoker set search_path = ''
as $$
declare
  v_item public.queue_items;
begin
  perform private.require_dj(p_session_id);
  insert into public.queue_commands (session_id, command, expected_item_id)
  values (p_session_id, 'advance', p_expected_item_id);
  select * into v_item from public.queue_items q where q.session_id = p_session_id and q.status = 'playing';
  return v_item;
end;
$$;
comment on function public.advance(uuid, bigint) is 'DJ: the playing song ended; start the next. Pass the id you think is playing: a stale call changes nothing.';
revoke all on function public.advance(uuid, bigint) from public, anon, authenticated, service_role;
grant execute on function public.advance(uuid, bigint) to authenticated;

create function public.skip(p_session_id uuid, p_expected_item_id bigint default null)
returns public.queue_items language plpgsql security invoker set search_path = ''
as $$
declare
  v_item public.queue_items;
begin
  perform private.require_dj(p_session_id);
  insert into public.queue_commands (session_id, command, expected_item_id)
  values (p_session_id, 'skip', p_expected_item_id);
  select * into v_item from public.queue_items q where q.session_id = p_session_id and q.status = 'playing';
  return v_item;
end;
$$;
comment on function public.skip(uuid, bigint) is 'DJ: skip the playing song and start the next.';
revoke all on function public.skip(uuid, bigint) from public, anon, authenticated, service_role;
grant execute on function public.skip(uuid, bigint) to authenticated;

create function public.vote_skip(p_session_id uuid)
returns jsonb language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_item public.queue_items;
  v_threshold int;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  -- Present and not banned (the insert policy checks it again; the room's lock comes after, in skip_votes_count).
  if not exists (select 1 from public.session_participants p
                 where p.session_id = p_session_id and p.user_id = v_uid and p.left_at is null)
     or exists (select 1 from public.session_sanctions x
                where x.session_id = p_session_id and x.user_id = v_uid and x.kind = 'ban') then
    raise exception using errcode = 'PT403', message = 'join the session to vote';
  end if;
  select q.* into v_item from public.queue_items q where q.session_id = p_session_id and q.status = 'playing';
  if not found then
    raise exception using errcode = 'PT409', message = 'nothing is playing';
  end if;
  insert into public.skip_votes as v (item_id) values (v_item.id)
  on conflict (item_id, user_id) do update set created_at = v.created_at;
  select q.* into v_item from public.queue_items q where q.id = v_item.id;
  v_threshold := (private.skip_progress(v_item.id, p_session_id)).threshold;
  return jsonb_build_object('item_id', v_item.id, 'votes', v_item.skip_votes, 'threshold', v_threshold,
                            'skipped', v_item.status = 'skipped');
end;
$$;
comment on function public.vote_skip(uuid) is 'Listener: vote to skip the playing song. Returns {item_id, votes, threshold, skipped}.';
revoke all on function public.vote_skip(uuid) from public, anon, authenticated, service_role;
grant execute on function public.vote_skip(uuid) to authenticated;

-- Who may not remove a song learns nothing about it: a song you cannot see
-- gets the same answer as one you may not remove.
create function public.remove_from_queue(p_item_id bigint)
returns public.queue_items language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_item public.queue_items;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  -- An unlocked read first (added_by and the DJ never change): a stranger never waits on, or holds, the song's row.
  select q.* into v_item from public.queue_items q where q.id = p_item_id;
  if not found
     or (v_item.added_by is distinct from v_uid
         and not exists (select 1 from public.sessions s where s.id = v_item.session_id and s.dj_id = v_uid)) then
    raise exception using errcode = 'PT403', message = 'only the DJ or whoever added it can remove a song';
  end if;
  -- queue_items_guard_app_updates: only a queued song (PT409), and it fills in ended_at and removed_by.
  update public.queue_items q set status = 'removed' where q.id = p_item_id returning * into v_item;
  if not found then
    raise exception using errcode = 'PT403', message = 'only the DJ or whoever added it can remove a song';
  end if;
  return v_item;
end;
$$;
comment on function public.remove_from_queue(bigint) is 'The DJ, or whoever added it: take a queued song out of the queue.';
revoke all on function public.remove_from_queue(bigint) from public, anon, authenticated, service_role;
grant execute on function public.remove_from_queue(bigint) to authenticated;

create function public.pin_next(p_item_id bigint, p_pinned boolean default true)
returns public.queue_items language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_item public.queue_items;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  select q.* into v_item from public.queue_items q where q.id = p_item_id;
  if not found or not exists (select 1 from public.sessions s where s.id = v_item.session_id and s.dj_id = v_uid) then
    raise exception using errcode = 'PT403', message = 'only the session''s DJ can do this';
  end if;
  if v_item.status <> 'queued' then
    raise exception using errcode = 'PT409', message = 'only a queued song can be pinned';
  end if;
  -- queue_items_guard_app_updates checks it again under the row's lock.
  update public.queue_items q set pinned_at = case when p_pinned then now() end
  where q.id = p_item_id
  returning * into v_item;
  return v_item;
end;
$$;
comment on function public.pin_next(bigint, boolean) is 'DJ: play this queued song next (pinned songs play first, earliest pin first); false unpins.';
revoke all on function public.pin_next(bigint, boolean) from public, anon, authenticated, service_role;
grant execute on function public.pin_next(bigint, boolean) to authenticated;

create function public.reorder_queue(p_session_id uuid, p_item_ids bigint[])
returns int language plpgsql security invoker set search_path = ''
as $$
begin
  perform private.require_dj(p_session_id);
  insert into public.queue_commands (session_id, command, item_ids) values (p_session_id, 'reorder', p_item_ids);
  return (select count(*)::int from public.queue_items q
          where q.session_id = p_session_id and q.status = 'queued' and q.id = any (p_item_ids));
end;
$$;
comment on function public.reorder_queue(uuid, bigint[]) is 'DJ: these queued songs play first, in this order. Returns how many were positioned.';
revoke all on function public.reorder_queue(uuid, bigint[]) from public, anon, authenticated, service_role;
grant execute on function public.reorder_queue(uuid, bigint[]) to authenticated;

create function public.pause_session(p_session_id uuid)
returns public.sessions language sql security invoker set search_path = ''
as $$ select * from private.set_paused(p_session_id, true) $$;
comment on function public.pause_session(uuid) is 'DJ: pause the room: nothing advances by itself and the position stands still. Idempotent.';
revoke all on function public.pause_session(uuid) from public, anon, authenticated, service_role;
grant execute on function public.pause_session(uuid) to authenticated;

create function public.resume_session(p_session_id uuid)
returns public.sessions language sql security invoker set search_path = ''
as $$ select * from private.set_paused(p_session_id, false) $$;
comment on function public.resume_session(uuid) is 'DJ: resume a paused room; the playing song continues where it stood. Idempotent.';
revoke all on function public.resume_session(uuid) from public, anon, authenticated, service_role;
grant execute on function public.resume_session(uuid) to authenticated;

create function public.report_track(p_session_id uuid, p_title text, p_artist text, p_duration_ms int, p_provider text,
                                    p_provider_ref text, p_album_art_url text default null,
                                    p_spotify_id text default null, p_apple_music_id text default null,
                                    p_isrc text default null, p_position_ms int default 0)
returns public.queue_items language plpgsql security invoker set search_path = ''
as $$
declare
  v_item public.queue_items;
begin
  perform private.require_dj(p_session_id);
  insert into public.queue_commands (session_id, command, track)
  values (p_session_id, 'report_track', jsonb_build_object(
    'title', p_title, 'artist', p_artist, 'duration_ms', p_duration_ms, 'provider', p_provider,
    'provider_ref', p_provider_ref, 'album_art_url', p_album_art_url, 'spotify_id', p_spotify_id,
    'apple_music_id', p_apple_music_id, 'isrc', p_isrc, 'position_ms', p_position_ms));
  select * into v_item from public.queue_items q where q.session_id = p_session_id and q.status = 'playing';
  return v_item;
end;
$$;
comment on function public.report_track(uuid, text, text, int, text, text, text, text, text, text, int) is 'DJ: the track your app plays now (Apple Music or anything else) becomes now playing, as an advance would. One change per 5 s.';
revoke all on function public.report_track(uuid, text, text, integer, text, text, text, text, text, text, integer) from public, anon, authenticated, service_role;
grant execute on function public.report_track(uuid, text, text, integer, text, text, text, text, text, text, integer) to authenticated;

create function public.recommendations(p_session_id uuid, p_limit int default 10)
returns table (title text, artist text, album_art_url text, duration_ms int, provider text, provider_ref text,
               spotify_id text, apple_music_id text, isrc text, score bigint)
language plpgsql stable security invoker set search_path = ''
as $$
begin
  if not exists (select 1 from public.sessions s where s.id = p_session_id and s.dj_id = (select auth.uid())) then
    raise exception using errcode = 'PT403', message = 'only the session''s DJ sees its recommendations';
  end if;
  -- never a song queued or playing here, nor one played here within the cooldown, nor one too long (as advance)
  return query
    select r.title, r.artist, r.album_art_url, r.duration_ms, r.provider, r.provider_ref, r.spotify_id,
           r.apple_music_id, r.isrc, r.score
    from public.session_recommendations r
    join public.sessions s on s.id = r.session_id
    where r.session_id = p_session_id
      and r.duration_ms <= s.max_song_duration_seconds * 1000
      and not exists (select 1 from public.queue_items h
                      where h.session_id = p_session_id and h.track_key = r.track_key
                        and (h.status in ('queued', 'playing')
                             or h.ended_at > now() - make_interval(mins => s.replay_cooldown_minutes)))
    order by r.rank
    limit least(greatest(coalesce(p_limit, 10), 1), 50);
end;
$$;
comment on function public.recommendations(uuid, int) is 'DJ: what would play after the queue and the fallback list, from our play history, best first.';
revoke all on function public.recommendations(uuid, integer) from public, anon, authenticated, service_role;
grant execute on function public.recommendations(uuid, integer) to authenticated;
