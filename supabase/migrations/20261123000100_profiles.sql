-- Profiles: one per auth user, created when Supabase Auth inserts the user.

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
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.profiles is 'Public profile of every user; created by a trigger on auth.users. Owners update their own editable columns.';
comment on column public.profiles.username is 'lowercase a-z, 0-9, _; 3-24 characters; unique; stored normalised';
comment on column public.profiles.is_dj is 'the user hosts sessions; they switch it on themselves';

revoke all on public.profiles from anon, authenticated, service_role;
grant select on public.profiles to anon, authenticated;
grant update (username, display_name, bio, avatar_url, genres, is_dj) on public.profiles to authenticated;
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

create trigger on_auth_user_created
after insert on auth.users
for each row execute function private.handle_new_user();
