-- The independent artists' catalog: artists (profiles.is_artist, switched on
-- by the user as is_dj is) upload original tracks to the private `tracks`
-- bucket and describe them in public.tracks. A track is reviewed
-- (processing -> published / rejected) by the platform; only published tracks
-- are visible to others, can be queued (provider 'openparty', provider_ref =
-- the track id) and streamed by signed URL. Policies: supabase/policies/catalog.sql.

------------------------------------------------------------------------------
-- The tracks bucket: private (streamed by signed URL), audio only, 50 MiB.
------------------------------------------------------------------------------
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('tracks', 'tracks', false, 50 * 1024 * 1024,
        array['audio/mpeg', 'audio/mp4', 'audio/aac', 'audio/flac', 'audio/wav', 'audio/ogg'])
on conflict (id) do update
  set public = excluded.public, file_size_limit = excluded.file_size_limit,
      allowed_mime_types = excluded.allowed_mime_types;

------------------------------------------------------------------------------
-- Tracks
------------------------------------------------------------------------------
create type public.track_status as enum ('processing', 'published', 'rejected', 'removed');
comment on type public.track_status is 'processing: uploaded, awaiting review; published: visible, queueable and streamable; rejected: refused by review (status_reason says why); removed: taken down by the artist or the platform (kept for play history and payouts)';

