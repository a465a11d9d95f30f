-- Streaks, badges, weekly leaderboards and invite links. Everything here is
-- derived by the system from durable facts (sessions hosted, listening days,
-- tips, battles, joins); the app cannot write a badge, a streak or a credit.
-- Triggers on the facts award badges in the fact's transaction; each new
-- badge is a `badge_earned` event on user:<id> and an `achievement_earned`
-- push (preference `achievements`).

------------------------------------------------------------------------------
-- Badges
------------------------------------------------------------------------------
create table public.badges (
  id text primary key,
  name text not null,
  description text not null,
  sort int not null
);
comment on table public.badges is 'The badges there are (read-only catalog).';
revoke all on public.badges from anon, authenticated, service_role;
grant select on public.badges to anon, authenticated;
grant select on public.badges to service_role;
alter table public.badges enable row level security;
insert into public.badges (id, name, description, sort) values
  ('first_session_hosted', 'On air', 'Hosted a first live session', 10),
  ('hosting_streak_7', 'Week on air', 'Hosted a session 7 days in a row', 20),
  ('first_100_listeners', 'Packed room', '100 listeners at once in one session', 30),
  ('first_tip_received', 'First tip', 'Received a first tip', 40),
  ('first_battle_won', 'First victory', 'Won a DJ battle', 50),
  ('battles_won_10', 'Battle champion', 'Won 10 DJ battles', 60),
  ('listening_streak_7', 'Week of music', 'Listened 7 days in a row', 70),
  ('sessions_attended_10', 'Regular', 'Listened to 10 sessions', 80),
  ('invited_friend', 'Connector', 'A friend you invited joined a session', 90),
  ('joined_by_invite', 'Welcome', 'Joined a session through a friend''s invite', 100);

create table public.user_badges (
  user_id uuid not null references public.profiles (id) on delete cascade,
  badge_id text not null references public.badges (id) on delete cascade,
  earned_at timestamptz not null default now(),
  detail jsonb not null default '{}',
  primary key (user_id, badge_id)
);
comment on table public.user_badges is 'Badges earned, shown on profiles (public). Written only by the system.';
create index user_badges_badge on public.user_badges (badge_id);
revoke all on public.user_badges from anon, authenticated, service_role;
grant select on public.user_badges to anon, authenticated;
grant select on public.user_badges to service_role;
alter table public.user_badges enable row level security;

create function private.award_badge(p_user_id uuid, p_badge_id text, p_detail jsonb default '{}') returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_name text;
begin
  insert into public.user_badges (user_id, badge_id, detail) values (p_user_id, p_badge_id, coalesce(p_detail, '{}'))
  on conflict do nothing;
  if not found then
    return false;
  end if;
  select b.name into v_name from public.badges b where b.id = p_badge_id;
  perform private.broadcast('user:' || p_user_id, 'badge_earned',
    jsonb_build_object('badge_id', p_badge_id, 'name', v_name, 'detail', coalesce(p_detail, '{}')));
  perform private.enqueue_notifications(array[p_user_id], 'achievement_earned', 'New badge', v_name,
    jsonb_build_object('badge_id', p_badge_id), 'badge:' || p_badge_id || ':' || p_user_id);
  return true;
end;
$$;
revoke all on function private.award_badge(uuid, text, jsonb) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Streaks (UTC days)
------------------------------------------------------------------------------
create table private.hosting_days (
  user_id uuid not null references public.profiles (id) on delete cascade,
  day date not null,
  primary key (user_id, day)
);
comment on table private.hosting_days is 'UTC days on which a DJ went live: the facts hosting streaks are derived from. Internal: RLS on, no policies.';
alter table private.hosting_days enable row level security;

-- current: consecutive days ending today or yesterday; longest: ever.
create function private.streak(p_days date[], p_today date, out current_days int, out longest_days int)
language sql immutable
set search_path = ''
as $$
  with d as (select x.day, x.day - (row_number() over (order by x.day))::int as grp
             from (select distinct unnest(p_days) as day) x),
  islands as (select max(d.day) as last_day, count(*)::int as n from d group by d.grp)
  select coalesce(max(i.n) filter (where i.last_day >= p_today - 1), 0), coalesce(max(i.n), 0) from islands i
