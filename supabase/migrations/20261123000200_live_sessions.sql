-- The live room: plans (the limits they grant), DJ sessions, participants,
-- moderators, sanctions and the moderation log, blocks and follows.

------------------------------------------------------------------------------
-- Plans: names and limits in one place. Which plan a user has is derived in
-- private.effective_plan_id() (entitlements arrive with the money migration).
------------------------------------------------------------------------------
create table public.plans (
  id text primary key,
  name text not null,
  rank int not null unique,
  max_participants int not null check (max_participants > 0),
  max_scheduled_sessions int not null check (max_scheduled_sessions >= 0),
  max_queue_length int not null check (max_queue_length > 0),
  max_queued_songs_per_listener int not null check (max_queued_songs_per_listener > 0)
);
comment on table public.plans is 'Subscription plans and the limits they grant; rank orders them (highest wins).';
comment on column public.plans.max_participants is 'listeners a DJ on this plan may host in one session';
comment on column public.plans.max_scheduled_sessions is 'upcoming scheduled sessions a DJ on this plan may have';
comment on column public.plans.max_queue_length is 'queued songs a session of a DJ on this plan may hold';
comment on column public.plans.max_queued_songs_per_listener is 'songs a listener on this plan may have queued in one session';

insert into public.plans (id, name, rank, max_participants, max_scheduled_sessions, max_queue_length, max_queued_songs_per_listener)
values ('free', 'Free', 0, 50, 3, 100, 3),
       ('premium', 'Premium', 1, 100, 5, 200, 10),
       ('dj_pro', 'DJ Pro', 2, 1000, 20, 500, 10);

revoke all on public.plans from anon, authenticated, service_role;
grant select on public.plans to anon, authenticated, service_role;
alter table public.plans enable row level security;

-- Replaced by the money migration, which derives the plan from entitlements.
create function private.effective_plan_id(p_user_id uuid) returns text
language sql stable
set search_path = ''
as $$ select 'free'::text $$;

create function private.plan_of(p_user_id uuid) returns public.plans
language sql stable security definer
set search_path = ''
as $$ select p.* from public.plans p where p.id = private.effective_plan_id(p_user_id) $$;
grant execute on function private.plan_of(uuid) to authenticated, service_role, openparty_edge, openparty_worker;

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

create unique index sessions_one_live_per_dj on public.sessions (dj_id) where status = 'live';
create index sessions_dj_history on public.sessions (dj_id, created_at desc);
create index sessions_live_by_listeners on public.sessions (listener_count desc, started_at) where status = 'live';
create index sessions_scheduled_for on public.sessions (scheduled_for) where status = 'scheduled';
create index sessions_live_heartbeat on public.sessions (last_heartbeat_at) where status = 'live';
create index sessions_genres on public.sessions using gin (genres);

revoke all on public.sessions from anon, authenticated, service_role;
grant select on public.sessions to anon, authenticated;
grant insert (title, description, cover_url, genres, scheduled_for, max_participants, voting_enabled, tips_enabled,
              chat_enabled, slow_mode_seconds, followers_only_chat)
  on public.sessions to authenticated;
grant update (title, description, cover_url, genres, scheduled_for, max_participants, voting_enabled, tips_enabled,
              chat_enabled, slow_mode_seconds, followers_only_chat)
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
  if new.status = 'scheduled' then
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

create trigger sessions_before_insert
before insert on public.sessions
for each row execute function private.sessions_before_insert();

-- The state machine holds for every writer, service_role included.
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
  new.genres := array(select distinct lower(btrim(g)) from unnest(new.genres) as g where btrim(g) <> '');
  return new;
end;
$$;

create trigger sessions_guard_transitions
before update on public.sessions
for each row execute function private.sessions_guard_transitions();

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
  primary key (session_id, user_id)
) with (fillfactor = 85);
comment on table public.session_participants is 'Who is in a session: left_at is null while present. Written only by join/leave/end functions.';
comment on column public.session_participants.last_seen_at is 'last join or heartbeat: who counts as recently active';
comment on column public.session_participants.last_message_at is 'the chat rate limit compares against this';
-- No index covers last_seen_at or last_message_at, and pages keep free space
-- (fillfactor): heartbeats and chat stamps are HOT updates that touch no index.
create index session_participants_user on public.session_participants (user_id);
create index session_participants_present on public.session_participants (session_id) where left_at is null;

