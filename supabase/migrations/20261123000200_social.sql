-- Social: follows (with counts on profiles) and blocks, and the helpers the
-- policies use to hide blocked users.

------------------------------------------------------------------------------
-- Blocks
------------------------------------------------------------------------------

-- Blocks and follows
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
-- anon: private.my_blocked_ids() reads it in search_djs; no policy is to anon, so anon sees no row.
grant select on public.user_blocks to anon;
grant insert (blocked_id) on public.user_blocks to authenticated;
grant select, insert, delete on public.user_blocks to service_role;
alter table public.user_blocks enable row level security;

create function private.user_blocks_before_insert() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.blocker_id := coalesce((select auth.uid()), new.blocker_id);
  return new;
end;
$$;
revoke all on function private.user_blocks_before_insert() from public, anon, authenticated, service_role;

create trigger user_blocks_before_insert
before insert on public.user_blocks
for each row execute function private.user_blocks_before_insert();

-- Who blocked whom stays with the blocker: the blocked user never reads it
-- (platforms do not reveal it). Discovery must still hide a blocker from the
-- users they blocked, so each blocker's row here carries the users their
-- discoverable things (profile in search and suggestions, live sessions in
-- live_now) are hidden from, and the select policy says the rule: a row is
-- visible unless the caller is in hidden_from. The app may select dj_id only
-- (hidden_from is not granted: the policy reads it, a query cannot), so no one
-- reads a list of who blocked them; discovery keeps a DJ when their row is
-- visible. A row per profile (profiles_discoverable below), so that a row's
-- presence tells nothing (not even that its user ever blocked anyone).
create table private.discovery_visibility (
  dj_id uuid primary key references public.profiles (id) on delete cascade,
  hidden_from uuid[] not null default '{}'
);
comment on table private.discovery_visibility is 'One row per profile: a DJ is discoverable by everyone except hidden_from (the users they blocked): policy discovery_visibility_select; hidden_from is not readable by the app. Kept by triggers on profiles and user_blocks.';
revoke all on private.discovery_visibility from anon, authenticated, service_role;
-- anon, authenticated: public.live_now / search_djs / suggested_djs (security invoker) keep a DJ whose row they see.
grant select (dj_id) on private.discovery_visibility to anon, authenticated;
alter table private.discovery_visibility enable row level security;

create function private.profiles_discoverable() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into private.discovery_visibility (dj_id) values (new.id) on conflict (dj_id) do nothing;
  return null;
end;
$$;
revoke all on function private.profiles_discoverable() from public, anon, authenticated, service_role;

create trigger profiles_discoverable
after insert on public.profiles
for each row execute function private.profiles_discoverable();

-- Blocking someone ends follows both ways, and hides the blocker from them in discovery.
create function private.user_blocks_after_insert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  delete from public.follows f
  where (f.follower_id = new.blocked_id and f.followee_id = new.blocker_id)
     or (f.follower_id = new.blocker_id and f.followee_id = new.blocked_id);
  insert into private.discovery_visibility as v (dj_id, hidden_from) values (new.blocker_id, array[new.blocked_id])
  on conflict (dj_id) do update set hidden_from = array_append(array_remove(v.hidden_from, new.blocked_id), new.blocked_id);
  return new;
end;
$$;
revoke all on function private.user_blocks_after_insert() from public, anon, authenticated, service_role;

create trigger user_blocks_after_insert
after insert on public.user_blocks
for each row execute function private.user_blocks_after_insert();

-- Unblocking makes the blocker discoverable by them again.
create function private.user_blocks_after_delete() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update private.discovery_visibility v set hidden_from = array_remove(v.hidden_from, old.blocked_id)
  where v.dj_id = old.blocker_id;
  return null;
end;
$$;
revoke all on function private.user_blocks_after_delete() from public, anon, authenticated, service_role;

create trigger user_blocks_after_delete
after delete on public.user_blocks
for each row execute function private.user_blocks_after_delete();