$$;
revoke all on function private.streak(date[], date) from public, anon, authenticated, service_role;

create function private.listening_streak(p_user_id uuid, p_today date default (now() at time zone 'UTC')::date,
                                         out current_days int, out longest_days int)
language sql stable
set search_path = ''
as $$
  select * from private.streak(array(select d.day from private.listening_days d where d.user_id = p_user_id), p_today)
$$;
revoke all on function private.listening_streak(uuid, date) from public, anon, authenticated, service_role;

create function private.hosting_streak(p_user_id uuid, p_today date default (now() at time zone 'UTC')::date,
                                       out current_days int, out longest_days int)
language sql stable
set search_path = ''
as $$
  select * from private.streak(array(select d.day from private.hosting_days d where d.user_id = p_user_id), p_today)
$$;
revoke all on function private.hosting_streak(uuid, date) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- The facts that award badges
------------------------------------------------------------------------------
-- A listening day (history.sql records one per join day).
create function private.listening_days_award() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if (private.listening_streak(new.user_id, new.day)).current_days >= 7 then
    perform private.award_badge(new.user_id, 'listening_streak_7', jsonb_build_object('through', new.day));
  end if;
  return null;
end;
$$;
revoke all on function private.listening_days_award() from public, anon, authenticated, service_role;

create trigger listening_days_award
after insert on private.listening_days
for each row execute function private.listening_days_award();

-- A DJ went live: a hosting day, first session, hosting streak.
create function private.sessions_award_hosting() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_day date := (new.started_at at time zone 'UTC')::date;
begin
  perform private.award_badge(new.dj_id, 'first_session_hosted', jsonb_build_object('session_id', new.id));
  insert into private.hosting_days (user_id, day) values (new.dj_id, v_day) on conflict do nothing;
  if found and (private.hosting_streak(new.dj_id, v_day)).current_days >= 7 then
    perform private.award_badge(new.dj_id, 'hosting_streak_7', jsonb_build_object('through', v_day));
  end if;
  return null;
end;
$$;
revoke all on function private.sessions_award_hosting() from public, anon, authenticated, service_role;

create trigger sessions_award_hosting
after insert or update of status on public.sessions
for each row when (new.status = 'live') execute function private.sessions_award_hosting();

-- 100 listeners at once.
create function private.sessions_award_peak() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.award_badge(new.dj_id, 'first_100_listeners', jsonb_build_object('session_id', new.id));
  return null;
end;
$$;
revoke all on function private.sessions_award_peak() from public, anon, authenticated, service_role;

create trigger sessions_award_peak
after update of peak_listener_count on public.sessions
for each row when (new.peak_listener_count >= 100 and old.peak_listener_count < 100)
execute function private.sessions_award_peak();

-- A first tip.
create function private.tips_award() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.award_badge(new.dj_id, 'first_tip_received', jsonb_build_object('tip_id', new.id));
  return null;
end;
$$;
revoke all on function private.tips_award() from public, anon, authenticated, service_role;

create trigger tips_award
after update of status on public.tips
for each row when (new.status = 'succeeded' and old.status is distinct from 'succeeded')
execute function private.tips_award();

-- Battles won.
create function private.battles_award() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.award_badge(new.winner_id, 'first_battle_won', jsonb_build_object('battle_id', new.id));
  if (select count(*) from public.battles b where b.winner_id = new.winner_id and b.status = 'finished') >= 10 then
    perform private.award_badge(new.winner_id, 'battles_won_10', jsonb_build_object('battle_id', new.id));
  end if;
  return null;
end;
$$;
revoke all on function private.battles_award() from public, anon, authenticated, service_role;

create trigger battles_award
after update of status on public.battles
for each row when (new.status = 'finished' and new.winner_id is not null)
execute function private.battles_award();

