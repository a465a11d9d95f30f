-- DJ battles: a live DJ challenges another DJ; an accepted battle runs in the
-- challenger's live session (the shared room) as time-boxed rounds; every
-- present listener votes once per round for one of the two DJs; rounds close
-- by time, the battle ends with a winner (most rounds won; then most votes;
-- else a draw) and stays as history.
--
-- Votes: one row per listener per round (primary key), so a vote is exact
-- under any concurrency; a listener who joins mid-battle votes in the round
-- open at that moment. Votes do not update a shared counter (no hot row): the
-- tally is counted when it is published (at most once a second per battle,
-- private.pass_event_gate from reactions.sql) and stored when the round closes.
--
-- Room events (`battle_started`, `battle_tally`, `battle_round_ended`,
-- `battle_ended` on session:<id>) go through private.room_publish
-- (sessions.sql, README "Room ticks"): at once in a small room, in the next
-- room_batch in a large one, in order with the room's other events; a
-- battle's tallies coalesce there under the key 'battle:<id>' ('last').
-- user:<id> events stay immediate (private.broadcast).

create type public.battle_status as enum ('pending', 'declined', 'canceled', 'live', 'finished');
comment on type public.battle_status is 'pending: challenged, awaiting the opponent (expires after 10 min); declined: the opponent said no; canceled: withdrawn, expired, or the room was no longer live; live: rounds running; finished: over, with results';

create table public.battles (
  id uuid primary key default gen_random_uuid(),
  challenger_id uuid not null references public.profiles (id) on delete cascade,
  opponent_id uuid not null references public.profiles (id) on delete cascade,
  session_id uuid not null references public.sessions (id) on delete cascade,
  status public.battle_status not null default 'pending',
  rounds int not null default 3 constraint battles_rounds_range check (rounds between 1 and 5),
  round_seconds int not null default 120 constraint battles_round_seconds_range check (round_seconds between 30 and 900),
  challenger_rounds int not null default 0,
  opponent_rounds int not null default 0,
  challenger_votes int not null default 0,
  opponent_votes int not null default 0,
  winner_id uuid references public.profiles (id) on delete set null,
  created_at timestamptz not null default now(),
  responded_at timestamptz,
  started_at timestamptz,
  ended_at timestamptz,
  constraint battles_two_djs check (challenger_id <> opponent_id)
);
comment on table public.battles is 'DJ battles in the challenger''s live session. Moves only through challenge_battle / respond_battle / cancel_battle and the worker that closes rounds. Results (rounds won, votes, winner_id; null winner = draw) are set when it finishes.';
create unique index battles_one_open_per_session on public.battles (session_id) where status in ('pending', 'live');
create index battles_session on public.battles (session_id);
create index battles_challenger on public.battles (challenger_id, created_at desc);
create index battles_opponent on public.battles (opponent_id, created_at desc);
create index battles_winner on public.battles (winner_id);
create index battles_open on public.battles (status, created_at) where status in ('pending', 'live');
revoke all on public.battles from anon, authenticated, service_role;
grant select on public.battles to anon, authenticated;
-- authenticated: a challenge is an insert (rpc/challenge_battle), a response or
-- a withdrawal an update of status (rpc/respond_battle, rpc/cancel_battle); the
-- battles triggers fill in and guard the rest.
grant insert (opponent_id, rounds, round_seconds), update (status) on public.battles to authenticated;
grant select, insert, update, delete on public.battles to service_role;
alter table public.battles enable row level security;

create table public.battle_rounds (
  battle_id uuid not null references public.battles (id) on delete cascade,
  round int not null check (round >= 1),
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  challenger_votes int,
  opponent_votes int,
  winner_id uuid references public.profiles (id) on delete set null,
  closed_at timestamptz,
  primary key (battle_id, round),
  constraint battle_rounds_time check (ends_at > starts_at)
);
comment on table public.battle_rounds is 'The time boxes of a live or finished battle. Vote counts and winner_id (null: a tie) are set when the round closes; live tallies come from rpc/battle_state and `battle_tally` events.';
create index battle_rounds_due on public.battle_rounds (ends_at) where closed_at is null;
create index battle_rounds_winner on public.battle_rounds (winner_id);
revoke all on public.battle_rounds from anon, authenticated, service_role;
grant select on public.battle_rounds to anon, authenticated;
grant select, insert, update, delete on public.battle_rounds to service_role;
alter table public.battle_rounds enable row level security;

