-- Spotify: a DJ's linked account (Authorization Code with PKCE, exchanged by
-- the edge), its tokens, their refresh, and the currently-playing poller's
-- state. The app sees only whether it is linked (public.spotify_links); the
-- tokens live in private.spotify_tokens, which no app role can read (no
-- grants; RLS on without policies). They are stored in plain text: neither
-- Supabase Vault nor pgsodium is available to the local stack (supabase/local),
-- so at-rest encryption is left to the platform's disk encryption.
-- A track change on Spotify becomes now playing through
-- private.set_now_playing (queue.sql), exactly as an advance.

------------------------------------------------------------------------------
-- Links (what the app sees) and tokens (what it never sees)
------------------------------------------------------------------------------
create table public.spotify_links (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  spotify_user_id text not null constraint spotify_links_spotify_user_id_length check (char_length(spotify_user_id) between 1 and 200),
  display_name text,
  scopes text[] not null default '{}',
  status text not null default 'active' constraint spotify_links_status check (status in ('active', 'broken')),
  broken_reason text,
  linked_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.spotify_links is 'A user''s linked Spotify account, without its tokens. Written only by the edge (link, unlink) and the refresh worker.';
comment on column public.spotify_links.status is 'active: tokens work; broken: Spotify refused the refresh token (invalid_grant): link again';
revoke all on public.spotify_links from anon, authenticated, service_role;
grant select on public.spotify_links to authenticated;
grant select, insert, update, delete on public.spotify_links to service_role;
alter table public.spotify_links enable row level security;

create trigger spotify_links_set_updated_at
before update on public.spotify_links
for each row execute function private.set_updated_at();

create table private.spotify_tokens (
  user_id uuid primary key references public.spotify_links (user_id) on delete cascade,
  access_token text not null,
  refresh_token text not null,
  expires_at timestamptz not null,
  refresh_leased_until timestamptz,
  poll_due_at timestamptz not null default now(),
  last_track_id text,
  updated_at timestamptz not null default now()
);
comment on table private.spotify_tokens is 'Spotify access and refresh tokens of linked users, and the poller''s per-user state. Internal: RLS on, no policies, no grants to app roles.';
comment on column private.spotify_tokens.refresh_leased_until is 'a refresh worker holds this row until then (several replicas never refresh one token twice)';
comment on column private.spotify_tokens.poll_due_at is 'when currently-playing is next asked for this user';
comment on column private.spotify_tokens.last_track_id is 'the track Spotify last reported: an unchanged poll touches no session';
create index spotify_tokens_expires_at on private.spotify_tokens (expires_at);
create index spotify_tokens_poll_due_at on private.spotify_tokens (poll_due_at);
alter table private.spotify_tokens enable row level security;

create trigger spotify_tokens_set_updated_at
before update on private.spotify_tokens
for each row execute function private.set_updated_at();

-- The app's request budget with Spotify (limits are per app over a rolling
-- 30 s window): one row. A 429 blocks every request until its Retry-After.
create table private.spotify_budget (
  id boolean primary key default true constraint spotify_budget_one_row check (id),
  window_started_at timestamptz not null default now(),
  used int not null default 0,
  blocked_until timestamptz
);
comment on table private.spotify_budget is 'Requests the poller spent in the current window, and a 429''s Retry-After. Internal: RLS on, no policies.';
alter table private.spotify_budget enable row level security;
insert into private.spotify_budget default values;

------------------------------------------------------------------------------
-- The edge: link, unlink, tokens for an import
------------------------------------------------------------------------------
create function private.spotify_link(p_user_id uuid, p_spotify_user_id text, p_display_name text, p_scopes text[],
                                     p_access_token text, p_refresh_token text, p_expires_in int)
returns public.spotify_links
language plpgsql security definer
set search_path = ''
as $$
declare
  v_link public.spotify_links;
begin
  insert into public.spotify_links as l (user_id, spotify_user_id, display_name, scopes, status, broken_reason, linked_at)
  values (p_user_id, p_spotify_user_id, p_display_name, coalesce(p_scopes, '{}'), 'active', null, now())
  on conflict (user_id) do update
    set spotify_user_id = excluded.spotify_user_id, display_name = excluded.display_name, scopes = excluded.scopes,
        status = 'active', broken_reason = null, linked_at = now()
  returning * into v_link;
  insert into private.spotify_tokens as t (user_id, access_token, refresh_token, expires_at)
  values (p_user_id, p_access_token, p_refresh_token, now() + make_interval(secs => p_expires_in))
  on conflict (user_id) do update
    set access_token = excluded.access_token, refresh_token = excluded.refresh_token,
        expires_at = excluded.expires_at, refresh_leased_until = null, poll_due_at = now(), last_track_id = null;
  return v_link;
