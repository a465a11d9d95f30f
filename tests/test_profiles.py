"""Profiles: created at sign-up, readable by all, editable only by their owner,
and only in the columns that are theirs."""

import uuid

import psycopg
import pytest


def test_sign_up_creates_a_profile_with_the_requested_username(db):
    user_id = db.create_user(metadata={"username": "  DJ_Nova ", "full_name": "Nova Star"})
    profile = db.anon().one("select * from public.profiles where id = %s", (user_id,))
    assert profile["username"] == "dj_nova"
    assert profile["display_name"] == "Nova Star"
    assert profile["is_dj"] is False


@pytest.mark.parametrize("requested", [None, "no spaces allowed", "ab", "x" * 30])
def test_sign_up_with_a_missing_or_invalid_username_gets_a_generated_one(db, requested):
    metadata = {"username": requested} if requested else {}
    user_id = db.create_user(metadata=metadata)
    username = db.anon().value("select username from public.profiles where id = %s", (user_id,))
    assert username == "user_" + user_id.hex[:8]


def test_sign_up_never_fails_on_a_taken_username(db):
    first = db.create_user("taken")
    second = db.create_user("taken")
    names = {r["id"]: r["username"] for r in db.anon().sql("select id, username from public.profiles")}
    assert names[first] == "taken"
    assert names[second] == "user_" + second.hex[:8]


def test_sign_up_falls_back_when_the_generated_names_are_taken_too(db):
    user_id = uuid.uuid4()
    db.create_user("user_" + user_id.hex[:8])
    db.create_user("user_" + user_id.hex[:19])
    db.create_user(user_id=user_id)
    username = db.anon().value("select username from public.profiles where id = %s", (user_id,))
    assert username.startswith("user_") and username not in {"user_" + user_id.hex[:8], "user_" + user_id.hex[:19]}


def test_anyone_reads_profiles(db):
    db.create_user("visible")
    assert db.anon().value("select username from public.profiles") == "visible"
    assert db.as_user(uuid.uuid4()).value("select count(*) from public.profiles") == 1


def test_owner_updates_their_editable_columns(db):
    user_id = db.create_user("owner")
    me = db.as_user(user_id)
    me.sql("update public.profiles set bio = 'house and techno', genres = array['House', 'techno', 'house'], "
           "is_dj = true, username = 'Owner_2' where id = %s", (user_id,))
    row = me.one("select bio, genres, is_dj, username, updated_at > created_at as touched from public.profiles")
    assert row == {"bio": "house and techno", "genres": ["house", "techno"], "is_dj": True,
                   "username": "owner_2", "touched": True}


def test_another_user_cannot_update_a_profile(db):
    owner = db.create_user("owner")
    other = db.as_user(db.create_user("other"))
    assert other.sql("update public.profiles set bio = 'hacked' where id = %s returning id", (owner,)) == []
    assert db.anon().value("select bio from public.profiles where id = %s", (owner,)) == ""


def test_server_owned_columns_are_out_of_the_owners_reach(db):
    user_id = db.create_user("owner")
    me = db.as_user(user_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        me.sql("update public.profiles set created_at = now() - interval '1 year' where id = %s", (user_id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        me.sql("insert into public.profiles (id, username) values (%s, 'second')", (uuid.uuid4(),))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        me.sql("delete from public.profiles where id = %s", (user_id,))


def test_anon_cannot_update(db):
    user_id = db.create_user("owner")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.anon().sql("update public.profiles set bio = 'x' where id = %s", (user_id,))


def test_invalid_values_are_rejected_and_nothing_changes(db):
    user_id = db.create_user("owner")
    me = db.as_user(user_id)
    with pytest.raises(psycopg.errors.CheckViolation, match="profiles_username_format"):
        me.sql("update public.profiles set username = 'bad name!' where id = %s", (user_id,))
    with pytest.raises(psycopg.errors.CheckViolation, match="profiles_bio_length"):
        me.sql("update public.profiles set bio = repeat('x', 301) where id = %s", (user_id,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.create_user("taken2")
        me.sql("update public.profiles set username = 'TAKEN2' where id = %s", (user_id,))
    assert me.value("select username from public.profiles where id = %s", (user_id,)) == "owner"


def test_service_role_bypasses_rls(db):
    user_id = db.create_user("owner")
    db.service().sql("update public.profiles set bio = 'set by support' where id = %s", (user_id,))
    assert db.anon().value("select bio from public.profiles") == "set by support"


def test_deleting_the_auth_user_deletes_the_profile(db):
    user_id = db.create_user("leaving")
    db.admin.execute("delete from auth.users where id = %s", (user_id,))
    assert db.anon().sql("select * from public.profiles") == []