create table public.battle_votes (
  battle_id uuid not null,
  round int not null,
  user_id uuid not null references public.profiles (id) on delete cascade,
  dj_id uuid not null references public.profiles (id) on delete cascade,
  created_at timestamptz not null default now(),
  primary key (battle_id, round, user_id),
  foreign key (battle_id, round) references public.battle_rounds (battle_id, round) on delete cascade
);
comment on table public.battle_votes is 'One vote per listener per round, cast through rpc/vote_battle. You read your own.';
create index battle_votes_tally on public.battle_votes (battle_id, round, dj_id);
create index battle_votes_user on public.battle_votes (user_id);
create index battle_votes_dj on public.battle_votes (dj_id);
revoke all on public.battle_votes from anon, authenticated, service_role;
grant select on public.battle_votes to authenticated;
-- authenticated: a vote is an insert naming the battle and the DJ (rpc/vote_battle);
-- battle_votes_enforce_rules fills in the voter and the open round.
grant insert (battle_id, dj_id) on public.battle_votes to authenticated;
grant select, insert, update, delete on public.battle_votes to service_role;
alter table public.battle_votes enable row level security;

------------------------------------------------------------------------------
-- Challenge, respond, cancel
------------------------------------------------------------------------------
create function private.battle_json(p_battle public.battles) returns jsonb
language sql immutable
set search_path = ''
as $$
  select jsonb_build_object('battle_id', p_battle.id, 'session_id', p_battle.session_id,
    'challenger_id', p_battle.challenger_id, 'opponent_id', p_battle.opponent_id, 'status', p_battle.status,
    'rounds', p_battle.rounds, 'round_seconds', p_battle.round_seconds, 'started_at', p_battle.started_at,
    'ended_at', p_battle.ended_at, 'challenger_rounds', p_battle.challenger_rounds,
    'opponent_rounds', p_battle.opponent_rounds, 'challenger_votes', p_battle.challenger_votes,
    'opponent_votes', p_battle.opponent_votes, 'winner_id', p_battle.winner_id)
$$;
revoke all on function private.battle_json(public.battles) from public, anon, authenticated, service_role;

-- A challenge is the challenger's insert: this trigger names the challenger and
-- their live session and checks the opponent. Security definer: a block the
-- opponent made is not the challenger's to read.
create function private.battles_before_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null then
    return new;  -- the system writes battles as it likes
  end if;
  new.challenger_id := v_uid;
  new.status := 'pending';
  new.created_at := now();
  select s.id into new.session_id from public.sessions s where s.dj_id = v_uid and s.status = 'live';
  if new.session_id is null then
    raise exception using errcode = 'PT409', message = 'go live first: a battle runs in your live session';
  end if;
  if new.opponent_id is null or new.opponent_id = v_uid
     or not exists (select 1 from public.profiles p where p.id = new.opponent_id and p.is_dj)
     or exists (select 1 from public.user_blocks b
                where (b.blocker_id = v_uid and b.blocked_id = new.opponent_id)
                   or (b.blocker_id = new.opponent_id and b.blocked_id = v_uid)) then
    raise exception using errcode = 'PT404', message = 'no such DJ to challenge';
  end if;
  return new;
end;
$$;
revoke all on function private.battles_before_insert() from public, anon, authenticated, service_role;

create trigger battles_before_insert
before insert on public.battles
for each row execute function private.battles_before_insert();

create function private.battles_announce_challenge() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.broadcast('user:' || new.opponent_id, 'battle_challenge', private.battle_json(new));
  return null;
end;
$$;
revoke all on function private.battles_announce_challenge() from public, anon, authenticated, service_role;

create trigger battles_announce_challenge
after insert on public.battles
for each row when (new.status = 'pending')
execute function private.battles_announce_challenge();

-- A DJ's own move on a pending challenge: the challenged DJ accepts (live) or
-- declines, the challenger withdraws (canceled); nothing else, and nothing once
-- it is no longer pending. The system (closing rounds, expiring challenges)
-- moves battles as it likes.
create function private.battles_guard_status() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null or new.status = old.status then
    return new;
  end if;
  if old.status <> 'pending' then
    raise exception using errcode = 'PT409', message = format('this battle is %s', old.status);
  end if;
  if not ((v_uid = old.opponent_id and new.status in ('live', 'declined'))
          or (v_uid = old.challenger_id and new.status = 'canceled')) then
    raise exception using errcode = 'PT403',
      message = 'the challenged DJ accepts or declines; the challenger withdraws';
  end if;
  if new.status = 'live'
     and (old.created_at < now() - interval '10 minutes'
          or not exists (select 1 from public.sessions s where s.id = old.session_id and s.status = 'live')) then
    raise exception using errcode = 'PT409', message = 'this challenge has expired';
  end if;
  new.responded_at := coalesce(old.responded_at, now());
  if new.status = 'live' then
    new.started_at := now();
  end if;
  return new;
