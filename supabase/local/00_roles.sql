-- Stand-in for the roles and default privileges a Supabase project starts with
-- (supabase/postgres: migrations/db/init-scripts/00000000000000-initial-schema.sql).
-- Applied only to a local database, never to a Supabase project.
do $roles$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin noinherit createrole login;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_storage_admin') then
    create role supabase_storage_admin noinherit createrole login;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit;
  end if;
end
$roles$;

grant anon, authenticated, service_role to authenticator;

-- Statement timeouts as the platform sets them.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

grant usage on schema public to postgres, anon, authenticated, service_role;

-- The platform's default privileges: everything new in public is granted to the
-- API roles, so RLS is the only wall. Our migrations revoke and grant explicitly,
-- and keeping this here is what proves that they do.
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;

create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
-- (Supabase also installs pgcrypto and uuid-ossp here; this wheel lacks them and
-- we use neither: gen_random_uuid() is core Postgres.)
