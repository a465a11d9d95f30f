-- Sessions: the live room's lifecycle (scheduled -> live -> ended), its
-- listeners (join, leave, heartbeat) and the one way a session ends. The
-- tables of who may be in a room (moderators, sanctions) live here too,
-- because joining checks them; moderation.sql owns the actions on them.
-- The worker sweeps that end sessions by themselves are in sessions_cleanup.sql.

------------------------------------------------------------------------------
-- Sessions
------------------------------------------------------------------------------
create type public.session_status as enum ('scheduled', 'live', 'ended');
comment on type public.session_status is 'scheduled: announced, not started; live: on air; ended: over, final';

create table public.sessions (
  id uuid primary key default gen_random_uuid(),
  dj_id uuid not null references public.profiles (id) on delete cascade,
  title text not null constraint sessions_title_length check (char_length(btrim(title)) between 1 and 100),
  description text not null default '' constraint sessions_description_length check (char_length(description) <= 1000),
  cover_url text constraint sessions_cover_url_format check (cover_url ~ '^https?://'),
  genres text[] not null default '{}' constraint sessions_genres_limit check (cardinality(genres) <= 5),
  status public.session_status not null default 'scheduled',
  scheduled_for timestamptz,
  started_at timestamptz,
  ended_at timestamptz,
  end_reason text constraint sessions_end_reason check (end_reason in
    ('dj', 'canceled', 'heartbeat_lost', 'abandoned', 'max_duration', 'never_started', 'moderation')),
  last_heartbeat_at timestamptz,
  max_participants int not null default 50 constraint sessions_max_participants_range check (max_participants between 1 and 100000),
  voting_enabled boolean not null default true,
  tips_enabled boolean not null default true,
  chat_enabled boolean not null default true,
  slow_mode_seconds int not null default 0 constraint sessions_slow_mode_range check (slow_mode_seconds between 0 and 120),
  followers_only_chat boolean not null default false,
  -- Queue settings (the rules that read them are in queue.sql).
  queue_locked boolean not null default false,
  listeners_can_add boolean not null default true,
  max_songs_per_user int not null default 10
    constraint sessions_max_songs_per_user_range check (max_songs_per_user between 1 and 50),
  max_song_duration_seconds int not null default 600
    constraint sessions_max_song_duration_range check (max_song_duration_seconds between 30 and 3600),
  replay_cooldown_minutes int not null default 60
    constraint sessions_replay_cooldown_range check (replay_cooldown_minutes between 0 and 1440),
  fairness_enabled boolean not null default true,
  fallback_enabled boolean not null default true,
  recommendations_enabled boolean not null default true,
  -- Playback (the rules that read them are in queue.sql).
  plays_from text not null default 'queue'
    constraint sessions_plays_from check (plays_from in ('queue', 'spotify', 'app')),
  paused_at timestamptz,
  last_track_report_at timestamptz,
  reminder_sent_at timestamptz,
  listener_count int not null default 0 check (listener_count >= 0),
  peak_listener_count int not null default 0 check (peak_listener_count >= 0),
  total_listener_count int not null default 0 check (total_listener_count >= 0),
  duration_seconds int generated always as (extract(epoch from (ended_at - started_at))::int) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint sessions_live_has_started check (status = 'scheduled' or started_at is not null or end_reason in ('canceled', 'never_started')),
  constraint sessions_ended_has_end check ((status = 'ended') = (ended_at is not null))
);
comment on table public.sessions is 'DJ listening sessions: scheduled -> live -> ended (or scheduled -> ended when canceled). At most one live session per DJ.';
comment on column public.sessions.end_reason is 'dj: ended by the DJ; canceled: scheduled, never started, canceled by the DJ; heartbeat_lost / abandoned / max_duration / never_started: ended by the system; moderation: ended by the platform';
comment on column public.sessions.listener_count is 'present listeners (the DJ excluded), maintained by join/leave';
comment on column public.sessions.total_listener_count is 'distinct listeners who ever joined';
comment on column public.sessions.queue_locked is 'listeners cannot add while locked; the DJ always can';
comment on column public.sessions.max_songs_per_user is 'queued songs per listener; the listener''s plan may cap it lower';
comment on column public.sessions.replay_cooldown_minutes is 'a song played (or skipped) this recently in this session cannot be queued again';
comment on column public.sessions.fairness_enabled is 'contributors take turns among songs of comparable score (see private.queue_order)';
comment on column public.sessions.fallback_enabled is 'when the queue is empty, advance plays the DJ''s fallback list';
comment on column public.sessions.recommendations_enabled is 'when the queue and the fallback list are empty, advance plays a recommendation from our play history (queue.sql)';
comment on column public.sessions.plays_from is 'queue: the app plays the queue and the system advances when a song ends; spotify: now playing follows the DJ''s Spotify player (polled); app: the DJ''s app reports each track (report_track)';
comment on column public.sessions.paused_at is 'set while the DJ has paused the room: nothing advances by itself (pause_session / resume_session, queue.sql)';
comment on column public.sessions.last_track_report_at is 'when the DJ''s app or Spotify last changed now playing: report_track is rate-limited on it (queue.sql)';
comment on column public.sessions.reminder_sent_at is 'when followers were told this scheduled session is about to start (push.sql)';
create unique index sessions_one_live_per_dj on public.sessions (dj_id) where status = 'live';
create index sessions_dj_history on public.sessions (dj_id, created_at desc);
create index sessions_live_by_listeners on public.sessions (listener_count desc, started_at) where status = 'live';
create index sessions_scheduled_for on public.sessions (scheduled_for) where status = 'scheduled';
create index sessions_live_heartbeat on public.sessions (last_heartbeat_at) where status = 'live';
create index sessions_genres on public.sessions using gin (genres);
revoke all on public.sessions from anon, authenticated, service_role;
grant select on public.sessions to anon, authenticated;
-- The DJ writes their own sessions (sessions_insert / sessions_update): the
-- settings, and the lifecycle columns the RPCs write as the caller: status
-- (go live, start, end: sessions_guard_transitions allows only forward moves
-- and stamps started_at / ended_at / end_reason itself), last_heartbeat_at and
-- paused_at (stamped now() by the guard, only while live). Counts, stamps and
-- end_reason are the system's: no grant.
grant insert (title, description, cover_url, genres, scheduled_for, max_participants, voting_enabled, tips_enabled,
              chat_enabled, slow_mode_seconds, followers_only_chat, status)
  on public.sessions to authenticated;