------------------------------------------------------------------------------
-- Invite links: both are credited when the invited friend first joins a session
------------------------------------------------------------------------------
create table public.invite_codes (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  code text not null unique default substr(replace(gen_random_uuid()::text, '-', ''), 1, 12),
  created_at timestamptz not null default now()
);
comment on table public.invite_codes is 'Each user''s invite code (rpc/my_invite_code makes it). You read your own.';
revoke all on public.invite_codes from anon, authenticated, service_role;
grant select on public.invite_codes to authenticated;
-- authenticated: rpc/my_invite_code (security invoker) makes your own row; the code is the default.
grant insert (user_id) on public.invite_codes to authenticated;
grant select, insert, update, delete on public.invite_codes to service_role;
alter table public.invite_codes enable row level security;

create table public.referrals (
  referred_id uuid primary key references public.profiles (id) on delete cascade,
  referrer_id uuid not null references public.profiles (id) on delete cascade,
  invite_code text,
  created_at timestamptz not null default now(),
  credited_at timestamptz,
  constraint referrals_not_self check (referred_id <> referrer_id)
);
comment on table public.referrals is 'Who invited whom (rpc/redeem_invite); credited_at is set by the system when the friend first joins a session. Read by either side.';
comment on column public.referrals.invite_code is 'the code the invited friend presented; referrals_redeem_invite resolves whose it is';
create index referrals_referrer on public.referrals (referrer_id, created_at desc);
revoke all on public.referrals from anon, authenticated, service_role;
grant select on public.referrals to authenticated;
-- authenticated: redeeming is inserting {invite_code} (rpc/redeem_invite); the trigger below fills in the rest.
grant insert (invite_code) on public.referrals to authenticated;
grant select, insert, update, delete on public.referrals to service_role;
alter table public.referrals enable row level security;

-- Redeeming an invite is inserting a referral that names only the code: this
-- trigger resolves whose code it is (the codes are each owner's secret, so it
-- reads them as the owner) and holds the rules; one redemption per user is the
-- primary key. Security definer: it reads other users' codes and history.
create function private.referrals_redeem_invite() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null then
    return new;  -- the system writes referrals as it likes
  end if;
  new.referred_id := v_uid;
  new.invite_code := btrim(new.invite_code);
  new.created_at := now();
  new.credited_at := null;
  select c.user_id into new.referrer_id from public.invite_codes c where c.code = new.invite_code;
  if new.referrer_id is null then
    raise exception using errcode = 'PT404', message = 'unknown invite code';
  end if;
  if new.referrer_id = v_uid then
    raise exception using errcode = 'PT409', message = 'that is your own invite';
  end if;
  -- Invites are for newcomers: someone who already listened or hosted cannot be credited.
  if exists (select 1 from private.listen_time t where t.user_id = v_uid)
     or exists (select 1 from public.sessions s where s.dj_id = v_uid and s.started_at is not null) then
    raise exception using errcode = 'PT409', message = 'invites are for new listeners';
  end if;
  return new;
end;
$$;
revoke all on function private.referrals_redeem_invite() from public, anon, authenticated, service_role;

create trigger referrals_redeem_invite
before insert on public.referrals
for each row execute function private.referrals_redeem_invite();

