"""Apply the schema: stand-ins (local only), migrations, then policies.

- `supabase/local/*.sql`: stand-ins for what the Supabase platform owns. Applied
  only when asked (the embedded stack always asks), and refused on a database
  whose `auth` schema is Supabase's own.
- `supabase/migrations/<version>_<name>.sql`: each applied once, in order, in its
  own transaction, recorded in `supabase_migrations.schema_migrations` exactly
  as the Supabase CLI records them, so `supabase migration list` agrees.
- `supabase/policies/*.sql`: re-applied every time, all in one transaction, each
  file written as drop-if-exists + create, so editing a file and re-running
  converges with no moment where a table has no policy.

Usage: `openparty-migrate [--stand-ins] [--database-url URL]` (or `python -m
openparty.migrate`), with DATABASE_URL set. `scripts/migrate` adds the
embedded database as a fallback (`localstack.migrate`).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from openparty.settings import get_settings

SUPABASE_DIR = Path(__file__).resolve().parent.parent / "supabase"
STAND_IN_MARKER = "openparty local stand-in"
MIGRATION_FILE = re.compile(r"^(\d{14})_(\w+)\.sql$")
# One migrate run at a time per database.
MIGRATE_LOCK_KEY = 7_246_513_001


class StandInsRefused(RuntimeError):
    """The target already has Supabase's own auth schema."""


@dataclass
class MigrationReport:
    stand_ins: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    policies: list[str] = field(default_factory=list)


def migration_files(root: Path = SUPABASE_DIR) -> list[tuple[str, str, Path]]:
    """(version, name, path) for every migration file, in order."""
    found = []
    for path in sorted((root / "migrations").glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise ValueError(f"{path.name}: migration files are named <14-digit version>_<name>.sql")
        found.append((match.group(1), match.group(2), path))
    return found


def _has_platform_auth(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = 'auth'"
    ).fetchone()
    return row is not None and STAND_IN_MARKER not in (row[0] or "")


def apply_stand_ins(conn: psycopg.Connection, root: Path = SUPABASE_DIR) -> list[str]:
    if _has_platform_auth(conn):
        raise StandInsRefused(
            "this database already has Supabase's own auth schema; supabase/local/ holds stand-ins "
            "for a local database only and will not be applied here (drop --stand-ins)"
        )
    applied = []
    with conn.transaction():
        for path in sorted((root / "local").glob("*.sql")):
            conn.execute(path.read_text())
            applied.append(path.name)
    return applied


def _ensure_migrations_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        create schema if not exists supabase_migrations;
        create table if not exists supabase_migrations.schema_migrations (
          version text not null primary key,
          statements text[],
          name text
        );
        """
    )


def applied_versions(conn: psycopg.Connection) -> set[str]:
    exists = conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone()
    if exists is None or exists[0] is None:
        return set()
    return {row[0] for row in conn.execute("select version from supabase_migrations.schema_migrations")}


def apply_migrations(conn: psycopg.Connection, root: Path = SUPABASE_DIR) -> list[str]:
    _ensure_migrations_table(conn)
    done = applied_versions(conn)
    applied = []
    for version, name, path in migration_files(root):
        if version in done:
            continue
        sql = path.read_text()
        with conn.transaction():
            conn.execute(sql)
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version, name, statements) "
                "values (%(version)s, %(name)s, array[%(sql)s])",
                {"version": version, "name": name, "sql": sql},
            )
        applied.append(path.name)
    return applied


def apply_policies(conn: psycopg.Connection, root: Path = SUPABASE_DIR) -> list[str]:
    applied = []
    with conn.transaction():
        for path in sorted((root / "policies").glob("*.sql")):
            conn.execute(path.read_text())
            applied.append(path.name)
    return applied


def migrate(database_url: str, *, stand_ins: bool = False, root: Path = SUPABASE_DIR) -> MigrationReport:
    report = MigrationReport()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (MIGRATE_LOCK_KEY,))
        try:
            if stand_ins:
                report.stand_ins = apply_stand_ins(conn, root)
            report.applied = apply_migrations(conn, root)
            report.policies = apply_policies(conn, root)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (MIGRATE_LOCK_KEY,))
    return report


def arg_parser(description: str | None = __doc__) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="defaults to DATABASE_URL")
    parser.add_argument("--stand-ins", action="store_true",
                        help="also apply supabase/local/ (a plain Postgres, never a Supabase project)")
    return parser


def run(database_url: str, *, stand_ins: bool) -> int:
    """Migrate and print a one-line report; the exit code: 0 done, 1 failed, 2 refused."""
    try:
        report = migrate(database_url, stand_ins=stand_ins)
    except StandInsRefused as exc:
        print(f"migrate: refused: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"migrate: failed: {exc}", file=sys.stderr)
        return 1
    print(f"migrate: stand-ins {len(report.stand_ins)}, new migrations {len(report.applied)} "
          f"{report.applied or ''}, policy files {len(report.policies)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`openparty-migrate`: a deploy names its database; nothing local is started."""
    parser = arg_parser()
    args = parser.parse_args(argv)
    url = args.database_url or get_settings().database_url
    if url is None:
        parser.error("set DATABASE_URL or pass --database-url")
    return run(url, stand_ins=args.stand_ins)


if __name__ == "__main__":
    raise SystemExit(main())