end;
$$;
comment on function private.spotify_link(uuid, text, text, text[], text, text, int) is 'The edge stores a user''s Spotify link and tokens after the PKCE code exchange (relinking replaces them).';
revoke all on function private.spotify_link(uuid, text, text, text[], text, text, integer) from public, anon, authenticated, service_role;
grant execute on function private.spotify_link(uuid, text, text, text[], text, text, integer) to openparty_edge, service_role;

create function private.spotify_unlink(p_user_id uuid) returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  delete from public.spotify_links l where l.user_id = p_user_id;  -- the tokens go with it (cascade)
  return found;
end;
$$;
revoke all on function private.spotify_unlink(uuid) from public, anon, authenticated, service_role;
grant execute on function private.spotify_unlink(uuid) to openparty_edge, service_role;

-- The tokens of an active link, for the edge (playlist import); none when
-- unlinked or broken.
create function private.spotify_tokens_of(p_user_id uuid)
returns table (access_token text, refresh_token text, expires_at timestamptz)
language sql stable security definer
set search_path = ''
as $$
  select t.access_token, t.refresh_token, t.expires_at
  from private.spotify_tokens t join public.spotify_links l on l.user_id = t.user_id
  where t.user_id = p_user_id and l.status = 'active'
$$;
revoke all on function private.spotify_tokens_of(uuid) from public, anon, authenticated, service_role;
grant execute on function private.spotify_tokens_of(uuid) to openparty_edge, service_role;

------------------------------------------------------------------------------
-- Refreshing (the worker, and the edge when a token it needs has expired)
------------------------------------------------------------------------------
-- Claim up to p_limit links whose access token expires within p_ahead, each
-- for p_lease (skipping rows another replica holds).
create function private.spotify_refresh_claim(p_ahead interval, p_limit int, p_lease interval,
                                              p_now timestamptz default now())
returns table (user_id uuid, refresh_token text)
language sql security definer
set search_path = ''
as $$
  update private.spotify_tokens t set refresh_leased_until = p_now + p_lease
  where t.user_id in (
    select c.user_id from private.spotify_tokens c
    where c.expires_at < p_now + p_ahead and (c.refresh_leased_until is null or c.refresh_leased_until < p_now)
    order by c.expires_at
    limit p_limit
    for update skip locked)
  returning t.user_id, t.refresh_token
