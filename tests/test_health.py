"""/healthz answers while the process lives; /readyz only when the database
answers and every migration is applied (and says why not only in the log)."""

from tests.apphelpers import client_for


async def test_healthz_and_readyz_when_all_is_well(db):
    async with client_for(db) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_readyz_is_503_with_a_pending_migration(db):
    latest = db.admin.execute("select max(version) from supabase_migrations.schema_migrations").fetchone()[0]
    db.admin.execute("delete from supabase_migrations.schema_migrations where version = %s", (latest,))
    async with client_for(db) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert latest not in ready.text  # by design since issue 10: the log names it (tests/test_http_attacks.py)


async def test_readyz_is_503_when_the_database_is_unreachable(db):
    async with client_for(db, db_pool_timeout_seconds=2,
                          edge_database_url="postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1") as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