end;
$$;
revoke all on function private.battles_guard_status() from public, anon, authenticated, service_role;

create trigger battles_guard_status
before update of status on public.battles
for each row execute function private.battles_guard_status();

-- What a DJ's move sets off: an accepted battle gets its rounds, the room and
-- both DJs' followers hear of it; a declined or withdrawn one tells the other
-- DJ. Security definer: rounds, the room's events and notifications are the
-- system's to write.
create function private.battles_apply_response() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_names text;
begin
  if new.status = 'declined' then
    perform private.broadcast('user:' || new.challenger_id, 'battle_declined', private.battle_json(new));
  elsif new.status = 'canceled' then
    perform private.broadcast('user:' || new.opponent_id, 'battle_canceled', private.battle_json(new));
  elsif new.status = 'live' then
    insert into public.battle_rounds (battle_id, round, starts_at, ends_at)
    select new.id, r, new.started_at + make_interval(secs => (r - 1) * new.round_seconds),
           new.started_at + make_interval(secs => r * new.round_seconds)
    from generate_series(1, new.rounds) r;
    perform private.room_publish(new.session_id, 'battle_started', private.battle_json(new));
    perform private.broadcast('user:' || new.challenger_id, 'battle_started', private.battle_json(new));
    -- Both DJs' followers hear about it (preferences, blocks and quiet hours honoured).
    select string_agg(coalesce(p.display_name, p.username), ' vs ' order by p.id = new.opponent_id) into v_names
    from public.profiles p where p.id in (new.challenger_id, new.opponent_id);
    perform private.enqueue_notifications(
      array(select f.follower_id from public.follows f where f.followee_id in (new.challenger_id, new.opponent_id)),
      'battle_live', 'DJ battle live', v_names,
      jsonb_build_object('battle_id', new.id, 'session_id', new.session_id), 'battle:' || new.id, new.challenger_id);
  end if;
  return null;
end;
$$;
revoke all on function private.battles_apply_response() from public, anon, authenticated, service_role;

create trigger battles_apply_response
after update of status on public.battles
for each row when (old.status = 'pending' and new.status <> 'pending' and auth.uid() is not null)
execute function private.battles_apply_response();

------------------------------------------------------------------------------
-- Votes and tallies
------------------------------------------------------------------------------
create function private.battle_tally(p_battle_id uuid, p_round int) returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object('battle_id', b.id, 'round', p_round,
    'challenger_votes', (select count(*) from public.battle_votes v
                         where v.battle_id = b.id and v.round = p_round and v.dj_id = b.challenger_id),
    'opponent_votes', (select count(*) from public.battle_votes v
                       where v.battle_id = b.id and v.round = p_round and v.dj_id = b.opponent_id))
  from public.battles b where b.id = p_battle_id
$$;
revoke all on function private.battle_tally(uuid, integer) from public, anon, authenticated, service_role;

-- At most one `battle_tally` per battle per second: the gate keeps a vote from
-- counting the round's votes more than once a second. In a large room the
-- tally rides the next room_batch, where a battle's tallies coalesce (the
-- latest, under 'battle:<id>').
create function private.flush_battle_tally(p_battle_id uuid, p_session_id uuid, p_round int) returns boolean
language plpgsql
set search_path = ''
as $$
begin
  if not private.pass_event_gate('session:' || p_session_id, 'battle_tally:' || p_battle_id, interval '1 second') then
    return false;
  end if;
  perform private.room_publish(p_session_id, 'battle_tally', private.battle_tally(p_battle_id, p_round),
                               'battle:' || p_battle_id, 'last');
  return true;
end;
$$;
revoke all on function private.flush_battle_tally(uuid, uuid, integer) from public, anon, authenticated, service_role;

-- A vote is the listener's insert of {battle_id, dj_id}: this trigger checks
-- the voter and the battle, and files the vote in the round open now. Security
-- definer: it reads the room's participants and bans, and locks the round.
create function private.battle_votes_enforce_rules() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
  v_battle public.battles;