create table public.tracks (
  id uuid primary key default gen_random_uuid(),
  artist_id uuid not null references public.profiles (id) on delete cascade,
  title text not null constraint tracks_title_length check (char_length(btrim(title)) between 1 and 200),
  artist_name text not null constraint tracks_artist_name_length check (char_length(btrim(artist_name)) between 1 and 200),
  duration_ms int not null constraint tracks_duration_range check (duration_ms between 1000 and 20 * 60 * 1000),
  genres text[] not null default '{}' constraint tracks_genres_limit check (cardinality(genres) <= 5),
  cover_url text constraint tracks_cover_url_format check (cover_url ~ '^https?://'),
  isrc text constraint tracks_isrc_format check (isrc ~ '^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$'),
  audio_path text not null unique
    constraint tracks_audio_path_format check (audio_path ~ '^[0-9a-f-]{36}/[^/]+$' and audio_path !~ '(^|/)\.{0,2}(/|$)'),
  status public.track_status not null default 'processing',
  status_reason text constraint tracks_status_reason_length check (char_length(status_reason) <= 300),
  published_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.tracks is 'Original tracks artists upload: metadata and review state. Published tracks are public; an artist sees all of their own.';
comment on column public.tracks.audio_path is 'the file in the tracks bucket: <artist id>/<file name>; it must exist when the row is created';
comment on column public.tracks.isrc is 'optional International Standard Recording Code, 12 characters, without hyphens';
create index tracks_artist on public.tracks (artist_id, created_at desc);
create index tracks_published on public.tracks (published_at desc) where status = 'published';
revoke all on public.tracks from anon, authenticated, service_role;
grant select on public.tracks to anon, authenticated;
grant insert (title, artist_name, duration_ms, genres, cover_url, isrc, audio_path) on public.tracks to authenticated;
grant update (title, artist_name, genres, cover_url, isrc, status) on public.tracks to authenticated;
grant select, insert, update, delete on public.tracks to service_role;
alter table public.tracks enable row level security;

create trigger tracks_set_updated_at
before update on public.tracks
for each row execute function private.set_updated_at();

-- What the app may not decide: who owns the track, that its file exists, the
-- review. The artist may only take a track down (status -> removed, final);
-- review decisions go through private.review_track.
-- Security definer: reads storage.objects, which the caller may not list.
create function private.tracks_protect_server_fields() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if tg_op = 'INSERT' then
    new.artist_id := coalesce(v_uid, new.artist_id);
    new.status := 'processing';
    new.published_at := null;
    new.status_reason := null;
    new.title := btrim(new.title);
    new.artist_name := btrim(new.artist_name);
    new.genres := array(select distinct lower(btrim(g)) from unnest(new.genres) as g where btrim(g) <> '');
    if not exists (select 1 from public.profiles p where p.id = new.artist_id and p.is_artist) then
      raise exception using errcode = 'PT403', message = 'only artists upload tracks: switch on is_artist in your profile first';
    end if;
    if split_part(new.audio_path, '/', 1) <> new.artist_id::text
       or not exists (select 1 from storage.objects o where o.bucket_id = 'tracks' and o.name = new.audio_path) then
      raise exception using errcode = 'PT422', message = 'upload the audio file to tracks/<your user id>/ first';
    end if;
    return new;
  end if;
  if v_uid is not null and new.status is distinct from old.status then
    if old.status = 'removed' or new.status <> 'removed' then
      raise exception using errcode = 'PT403', message = 'an artist may only take a track down (status removed)';
    end if;
    new.status_reason := 'removed by the artist';
  end if;
  return new;
end;
$$;
revoke all on function private.tracks_protect_server_fields() from public, anon, authenticated, service_role;

create trigger tracks_protect_server_fields
before insert or update on public.tracks
for each row execute function private.tracks_protect_server_fields();

-- A track that stops being published (or is deleted with its artist's
-- account) leaves every queue and fallback list.
-- Security definer: the artist's change reaches other people's sessions.
create function private.tracks_withdraw_unpublished() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.queue_items q set status = 'removed', ended_at = now()
  where q.provider = 'openparty' and q.provider_ref = old.id::text and q.status = 'queued';
  delete from public.dj_fallback_tracks f where f.provider = 'openparty' and f.provider_ref = old.id::text;
  return null;
end;
$$;
revoke all on function private.tracks_withdraw_unpublished() from public, anon, authenticated, service_role;

create trigger tracks_withdraw_unpublished
after update of status on public.tracks
for each row when (old.status = 'published' and new.status <> 'published')
execute function private.tracks_withdraw_unpublished();

create trigger tracks_withdraw_deleted
after delete on public.tracks
for each row when (old.status = 'published')
execute function private.tracks_withdraw_unpublished();

-- The platform's review (moderation tooling, with the service key).
create function private.review_track(p_track_id uuid, p_status public.track_status, p_reason text default null)
returns public.tracks
language plpgsql security definer
set search_path = ''
as $$
declare
  v_track public.tracks;
begin
  if p_status = 'processing' then
    raise exception using errcode = 'PT422', message = 'a review publishes, rejects or removes';
  end if;
  update public.tracks t
  set status = p_status, status_reason = p_reason,
      published_at = case when p_status = 'published' then coalesce(t.published_at, now()) else t.published_at end
  where t.id = p_track_id
  returning * into v_track;
  if not found then
    raise exception using errcode = 'PT404', message = 'track not found';
  end if;
  return v_track;
end;
$$;
revoke all on function private.review_track(uuid, public.track_status, text) from public, anon, authenticated, service_role;
grant execute on function private.review_track(uuid, public.track_status, text) to service_role;

------------------------------------------------------------------------------
-- Queueing a catalog track: provider 'openparty', provider_ref the track id.
-- The song's title, artist, cover and duration come from the track, whatever
-- the app sent; only published tracks can be queued or put on a fallback list.
-- (Named to fire before queue_items_enforce_add_rules, which checks the duration.)
------------------------------------------------------------------------------
create function private.catalog_track_for_queue() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_track public.tracks;
begin
  if new.provider <> 'openparty' then
    return new;
  end if;
  if new.provider_ref ~ '^[0-9a-fA-F-]{36}$' then
    select * into v_track from public.tracks t where t.id = new.provider_ref::uuid and t.status = 'published';
  end if;
  if v_track.id is null then
    raise exception using errcode = 'PT404', message = 'no published track with this id';
  end if;
  new.provider_ref := v_track.id::text;
  new.title := v_track.title;
  new.artist := v_track.artist_name;
  new.duration_ms := v_track.duration_ms;
  new.album_art_url := v_track.cover_url;
  return new;
end;
$$;
revoke all on function private.catalog_track_for_queue() from public, anon, authenticated, service_role;

create trigger queue_items_catalog_track
before insert on public.queue_items
for each row execute function private.catalog_track_for_queue();

create trigger dj_fallback_tracks_catalog_track
before insert or update on public.dj_fallback_tracks
for each row execute function private.catalog_track_for_queue();