-- The first join of any session (history.sql's listen_time row) credits both
-- and counts toward "sessions attended".
create function private.listen_time_award() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_referrer uuid;
begin
  update public.referrals r set credited_at = now()
  where r.referred_id = new.user_id and r.credited_at is null
  returning r.referrer_id into v_referrer;
  if v_referrer is not null then
    perform private.award_badge(v_referrer, 'invited_friend', jsonb_build_object('friend_id', new.user_id));
    perform private.award_badge(new.user_id, 'joined_by_invite', jsonb_build_object('referrer_id', v_referrer));
  end if;
  if (select count(*) from private.listen_time t where t.user_id = new.user_id) >= 10 then
    perform private.award_badge(new.user_id, 'sessions_attended_10', '{}');
  end if;
  return null;
end;
$$;
revoke all on function private.listen_time_award() from public, anon, authenticated, service_role;

create trigger listen_time_award
after insert on private.listen_time
for each row execute function private.listen_time_award();

------------------------------------------------------------------------------
-- Reading: a profile's achievements, and the weekly leaderboards
------------------------------------------------------------------------------
-- A profile's public figures, kept by the triggers below: for listening and
-- hosting, the latest run of consecutive days (its last day and length) and
-- the longest run; friends invited who joined. The current streak is the
-- latest run while it ends today or yesterday (as private.streak).
create table private.profile_achievement_stats (
  user_id uuid primary key references public.profiles (id) on delete cascade,
  listening_last_day date,
  listening_run int not null default 0,
  listening_longest int not null default 0,
  hosting_last_day date,
  hosting_run int not null default 0,
  hosting_longest int not null default 0,
  friends_invited int not null default 0
);
comment on table private.profile_achievement_stats is 'What rpc/user_achievements shows of a profile besides its badges, kept by triggers on listening_days, hosting_days and referrals. Public, like profiles.';
revoke all on private.profile_achievement_stats from anon, authenticated, service_role;
-- anon, authenticated: rpc/user_achievements (security invoker) reads it; profiles are public.
grant select on private.profile_achievement_stats to anon, authenticated;
alter table private.profile_achievement_stats enable row level security;

-- The latest run of consecutive days and the longest, of a set of days.
create function private.day_runs(p_days date[], out last_day date, out run int, out longest int)
language sql immutable
set search_path = ''
as $$
  with d as (select x.day, x.day - (row_number() over (order by x.day))::int as grp
             from (select distinct unnest(p_days) as day) x),
  islands as (select max(d.day) as last_day, count(*)::int as n from d group by d.grp)
  select (select i.last_day from islands i order by i.last_day desc limit 1),
         coalesce((select i.n from islands i order by i.last_day desc limit 1), 0),
         coalesce((select max(i.n) from islands i), 0)
$$;
revoke all on function private.day_runs(date[]) from public, anon, authenticated, service_role;

-- A new listening or hosting day (they are never deleted but with the profile).
create function private.profile_achievement_stats_days() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_runs record;
begin
  if tg_table_name = 'listening_days' then
    select * into v_runs from private.day_runs(array(select d.day from private.listening_days d where d.user_id = new.user_id));
    insert into private.profile_achievement_stats as st (user_id, listening_last_day, listening_run, listening_longest)
    values (new.user_id, v_runs.last_day, v_runs.run, v_runs.longest)
    on conflict (user_id) do update set listening_last_day = excluded.listening_last_day,
      listening_run = excluded.listening_run, listening_longest = excluded.listening_longest;
  else
    select * into v_runs from private.day_runs(array(select d.day from private.hosting_days d where d.user_id = new.user_id));
    insert into private.profile_achievement_stats as st (user_id, hosting_last_day, hosting_run, hosting_longest)
    values (new.user_id, v_runs.last_day, v_runs.run, v_runs.longest)
    on conflict (user_id) do update set hosting_last_day = excluded.hosting_last_day,
      hosting_run = excluded.hosting_run, hosting_longest = excluded.hosting_longest;
  end if;
  return null;
end;
$$;
revoke all on function private.profile_achievement_stats_days() from public, anon, authenticated, service_role;

create trigger profile_achievement_stats_days
after insert on private.listening_days
for each row execute function private.profile_achievement_stats_days();

create trigger profile_achievement_stats_days
after insert on private.hosting_days
for each row execute function private.profile_achievement_stats_days();

-- Friends invited who joined: counted again when a referral is credited or goes
-- (the friend's account deleted); nothing to count for a referrer being deleted.
create function private.profile_achievement_stats_referrals() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_referrer uuid := case when tg_op = 'DELETE' then old.referrer_id else new.referrer_id end;
begin
  if not exists (select 1 from public.profiles p where p.id = v_referrer) then
    return null;
  end if;
  insert into private.profile_achievement_stats as st (user_id, friends_invited)
  values (v_referrer, (select count(*) from public.referrals r where r.referrer_id = v_referrer and r.credited_at is not null))
  on conflict (user_id) do update set friends_invited = excluded.friends_invited;
  return null;
end;
$$;
revoke all on function private.profile_achievement_stats_referrals() from public, anon, authenticated, service_role;

create trigger profile_achievement_stats_referrals
after update of credited_at or delete on public.referrals
for each row execute function private.profile_achievement_stats_referrals();

create function public.user_achievements(p_user_id uuid)
returns jsonb language sql stable security invoker set search_path = ''
as $$
  select jsonb_build_object(
    'user_id', p.id,
    'badges', coalesce((select jsonb_agg(jsonb_build_object('badge_id', ub.badge_id, 'name', b.name,
                                                            'description', b.description, 'earned_at', ub.earned_at)
                                         order by b.sort)
                        from public.user_badges ub join public.badges b on b.id = ub.badge_id
                        where ub.user_id = p.id), '[]'::jsonb),
    'listening_streak', jsonb_build_object(
      'current_days', case when st.listening_last_day >= (now() at time zone 'UTC')::date - 1 then st.listening_run else 0 end,
      'longest_days', coalesce(st.listening_longest, 0)),
    'hosting_streak', jsonb_build_object(
      'current_days', case when st.hosting_last_day >= (now() at time zone 'UTC')::date - 1 then st.hosting_run else 0 end,
      'longest_days', coalesce(st.hosting_longest, 0)),
    'friends_invited', coalesce(st.friends_invited, 0))
  from public.profiles p
  left join private.profile_achievement_stats st on st.user_id = p.id
  where p.id = p_user_id
$$;
comment on function public.user_achievements(uuid) is 'A profile''s badges, listening and hosting streaks ({current_days, longest_days}, UTC days) and friends invited who joined.';
revoke all on function public.user_achievements(uuid) from public, anon, authenticated, service_role;
grant execute on function public.user_achievements(uuid) to anon, authenticated;

-- Tips received, counted per DJ, session and UTC day: what the leaderboard
-- shows of tips, readable by anyone (no tipper, no amount). A tip counts while
-- it stands succeeded (a refund or dispute takes it back out). Kept by the
-- trigger below, in the tip's transaction.
create table private.tips_received_daily (
  dj_id uuid not null references public.profiles (id) on delete cascade,
  session_id uuid not null references public.sessions (id) on delete cascade,
  day date not null,
  tips int not null constraint tips_received_daily_tips check (tips >= 0),
  primary key (dj_id, session_id, day)
);
comment on table private.tips_received_daily is 'Succeeded tips per DJ, session and UTC day (rpc/weekly_leaderboard''s tips_received), kept by tips_count_received. Public: counts only.';
create index tips_received_daily_session on private.tips_received_daily (session_id);
create index tips_received_daily_day on private.tips_received_daily (day);
revoke all on private.tips_received_daily from anon, authenticated, service_role;
-- anon, authenticated: the weekly leaderboard (security invoker) counts them.
grant select on private.tips_received_daily to anon, authenticated;
alter table private.tips_received_daily enable row level security;

create function private.tips_count_received() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.status = 'succeeded' and old.status is distinct from 'succeeded'
     and new.dj_id is not null and new.session_id is not null then
    insert into private.tips_received_daily as d (dj_id, session_id, day, tips)
    values (new.dj_id, new.session_id, (new.succeeded_at at time zone 'UTC')::date, 1)
    on conflict (dj_id, session_id, day) do update set tips = d.tips + 1;
  elsif old.status = 'succeeded' and new.status is distinct from 'succeeded' then
    update private.tips_received_daily d set tips = d.tips - 1
    where d.dj_id = old.dj_id and d.session_id = old.session_id
      and d.day = (old.succeeded_at at time zone 'UTC')::date;
  end if;
  return null;
end;
$$;
revoke all on function private.tips_count_received() from public, anon, authenticated, service_role;

create trigger tips_count_received
after update of status on public.tips
for each row when (old.status is distinct from new.status and 'succeeded' in (old.status, new.status))
execute function private.tips_count_received();

create trigger tips_count_received_insert
after insert on public.tips
for each row when (new.status = 'succeeded')
execute function private.tips_count_received();

-- Weekly (Monday 00:00 UTC) leaderboards per genre: battles won (battles
-- finished that week), listeners (distinct listeners of sessions started that
-- week, summed per session), tips received (succeeded tips that week, counted:
-- amounts in different currencies do not add up). Security invoker: finished
-- battles and sessions are public, and tips are read from their public counts.
create function public.weekly_leaderboard(p_metric text, p_genre text default null, p_week date default null,
                                          p_limit int default 20)
returns table (rank bigint, user_id uuid, username text, value bigint)
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  v_start timestamptz := date_trunc('week', coalesce(p_week, (now() at time zone 'UTC')::date)::timestamp) at time zone 'UTC';
  v_end timestamptz := v_start + interval '7 days';
  v_genre text := nullif(lower(btrim(p_genre)), '');
  v_limit int := least(greatest(coalesce(p_limit, 20), 1), 100);
begin
  if p_metric is null or p_metric not in ('battles_won', 'listeners', 'tips_received') then
    raise exception using errcode = 'PT422', message = 'metric: battles_won, listeners or tips_received';
  end if;
  return query
  with scores as (
    select b.winner_id as uid, count(*)::bigint as n
    from public.battles b join public.sessions s on s.id = b.session_id
    where p_metric = 'battles_won' and b.status = 'finished' and b.winner_id is not null
      and b.ended_at >= v_start and b.ended_at < v_end and (v_genre is null or v_genre = any (s.genres))
    group by b.winner_id
    union all
    select s.dj_id, sum(s.total_listener_count)::bigint
    from public.sessions s
    where p_metric = 'listeners' and s.started_at >= v_start and s.started_at < v_end
      and (v_genre is null or v_genre = any (s.genres))
    group by s.dj_id
    union all
    select t.dj_id, sum(t.tips)::bigint
    from private.tips_received_daily t join public.sessions s on s.id = t.session_id
    where p_metric = 'tips_received' and t.day >= (v_start at time zone 'UTC')::date
      and t.day < (v_end at time zone 'UTC')::date and (v_genre is null or v_genre = any (s.genres))
    group by t.dj_id
  )
  select rank() over (order by sc.n desc), sc.uid, p.username, sc.n
  from scores sc join public.profiles p on p.id = sc.uid
  where sc.n > 0
  order by sc.n desc, p.username
  limit v_limit;
end;
$$;
comment on function public.weekly_leaderboard(text, text, date, integer) is 'Top DJs of the week containing p_week (default this week, Monday UTC) by battles_won, listeners or tips_received (a count), optionally in one genre.';
revoke all on function public.weekly_leaderboard(text, text, date, integer) from public, anon, authenticated, service_role;
grant execute on function public.weekly_leaderboard(text, text, date, integer) to anon, authenticated;

create function public.my_invite_code() returns text
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_code text;
begin
  insert into public.invite_codes (user_id) values (v_uid) on conflict (user_id) do nothing;
  select c.code into v_code from public.invite_codes c where c.user_id = v_uid;
  return v_code;
end;
$$;
comment on function public.my_invite_code() is 'Your invite code (made on first call): share it as a link.';
revoke all on function public.my_invite_code() from public, anon, authenticated, service_role;
grant execute on function public.my_invite_code() to authenticated;

create function public.redeem_invite(p_code text) returns public.referrals
language plpgsql security invoker
set search_path = ''
as $$
declare
  v_referral public.referrals;
begin
  perform private.require_user();
  insert into public.referrals (invite_code) values (p_code)
  on conflict (referred_id) do nothing
  returning * into v_referral;
  if v_referral.referred_id is null then
    raise exception using errcode = 'PT409', message = 'you already used an invite';
  end if;
  return v_referral;
end;
$$;
comment on function public.redeem_invite(text) is 'Accept a friend''s invite before your first session: both are credited (a badge each) when you first join one. 404 unknown; 409 your own / already used one / not new.';
revoke all on function public.redeem_invite(text) from public, anon, authenticated, service_role;
grant execute on function public.redeem_invite(text) to authenticated;
