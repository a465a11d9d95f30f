-- Profiles and plans: one public profile per auth user; the plans and the
-- limits they grant; entitlements (grants from RevenueCat and Stripe, written
-- by subscriptions.sql and webhook_events.sql) and the effective plan derived
-- from them. Nothing the app writes decides a plan.

------------------------------------------------------------------------------
-- Profiles
------------------------------------------------------------------------------
create table public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  username text not null unique
    constraint profiles_username_format check (username ~ '^[a-z0-9_]{3,24}$'),
  display_name text
    constraint profiles_display_name_length check (char_length(display_name) between 1 and 50),
  bio text not null default ''
    constraint profiles_bio_length check (char_length(bio) <= 300),
  avatar_url text
    constraint profiles_avatar_url_format check (avatar_url ~ '^https?://'),
  genres text[] not null default '{}'
    constraint profiles_genres_limit check (cardinality(genres) <= 10),
  is_dj boolean not null default false,
  is_artist boolean not null default false,
  -- Social links: https URLs of the service's own profile pages only.
  instagram_url text constraint profiles_instagram_url_format
    check (instagram_url ~ '^https://(www\.)?instagram\.com/[A-Za-z0-9_.]{1,30}/?$'),
  tiktok_url text constraint profiles_tiktok_url_format
    check (tiktok_url ~ '^https://(www\.)?tiktok\.com/@[A-Za-z0-9_.]{2,24}/?$'),
  soundcloud_url text constraint profiles_soundcloud_url_format
    check (soundcloud_url ~ '^https://(www\.|m\.)?soundcloud\.com/[A-Za-z0-9_-]{3,25}/?$'),
  spotify_url text constraint profiles_spotify_url_format
    check (spotify_url ~ '^https://open\.spotify\.com/(user|artist|playlist)/[A-Za-z0-9._-]{1,64}/?$'),
  website_url text constraint profiles_website_url_format
    check (char_length(website_url) <= 200
           and website_url ~ '^https://[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}(:[0-9]{1,5})?(/[^[:space:]<>"]*)?$'),
  follower_count int not null default 0 check (follower_count >= 0),
  following_count int not null default 0 check (following_count >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.profiles is 'Public profile of every user; created by a trigger on auth.users. Owners update their own editable columns.';
comment on column public.profiles.username is 'lowercase a-z, 0-9, _; 3-24 characters; unique; stored normalised';
comment on column public.profiles.instagram_url is 'https://instagram.com/<handle>; likewise tiktok_url (https://tiktok.com/@<handle>), soundcloud_url, spotify_url (open.spotify.com user, artist or playlist) and website_url (any https URL with a public host name, no credentials)';
comment on column public.profiles.is_dj is 'the user hosts sessions; they switch it on themselves';
comment on column public.profiles.is_artist is 'the user uploads original tracks to the catalog (catalog.sql); they switch it on themselves, as is_dj';
comment on column public.profiles.follower_count is 'kept exact by the follows trigger (social.sql)';
revoke all on public.profiles from anon, authenticated, service_role;
grant select on public.profiles to anon, authenticated;
grant update (username, display_name, bio, avatar_url, genres, is_dj, is_artist, instagram_url, tiktok_url,
               soundcloud_url, spotify_url, website_url) on public.profiles to authenticated;
grant select, insert, update, delete on public.profiles to service_role;
alter table public.profiles enable row level security;

-- Usernames are stored lowercase and trimmed, whoever writes them.
create function private.profiles_normalize() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.username := lower(btrim(new.username));
  new.genres := array(select distinct lower(btrim(g)) from unnest(new.genres) as g where btrim(g) <> '');
  return new;
end;
$$;
revoke all on function private.profiles_normalize() from public, anon, authenticated, service_role;

create trigger profiles_normalize
before insert or update of username, genres on public.profiles
for each row execute function private.profiles_normalize();

create trigger profiles_set_updated_at
before update on public.profiles
for each row execute function private.set_updated_at();

-- Sign-up never fails on a username: the requested one if it is valid and free,
-- else one derived from the user id. Security definer because Supabase Auth
-- inserts users as supabase_auth_admin, which cannot write public.profiles.
create function private.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_requested text := lower(btrim(coalesce(new.raw_user_meta_data ->> 'username', '')));
  v_hex text := replace(new.id::text, '-', '');
  v_display text := nullif(left(btrim(coalesce(new.raw_user_meta_data ->> 'full_name',
                                                new.raw_user_meta_data ->> 'name', '')), 50), '');
  v_candidate text;
begin
  foreach v_candidate in array array[
    case when v_requested ~ '^[a-z0-9_]{3,24}$' then v_requested end,
    'user_' || left(v_hex, 8),
    'user_' || left(v_hex, 19)
  ] loop
    continue when v_candidate is null;
    insert into public.profiles (id, username, display_name)
    values (new.id, v_candidate, v_display)
    on conflict (username) do nothing;
    if found then
      return new;
    end if;
  end loop;
  -- Only reachable if someone chose exactly those names: keep drawing.
  loop
    insert into public.profiles (id, username, display_name)
    values (new.id, 'user_' || left(md5(random()::text), 19), v_display)
    on conflict (username) do nothing;
    exit when found;
  end loop;
  return new;
end;
$$;
revoke all on function private.handle_new_user() from public, anon, authenticated, service_role;

create trigger on_auth_user_created
after insert on auth.users
for each row execute function private.handle_new_user();

------------------------------------------------------------------------------
-- Plans: names and limits in one place. Which plan a user has is derived in
-- private.effective_plan_id() from the entitlements below.
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

------------------------------------------------------------------------------
-- Entitlements and the effective plan
------------------------------------------------------------------------------
create table public.entitlements (
  id bigint generated always as identity primary key,
  user_id uuid references public.profiles (id) on delete cascade,
  source text not null check (source in ('revenuecat', 'stripe')),
  app_user_id text,
  source_ref text not null,
  plan_id text not null references public.plans (id),
  active boolean not null default true,
  expires_at timestamptz,
  will_renew boolean not null default true,
  billing_issue boolean not null default false,
  environment text not null default 'PRODUCTION',
  last_event_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (source, source_ref),
  constraint entitlements_owner check (user_id is not null or (source = 'revenuecat' and app_user_id is not null))
);
comment on table public.entitlements is 'Plan grants from RevenueCat (app stores) and Stripe (web). Grants while active and not past expires_at (null: no end). Written only by webhook functions.';
comment on column public.entitlements.source_ref is 'RevenueCat original_transaction_id, or Stripe subscription id';
comment on column public.entitlements.user_id is 'who it grants to; null only for a RevenueCat purchase made before login (held under app_user_id until a TRANSFER or a later event names the user)';
comment on column public.entitlements.app_user_id is 'RevenueCat: the app user id the purchase was last seen under (a Supabase user id, or $RCAnonymousID:... before login)';
comment on column public.entitlements.last_event_at is 'time of the newest applied provider event: older events never move it back';
create index entitlements_user on public.entitlements (user_id);
create index entitlements_plan on public.entitlements (plan_id);
create index entitlements_held on public.entitlements (app_user_id) where user_id is null;
revoke all on public.entitlements from anon, authenticated, service_role;
grant select on public.entitlements to authenticated;
grant select on public.entitlements to service_role;
alter table public.entitlements enable row level security;

create trigger entitlements_set_updated_at
before update on public.entitlements
for each row execute function private.set_updated_at();

-- Highest-ranked plan among live grants; expiry is checked at read time.
create function private.effective_plan_id(p_user_id uuid) returns text
language sql stable
set search_path = ''
as $$
  select coalesce((
    select e.plan_id
    from public.entitlements e join public.plans p on p.id = e.plan_id
    where e.user_id = p_user_id and e.active and (e.expires_at is null or e.expires_at > now())
    order by p.rank desc
    limit 1), 'free')
$$;
revoke all on function private.effective_plan_id(uuid) from public, anon, authenticated, service_role;

-- A user's plan and its limits. Security invoker, and the app may not execute
-- it: the triggers and definer code that enforce a DJ's caps (sessions, queue)
-- call it as the owner, which reads every entitlement; public.my_plan() reads
-- the caller's own entitlements under RLS instead.
create function private.plan_of(p_user_id uuid) returns public.plans
language sql stable
set search_path = ''
as $$ select p.* from public.plans p where p.id = private.effective_plan_id(p_user_id) $$;
revoke all on function private.plan_of(uuid) from public, anon, authenticated, service_role;

-- The caller's plan: the highest-ranked live grant among their own
-- entitlements (RLS: entitlements_select shows only the caller's rows), else free.
create function public.my_plan() returns table (plan_id text, name text, expires_at timestamptz, source text,
                                                max_participants int, max_scheduled_sessions int,
                                                max_queue_length int, max_queued_songs_per_listener int)
language sql stable security invoker set search_path = ''
as $$
  with mine as (
    select e.plan_id, e.expires_at, e.source, pl.rank
    from public.entitlements e join public.plans pl on pl.id = e.plan_id
    where e.user_id = (select auth.uid()) and e.active and (e.expires_at is null or e.expires_at > now())
  )
  select p.id, p.name, g.expires_at, g.source,
         p.max_participants, p.max_scheduled_sessions, p.max_queue_length, p.max_queued_songs_per_listener
  from public.plans p
  left join lateral (
    select m.expires_at, m.source from mine m
    where m.plan_id = p.id
    order by m.expires_at desc nulls first
    limit 1
  ) g on true
  where p.id = coalesce((select m.plan_id from mine m order by m.rank desc limit 1), 'free')
$$;
comment on function public.my_plan() is 'Your effective plan (highest active entitlement, expiry checked now) and its limits.';
revoke all on function public.my_plan() from public, anon, authenticated, service_role;
grant execute on function public.my_plan() to authenticated;

-- Bookkeeping: entitlements past their end are marked inactive. (Access never
-- depended on this: the effective plan checks expires_at at read time.)
create function private.expire_entitlements(p_limit int, p_now timestamptz default now())
returns int
language sql security definer
set search_path = ''
as $$
  with expired as (
    select e.id from public.entitlements e
    where e.active and e.expires_at < p_now
    limit p_limit
    for update skip locked
  ), updated as (
    update public.entitlements e set active = false from expired where e.id = expired.id returning 1
  )
  select count(*)::int from updated
$$;
revoke all on function private.expire_entitlements(integer, timestamp with time zone) from public, anon, authenticated, service_role;
grant execute on function private.expire_entitlements(integer, timestamp with time zone) to openparty_worker, service_role;