grant update (title, description, cover_url, genres, scheduled_for, max_participants, voting_enabled, tips_enabled,
              chat_enabled, slow_mode_seconds, followers_only_chat, queue_locked, listeners_can_add,
              max_songs_per_user, max_song_duration_seconds, replay_cooldown_minutes, fairness_enabled, fallback_enabled,
              recommendations_enabled, plays_from, status, last_heartbeat_at, paused_at)
  on public.sessions to authenticated;
grant select, insert, update, delete on public.sessions to service_role;
alter table public.sessions enable row level security;

create trigger sessions_set_updated_at
before update on public.sessions
for each row execute function private.set_updated_at();

-- New sessions belong to the caller, who must be a DJ within their plan's
-- number of scheduled sessions. Security definer: it reads the caller's plan.
create function private.sessions_before_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_plan public.plans;
  v_scheduled int;
begin
  new.dj_id := coalesce((select auth.uid()), new.dj_id);
  new.genres := array(select distinct lower(btrim(g)) from unnest(new.genres) as g where btrim(g) <> '');
  if not exists (select 1 from public.profiles p where p.id = new.dj_id and p.is_dj) then
    raise exception using errcode = 'PT403', message = 'only DJs host sessions: switch on is_dj in your profile first';
  end if;
  -- A session starts scheduled, or live at once (go_live); the system's
  -- stamps are set here (the app has no grant on them).
  if new.status = 'live' then
    new.started_at := coalesce(new.started_at, now());
    new.last_heartbeat_at := coalesce(new.last_heartbeat_at, now());
  elsif new.status = 'ended' and (select auth.uid()) is not null then
    raise exception using errcode = 'PT409', message = 'a new session is scheduled or live';
  end if;
  if new.status = 'scheduled' then
    -- Count-then-insert holds only if one insert per DJ counts at a time: a
    -- transaction-scoped advisory lock keyed by the DJ, taken after the checks
    -- above (a non-DJ never takes it).
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('openparty.scheduled_sessions:' || new.dj_id, 0));
    v_plan := private.plan_of(new.dj_id);
    select count(*) into v_scheduled from public.sessions s where s.dj_id = new.dj_id and s.status = 'scheduled';
    if v_scheduled >= v_plan.max_scheduled_sessions then
      raise exception using errcode = 'PT403',
        message = format('your plan (%s) allows %s scheduled sessions', v_plan.name, v_plan.max_scheduled_sessions);
    end if;
  end if;
  return new;
end;
$$;
revoke all on function private.sessions_before_insert() from public, anon, authenticated, service_role;

create trigger sessions_before_insert
before insert on public.sessions
for each row execute function private.sessions_before_insert();

-- The state machine holds for every writer, service_role included. A move
-- stamps what goes with it (the DJ's app writes only status: going live
-- starts the clock and the heartbeat; ending stamps ended_at, the reason
-- (dj, or canceled if it never started) and empties the count;
-- sessions_close_participations closes every participation). What the app
-- writes directly besides settings and status (column grants) is stamped
-- now() here and only while live: the heartbeat and the pause (a writer with
-- no JWT, the system, sets what it means).
create function private.sessions_guard_transitions() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.status = 'ended' then
    raise exception using errcode = 'PT409', message = 'this session has ended and can no longer change';
  end if;
  if new.status is distinct from old.status and not (
       (old.status = 'scheduled' and new.status in ('live', 'ended'))
    or (old.status = 'live' and new.status = 'ended')) then
    raise exception using errcode = 'PT409',
      message = format('a %s session cannot become %s', old.status, new.status);
  end if;
  if new.status = 'live' and old.status = 'scheduled' then
    new.started_at := coalesce(new.started_at, now());
    new.last_heartbeat_at := coalesce(new.last_heartbeat_at, now());
  elsif new.status = 'ended' then
    new.ended_at := coalesce(new.ended_at, now());
    new.end_reason := coalesce(new.end_reason, case when old.status = 'scheduled' then 'canceled' else 'dj' end);
    new.listener_count := 0;
  end if;
  if (select auth.uid()) is not null then
    if new.last_heartbeat_at is distinct from old.last_heartbeat_at then
      if new.status <> 'live' then
        raise exception using errcode = 'PT409', message = 'this session is not live';
      end if;
      new.last_heartbeat_at := now();
    end if;
    if new.paused_at is distinct from old.paused_at then
      if new.status <> 'live' then
        raise exception using errcode = 'PT409', message = 'this session is not live';
      end if;
      new.paused_at := case when new.paused_at is not null then coalesce(old.paused_at, now()) end;
    end if;
  end if;
  new.genres := array(select distinct lower(btrim(g)) from unnest(new.genres) as g where btrim(g) <> '');
  return new;
end;
$$;
revoke all on function private.sessions_guard_transitions() from public, anon, authenticated, service_role;

create trigger sessions_guard_transitions
before update on public.sessions
for each row execute function private.sessions_guard_transitions();

-- The settings a session_updated event carries.
create function private.session_settings(p_session public.sessions) returns jsonb
language sql immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'session_id', p_session.id, 'title', p_session.title, 'description', p_session.description,
    'cover_url', p_session.cover_url, 'genres', p_session.genres, 'max_participants', p_session.max_participants,
    'voting_enabled', p_session.voting_enabled, 'tips_enabled', p_session.tips_enabled,
    'chat_enabled', p_session.chat_enabled, 'slow_mode_seconds', p_session.slow_mode_seconds,
    'followers_only_chat', p_session.followers_only_chat, 'queue_locked', p_session.queue_locked,
    'listeners_can_add', p_session.listeners_can_add, 'max_songs_per_user', p_session.max_songs_per_user,
    'max_song_duration_seconds', p_session.max_song_duration_seconds,
    'replay_cooldown_minutes', p_session.replay_cooldown_minutes, 'fairness_enabled', p_session.fairness_enabled,
    'fallback_enabled', p_session.fallback_enabled, 'recommendations_enabled', p_session.recommendations_enabled,
    'plays_from', p_session.plays_from, 'paused', p_session.paused_at is not null)