begin
  if v_uid is null then
    return new;  -- the system writes votes as it likes
  end if;
  new.user_id := v_uid;
  new.created_at := now();
  select * into v_battle from public.battles b where b.id = new.battle_id and b.status in ('live', 'finished');
  if not found then
    raise exception using errcode = 'PT404', message = 'battle not found';
  end if;
  if v_uid in (v_battle.challenger_id, v_battle.opponent_id) then
    raise exception using errcode = 'PT403', message = 'the battling DJs do not vote';
  end if;
  if not exists (select 1 from public.session_participants p
                 where p.session_id = v_battle.session_id and p.user_id = v_uid and p.left_at is null)
     or private.is_banned(v_battle.session_id, v_uid) then
    raise exception using errcode = 'PT403', message = 'join the battle''s session to vote';
  end if;
  if new.dj_id is null or new.dj_id not in (v_battle.challenger_id, v_battle.opponent_id) then
    raise exception using errcode = 'PT422', message = 'vote for one of the two DJs';
  end if;
  -- The round open now (statement time, so a vote lands in exactly one round).
  -- A share lock on the round (voters do not block each other) makes the
  -- closing worker wait for votes in flight, and a vote that waited on the
  -- closing finds the round closed: every counted vote is in the result.
  select r.round into new.round from public.battle_rounds r
  where r.battle_id = new.battle_id and r.starts_at <= statement_timestamp() and r.ends_at > statement_timestamp()
    and r.closed_at is null
  for share;
  if new.round is null or v_battle.status <> 'live' then
    raise exception using errcode = 'PT409', message = 'no round is open for voting';
  end if;
  -- Like queue votes: no disk flush awaited (a crash may lose the last instant of votes, whole).
  perform set_config('synchronous_commit', 'off', true);
  return new;
end;
$$;
revoke all on function private.battle_votes_enforce_rules() from public, anon, authenticated, service_role;

create trigger battle_votes_enforce_rules
before insert on public.battle_votes
for each row execute function private.battle_votes_enforce_rules();

-- A counted vote: the room hears the round's tally (at most once a second).
create function private.battle_votes_publish_tally() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.flush_battle_tally(new.battle_id, (select b.session_id from public.battles b where b.id = new.battle_id),
                                     new.round);
  return null;
end;
$$;
revoke all on function private.battle_votes_publish_tally() from public, anon, authenticated, service_role;

create trigger battle_votes_publish_tally
after insert on public.battle_votes
for each row execute function private.battle_votes_publish_tally();

