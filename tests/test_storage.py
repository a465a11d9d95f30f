"""Storage: avatars and covers buckets as supabase.toml declares them; users
write only inside their own folder; public buckets are not listable."""

import tomllib

import psycopg
import pytest

from localstack.database import REPO_ROOT

INSERT = ("insert into storage.objects (bucket_id, name, owner_id, metadata) "
          "values (%s, %s, %s, '{\"mimetype\": \"image/png\", \"size\": 1000}') returning id")


def test_buckets_match_supabase_toml(db):
    config = tomllib.loads((REPO_ROOT / "supabase.toml").read_text())["storage"]["buckets"]
    units = {"MiB": 1024 * 1024, "KiB": 1024}
    rows = {r["id"]: r for r in db.service().sql("select * from storage.buckets")}
    assert set(rows) == set(config)
    for bucket, declared in config.items():
        number, unit = declared["file_size_limit"][:-3], declared["file_size_limit"][-3:]
        assert rows[bucket]["public"] is declared["public"]
        assert rows[bucket]["file_size_limit"] == int(number) * units[unit]
        assert rows[bucket]["allowed_mime_types"] == declared["allowed_mime_types"]


@pytest.mark.parametrize("bucket", ["avatars", "covers"])
def test_users_write_only_inside_their_own_folder(db, bucket):
    me = db.create_user("me")
    other = db.create_user("other")
    client = db.as_user(me)
    client.sql(INSERT, (bucket, f"{me}/avatar.png", str(me)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        client.sql(INSERT, (bucket, f"{other}/avatar.png", str(me)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        client.sql(INSERT, (bucket, "avatar.png", str(me)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.anon().sql(INSERT, (bucket, f"{me}/anon.png", None))


def test_users_list_update_and_delete_only_their_own_files(db):
    me, other = db.create_user("me"), db.create_user("other")
    db.as_user(other).sql(INSERT, ("avatars", f"{other}/a.png", str(other)))
    mine = db.as_user(me)
    mine.sql(INSERT, ("avatars", f"{me}/a.png", str(me)))
    assert [r["name"] for r in mine.sql("select name from storage.objects")] == [f"{me}/a.png"]
    assert db.anon().sql("select name from storage.objects") == []  # public bucket, still not listable
    assert mine.sql("delete from storage.objects where name = %s returning id", (f"{other}/a.png",)) == []
    assert mine.sql("update storage.objects set metadata = '{}' where name = %s returning id",
                    (f"{other}/a.png",)) == []
    assert len(mine.sql("delete from storage.objects where name = %s returning id", (f"{me}/a.png",))) == 1
    assert db.service().value("select count(*) from storage.objects") == 1


def test_other_buckets_are_untouched_by_these_policies(db):
    db.service().sql("insert into storage.buckets (id, name, public) values ('private', 'private', false)")
    me = db.create_user("me")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(me).sql(INSERT, ("private", f"{me}/x.png", str(me)))


def test_web_sign_in_is_email_with_a_code_and_strong_passwords():
    """The web checkout signs in by email (one-time code); the email provider
    also takes passwords, so supabase.toml holds Auth's strongest rules."""
    auth = tomllib.loads((REPO_ROOT / "supabase.toml").read_text())["auth"]
    assert auth["email"]["enable_signup"] and auth["email"]["enable_confirmations"]
    assert auth["email"]["otp_length"] >= 6 and auth["email"]["otp_expiry"] <= 900
    assert auth["minimum_password_length"] >= 12
    assert auth["password_requirements"] == "lower_upper_letters_digits_symbols"
    assert auth["email"]["secure_password_change"]
    assert any(url.startswith("https://") for url in auth["additional_redirect_urls"])