$$;
revoke all on function private.session_settings(public.sessions) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Room ticks (DESIGN.md, "The fan-out budget"): how a room's events reach it.
-- Every session:<id> event goes through private.room_publish. A room below
-- room_tick_settings.listener_threshold listeners gets it at once (one
-- broadcast). A larger room, or any room that still has changes pending, gets
-- it in its next batch: the change becomes a row of private.room_changes,
-- written in the same transaction as what it announces (so it is as durable
-- as the change itself), and the ticker (room_ticks.sql, private.room_tick,
-- run every tick by the worker) sends each room's pending changes as one
-- `room_batch` broadcast and deletes them, in one transaction. user:<id>
-- events never come through here: they stay immediate (private.broadcast).
-- These live here, before the first trigger that publishes.
------------------------------------------------------------------------------
create table private.room_tick_settings (
  id boolean primary key default true constraint room_tick_settings_one_row check (id),
  listener_threshold int not null default 100 constraint room_tick_settings_threshold check (listener_threshold >= 0),
  auto_slow_mode_listeners int not null default 200
    constraint room_tick_settings_auto_slow_mode_listeners check (auto_slow_mode_listeners >= 0),
  auto_slow_mode_factor numeric not null default 0.35
    constraint room_tick_settings_auto_slow_mode_factor check (auto_slow_mode_factor >= 0),
  updated_at timestamptz not null default now()
);
comment on table private.room_tick_settings is 'One row: the room-tick and auto slow mode settings (README "Room ticks"). Internal: RLS on, no policies; the operator updates it.';
comment on column private.room_tick_settings.listener_threshold is 'rooms with at least this many present listeners get batched room events (room_batch) instead of one broadcast per event';
comment on column private.room_tick_settings.auto_slow_mode_listeners is 'rooms with at least this many listeners get an automatic chat interval (private.auto_slow_mode_seconds)';
comment on column private.room_tick_settings.auto_slow_mode_factor is 'the automatic chat interval is ceil(factor * sqrt(listeners)) seconds, at most 120';
insert into private.room_tick_settings default values;
alter table private.room_tick_settings enable row level security;

-- No foreign key to sessions: its check would take a KEY SHARE lock on the
-- room's row for every chat line, and joins lock that row FOR UPDATE. The
-- ticker drops the changes of a session that no longer exists.
create table private.room_changes (
  session_id uuid not null,
  id bigint generated always as identity,
  event text not null,
  payload jsonb not null,
  coalesce_key text,
  merge text not null default 'append' constraint room_changes_merge check (merge in ('append', 'last', 'sum')),
  created_at timestamptz not null default now(),
  primary key (session_id, id),
  constraint room_changes_key_merges check ((coalesce_key is null) = (merge = 'append'))
);
comment on table private.room_changes is 'Room events waiting for the next tick (private.room_publish writes, private.room_tick sends and deletes). Internal: RLS on, no policies.';
comment on column private.room_changes.merge is 'append: every change is kept, in order; last: of the changes with one coalesce_key only the latest is sent; sum: one change per coalesce_key whose numeric payload fields are summed (other fields: the latest)';
alter table private.room_changes enable row level security;

-- A large room: its events come in batches, and its hot paths (votes) defer
-- what a batch will carry anyway.
create function private.room_ticked(p_session_id uuid) returns boolean
language plpgsql stable
set search_path = ''
as $$
begin
  return coalesce((select s.listener_count from public.sessions s where s.id = p_session_id)
                  >= (select c.listener_threshold from private.room_tick_settings c), false);
end;
$$;
revoke all on function private.room_ticked(uuid) from public, anon, authenticated, service_role;

-- The one way to announce a change to a room (session:<id>). p_key and
-- p_merge say how changes of one kind coalesce in a batch (see
-- room_changes.merge): a tally or a count is 'last' under a key naming what it
-- counts ('tally:<item id>', 'listener_count'); a stream of counted events
-- (reactions) is 'sum' under one key per thing counted. p_defer: never at
-- once, even in a small room (a throttled event rides the next tick). Once a
-- room has a change pending, later ones queue behind it, so a room's events
-- reach it in the order they were published.
create function private.room_publish(p_session_id uuid, p_event text, p_payload jsonb, p_key text default null,
                                     p_merge text default 'append', p_defer boolean default false) returns void
language plpgsql
set search_path = ''
as $$
begin
  if not p_defer
     and (select s.listener_count from public.sessions s where s.id = p_session_id)
         < (select c.listener_threshold from private.room_tick_settings c)  -- an unknown session: queued, then dropped
     and not exists (select 1 from private.room_changes c where c.session_id = p_session_id) then
    perform private.broadcast('session:' || p_session_id, p_event, p_payload);
  else
    insert into private.room_changes (session_id, event, payload, coalesce_key, merge)
    values (p_session_id, p_event, p_payload, p_key, case when p_key is null then 'append' else p_merge end);
  end if;
end;
$$;
comment on function private.room_publish(uuid, text, jsonb, text, text, boolean) is 'Announce a room event: at once in a small room, else in the room''s next room_batch (README "Room ticks").';
revoke all on function private.room_publish(uuid, text, jsonb, text, text, boolean) from public, anon, authenticated, service_role;

create function private.sessions_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.status is distinct from old.status then
    perform private.room_publish(new.id, case new.status when 'live' then 'session_live' else 'session_ended' end,
      jsonb_build_object('session_id', new.id, 'status', new.status, 'end_reason', new.end_reason,
                         'started_at', new.started_at, 'ended_at', new.ended_at));
    return null;
  end if;
  -- listener_count is announced with the join or leave that changed it
  -- (session_participants_broadcast).
  if private.session_settings(new) is distinct from private.session_settings(old) then
    perform private.room_publish(new.id, 'session_updated', private.session_settings(new), 'session_updated', 'last');
  end if;
  return null;
end;
$$;
revoke all on function private.sessions_broadcast() from public, anon, authenticated, service_role;

create trigger sessions_broadcast
after update on public.sessions
for each row execute function private.sessions_broadcast();