-- Everything about a battle for its page: the battle, its rounds with live
-- tallies for the open one, and your vote in it.
create function private.battle_state(p_battle_id uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select private.battle_json(b) || jsonb_build_object(
    'server_time', now(),
    'rounds_detail', coalesce((select jsonb_agg(jsonb_build_object(
        'round', r.round, 'starts_at', r.starts_at, 'ends_at', r.ends_at, 'closed', r.closed_at is not null,
        'winner_id', r.winner_id,
        'challenger_votes', coalesce(r.challenger_votes, (private.battle_tally(b.id, r.round) ->> 'challenger_votes')::int),
        'opponent_votes', coalesce(r.opponent_votes, (private.battle_tally(b.id, r.round) ->> 'opponent_votes')::int),
        'my_vote', (select v.dj_id from public.battle_votes v
                    where v.battle_id = b.id and v.round = r.round and v.user_id = (select auth.uid())))
        order by r.round)
      from public.battle_rounds r where r.battle_id = b.id), '[]'::jsonb))
  from public.battles b
  where b.id = p_battle_id
    and (b.status in ('live', 'finished') or (select auth.uid()) in (b.challenger_id, b.opponent_id))
$$;
revoke all on function private.battle_state(uuid) from public, anon, authenticated, service_role;
-- anon, authenticated: public.battle_state() (security invoker) wraps it; battles that started are public.
grant execute on function private.battle_state(uuid) to anon, authenticated;

------------------------------------------------------------------------------
-- Closing rounds and finishing battles (the worker, every second)
------------------------------------------------------------------------------
create function private.close_battle_rounds(p_limit int, p_now timestamptz default now()) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_battle public.battles;
  v_round public.battle_rounds;
  v_count int := 0;
  v_c int;
  v_o int;
begin
  -- Challenges nobody answered in 10 minutes expire.
  update public.battles b set status = 'canceled', responded_at = p_now
  where b.status = 'pending' and b.created_at < p_now - interval '10 minutes';
  for v_battle in
    select b.* from public.battles b
    where b.status = 'live'
      and exists (select 1 from public.battle_rounds r where r.battle_id = b.id and r.closed_at is null and r.ends_at <= p_now)
    order by b.started_at
    limit p_limit
    for update of b skip locked
  loop
    for v_round in
      select r.* from public.battle_rounds r
      where r.battle_id = v_battle.id and r.closed_at is null and r.ends_at <= p_now order by r.round
      for update  -- waits for votes in flight (they hold a share lock); then counts them
    loop
      select count(*) filter (where v.dj_id = v_battle.challenger_id), count(*) filter (where v.dj_id = v_battle.opponent_id)
      into v_c, v_o
      from public.battle_votes v where v.battle_id = v_battle.id and v.round = v_round.round;
      update public.battle_rounds r
      set challenger_votes = v_c, opponent_votes = v_o, closed_at = p_now,
          winner_id = case when v_c > v_o then v_battle.challenger_id when v_o > v_c then v_battle.opponent_id end
      where r.battle_id = v_battle.id and r.round = v_round.round;
      perform private.room_publish(v_battle.session_id, 'battle_round_ended',
        jsonb_build_object('battle_id', v_battle.id, 'round', v_round.round, 'challenger_votes', v_c,
                           'opponent_votes', v_o,
                           'winner_id', case when v_c > v_o then v_battle.challenger_id
                                             when v_o > v_c then v_battle.opponent_id end));
    end loop;
    if not exists (select 1 from public.battle_rounds r where r.battle_id = v_battle.id and r.closed_at is null) then
      update public.battles b
      set status = 'finished', ended_at = p_now,
          challenger_rounds = x.c_rounds, opponent_rounds = x.o_rounds,
          challenger_votes = x.c_votes, opponent_votes = x.o_votes,
          winner_id = case when x.c_rounds > x.o_rounds then b.challenger_id
                           when x.o_rounds > x.c_rounds then b.opponent_id
                           when x.c_votes > x.o_votes then b.challenger_id
                           when x.o_votes > x.c_votes then b.opponent_id end
      from (select count(*) filter (where r.winner_id = v_battle.challenger_id) as c_rounds,
                   count(*) filter (where r.winner_id = v_battle.opponent_id) as o_rounds,
                   coalesce(sum(r.challenger_votes), 0) as c_votes, coalesce(sum(r.opponent_votes), 0) as o_votes
            from public.battle_rounds r where r.battle_id = v_battle.id) x
      where b.id = v_battle.id
      returning b.* into v_battle;
      perform private.room_publish(v_battle.session_id, 'battle_ended', private.battle_json(v_battle));
      perform private.broadcast('user:' || v_battle.challenger_id, 'battle_ended', private.battle_json(v_battle));
      perform private.broadcast('user:' || v_battle.opponent_id, 'battle_ended', private.battle_json(v_battle));
    end if;
    v_count := v_count + 1;
  end loop;
  return v_count;
end;
$$;
revoke all on function private.close_battle_rounds(integer, timestamptz) from public, anon, authenticated, service_role;
grant execute on function private.close_battle_rounds(integer, timestamptz) to openparty_worker, service_role;

-- The per-second room sweep (job `room_events`): pending reactions, battle
-- tallies not yet published, challenges that expired, rounds that ended,
-- gates quiet for a day. What it publishes to a large room goes out with that
-- room's next tick (private.room_publish).
create function private.room_events_tick(p_limit int) returns int
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count int := private.flush_pending_reactions(p_limit);
  v_open record;
begin
  for v_open in
    select b.id, b.session_id, r.round from public.battles b
    join public.battle_rounds r on r.battle_id = b.id
      and r.starts_at <= now() and r.ends_at > now() and r.closed_at is null
    where b.status = 'live'
      and exists (select 1 from public.battle_votes v where v.battle_id = b.id and v.round = r.round
                  and v.created_at > coalesce((select g.last_sent_at from private.room_event_gates g
                                               where g.topic = 'session:' || b.session_id
                                                 and g.event = 'battle_tally:' || b.id), '-infinity'))
    limit p_limit
  loop
    if private.flush_battle_tally(v_open.id, v_open.session_id, v_open.round) then
      v_count := v_count + 1;
    end if;
  end loop;
  perform private.purge_event_gates(p_limit);
  return v_count + private.close_battle_rounds(p_limit);
end;
$$;
revoke all on function private.room_events_tick(integer) from public, anon, authenticated, service_role;
grant execute on function private.room_events_tick(integer) to openparty_worker, service_role;

------------------------------------------------------------------------------
-- The public RPC surface
------------------------------------------------------------------------------
create function public.challenge_battle(p_opponent_id uuid, p_rounds int default 3, p_round_seconds int default 120)
returns public.battles language plpgsql security invoker set search_path = ''
as $$
declare
  v_battle public.battles;
begin
  perform private.require_user();
  insert into public.battles (opponent_id, rounds, round_seconds)
  values (p_opponent_id, coalesce(p_rounds, 3), coalesce(p_round_seconds, 120))
  returning * into v_battle;
  return v_battle;
exception when unique_violation then
  raise exception using errcode = 'PT409', message = 'a battle is already pending or live in your session';
end;
$$;
comment on function public.challenge_battle(uuid, integer, integer) is 'DJ, live: challenge another DJ to a battle in your session (1-5 rounds of 30-900 s). 409 not live / one already open; 404 no such DJ.';
revoke all on function public.challenge_battle(uuid, integer, integer) from public, anon, authenticated, service_role;
grant execute on function public.challenge_battle(uuid, integer, integer) to authenticated;

create function public.respond_battle(p_battle_id uuid, p_accept boolean)
returns public.battles language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_battle public.battles;
begin
  -- Only the challenged DJ gets further than this, and before any lock.
  if not exists (select 1 from public.battles b where b.id = p_battle_id and b.opponent_id = v_uid) then
    raise exception using errcode = 'PT404', message = 'battle not found';
  end if;
  update public.battles b
  set status = case when coalesce(p_accept, false) then 'live' else 'declined' end::public.battle_status
  where b.id = p_battle_id
  returning * into v_battle;
  return v_battle;
end;
$$;
comment on function public.respond_battle(uuid, boolean) is 'The challenged DJ accepts (the rounds start now) or declines. 409 unless pending; expired after 10 min.';
revoke all on function public.respond_battle(uuid, boolean) from public, anon, authenticated, service_role;
grant execute on function public.respond_battle(uuid, boolean) to authenticated;

create function public.cancel_battle(p_battle_id uuid)
returns public.battles language plpgsql security invoker set search_path = ''
as $$
declare
  v_uid uuid := private.require_user();
  v_battle public.battles;
begin
  if not exists (select 1 from public.battles b where b.id = p_battle_id and b.challenger_id = v_uid) then
    raise exception using errcode = 'PT404', message = 'battle not found';
  end if;
  update public.battles b set status = 'canceled'
  where b.id = p_battle_id and b.status = 'pending'
  returning * into v_battle;
  if not found then
    raise exception using errcode = 'PT409', message = 'only a pending challenge can be withdrawn';
  end if;
  return v_battle;
end;
$$;
comment on function public.cancel_battle(uuid) is 'The challenger withdraws a pending challenge.';
revoke all on function public.cancel_battle(uuid) from public, anon, authenticated, service_role;
grant execute on function public.cancel_battle(uuid) to authenticated;

create function public.vote_battle(p_battle_id uuid, p_dj_id uuid)
returns boolean language plpgsql security invoker set search_path = ''
as $$
declare
  v_counted boolean;
begin
  -- (No require_user: the insert policy already refuses a caller without a user.)
  insert into public.battle_votes (battle_id, dj_id) values (p_battle_id, p_dj_id)
  on conflict do nothing
  returning true into v_counted;
  return coalesce(v_counted, false);
end;
$$;
comment on function public.vote_battle(uuid, uuid) is 'Present listener: vote for one DJ in the open round. true = counted, false = you already voted this round. 409 when no round is open.';
revoke all on function public.vote_battle(uuid, uuid) from public, anon, authenticated, service_role;
grant execute on function public.vote_battle(uuid, uuid) to authenticated;

create function public.battle_state(p_battle_id uuid)
returns jsonb language sql stable security invoker set search_path = ''
as $$ select private.battle_state(p_battle_id) $$;
comment on function public.battle_state(uuid) is 'A started battle (or a pending one of yours): status, results, rounds with tallies (live for the open round) and your vote.';
revoke all on function public.battle_state(uuid) from public, anon, authenticated, service_role;
grant execute on function public.battle_state(uuid) to anon, authenticated;
