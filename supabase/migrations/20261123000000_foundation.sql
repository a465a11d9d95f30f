-- Foundation: extensions, the private schema, our least-privilege service roles,
-- and the trigger helpers every area shares.

create extension if not exists pg_trgm with schema extensions;

-- Not exposed by PostgREST: webhook log, outbox, ledgers, policy helpers.
create schema if not exists private;
revoke all on schema private from public;
-- Policies run as anon/authenticated and call the helpers in here.
grant usage on schema private to anon, authenticated, service_role;
comment on schema private is 'Internal tables (RLS on, no policies: deny all) and helper functions; never exposed through the API.';

-- Functions are executable by PUBLIC unless revoked: make that opt-in here.
alter default privileges in schema private revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from public;

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

-- Errors the app sees. Functions raise with SQLSTATE 'PTxyz', which PostgREST
-- answers with HTTP status xyz: PT403 forbidden, PT404 not found, PT409 wrong
-- state, PT422 rejected content, PT429 too fast. The message is for people.

-- /readyz compares the applied migrations with the deployed files.
create schema if not exists supabase_migrations;
grant usage on schema supabase_migrations to openparty_edge, openparty_worker;
grant select on supabase_migrations.schema_migrations to openparty_edge, openparty_worker;