------------------------------------------------------------------------------
-- Participants (listeners). The DJ is not a participant.
------------------------------------------------------------------------------
create table public.session_participants (
  session_id uuid not null references public.sessions (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  joined_at timestamptz not null default now(),
  left_at timestamptz,
  last_seen_at timestamptz not null default now(),
  last_message_at timestamptz,
  announced_at timestamptz not null default now(),
  last_vote_event_at timestamptz,
  primary key (session_id, user_id)
) with (fillfactor = 85);
comment on table public.session_participants is 'Who is in a session: left_at is null while present. Written by the system (joins and leaves through participation_requests, ends, bans, idle sweeps); a listener only stamps last_seen_at (heartbeat).';
comment on column public.session_participants.last_seen_at is 'last join or heartbeat: who counts as recently active';
comment on column public.session_participants.last_message_at is 'the chat rate limit compares against this';
comment on column public.session_participants.announced_at is 'when this listener''s join or leave was last broadcast: at most one per 30 s';
comment on column public.session_participants.last_vote_event_at is 'when a vote of this listener last broadcast a tally (queue.sql): at most one per 2 s';
-- No index covers last_seen_at or last_message_at, and pages keep free space
-- (fillfactor): heartbeats and chat stamps are HOT updates that touch no index.
create index session_participants_user on public.session_participants (user_id);
create index session_participants_present on public.session_participants (session_id) where left_at is null;
revoke all on public.session_participants from anon, authenticated, service_role;
grant select on public.session_participants to authenticated;
-- The listener's heartbeat (public.session_heartbeat): their own present row
-- (session_participants_update), stamped now() by session_participants_stamp_seen.
grant update (last_seen_at) on public.session_participants to authenticated;
grant select, insert, update, delete on public.session_participants to service_role;
alter table public.session_participants enable row level security;

-- A listener's own write is a heartbeat: the time is the server's, so a
-- client cannot keep a closed app present (the idle sweep reads it).
create function private.session_participants_stamp_seen() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (select auth.uid()) is not null then
    new.last_seen_at := now();
  end if;
  return new;
end;
$$;
revoke all on function private.session_participants_stamp_seen() from public, anon, authenticated, service_role;

create trigger session_participants_stamp_seen
before update of last_seen_at on public.session_participants
for each row execute function private.session_participants_stamp_seen();

-- Ending a session closes every open participation with it, whoever ends it
-- (the DJ's app writing status, or the system). The session's row is locked
-- by its update, then the participants: the order every change of listeners
-- takes (private.lock_session). Security definer: the DJ may not write their
-- listeners' rows.
create function private.sessions_close_participations() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.session_participants p
  set left_at = now()
  where p.session_id = new.id and p.left_at is null;
  return null;
end;
$$;
revoke all on function private.sessions_close_participations() from public, anon, authenticated, service_role;

create trigger sessions_close_participations
after update of status on public.sessions
for each row when (new.status = 'ended' and old.status is distinct from new.status)
execute function private.sessions_close_participations();

-- Listener joins and leaves. Anyone can leave and rejoin at will, so a
-- listener's joins and leaves are announced at most once per 30 s (a flip in
-- between changes the row and the count, silently); the event carries only the
-- user id, never user-chosen text (the app looks the profile up, and a renamed
-- user reaches nobody through it). Large rooms get them batched per tick
-- (private.room_publish).
create function private.session_participants_announce() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (old.left_at is null) <> (new.left_at is null) and old.announced_at > now() - interval '30 seconds' then
    new.announced_at := old.announced_at;  -- too soon: not announced (the AFTER trigger sees no change)
  elsif (old.left_at is null) <> (new.left_at is null) then
    new.announced_at := now();
  end if;
  return new;
end;
$$;
revoke all on function private.session_participants_announce() from public, anon, authenticated, service_role;

create trigger session_participants_announce
before update of left_at on public.session_participants
for each row execute function private.session_participants_announce();

create function private.session_participants_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_joined boolean := new.left_at is null;
  v_session record;
  v_announced boolean;
begin
  if tg_op = 'UPDATE' and (old.left_at is null) = v_joined then
    return null;  -- a heartbeat or chat stamp, not a join or leave
  end if;
  select s.status, s.listener_count, s.peak_listener_count into v_session
  from public.sessions s where s.id = new.session_id;
  -- Ending the whole session is announced once, as session_ended (end_session
  -- ends the session before it closes the participations).
  if not v_joined and v_session.status = 'ended' then
    return null;
  end if;
  -- The callers change the session's count before the participant row, so
  -- the count read above is the one this join or leave made. A flip the
  -- announce trigger held back is not announced; its count rides the next tick.
  v_announced := tg_op = 'INSERT' or new.announced_at <> old.announced_at;
  if v_announced then
    perform private.room_publish(new.session_id, case when v_joined then 'listener_joined' else 'listener_left' end,
                                 jsonb_build_object('user_id', new.user_id));
  end if;
  perform private.room_publish(new.session_id, 'listener_count',
    jsonb_build_object('listener_count', v_session.listener_count, 'peak_listener_count', v_session.peak_listener_count),
    'listener_count', 'last', not v_announced);
  return null;
end;
$$;
revoke all on function private.session_participants_broadcast() from public, anon, authenticated, service_role;

create trigger session_participants_broadcast
after insert or update of left_at on public.session_participants
for each row execute function private.session_participants_broadcast();

------------------------------------------------------------------------------
-- Moderators and sanctions (timeouts and bans): joining and chat check them;
-- moderation.sql appoints, sanctions and logs.
------------------------------------------------------------------------------
create table public.session_moderators (
  session_id uuid not null references public.sessions (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  appointed_at timestamptz not null default now(),
  primary key (session_id, user_id)
);
comment on table public.session_moderators is 'Moderators the DJ appointed for a session.';
create index session_moderators_user on public.session_moderators (user_id);
revoke all on public.session_moderators from anon, authenticated, service_role;
grant select, insert, delete on public.session_moderators to authenticated;
grant select, insert, update, delete on public.session_moderators to service_role;
alter table public.session_moderators enable row level security;

create table public.session_sanctions (
  session_id uuid not null references public.sessions (id) on delete cascade,
  user_id uuid not null references public.profiles (id) on delete cascade,
  kind text not null check (kind in ('timeout', 'ban')),
  until timestamptz,
  reason text not null default '' check (char_length(reason) <= 300),
  created_by uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  primary key (session_id, user_id),
  constraint session_sanctions_timeout_until check ((kind = 'timeout') = (until is not null))
);
comment on table public.session_sanctions is 'The current sanction of a user in a session: timeout (until a time) or ban (no end). Written by moderation functions.';
comment on column public.session_sanctions.kind is 'timeout: may not chat until `until`; ban: may not join or chat';
create index session_sanctions_user on public.session_sanctions (user_id);
create index session_sanctions_created_by on public.session_sanctions (created_by);
revoke all on public.session_sanctions from anon, authenticated, service_role;
-- Decision (issue 10): the app never reads created_by. A sanctioned user sees
-- their sanction (kind, until, reason) but not which moderator imposed it, as
-- large platforms do; the DJ and moderators find the actor in the moderation
-- log (moderation_actions.actor_id). A column grant keeps it out of every read.
grant select (session_id, user_id, kind, until, reason, created_at) on public.session_sanctions to authenticated;
grant select, insert, update, delete on public.session_sanctions to service_role;
alter table public.session_sanctions enable row level security;

-- The one test of "banned from this room", for every check that refuses a
-- banned user (join, moderate, queue, vote, skip, tip).
create function private.is_banned(p_session_id uuid, p_user_id uuid) returns boolean
language sql stable
set search_path = ''
as $$
  select exists (select 1 from public.session_sanctions x
                 where x.session_id = p_session_id and x.user_id = p_user_id and x.kind = 'ban')
$$;
revoke all on function private.is_banned(uuid, uuid) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Room access: who may see which room, kept by triggers, read by the policies.
-- One row per user and session the user has a standing in: the facts
-- (hosts / present / moderates / banned), each kept by an AFTER trigger on the
-- table that says it, and what they add up to (can_read, can_moderate). The
-- policies of the room's tables read it through the helpers below, as the
-- caller: room_access's own policy is `user_id = auth.uid()`, so a policy on
-- session_participants can read it without recursing through itself.
-- Each trigger turns only its own fact on or off (an upsert, or a MERGE that
-- clears it), so concurrent changes to one user's standing in one room (a join
-- and an appointment) serialize on the row and neither undoes the other; a row
-- left with no fact is deleted. Account and session deletion cascade.
------------------------------------------------------------------------------
create table private.room_access (
  user_id uuid not null references public.profiles (id) on delete cascade,
  session_id uuid not null references public.sessions (id) on delete cascade,
  hosts boolean not null default false,
  present boolean not null default false,
  moderates boolean not null default false,
  banned boolean not null default false,
  can_read boolean not null generated always as ((hosts or present or moderates) and not banned) stored,
  can_moderate boolean not null generated always as ((hosts or moderates) and not banned) stored,
  primary key (user_id, session_id)
);
comment on table private.room_access is 'Who may see which room (private.my_session_ids and co.): one row per user and session with a standing in it, kept by the room_access triggers on sessions, session_participants, session_moderators and session_sanctions. Each user reads their own rows.';
comment on column private.room_access.hosts is 'the user is the session''s DJ (sessions.dj_id)';
comment on column private.room_access.present is 'the user is in the room now (a session_participants row with left_at null)';
comment on column private.room_access.moderates is 'the DJ appointed the user (a session_moderators row)';
comment on column private.room_access.banned is 'the user is banned from the room (a session_sanctions row of kind ban; a timeout is not a ban)';
comment on column private.room_access.can_read is 'sees the room: chat, queue, participants, moderators, its Realtime topic';
comment on column private.room_access.can_moderate is 'moderates the room: deleted messages, sanctions, the moderation log';
-- For the cascade of a session's deletion (the primary key serves the policies).
create index room_access_session on private.room_access (session_id);
revoke all on private.room_access from anon, authenticated, service_role;
-- authenticated: the helpers below run as the caller and read it (own rows only).
grant select on private.room_access to authenticated;
alter table private.room_access enable row level security;

-- Turn one fact of a user's standing in a room on or off. The callers are the
-- security definer triggers below (nobody else may write room_access).
create function private.room_access_set(p_user_id uuid, p_session_id uuid, p_fact text, p_on boolean) returns void
language plpgsql
set search_path = ''
as $$
begin
  if p_fact not in ('hosts', 'present', 'moderates', 'banned') then
    raise exception 'unknown room access fact %', p_fact;
  end if;
  if p_on then
    insert into private.room_access as a (user_id, session_id, hosts, present, moderates, banned)
    values (p_user_id, p_session_id, p_fact = 'hosts', p_fact = 'present', p_fact = 'moderates', p_fact = 'banned')
    on conflict (user_id, session_id) do update
      set hosts = a.hosts or excluded.hosts, present = a.present or excluded.present,
          moderates = a.moderates or excluded.moderates, banned = a.banned or excluded.banned;
  else
    -- One statement: the row goes if this was its last fact, else loses it.
    -- Under a concurrent change of the same row MERGE waits, then re-reads the
    -- latest version and picks its action again, so the last fact cleared
    -- always deletes the row.
    merge into private.room_access as a
    using (select p_user_id as user_id, p_session_id as session_id) as v
    on a.user_id = v.user_id and a.session_id = v.session_id
    when matched and not ((a.hosts and p_fact <> 'hosts') or (a.present and p_fact <> 'present')
                          or (a.moderates and p_fact <> 'moderates') or (a.banned and p_fact <> 'banned')) then
      delete
    when matched then
      update set hosts = a.hosts and p_fact <> 'hosts', present = a.present and p_fact <> 'present',
                 moderates = a.moderates and p_fact <> 'moderates', banned = a.banned and p_fact <> 'banned';
  end if;
end;
$$;
revoke all on function private.room_access_set(uuid, uuid, text, boolean) from public, anon, authenticated, service_role;

-- One trigger function per table, each saying which rows carry its fact. Every
-- path is covered: insert, delete, and an update that changes the fact or the
-- row's user or session (whoever writes: the RPCs, the moderation functions,
-- the workers, service_role, cascades). Security definer: room_access is
-- written by nobody else; EXECUTE is revoked from every role (a trigger
-- function is checked when the trigger is created, not when it fires).
create function private.sessions_room_access() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- A deleted session takes its rows with it (on delete cascade); its id never
  -- changes (room_access's foreign key, like every other, forbids it).
  if tg_op = 'UPDATE' then
    perform private.room_access_set(old.dj_id, old.id, 'hosts', false);
  end if;
  perform private.room_access_set(new.dj_id, new.id, 'hosts', true);
  return null;
end;
$$;
revoke all on function private.sessions_room_access() from public, anon, authenticated, service_role;

create trigger sessions_room_access
after insert on public.sessions
for each row execute function private.sessions_room_access();

create trigger sessions_room_access_moved
after update of dj_id on public.sessions
for each row when (old.dj_id is distinct from new.dj_id)
execute function private.sessions_room_access();

create function private.session_participants_room_access() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- room_access_set's two statements, written out for `present`: ending a
  -- room closes every participation, one row at a time.
  if tg_op in ('UPDATE', 'DELETE') and old.left_at is null then
    merge into private.room_access as a
    using (select old.user_id as user_id, old.session_id as session_id) as v
    on a.user_id = v.user_id and a.session_id = v.session_id
    when matched and not (a.hosts or a.moderates or a.banned) then delete
    when matched then update set present = false;
  end if;
  if tg_op in ('INSERT', 'UPDATE') and new.left_at is null then
    insert into private.room_access as a (user_id, session_id, present) values (new.user_id, new.session_id, true)
    on conflict (user_id, session_id) do update set present = true;
  end if;
  return null;
end;
$$;
revoke all on function private.session_participants_room_access() from public, anon, authenticated, service_role;

-- Joins, rejoins and leaves only: a heartbeat or a chat line's send slot
-- (last_seen_at, last_message_at) never fires it.
create trigger session_participants_room_access
after insert or delete on public.session_participants
for each row execute function private.session_participants_room_access();

create trigger session_participants_room_access_changed
after update of left_at, session_id, user_id on public.session_participants
for each row when ((old.left_at is null) is distinct from (new.left_at is null)
                   or old.session_id is distinct from new.session_id or old.user_id is distinct from new.user_id)
execute function private.session_participants_room_access();

create function private.session_moderators_room_access() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform private.room_access_set(old.user_id, old.session_id, 'moderates', false);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform private.room_access_set(new.user_id, new.session_id, 'moderates', true);
  end if;
  return null;
end;
$$;
revoke all on function private.session_moderators_room_access() from public, anon, authenticated, service_role;

create trigger session_moderators_room_access
after insert or delete on public.session_moderators
for each row execute function private.session_moderators_room_access();

create trigger session_moderators_room_access_moved
after update of session_id, user_id on public.session_moderators
for each row when (old.session_id is distinct from new.session_id or old.user_id is distinct from new.user_id)
execute function private.session_moderators_room_access();

-- A ban hides the room; lifting it (the row deleted, or turned into a timeout)
-- gives back what the other facts give. A timeout hides nothing.
create function private.session_sanctions_room_access() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and old.kind = 'ban' then
    perform private.room_access_set(old.user_id, old.session_id, 'banned', false);
  end if;
  if tg_op in ('INSERT', 'UPDATE') and new.kind = 'ban' then
    perform private.room_access_set(new.user_id, new.session_id, 'banned', true);
  end if;
  return null;
end;
$$;
revoke all on function private.session_sanctions_room_access() from public, anon, authenticated, service_role;

create trigger session_sanctions_room_access
after insert or delete on public.session_sanctions
for each row execute function private.session_sanctions_room_access();

create trigger session_sanctions_room_access_changed
after update of kind, session_id, user_id on public.session_sanctions
for each row when (old.kind is distinct from new.kind
                   or old.session_id is distinct from new.session_id or old.user_id is distinct from new.user_id)
execute function private.session_sanctions_room_access();

------------------------------------------------------------------------------
-- Helpers the policies call. Security invoker: they read the caller's own
-- rows of room_access (its policy needs no other table, so nothing recurses).
-- Each returns a set for `col in (select ...)`, evaluated once per statement.
------------------------------------------------------------------------------
create function private.my_session_ids() returns setof uuid
language sql stable
set search_path = ''
as $$
  select a.session_id from private.room_access a where a.user_id = (select auth.uid()) and a.can_read
$$;
comment on function private.my_session_ids() is 'Sessions the caller is present in, hosts, or moderates, less those they are banned from.';
revoke all on function private.my_session_ids() from public, anon, authenticated, service_role;
-- authenticated: the room policies (messages, queue, participants, moderators) call it.
grant execute on function private.my_session_ids() to authenticated;

create function private.my_moderated_session_ids() returns setof uuid
language sql stable
set search_path = ''
as $$
  select a.session_id from private.room_access a where a.user_id = (select auth.uid()) and a.can_moderate
$$;
comment on function private.my_moderated_session_ids() is 'Sessions the caller hosts or moderates, less those they are banned from.';
revoke all on function private.my_moderated_session_ids() from public, anon, authenticated, service_role;
-- authenticated: the moderation policies call it.
grant execute on function private.my_moderated_session_ids() to authenticated;

create function private.my_hosted_session_ids() returns setof uuid
language sql stable
set search_path = ''
as $$ select a.session_id from private.room_access a where a.user_id = (select auth.uid()) and a.hosts $$;
comment on function private.my_hosted_session_ids() is 'Sessions the caller hosts (a ban, were there one, does not change it).';
revoke all on function private.my_hosted_session_ids() from public, anon, authenticated, service_role;
-- authenticated: the session_moderators policies call it.
grant execute on function private.my_hosted_session_ids() to authenticated;

------------------------------------------------------------------------------
-- Locks and limits
------------------------------------------------------------------------------

create function private.session_capacity(p_session public.sessions) returns int
language sql stable
set search_path = ''
as $$ select least(p_session.max_participants, (private.plan_of(p_session.dj_id)).max_participants) $$;
comment on function private.session_capacity(public.sessions) is 'Listeners a session admits: its own max_participants, capped by its DJ''s plan.';
revoke all on function private.session_capacity(public.sessions) from public, anon, authenticated, service_role;

-- Lock the session row and return it; every change to a session's listeners
-- takes this lock first (session, then participant rows), so counts stay exact
-- and concurrent joins/leaves/ends cannot deadlock. FOR NO KEY UPDATE, like
-- every lock taken on a session row to change it: each chat line's foreign key
-- check holds KEY SHARE on its room's row, which that mode does not wait for
-- (FOR UPDATE would queue a join behind the chat in flight, and make a
-- `skip locked` job pass over every busy room).
create function private.lock_session(p_session_id uuid) returns public.sessions
language plpgsql
set search_path = ''
as $$
declare
  v_session public.sessions;
begin
  select * into v_session from public.sessions s where s.id = p_session_id for no key update;
  if not found then
    raise exception using errcode = 'PT404', message = 'session not found';
  end if;
  return v_session;
end;
$$;
revoke all on function private.lock_session(uuid) from public, anon, authenticated, service_role;

create function private.lock_live_session(p_session_id uuid) returns public.sessions
language plpgsql
set search_path = ''
as $$
declare
  v_session public.sessions := private.lock_session(p_session_id);
begin
  if v_session.status <> 'live' then
    raise exception using errcode = 'PT409', message = 'this session is not live';
  end if;
  return v_session;
end;
$$;
revoke all on function private.lock_live_session(uuid) from public, anon, authenticated, service_role;

-- Checks before it locks: a stranger's call never waits on, or holds, the
-- room's lock (the DJ of a session never changes, so the unlocked read is safe).
create function private.lock_own_session(p_session_id uuid) returns public.sessions
language plpgsql
set search_path = ''
as $$
begin
  if not exists (select 1 from public.sessions s where s.id = p_session_id and s.dj_id = private.require_user()) then
    if not exists (select 1 from public.sessions s where s.id = p_session_id) then
      raise exception using errcode = 'PT404', message = 'session not found';
    end if;
    raise exception using errcode = 'PT403', message = 'only the session''s DJ can do this';
  end if;
  return private.lock_session(p_session_id);
end;
$$;
revoke all on function private.lock_own_session(uuid) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- The system's end: the one way the platform and the workers end a session
-- (heartbeat lost, abandoned, moderation, account deletion). The DJ's app ends
-- its own through public.end_session. Either way sessions_guard_transitions
-- stamps the end and sessions_close_participations closes every participation.
------------------------------------------------------------------------------
create function private.end_session(p_session_id uuid, p_reason text) returns public.sessions
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session public.sessions := private.lock_session(p_session_id);
begin
  if v_session.status = 'ended' then
    return v_session;
  end if;
  update public.sessions
  set status = 'ended',
      end_reason = case when v_session.status = 'scheduled' and p_reason = 'dj' then 'canceled' else p_reason end
  where id = p_session_id
  returning * into v_session;
  return v_session;
end;
$$;
revoke all on function private.end_session(uuid, text) from public, anon, authenticated, service_role;
-- service_role: the platform ends a session for moderation (reason 'moderation').
grant execute on function private.end_session(uuid, text) to service_role;

------------------------------------------------------------------------------
-- Joining and leaving: a request row. Joining must count against the room's
-- capacity and re-check a ban under the room's lock, and every change of
-- listeners takes the session's lock before the participant's row (ends,
-- bans and idle sweeps do so too): a listener may not lock the session row,
-- and a write to their own participant row would lock it first (a leave
-- racing an end would deadlock). So the app asks: it inserts
-- participation_requests (session_id, action) for itself (the insert policy),
-- and this table's trigger applies the request with the session's lock, in
-- that order, after it has checked the caller may (a stranger's leave and a
-- banned user's join take no lock), then deletes it: the table stays empty.
------------------------------------------------------------------------------
create table public.participation_requests (
  id bigint generated always as identity primary key,
  -- No foreign key: its check would take a KEY SHARE lock on the session's
  -- row before the request is checked (an unknown session is refused by the trigger).
  session_id uuid not null,
  user_id uuid not null default auth.uid(),
  action text not null constraint participation_requests_action check (action in ('join', 'leave')),
  created_at timestamptz not null default now()
);
-- No index on user_id (the policies' column): the table holds no row but the
-- one being applied, and every join or leave would pay for its upkeep.
comment on table public.participation_requests is 'A listener''s request to join or leave a live session (what join_session / leave_session insert). Applied and removed at once by its trigger; the rules are the trigger''s.';
comment on column public.participation_requests.action is 'join: become present (live only, not the DJ, not banned or blocked by the DJ, within capacity); leave: stop being present';
revoke all on public.participation_requests from anon, authenticated, service_role;
grant select on public.participation_requests to authenticated;
grant insert (session_id, action) on public.participation_requests to authenticated;
alter table public.participation_requests enable row level security;

create function private.participation_requests_apply() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_session public.sessions;
  v_first_time boolean;
begin
  delete from public.participation_requests r where r.id = new.id;

  if new.action = 'leave' then
    -- Not in it: nothing to do, and no lock taken (a stranger cannot hold the room's row).
    if exists (select 1 from public.session_participants p
               where p.session_id = new.session_id and p.user_id = new.user_id and p.left_at is null) then
      perform private.lock_session(new.session_id);
      perform private.close_participation(new.session_id, new.user_id);
    end if;
    return null;
  end if;

  -- Who may join is checked before the room's lock is taken (it never changes
  -- the DJ; a ban or block landing meanwhile is re-read under the lock below).
  select * into v_session from public.sessions s where s.id = new.session_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'session not found';
  end if;
  if v_session.dj_id = new.user_id then
    raise exception using errcode = 'PT409', message = 'you host this session';
  end if;
  if private.is_banned(new.session_id, new.user_id) then
    raise exception using errcode = 'PT403', message = 'you are banned from this session';
  end if;
  if exists (select 1 from public.user_blocks b where b.blocker_id = v_session.dj_id and b.blocked_id = new.user_id) then
    raise exception using errcode = 'PT403', message = 'you cannot join this session';
  end if;
  v_session := private.lock_live_session(new.session_id);
  if private.is_banned(new.session_id, new.user_id) then
    raise exception using errcode = 'PT403', message = 'you are banned from this session';
  end if;

  update public.session_participants p set last_seen_at = now()
  where p.session_id = new.session_id and p.user_id = new.user_id and p.left_at is null;
  if found then
    return null;  -- already here: joining again changes nothing
  end if;

  if v_session.listener_count >= private.session_capacity(v_session) then
    raise exception using errcode = 'PT409', message = 'this session is full';
  end if;

  -- The count first, then the row: the row's trigger announces the new count.
  -- Under the session lock, no other join of this user can interleave.
  v_first_time := not exists (select 1 from public.session_participants p
                              where p.session_id = new.session_id and p.user_id = new.user_id);
  update public.sessions
  set listener_count = listener_count + 1,
      peak_listener_count = greatest(peak_listener_count, listener_count + 1),
      total_listener_count = total_listener_count + v_first_time::int
  where id = new.session_id;
  insert into public.session_participants as p (session_id, user_id)
  values (new.session_id, new.user_id)
  on conflict (session_id, user_id) do update
    set left_at = null, joined_at = now(), last_seen_at = now();
  return null;
end;
$$;
revoke all on function private.participation_requests_apply() from public, anon, authenticated, service_role;

create trigger participation_requests_apply
after insert on public.participation_requests
for each row execute function private.participation_requests_apply();

-- Close one participation and keep the count; the caller holds the session lock.
create function private.close_participation(p_session_id uuid, p_user_id uuid) returns boolean
language plpgsql
set search_path = ''
as $$
begin
  -- The count first, then the row: the row's trigger announces the new count.
  update public.sessions set listener_count = listener_count - 1
  where id = p_session_id
    and exists (select 1 from public.session_participants p
                where p.session_id = p_session_id and p.user_id = p_user_id and p.left_at is null);
  if not found then
    return false;
  end if;
  update public.session_participants p set left_at = now()
  where p.session_id = p_session_id and p.user_id = p_user_id and p.left_at is null;
  return true;
end;
$$;
revoke all on function private.close_participation(uuid, uuid) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- The public RPC surface: security invoker, so each does only what the caller
-- may do directly (the policies in policies/sessions.sql and the column grants
-- above); the triggers hold the rules and the side effects. They answer the
-- app's mistakes with clear errors before they write.
------------------------------------------------------------------------------

create function public.go_live(p_title text, p_description text default '', p_genres text[] default '{}',
                               p_cover_url text default null)
returns public.sessions language plpgsql security invoker set search_path = ''
as $$
declare
  v_session public.sessions;
begin
  if (select auth.uid()) is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  begin
    insert into public.sessions (title, description, genres, cover_url, status)
    values (p_title, coalesce(p_description, ''), coalesce(p_genres, '{}'), p_cover_url, 'live')
    returning * into v_session;
  exception when unique_violation then
    raise exception using errcode = 'PT409', message = 'you already have a live session: end it first';
  end;
  return v_session;
end;
$$;
comment on function public.go_live(text, text, text[], text) is 'Create a session and start it at once. 409 if you already have a live session; 403 unless you are a DJ.';
revoke all on function public.go_live(text, text, text[], text) from public, anon, authenticated, service_role;
grant execute on function public.go_live(text, text, text[], text) to authenticated;

-- start_session and end_session read the session without a lock first: 404
-- unknown, 403 not the caller's (the DJ of a session never changes, so the
-- unlocked read is safe); then their update locks the caller's own row.
create function public.start_session(p_session_id uuid)
returns public.sessions language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_session public.sessions;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  select * into v_session from public.sessions s where s.id = p_session_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'session not found';
  elsif v_session.dj_id <> v_uid then
    raise exception using errcode = 'PT403', message = 'only the session''s DJ can do this';
  end if;
  if v_session.status = 'scheduled' then
    begin
      update public.sessions s set status = 'live'
      where s.id = p_session_id and s.status = 'scheduled'
      returning * into v_session;
    exception when unique_violation then
      raise exception using errcode = 'PT409', message = 'you already have a live session: end it first';
    end;
    if found then
      return v_session;
    end if;
    select * into v_session from public.sessions s where s.id = p_session_id;  -- started or ended meanwhile
  end if;
  raise exception using errcode = 'PT409', message = format('this session is %s, not scheduled', v_session.status);
end;
$$;
comment on function public.start_session(uuid) is 'Start your scheduled session. 409 unless scheduled, or if another of yours is live.';
revoke all on function public.start_session(uuid) from public, anon, authenticated, service_role;
grant execute on function public.start_session(uuid) to authenticated;

create function public.end_session(p_session_id uuid)
returns public.sessions language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_session public.sessions;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  select * into v_session from public.sessions s where s.id = p_session_id;
  if not found then
    raise exception using errcode = 'PT404', message = 'session not found';
  elsif v_session.dj_id <> v_uid then
    raise exception using errcode = 'PT403', message = 'only the session''s DJ can do this';
  end if;
  update public.sessions s set status = 'ended'
  where s.id = p_session_id and s.status <> 'ended'
  returning * into v_session;
  if not found then
    select * into v_session from public.sessions s where s.id = p_session_id;  -- ended already: idempotent
  end if;
  return v_session;
end;
$$;
comment on function public.end_session(uuid) is 'End your session (a scheduled one is canceled). Final; closes every participation. Idempotent.';
revoke all on function public.end_session(uuid) from public, anon, authenticated, service_role;
grant execute on function public.end_session(uuid) to authenticated;

-- The DJ's app pings while live; a listener's app pings while listening.
create function public.session_heartbeat(p_session_id uuid)
returns timestamptz language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  update public.sessions s set last_heartbeat_at = now()
  where s.id = p_session_id and s.dj_id = v_uid and s.status = 'live';
  if found then
    return now();
  end if;
  update public.session_participants p set last_seen_at = now()
  where p.session_id = p_session_id and p.user_id = v_uid and p.left_at is null;
  if found then
    return now();
  end if;
  raise exception using errcode = 'PT404', message = 'you are not in this live session';
end;
$$;
comment on function public.session_heartbeat(uuid) is 'Ping while live (DJ) or while listening (participant). 404 if you are not in the live session.';
revoke all on function public.session_heartbeat(uuid) from public, anon, authenticated, service_role;
grant execute on function public.session_heartbeat(uuid) to authenticated;

create function public.join_session(p_session_id uuid)
returns public.session_participants language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_participant public.session_participants;
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  insert into public.participation_requests (session_id, action) values (p_session_id, 'join');
  select * into v_participant from public.session_participants p
  where p.session_id = p_session_id and p.user_id = v_uid;
  return v_participant;
end;
$$;
comment on function public.join_session(uuid) is 'Join a live session (idempotent). 409 not live / full; 403 banned or blocked by the DJ.';
revoke all on function public.join_session(uuid) from public, anon, authenticated, service_role;
grant execute on function public.join_session(uuid) to authenticated;

create function public.leave_session(p_session_id uuid)
returns boolean language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  if not exists (select 1 from public.session_participants p
                 where p.session_id = p_session_id and p.user_id = v_uid and p.left_at is null) then
    return false;
  end if;
  insert into public.participation_requests (session_id, action) values (p_session_id, 'leave');
  -- This request closed it if it bears this transaction's time; a leave or an
  -- end that landed first closed it at theirs.
  return exists (select 1 from public.session_participants p
                 where p.session_id = p_session_id and p.user_id = v_uid and p.left_at = now());
end;
$$;
comment on function public.leave_session(uuid) is 'Leave a session. Returns false if you were not in it.';
revoke all on function public.leave_session(uuid) from public, anon, authenticated, service_role;
grant execute on function public.leave_session(uuid) to authenticated;
