"""Our schema passes the checks Supabase's linter makes, and the lint itself
catches each risk on a deliberately bad schema."""

from localstack.lint import lint

BAD_SCHEMA = """
create table public.no_rls (id int primary key);
create table public.rls_no_policy (id int primary key);
alter table public.rls_no_policy enable row level security;
create table private.no_pk (v int);
alter table private.no_pk enable row level security;
create table public.parent (id int primary key);
create table public.child (id int primary key, parent_id int references public.parent (id), owner uuid, meta jsonb);
alter table public.parent enable row level security;
alter table public.child enable row level security;
create index child_owner_a on public.child (owner);
create index child_owner_b on public.child (owner);
create policy parent_select on public.parent for select to authenticated using (true);
create policy child_insert_open on public.child for insert to authenticated with check (true);
create policy child_select_a on public.child for select to authenticated using (owner = auth.uid());
create policy child_select_b on public.child for select to authenticated using (auth.jwt() -> 'user_metadata' ->> 'x' = 'y');
create table public.policy_without_rls (id int primary key);
create policy stale on public.policy_without_rls for select to authenticated using ((select auth.uid()) is not null);
create view public.users_view as select id, email from auth.users;
grant select on public.users_view to authenticated;
create function public.definer_fn() returns int language sql security definer as $$ select 1 $$;
grant execute on function public.definer_fn() to authenticated;
create extension citext with schema public;
"""

EXPECTED = {
    "rls_disabled_in_public": "public.no_rls",
    "rls_enabled_no_policy": "public.rls_no_policy",
    "no_primary_key": "private.no_pk",
    "unindexed_foreign_keys": "public.child: child_parent_id_fkey",
    "duplicate_index": "public.child: child_owner_a, child_owner_b",
    "rls_policy_always_true": "public.child: child_insert_open",
    "auth_rls_initplan": "public.child: child_select_a",
    "rls_references_user_metadata": "public.child: child_select_b",
    "multiple_permissive_policies": "public.child authenticated for select: child_select_a, child_select_b",
    "policy_exists_rls_disabled": "public.policy_without_rls: stale",
    "security_definer_view": "public.users_view",
    "auth_users_exposed": "public.users_view",
    "function_search_path_mutable": "definer_fn()",
    "security_definer_function_executable_by_api": "definer_fn() executable by authenticated",
    "extension_in_public": "citext",
}


def test_migrated_schema_has_no_findings(db):
    assert [str(f) for f in lint(db.admin)] == []


def test_lint_flags_each_risk_in_a_bad_schema(db):
    db.admin.execute(BAD_SCHEMA)
    findings = lint(db.admin)
    for check, target in EXPECTED.items():
        matching = [f.target for f in findings if f.check == check]
        assert any(target in t for t in matching), f"{check} did not flag {target}; got {matching}"


def test_wrapped_auth_uid_is_not_flagged(db):
    db.admin.execute("""
        create table public.wrapped (id int primary key, owner uuid);
        alter table public.wrapped enable row level security;
        create index wrapped_owner on public.wrapped (owner);
        create policy wrapped_select on public.wrapped for select to authenticated using (owner = (select auth.uid()));
    """)
    assert not [f for f in lint(db.admin) if "wrapped" in f.target]