revoke all on public.session_participants from anon, authenticated, service_role;
grant select on public.session_participants to authenticated;
grant select, insert, update, delete on public.session_participants to service_role;
alter table public.session_participants enable row level security;

------------------------------------------------------------------------------
-- Moderators, sanctions (timeouts and bans), the moderation log
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
grant select on public.session_sanctions to authenticated;
grant select, insert, update, delete on public.session_sanctions to service_role;
alter table public.session_sanctions enable row level security;

create table public.moderation_actions (
  id bigint generated always as identity primary key,
  session_id uuid references public.sessions (id) on delete cascade,
  actor_id uuid references public.profiles (id) on delete set null,
  target_user_id uuid references public.profiles (id) on delete set null,
  message_id bigint,
  action text not null check (action in ('delete_message', 'timeout', 'ban', 'unban', 'appoint_moderator',
                                         'remove_moderator', 'end_session')),
  detail jsonb not null default '{}',
  created_at timestamptz not null default now()
);
comment on table public.moderation_actions is 'Audit log of every moderation action; the session''s DJ and moderators read it, nobody edits it.';
create index moderation_actions_session on public.moderation_actions (session_id, created_at desc);
create index moderation_actions_actor on public.moderation_actions (actor_id);
create index moderation_actions_target on public.moderation_actions (target_user_id);

revoke all on public.moderation_actions from anon, authenticated, service_role;
grant select on public.moderation_actions to authenticated;
grant select, insert on public.moderation_actions to service_role;
alter table public.moderation_actions enable row level security;

------------------------------------------------------------------------------
-- Blocks and follows
------------------------------------------------------------------------------
create table public.user_blocks (
  blocker_id uuid not null references public.profiles (id) on delete cascade,
  blocked_id uuid not null references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (blocker_id, blocked_id),
  constraint user_blocks_not_self check (blocker_id <> blocked_id)
);
comment on table public.user_blocks is 'blocker never sees blocked''s messages; blocked cannot follow, tip or join the blocker''s sessions.';
create index user_blocks_blocked on public.user_blocks (blocked_id);

revoke all on public.user_blocks from anon, authenticated, service_role;
grant select, delete on public.user_blocks to authenticated;
grant insert (blocked_id) on public.user_blocks to authenticated;
grant select, insert, delete on public.user_blocks to service_role;
alter table public.user_blocks enable row level security;

create table public.follows (
  follower_id uuid not null references public.profiles (id) on delete cascade,
  followee_id uuid not null references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (follower_id, followee_id),
  constraint follows_not_self check (follower_id <> followee_id)
);
comment on table public.follows is 'follower follows followee (usually a DJ). Counts on profiles are kept by trigger.';
create index follows_followee on public.follows (followee_id, created_at desc);
create index follows_follower_recent on public.follows (follower_id, created_at desc);

revoke all on public.follows from anon, authenticated, service_role;
grant select on public.follows to anon, authenticated;
grant insert (followee_id), delete on public.follows to authenticated;
grant select, insert, delete on public.follows to service_role;
alter table public.follows enable row level security;

alter table public.profiles
  add column follower_count int not null default 0 check (follower_count >= 0),
  add column following_count int not null default 0 check (following_count >= 0);
comment on column public.profiles.follower_count is 'kept exact by the follows trigger';

------------------------------------------------------------------------------
-- Helpers the policies call: security definer so a policy on one table can
-- read another without recursing through its policies. Each returns a set for
-- `col in (select ...)`, evaluated once per statement.
------------------------------------------------------------------------------
create function private.my_session_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select p.session_id from public.session_participants p
  where p.user_id = (select auth.uid()) and p.left_at is null
  union
  select s.id from public.sessions s where s.dj_id = (select auth.uid())
  union
  select m.session_id from public.session_moderators m where m.user_id = (select auth.uid())
$$;
comment on function private.my_session_ids() is 'Sessions the caller is present in, hosts, or moderates.';

