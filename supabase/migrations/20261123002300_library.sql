-- The listener's library: songs saved from sessions ("heard at <session>,
-- played by <DJ>"), liked sessions, and playlists of saved songs (private, or
-- public by link: readable by anyone holding the link, never listed).

------------------------------------------------------------------------------
-- Saved songs
------------------------------------------------------------------------------
create table public.saved_songs (
  id bigint generated always as identity primary key,
  user_id uuid not null references public.profiles (id) on delete cascade,
  -- Where it was heard: kept as a snapshot, so the song stays when the session goes.
  session_id uuid references public.sessions (id) on delete set null,
  queue_item_id bigint references public.queue_items (id) on delete set null,
  dj_id uuid references public.profiles (id) on delete set null,
  session_title text not null,
  dj_username text not null,
  title text not null,
  artist text not null,
  album_art_url text,
  duration_ms int not null,
  provider text not null,
  provider_ref text not null,
  track_key text not null,
  saved_at timestamptz not null default now(),
  constraint saved_songs_once unique (user_id, track_key)
);
comment on table public.saved_songs is 'Songs a listener kept, with where they were heard (session title, DJ). Saved only through save_song(); delete to unsave.';
create index saved_songs_user_recent on public.saved_songs (user_id, saved_at desc);
create index saved_songs_session on public.saved_songs (session_id);
create index saved_songs_queue_item on public.saved_songs (queue_item_id);
create index saved_songs_dj on public.saved_songs (dj_id);
revoke all on public.saved_songs from anon, authenticated, service_role;
-- The app names the queue item; the insert trigger fills in the rest (the
-- song and where it was heard), so a saved song cannot be forged.
grant select, delete on public.saved_songs to authenticated;
grant insert (queue_item_id) on public.saved_songs to authenticated;
grant select, insert, update, delete on public.saved_songs to service_role;
alter table public.saved_songs enable row level security;

-- Save a song heard in a session: one you are in or were in (or host), that
-- has started playing there. The trigger reads the queue item, the session
-- and its DJ whatever the caller may read now (security definer: a listener
-- who left still saves what they heard), checks the caller was there, and
-- fills the snapshot. It names the song's track key in a transaction-local
-- setting, so save_song() finds the row already saved when the insert does
-- nothing (one row per song).
create function private.saved_songs_before_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_item public.queue_items;
  v_session public.sessions;
begin
  new.user_id := coalesce((select auth.uid()), new.user_id);
  if new.user_id is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  select q.* into v_item from public.queue_items q where q.id = new.queue_item_id;
  if found then
    select s.* into v_session from public.sessions s where s.id = v_item.session_id;
  end if;
  -- Nothing about a room you were never in is revealed: 404 either way.
  if v_item.id is null
     or not (v_session.dj_id = new.user_id
             or exists (select 1 from public.session_participants p
                        where p.session_id = v_item.session_id and p.user_id = new.user_id))
     or private.is_banned(v_item.session_id, new.user_id) then
    raise exception using errcode = 'PT404', message = 'song not found';
  end if;
  if v_item.started_at is null then
    raise exception using errcode = 'PT409', message = 'this song has not played yet';
  end if;
  new.session_id := v_session.id;
  new.dj_id := v_session.dj_id;
  new.session_title := v_session.title;
  new.dj_username := (select p.username from public.profiles p where p.id = v_session.dj_id);
  new.title := v_item.title;
  new.artist := v_item.artist;
  new.album_art_url := v_item.album_art_url;
  new.duration_ms := v_item.duration_ms;
  new.provider := v_item.provider;
  new.provider_ref := v_item.provider_ref;
  new.track_key := v_item.track_key;
  new.saved_at := now();
  perform pg_catalog.set_config('openparty.saved_track_key', v_item.track_key, true);
  return new;
end;
$$;
revoke all on function private.saved_songs_before_insert() from public, anon, authenticated, service_role;

create trigger saved_songs_before_insert
before insert on public.saved_songs
for each row execute function private.saved_songs_before_insert();

create function public.save_song(p_item_id bigint) returns public.saved_songs
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_saved public.saved_songs;
begin
  insert into public.saved_songs (queue_item_id) values (p_item_id)
  on conflict (user_id, track_key) do nothing
  returning * into v_saved;
  if v_saved.id is null then
    -- Saved before (from this item or another play of the song).
    select s.* into v_saved from public.saved_songs s
    where s.user_id = (select auth.uid())
      and s.track_key = pg_catalog.current_setting('openparty.saved_track_key', true);
  end if;
  return v_saved;
end;
$$;
comment on function public.save_song(bigint) is 'Keep a song heard in a session you are or were in (404 otherwise; 409 if it has not played yet). Idempotent per song.';
revoke all on function public.save_song(bigint) from public, anon, authenticated, service_role;
grant execute on function public.save_song(bigint) to authenticated;

