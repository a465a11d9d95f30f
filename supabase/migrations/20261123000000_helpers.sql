-- Helpers every area shares: extensions, the private schema, our
-- least-privilege service roles, the error convention, and the shared trigger
-- and broadcast helpers.
--
-- Privileges: Postgres grants EXECUTE on every new function to PUBLIC, and on
-- Supabase the default privileges also grant everything in `public` to anon,
-- authenticated and service_role. `alter default privileges in schema X`
-- cannot take either back, so every function in every file is followed by a
-- literal `revoke all ... from public, anon, authenticated, service_role` and
-- the grants it really needs. tests/test_privileges.py compares the result
-- with the reviewed allowlist in tests/privileges_allowlist.txt.
--
-- Errors the app sees: functions raise with SQLSTATE 'PTxyz', which PostgREST
-- answers with HTTP status xyz: PT401 signed out, PT403 forbidden, PT404 not
-- found, PT409 wrong state, PT422 rejected content, PT429 too fast. The
-- message is for people.

create extension if not exists pg_trgm with schema extensions;

-- Not exposed by PostgREST: webhook log, outbox, ledgers, policy helpers.
create schema if not exists private;
comment on schema private is 'Internal tables (RLS on, no policies: deny all) and helper functions; never exposed through the API.';
revoke all on schema private from public;
-- Policies run as anon/authenticated and call the helpers granted to them in here.
grant usage on schema private to anon, authenticated, service_role;

-- The webhook functions and the workers connect as these roles and may only
-- execute the functions granted to them (set login + password when deploying).
do $roles$
begin
  if not exists (select 1 from pg_roles where rolname = 'openparty_edge') then
    create role openparty_edge nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'openparty_worker') then
    create role openparty_worker nologin noinherit;
  end if;
end
$roles$;
grant usage on schema private to openparty_edge, openparty_worker;
grant usage on schema public to openparty_edge, openparty_worker;

-- /readyz compares the applied migrations with the deployed files.
create schema if not exists supabase_migrations;
grant usage on schema supabase_migrations to openparty_edge, openparty_worker;
grant select on supabase_migrations.schema_migrations to openparty_edge, openparty_worker;

-- Shared trigger: keep updated_at current.
create function private.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
revoke all on function private.set_updated_at() from public, anon, authenticated, service_role;

-- The caller's user id, or 401 when signed out.
create function private.require_user() returns uuid
language plpgsql stable
set search_path = ''
as $$
declare
  v_uid uuid := (select auth.uid());
begin
  if v_uid is null then
    raise exception using errcode = 'PT401', message = 'sign in first';
  end if;
  return v_uid;
end;
$$;
revoke all on function private.require_user() from public, anon, authenticated, service_role;
-- authenticated: the security invoker RPCs that act for the caller start with it (PT401 without a user).
grant execute on function private.require_user() to authenticated;

-- Broadcasts come only from the database (triggers and functions of each
-- area), never from clients: realtime.send on a private topic.
create function private.broadcast(p_topic text, p_event text, p_payload jsonb) returns void
language sql
set search_path = ''
as $$ select realtime.send(p_payload, p_event, p_topic, true) $$;
comment on function private.broadcast(text, text, jsonb) is 'Send a private broadcast from the database (realtime.send).';
revoke all on function private.broadcast(text, text, jsonb) from public, anon, authenticated, service_role;
