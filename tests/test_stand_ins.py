"""The local stand-ins behave as the Supabase platform's own definitions do."""

import json
import uuid

import psycopg
import pytest


def test_roles_have_the_platform_attributes(db):
    rows = {r[0]: r[1:] for r in db.admin.execute(
        "select rolname, rolcanlogin, rolinherit, rolbypassrls from pg_roles "
        "where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')")}
    assert rows == {
        "anon": (False, False, False),
        "authenticated": (False, False, False),
        "service_role": (False, False, True),
        "authenticator": (True, False, False),
    }
    members = {r[0] for r in db.admin.execute(
        "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid "
        "join pg_roles u on u.oid = m.member where u.rolname = 'authenticator'")}
    assert {"anon", "authenticated", "service_role"} <= members


def test_auth_functions_read_request_jwt_claims(db):
    user_id = uuid.uuid4()
    client = db.as_user(user_id)
    client.claims["email"] = "dj@example.test"
    row = client.one("select auth.uid() as uid, auth.role() as role, auth.email() as email, auth.jwt() as jwt")
    assert row["uid"] == user_id
    assert row["role"] == "authenticated"
    assert row["email"] == "dj@example.test"
    assert row["jwt"]["sub"] == str(user_id)


def test_auth_uid_prefers_the_legacy_claim_setting_and_is_null_signed_out(db):
    legacy = uuid.uuid4()
    with db.admin.transaction():
        db.admin.execute("select set_config('request.jwt.claim.sub', %s, true)", (str(legacy),))
        db.admin.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"sub": str(uuid.uuid4())}),))
        assert db.admin.execute("select auth.uid()").fetchone()[0] == legacy
    assert db.anon().value("select auth.uid()") is None


def test_auth_users_are_hidden_from_the_api_roles(db):
    db.create_user("hidden")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(uuid.uuid4()).sql("select * from auth.users")


def test_realtime_send_inserts_a_private_broadcast_row_with_an_id(db):
    with db.admin.transaction():
        db.admin.execute("select realtime.send('{\"a\": 1}'::jsonb, 'ping', 'session:x')")
        assert db.admin.execute("select realtime.topic()").fetchone()[0] == "session:x"
    row = db.admin.execute("select topic, event, extension, private, payload, id from realtime.messages").fetchone()
    topic, event, extension, private, payload, message_id = row
    assert (topic, event, extension, private) == ("session:x", "ping", "broadcast", True)
    assert payload == {"a": 1, "id": str(message_id)}


def test_realtime_send_swallows_its_errors_as_a_warning(db):
    notices = []
    db.admin.add_notice_handler(lambda diag: notices.append(diag.message_primary))
    db.admin.execute("alter table realtime.messages add constraint no_boom check (event <> 'boom')")
    db.admin.execute("select realtime.send('{}'::jsonb, 'boom', 'session:x')")
    assert db.admin.execute("select count(*) from realtime.messages").fetchone()[0] == 0
    assert any("ErrorSendingBroadcastMessage" in n for n in notices)


def test_broadcast_changes_builds_the_platform_payload(db):
    db.admin.execute("""
        create temp table t (id int, name text);
        create function pg_temp.fire() returns trigger language plpgsql as $$
        begin
          perform realtime.broadcast_changes('room:1', tg_op, tg_op, tg_table_name, tg_table_schema, new, old);
          return null;
        end $$;
        create trigger t_fire after insert or update on t for each row execute function pg_temp.fire();
        insert into t values (1, 'a');
        update t set name = 'b';
    """)
    rows = db.admin.execute("select event, payload from realtime.messages order by inserted_at, event").fetchall()
    payloads = {event: payload for event, payload in rows}
    assert payloads["INSERT"]["record"] == {"id": 1, "name": "a"}
    assert payloads["INSERT"]["old_record"] is None
    assert payloads["UPDATE"]["old_record"] == {"id": 1, "name": "a"}
    assert payloads["UPDATE"]["operation"] == "UPDATE"
    assert payloads["UPDATE"]["table"] == "t"


def test_realtime_messages_are_closed_to_a_stranger(db):
    db.admin.execute("select realtime.send('{}'::jsonb, 'e', 'session:1')")
    assert db.admin.execute("select count(*) from realtime.messages").fetchone()[0] == 1
    assert db.as_user(uuid.uuid4()).sql("select * from realtime.messages") == []


def test_storage_foldername_returns_the_folders(db):
    assert db.admin.execute("select storage.foldername('abc/def/file.png')").fetchone()[0] == ["abc", "def"]
    assert db.admin.execute("select storage.foldername('file.png')").fetchone()[0] == []
    assert db.admin.execute("select storage.filename('abc/file.png')").fetchone()[0] == "file.png"