------------------------------------------------------------------------------
-- Session likes
------------------------------------------------------------------------------
create table public.session_likes (
  session_id uuid not null references public.sessions (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (session_id, user_id)
);
comment on table public.session_likes is 'A listener liked a session they are or were in. Public, like follows; insert {session_id}, delete to unlike.';
create index session_likes_user on public.session_likes (user_id, created_at desc);
revoke all on public.session_likes from anon, authenticated, service_role;
grant select on public.session_likes to anon, authenticated;
grant insert (session_id), delete on public.session_likes to authenticated;
grant select, insert, delete on public.session_likes to service_role;
alter table public.session_likes enable row level security;

create function private.session_likes_before_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  new.user_id := coalesce((select auth.uid()), new.user_id);
  new.created_at := now();
  if not exists (select 1 from public.session_participants p
                 where p.session_id = new.session_id and p.user_id = new.user_id)
     or private.is_banned(new.session_id, new.user_id) then
    raise exception using errcode = 'PT403', message = 'like a session you are or were in';
  end if;
  return new;
end;
$$;
revoke all on function private.session_likes_before_insert() from public, anon, authenticated, service_role;

create trigger session_likes_before_insert
before insert on public.session_likes
for each row execute function private.session_likes_before_insert();

------------------------------------------------------------------------------
-- Playlists of saved songs
------------------------------------------------------------------------------
create table public.playlists (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null references public.profiles (id) on delete cascade,
  name text not null constraint playlists_name_length check (char_length(btrim(name)) between 1 and 100),
  is_public boolean not null default false,
  share_code text not null unique default replace(gen_random_uuid()::text, '-', ''),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.playlists is 'A listener''s playlists of saved songs. Private by default; is_public makes it readable by whoever presents its share_code (rpc/shared_playlist), never listed.';
comment on column public.playlists.share_code is 'the secret of the public link (122 random bits); server-set';
create index playlists_owner on public.playlists (owner_id, created_at desc);
revoke all on public.playlists from anon, authenticated, service_role;
grant select, delete on public.playlists to authenticated;
grant insert (name, is_public), update (name, is_public) on public.playlists to authenticated;
-- anon: a public playlist whose share code it presents (policies/library.sql), what shared_playlist() shows
-- (the code itself: the only rows anon sees are those of the code it gave).
grant select (id, name, owner_id, share_code, updated_at) on public.playlists to anon;
grant select, insert, update, delete on public.playlists to service_role;
alter table public.playlists enable row level security;

create function private.playlists_before_write() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    new.owner_id := coalesce((select auth.uid()), new.owner_id);
    -- At most 200 playlists each (one insert per owner at a time counts).
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('openparty.playlists:' || new.owner_id, 0));
    if (select count(*) from public.playlists p where p.owner_id = new.owner_id) >= 200 then
      raise exception using errcode = 'PT409', message = 'you have 200 playlists: delete one first';
    end if;
  end if;
  new.name := btrim(new.name);
  new.updated_at := now();
  return new;
end;
$$;
revoke all on function private.playlists_before_write() from public, anon, authenticated, service_role;

create trigger playlists_before_write
before insert or update on public.playlists
for each row execute function private.playlists_before_write();

create table public.playlist_items (
  id bigint generated always as identity primary key,
  playlist_id uuid not null references public.playlists (id) on delete cascade,
  saved_song_id bigint not null references public.saved_songs (id) on delete cascade,
  position int not null constraint playlist_items_position_positive check (position >= 0),
  -- The saved song as a public playlist shows it, copied from saved_songs on
  -- insert (a saved song never changes): whoever holds a public playlist's
  -- link reads these, never the owner's saved_songs rows.
  title text not null,
  artist text not null,
  album_art_url text,
  duration_ms int not null,
  provider text not null,
  provider_ref text not null,
  session_title text not null,
  dj_username text not null,
  added_at timestamptz not null default now(),
  constraint playlist_items_once unique (playlist_id, saved_song_id),
  -- One song per place; checked at the end of each statement, so
  -- reorder_playlist() moves every item in one update.
  constraint playlist_items_order unique (playlist_id, position) deferrable initially immediate
);
comment on table public.playlist_items is 'Songs of a playlist, in position order. Insert {playlist_id, saved_song_id} (your own of both; appended at the end, the song copied in), delete to remove, rpc/reorder_playlist (or update position) to reorder.';
create index playlist_items_saved_song on public.playlist_items (saved_song_id);
revoke all on public.playlist_items from anon, authenticated, service_role;
grant select, delete on public.playlist_items to authenticated;
grant insert (playlist_id, saved_song_id), update (position) on public.playlist_items to authenticated;
-- anon: the songs of a public playlist whose share code it presents (policies/library.sql).
grant select (playlist_id, position, title, artist, album_art_url, duration_ms, provider, provider_ref, session_title,
              dj_username) on public.playlist_items to anon;
grant select, insert, update, delete on public.playlist_items to service_role;
alter table public.playlist_items enable row level security;

-- Appends at the end; the playlist's row lock orders concurrent appends and
-- caps a playlist at 1,000 songs. Runs as the caller: it locks only a
-- playlist the caller may update (their own) and copies only their own saved
-- song (the insert policy refuses anything else after it).
create function private.playlist_items_before_insert() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_count int;
begin
  perform 1 from public.playlists p where p.id = new.playlist_id for update;
  select count(*), coalesce(max(i.position) + 1, 0) into v_count, new.position
  from public.playlist_items i where i.playlist_id = new.playlist_id;
  if v_count >= 1000 then
    raise exception using errcode = 'PT409', message = 'a playlist holds at most 1000 songs';
  end if;
  select s.title, s.artist, s.album_art_url, s.duration_ms, s.provider, s.provider_ref, s.session_title, s.dj_username
  into new.title, new.artist, new.album_art_url, new.duration_ms, new.provider, new.provider_ref, new.session_title,
       new.dj_username
  from public.saved_songs s where s.id = new.saved_song_id;
  new.added_at := now();
  return new;
end;
$$;
revoke all on function private.playlist_items_before_insert() from public, anon, authenticated, service_role;

create trigger playlist_items_before_insert
before insert on public.playlist_items
for each row execute function private.playlist_items_before_insert();

create function public.reorder_playlist(p_playlist_id uuid, p_item_ids bigint[]) returns int
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_count int;
begin
  -- Your own playlist, locked (appends and reorders of it queue here) and its
  -- updated_at stamped by its trigger; 404 for any other.
  update public.playlists p set name = p.name
  where p.id = p_playlist_id and p.owner_id = (select auth.uid());
  if not found then
    raise exception using errcode = 'PT404', message = 'playlist not found';
  end if;
  -- The listed songs first, in that order; the rest keep their order after them.
  with wanted as (
    select w.id, w.ord from unnest(coalesce(p_item_ids, '{}')) with ordinality as w(id, ord)
  ), ranked as (
    select i.id, row_number() over (order by (w.ord is null), w.ord, i.position, i.id) - 1 as new_position
    from public.playlist_items i left join wanted w on w.id = i.id
    where i.playlist_id = p_playlist_id
  )
  update public.playlist_items i set position = r.new_position
  from ranked r where i.id = r.id and i.position is distinct from r.new_position;
  get diagnostics v_count = row_count;
  return v_count;
end;
$$;
comment on function public.reorder_playlist(uuid, bigint[]) is 'Put the listed playlist items first, in that order (the rest follow in their order). Your own playlists only (404).';
revoke all on function public.reorder_playlist(uuid, bigint[]) from public, anon, authenticated, service_role;
grant execute on function public.reorder_playlist(uuid, bigint[]) to authenticated;

-- A public playlist by its link, read-only, for anyone (anon included): the
-- code is presented to the policies in a transaction-local setting
-- (policies/library.sql: playlists_select), cleared before returning.
create function public.shared_playlist(p_share_code text) returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  v_playlist jsonb;
begin
  perform pg_catalog.set_config('openparty.share_code', coalesce(p_share_code, ''), true);
  select jsonb_build_object(
    'id', p.id, 'name', p.name, 'owner_id', p.owner_id, 'owner_username', o.username, 'updated_at', p.updated_at,
    'songs', coalesce((select jsonb_agg(jsonb_build_object(
                 'position', i.position, 'title', i.title, 'artist', i.artist, 'album_art_url', i.album_art_url,
                 'duration_ms', i.duration_ms, 'provider', i.provider, 'provider_ref', i.provider_ref,
                 'heard_at', i.session_title, 'played_by', i.dj_username) order by i.position)
               from public.playlist_items i where i.playlist_id = p.id), '[]'::jsonb))
  into v_playlist
  from public.playlists p join public.profiles o on o.id = p.owner_id
  where p.share_code = p_share_code;
  perform pg_catalog.set_config('openparty.share_code', '', true);
  return v_playlist;
end;
$$;
comment on function public.shared_playlist(text) is 'A public playlist by its share code, with its songs in order (null when not public or unknown; your own by its code even when private).';
revoke all on function public.shared_playlist(text) from public, anon, authenticated, service_role;
grant execute on function public.shared_playlist(text) to anon, authenticated;
