"""supabase/schema.sql is the schema the migrations and policies produce."""

import difflib

from localstack.schema_snapshot import SNAPSHOT, dump


def test_schema_snapshot_is_current(db):
    current = dump(db.url())
    committed = SNAPSHOT.read_text()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), current.splitlines(True),
                                        "supabase/schema.sql (committed)", "migrated schema", n=1))
    assert current == committed, f"stale snapshot: run scripts/schema-snapshot\n{diff[:4000]}"


def test_snapshot_shows_a_schema_change(db):
    before = dump(db.url())
    db.admin.execute("alter table public.profiles add column mood text")
    after = dump(db.url())
    assert "mood text" in after and "mood text" not in before