-- Security invoker: user_blocks_select shows the caller only the blocks they made
-- (anon: none; anon holds SELECT on user_blocks only so this can run for it).
create function private.my_blocked_ids() returns setof uuid
language sql stable
set search_path = ''
as $$ select b.blocked_id from public.user_blocks b where b.blocker_id = (select auth.uid()) $$;
comment on function private.my_blocked_ids() is 'Users the caller blocked.';
revoke all on function private.my_blocked_ids() from public, anon, authenticated, service_role;
-- anon, authenticated: the messages policy and public.search_djs / suggested_djs (security invoker) call it.
grant execute on function private.my_blocked_ids() to anon, authenticated;

create function private.is_blocked_between(p_a uuid, p_b uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (select 1 from public.user_blocks b
                 where (b.blocker_id = p_a and b.blocked_id = p_b) or (b.blocker_id = p_b and b.blocked_id = p_a))
$$;
revoke all on function private.is_blocked_between(uuid, uuid) from public, anon, authenticated, service_role;

------------------------------------------------------------------------------
-- Follows
------------------------------------------------------------------------------

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

-- Follows: counts, and no following someone who blocked you.
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
revoke all on function private.follows_before_insert() from public, anon, authenticated, service_role;

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
revoke all on function private.follows_maintain_counts() from public, anon, authenticated, service_role;

create trigger follows_maintain_counts
after insert or delete on public.follows
for each row execute function private.follows_maintain_counts();

-- Follow/unfollow cycles must not spam the followee: new_follower goes out at
-- most once per follower per followee per day, remembered here across
-- unfollows. Internal: RLS on, no policies.
create table private.follow_notices (
  follower_id uuid not null references public.profiles (id) on delete cascade,
  followee_id uuid not null references public.profiles (id) on delete cascade,
  notified_at timestamptz not null default now(),
  primary key (follower_id, followee_id)
);
comment on table private.follow_notices is 'When a followee was last told about this follower (new_follower): at most once a day. Internal: RLS on, no policies.';
create index follow_notices_followee on private.follow_notices (followee_id);
alter table private.follow_notices enable row level security;

create function private.follows_broadcast() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into private.follow_notices as n (follower_id, followee_id) values (new.follower_id, new.followee_id)
  on conflict (follower_id, followee_id) do update set notified_at = now()
    where n.notified_at <= now() - interval '1 day';
  if not found then
    return null;  -- told within the last day
  end if;
  perform private.broadcast('user:' || new.followee_id, 'new_follower', jsonb_build_object(
    'follower_id', new.follower_id,
    'username', (select p.username from public.profiles p where p.id = new.follower_id)));
  return null;
end;
$$;
revoke all on function private.follows_broadcast() from public, anon, authenticated, service_role;

create trigger follows_broadcast
after insert on public.follows
for each row execute function private.follows_broadcast();

create function public.follow(p_user_id uuid) returns boolean
language sql security invoker
set search_path = ''
as $$
  insert into public.follows (followee_id) values (p_user_id) on conflict do nothing returning true
$$;
comment on function public.follow(uuid) is 'Follow a user (idempotent). Returns true when a follow was added, null when it existed.';
revoke all on function public.follow(uuid) from public, anon, authenticated, service_role;
grant execute on function public.follow(uuid) to authenticated;

create function public.unfollow(p_user_id uuid) returns boolean
language sql security invoker
set search_path = ''
as $$
  delete from public.follows f where f.follower_id = (select auth.uid()) and f.followee_id = p_user_id returning true
$$;
comment on function public.unfollow(uuid) is 'Stop following (idempotent). Returns true when a follow was removed.';
revoke all on function public.unfollow(uuid) from public, anon, authenticated, service_role;
grant execute on function public.unfollow(uuid) to authenticated;

create function public.is_following(p_user_id uuid) returns boolean
language sql stable security invoker
set search_path = ''
as $$
  select exists (select 1 from public.follows f where f.follower_id = (select auth.uid()) and f.followee_id = p_user_id)
$$;
revoke all on function public.is_following(uuid) from public, anon, authenticated, service_role;
grant execute on function public.is_following(uuid) to authenticated;
