"""app-types/database.ts is what Supabase's generator makes of the current schema."""

import difflib

import pytest

from localstack.app_types import TYPES_FILE, NodeMissing, generate, node_tools


@pytest.fixture(scope="module")
def generator() -> None:
    try:
        node_tools()
    except NodeMissing as missing:
        pytest.skip(str(missing))


def test_app_types_are_current(generator, db):
    current = generate(db.url())
    committed = TYPES_FILE.read_text()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), current.splitlines(True),
                                        "app-types/database.ts (committed)", "generated", n=1))
    assert current == committed, f"stale app types: run scripts/gen-types\n{diff[:4000]}"
    assert "export type Database = {" in current and "go_live: {" in current and "messages: {" in current