$$;
revoke all on function private.spotify_refresh_claim(interval, integer, interval, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.spotify_refresh_claim(interval, integer, interval, timestamp with time zone) to openparty_worker, service_role;

-- A refresh answered: Spotify may or may not send a new refresh token (null:
-- keep the one we have).
create function private.spotify_store_tokens(p_user_id uuid, p_access_token text, p_refresh_token text,
                                             p_expires_in int, p_scopes text[])
returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  update private.spotify_tokens t
  set access_token = p_access_token, refresh_token = coalesce(p_refresh_token, t.refresh_token),
      expires_at = now() + make_interval(secs => p_expires_in), refresh_leased_until = null
  where t.user_id = p_user_id;
  if not found then
    return false;  -- unlinked meanwhile: nothing to keep
  end if;
  if p_scopes is not null then
    update public.spotify_links l set scopes = p_scopes where l.user_id = p_user_id and l.scopes <> p_scopes;
  end if;
  return true;
end;
$$;
revoke all on function private.spotify_store_tokens(uuid, text, text, integer, text[]) from public, anon, authenticated, service_role;
grant execute on function private.spotify_store_tokens(uuid, text, text, integer, text[]) to openparty_edge, openparty_worker, service_role;

-- Spotify refused the refresh token (invalid_grant: revoked, or the user
-- removed our app): the tokens are deleted, the link is marked broken, and
-- the user is told on user:<id> (spotify_link_broken) to link again.
create function private.spotify_mark_broken(p_user_id uuid, p_reason text) returns boolean
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.spotify_links l set status = 'broken', broken_reason = left(p_reason, 200)
  where l.user_id = p_user_id and l.status = 'active';
  if not found then
    return false;
  end if;
  delete from private.spotify_tokens t where t.user_id = p_user_id;
  perform private.broadcast('user:' || p_user_id, 'spotify_link_broken',
                            jsonb_build_object('reason', left(p_reason, 200)));
  return true;
end;
$$;
revoke all on function private.spotify_mark_broken(uuid, text) from public, anon, authenticated, service_role;
grant execute on function private.spotify_mark_broken(uuid, text) to openparty_edge, openparty_worker, service_role;

-- A 401 from the Web API: the access token no longer works; the refresh job
-- picks the link up at once.
create function private.spotify_token_rejected(p_user_id uuid) returns void
language sql security definer
set search_path = ''
as $$
  update private.spotify_tokens t set expires_at = least(t.expires_at, now()) where t.user_id = p_user_id
$$;
revoke all on function private.spotify_token_rejected(uuid) from public, anon, authenticated, service_role;
grant execute on function private.spotify_token_rejected(uuid) to openparty_edge, openparty_worker, service_role;

------------------------------------------------------------------------------
-- Now playing from Spotify (the poller)
------------------------------------------------------------------------------
-- Claim the DJs to ask about now: live in a session that plays from Spotify,
-- linked with a token that still works, due (p_interval since the last ask).
-- Never more than the app's budget allows in the current window of p_window
-- (p_budget requests), and nothing while a 429's Retry-After runs. One
-- replica at a time spends the budget (the budget row is locked).
create function private.spotify_poll_claim(p_interval interval, p_limit int, p_budget int, p_window interval,
                                           p_now timestamptz default now())
returns table (user_id uuid, access_token text)
language plpgsql security definer
set search_path = ''
as $$
declare
  v_budget private.spotify_budget;
  v_take int;
begin
  select * into v_budget from private.spotify_budget b for update;
  if v_budget.blocked_until > p_now then
    return;
  end if;
  if v_budget.window_started_at <= p_now - p_window then
    update private.spotify_budget b set window_started_at = p_now, used = 0 returning * into v_budget;
  end if;
  v_take := least(p_limit, p_budget - v_budget.used);
  if v_take <= 0 then
    return;
  end if;
  return query
    with due as (
      select t.user_id from private.spotify_tokens t
      join public.spotify_links l on l.user_id = t.user_id and l.status = 'active'
      join public.sessions s on s.dj_id = t.user_id and s.status = 'live' and s.plays_from = 'spotify'
      where t.poll_due_at <= p_now and t.expires_at > p_now
      order by t.poll_due_at
      limit v_take
      for update of t skip locked
    )
    update private.spotify_tokens t set poll_due_at = p_now + p_interval
    from due where t.user_id = due.user_id
    returning t.user_id, t.access_token;
  get diagnostics v_take = row_count;
  update private.spotify_budget b set used = b.used + v_take;
end;
$$;
revoke all on function private.spotify_poll_claim(interval, integer, integer, interval, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.spotify_poll_claim(interval, integer, integer, interval, timestamp with time zone) to openparty_worker, service_role;

-- Spotify answered 429: nothing is asked of it until Retry-After has passed.
create function private.spotify_rate_limited(p_retry_after_seconds int) returns timestamptz
language sql security definer
set search_path = ''
as $$
  update private.spotify_budget b
  set blocked_until = greatest(coalesce(b.blocked_until, now()), now() + make_interval(secs => greatest(p_retry_after_seconds, 1)))
  returning b.blocked_until
$$;
revoke all on function private.spotify_rate_limited(integer) from public, anon, authenticated, service_role;
grant execute on function private.spotify_rate_limited(integer) to openparty_worker, service_role;

-- A currently-playing answer (Spotify's JSON, or null for 204 No Content):
-- a track other than the last one becomes now playing of the DJ's live
-- session that plays from Spotify. Nothing playing, paused, an episode or an
-- ad change nothing. Returns what happened.
create function private.spotify_apply_playback(p_user_id uuid, p_playback jsonb) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_item jsonb := p_playback -> 'item';
  v_track_id text;
  v_session_id uuid;
  v_session public.sessions;
  v_isrc text;
begin
  if p_playback is null or jsonb_typeof(v_item) is distinct from 'object' then
    return 'nothing_playing';
  end if;
  if p_playback ->> 'currently_playing_type' is distinct from 'track' then
    return 'not_a_track';
  end if;
  if not coalesce((p_playback ->> 'is_playing')::boolean, false) then
    return 'paused';
  end if;
  v_track_id := coalesce(v_item ->> 'id', v_item ->> 'uri');  -- a local file has no id
  if v_track_id is null then
    return 'not_a_track';
  end if;
  if exists (select 1 from private.spotify_tokens t where t.user_id = p_user_id and t.last_track_id = v_track_id) then
    return 'unchanged';
  end if;
  select s.id into v_session_id from public.sessions s
  where s.dj_id = p_user_id and s.status = 'live' and s.plays_from = 'spotify';
  if v_session_id is null then
    return 'no_session';
  end if;
  v_session := private.lock_live_session(v_session_id);
  if v_session.plays_from <> 'spotify' then
    return 'no_session';
  end if;
  v_isrc := upper(v_item -> 'external_ids' ->> 'isrc');
  perform private.set_now_playing(v_session, jsonb_build_object(
    'title', coalesce(nullif(btrim(v_item ->> 'name'), ''), 'Unknown track'),
    'artist', coalesce(nullif((select string_agg(a ->> 'name', ', ' order by o)
                               from jsonb_array_elements(coalesce(v_item -> 'artists', '[]')) with ordinality as x(a, o)), ''),
                       'Unknown artist'),
    'album_art_url', (select i ->> 'url' from jsonb_array_elements(coalesce(v_item -> 'album' -> 'images', '[]')) i
                      where i ->> 'url' ~ '^https?://' limit 1),
    'duration_ms', greatest(coalesce((v_item ->> 'duration_ms')::int, 1), 1),
    'provider', 'spotify', 'provider_ref', v_track_id,
    'spotify_id', case when v_item ->> 'id' ~ '^[0-9A-Za-z]{22}$' then v_item ->> 'id' end,
    'isrc', case when v_isrc ~ '^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$' then v_isrc end,
    'position_ms', p_playback -> 'progress_ms'), 'spotify');
  update private.spotify_tokens t set last_track_id = v_track_id where t.user_id = p_user_id;
  return 'now_playing';
end;
$$;
revoke all on function private.spotify_apply_playback(uuid, jsonb) from public, anon, authenticated, service_role;
grant execute on function private.spotify_apply_playback(uuid, jsonb) to openparty_worker, service_role;

------------------------------------------------------------------------------
-- Playlist import (the edge fetched the pages; this applies them)
------------------------------------------------------------------------------
-- p_tracks: [{title, artist, album_art_url, duration_ms, spotify_id, isrc}].
-- 'fallback' appends them to the DJ's fallback list (skipping tracks already
-- on it); 'queue' adds them to the DJ's live session as the DJ's own requests
-- (skipping any the queue refuses: already queued, played too recently, or
-- longer than an hour). Returns how many were added.
create function private.spotify_import_tracks(p_dj_id uuid, p_target text, p_session_id uuid, p_tracks jsonb)
returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_track jsonb;
  v_position int;
  v_added int := 0;
begin
  if not exists (select 1 from public.profiles p where p.id = p_dj_id and p.is_dj) then
    raise exception using errcode = 'PT403', message = 'only DJs import playlists';
  end if;
  if p_target = 'fallback' then
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('openparty.fallback:' || p_dj_id, 0));
    select coalesce(max(f.position) + 1, 0) into v_position from public.dj_fallback_tracks f where f.dj_id = p_dj_id;
    for v_track in select * from jsonb_array_elements(p_tracks) loop
      continue when exists (select 1 from public.dj_fallback_tracks f
                            where f.dj_id = p_dj_id and f.provider = 'spotify' and f.provider_ref = v_track ->> 'spotify_id');
      insert into public.dj_fallback_tracks (dj_id, position, title, artist, album_art_url, duration_ms, provider,
                                             provider_ref, spotify_id, isrc)
      values (p_dj_id, v_position, left(v_track ->> 'title', 200), left(v_track ->> 'artist', 200),
              v_track ->> 'album_art_url', (v_track ->> 'duration_ms')::int, 'spotify', v_track ->> 'spotify_id',
              v_track ->> 'spotify_id', v_track ->> 'isrc');
      v_position := v_position + 1;
      v_added := v_added + 1;
    end loop;
    return v_added;
  elsif p_target = 'queue' then
    if not exists (select 1 from public.sessions s where s.id = p_session_id and s.dj_id = p_dj_id) then
      raise exception using errcode = 'PT404', message = 'session not found';
    end if;
    if not exists (select 1 from public.sessions s where s.id = p_session_id and s.status = 'live') then
      raise exception using errcode = 'PT409', message = 'the queue is closed: this session is not live';
    end if;
    for v_track in select * from jsonb_array_elements(p_tracks) loop
      begin
        insert into public.queue_items (session_id, added_by, title, artist, album_art_url, duration_ms, provider,
                                        provider_ref, spotify_id, isrc)
        values (p_session_id, p_dj_id, left(v_track ->> 'title', 200), left(v_track ->> 'artist', 200),
                v_track ->> 'album_art_url', (v_track ->> 'duration_ms')::int, 'spotify', v_track ->> 'spotify_id',
                v_track ->> 'spotify_id', v_track ->> 'isrc');
        v_added := v_added + 1;
      exception when sqlstate 'PT409' then
        null;  -- already queued or played too recently: skipped
      end;
    end loop;
    return v_added;
  end if;
  raise exception using errcode = 'PT422', message = 'import into fallback or queue';
end;
$$;
revoke all on function private.spotify_import_tracks(uuid, text, uuid, jsonb) from public, anon, authenticated, service_role;
grant execute on function private.spotify_import_tracks(uuid, text, uuid, jsonb) to openparty_edge, service_role;
