"""Migrations apply from zero, re-apply as a no-op, record themselves as the
Supabase CLI does; policies converge; stand-ins are refused on real Supabase."""

import shutil
import subprocess
import sys

import psycopg
import pytest

from openparty.migrate import SUPABASE_DIR, StandInsRefused, migrate, migration_files


def test_migrates_from_zero_and_reapplies_cleanly(empty_db):
    first = migrate(empty_db.url(), stand_ins=True)
    assert first.applied == [path.name for _, _, path in migration_files()]
    assert "profiles_plans.sql" in first.policies

    recorded = empty_db.admin.execute(
        "select version, name, statements[1] from supabase_migrations.schema_migrations order by version"
    ).fetchall()
    assert [(v, n) for v, n, _ in recorded] == [(v, n) for v, n, _ in migration_files()]
    assert recorded[0][2] == migration_files()[0][2].read_text()

    again = migrate(empty_db.url(), stand_ins=True)
    assert again.applied == []
    assert again.policies == first.policies


def test_editing_a_policy_file_and_rerunning_converges(empty_db, tmp_path):
    root = tmp_path / "supabase"
    shutil.copytree(SUPABASE_DIR, root)
    migrate(empty_db.url(), stand_ins=True, root=root)
    policy = root / "policies" / "profiles_plans.sql"
    policy.write_text(policy.read_text().replace("to anon, authenticated\n  using (true)",
                                                 "to authenticated\n  using (true)"))
    migrate(empty_db.url(), root=root)
    roles = empty_db.admin.execute(
        "select roles::text[] from pg_policies where tablename = 'profiles' and policyname = 'profiles_select'"
    ).fetchone()[0]
    assert roles == ["authenticated"]


def test_migrations_without_policies_leave_tables_closed(empty_db, tmp_path):
    # What `supabase db push` alone would do: it applies migrations/ only.
    root = tmp_path / "supabase"
    shutil.copytree(SUPABASE_DIR, root)
    shutil.rmtree(root / "policies")
    (root / "policies").mkdir()
    migrate(empty_db.url(), stand_ins=True, root=root)
    user_id = empty_db.create_user("closed")
    assert empty_db.anon().sql("select * from public.profiles") == []
    assert empty_db.as_user(user_id).sql("select * from public.profiles") == []


def test_failed_migration_rolls_back_and_is_not_recorded(empty_db, tmp_path):
    root = tmp_path / "supabase"
    shutil.copytree(SUPABASE_DIR, root)
    (root / "migrations" / "29991231000000_broken.sql").write_text(
        "create table public.half_done (id int primary key);\nselect 1/0;\n")
    with pytest.raises(psycopg.errors.DivisionByZero):
        migrate(empty_db.url(), stand_ins=True, root=root)
    assert empty_db.admin.execute("select to_regclass('public.half_done')").fetchone()[0] is None
    versions = {r[0] for r in empty_db.admin.execute("select version from supabase_migrations.schema_migrations")}
    assert "29991231000000" not in versions
    assert {v for v, _, _ in migration_files()} <= versions


def test_refuses_stand_ins_on_a_database_with_supabase_auth(empty_db):
    empty_db.admin.execute("create schema auth; comment on schema auth is 'Auth: Manages user authentication';")
    with pytest.raises(StandInsRefused, match="Supabase's own auth schema"):
        migrate(empty_db.url(), stand_ins=True)
    assert empty_db.admin.execute("select to_regclass('auth.users')").fetchone()[0] is None


def test_cli_applies_to_database_url_and_refuses_with_exit_2(empty_db):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": empty_db.url()}
    done = subprocess.run([sys.executable, "-m", "openparty.migrate", "--stand-ins"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "new migrations" in done.stdout
    assert empty_db.admin.execute("select to_regclass('public.profiles')").fetchone()[0] == "profiles"

    empty_db.admin.execute("comment on schema auth is 'Supabase auth'")
    refused = subprocess.run([sys.executable, "-m", "openparty.migrate", "--stand-ins"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "refused" in refused.stderr


def test_seed_loads_demo_data_and_is_idempotent(db):
    from localstack.dev import seed

    seed(db.url())
    seed(db.url())
    names = {r["username"] for r in db.anon().sql("select username from public.profiles")}
    assert {"dj_nova", "kai", "mila", "ren"} <= names
    (live,) = db.anon().rpc_rows("live_now")
    assert (live["dj_username"], live["listener_count"]) == ("dj_nova", 3)
    assert db.service().value("select count(*) from public.messages where session_id = %s", (live["session_id"],)) == 4