create function private.my_moderated_session_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select s.id from public.sessions s where s.dj_id = (select auth.uid())
  union
  select m.session_id from public.session_moderators m where m.user_id = (select auth.uid())
$$;
comment on function private.my_moderated_session_ids() is 'Sessions the caller hosts or moderates.';

create function private.my_hosted_session_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$ select s.id from public.sessions s where s.dj_id = (select auth.uid()) $$;

create function private.my_blocked_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$ select b.blocked_id from public.user_blocks b where b.blocker_id = (select auth.uid()) $$;
comment on function private.my_blocked_ids() is 'Users the caller blocked.';

create function private.blocked_me_ids() returns setof uuid
language sql stable security definer
set search_path = ''
as $$ select b.blocker_id from public.user_blocks b where b.blocked_id = (select auth.uid()) $$;
comment on function private.blocked_me_ids() is 'Users who blocked the caller.';

create function private.is_blocked_between(p_a uuid, p_b uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (select 1 from public.user_blocks b
                 where (b.blocker_id = p_a and b.blocked_id = p_b) or (b.blocker_id = p_b and b.blocked_id = p_a))
$$;

grant execute on function private.my_session_ids(), private.my_moderated_session_ids(), private.my_hosted_session_ids(),
  private.my_blocked_ids(), private.blocked_me_ids(), private.is_blocked_between(uuid, uuid)
  to authenticated, service_role;

------------------------------------------------------------------------------
-- Follows: counts, and no following someone who blocked you.
------------------------------------------------------------------------------
create function private.follows_before_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  new.follower_id := coalesce((select auth.uid()), new.follower_id);
  if exists (select 1 from public.user_blocks b where b.blocker_id = new.followee_id and b.blocked_id = new.follower_id) then
    raise exception using errcode = 'PT403', message = 'you cannot follow this user';
  end if;
  return new;
end;
$$;

create trigger follows_before_insert
before insert on public.follows
for each row execute function private.follows_before_insert();

create function private.follows_maintain_counts() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    update public.profiles set follower_count = follower_count + 1 where id = new.followee_id;
    update public.profiles set following_count = following_count + 1 where id = new.follower_id;
    return new;
  end if;
  update public.profiles set follower_count = follower_count - 1 where id = old.followee_id;
  update public.profiles set following_count = following_count - 1 where id = old.follower_id;
  return old;
end;
$$;

create trigger follows_maintain_counts
after insert or delete on public.follows
for each row execute function private.follows_maintain_counts();

-- Blocking someone ends follows both ways.
create function private.user_blocks_after_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  delete from public.follows f
  where (f.follower_id = new.blocked_id and f.followee_id = new.blocker_id)
     or (f.follower_id = new.blocker_id and f.followee_id = new.blocked_id);
  return new;
end;
$$;

create function private.user_blocks_before_insert() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.blocker_id := coalesce((select auth.uid()), new.blocker_id);
  return new;
end;
$$;

create trigger user_blocks_before_insert
before insert on public.user_blocks
for each row execute function private.user_blocks_before_insert();

create trigger user_blocks_after_insert
after insert on public.user_blocks
for each row execute function private.user_blocks_after_insert();

create function public.follow(p_user_id uuid) returns boolean
language sql security invoker
set search_path = ''
as $$
  insert into public.follows (followee_id) values (p_user_id) on conflict do nothing returning true
$$;
comment on function public.follow(uuid) is 'Follow a user (idempotent). Returns true when a follow was added, null when it existed.';

create function public.unfollow(p_user_id uuid) returns boolean
language sql security invoker
set search_path = ''
as $$
  delete from public.follows f where f.follower_id = (select auth.uid()) and f.followee_id = p_user_id returning true
$$;
comment on function public.unfollow(uuid) is 'Stop following (idempotent). Returns true when a follow was removed.';

create function public.is_following(p_user_id uuid) returns boolean
language sql stable security invoker
set search_path = ''
as $$
  select exists (select 1 from public.follows f where f.follower_id = (select auth.uid()) and f.followee_id = p_user_id)
$$;

revoke all on function public.follow(uuid), public.unfollow(uuid), public.is_following(uuid) from public, anon, authenticated;
grant execute on function public.follow(uuid), public.unfollow(uuid), public.is_following(uuid) to authenticated;
