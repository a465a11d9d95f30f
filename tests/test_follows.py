"""Follows: idempotent, no self-follow, exact counts, blocks respected."""

import threading

import psycopg
import pytest

from tests.room import make_dj, refused


def counts(db, user_id):
    return db.anon().one("select follower_count, following_count from public.profiles where id = %s", (user_id,))


def test_follow_and_unfollow_are_idempotent_and_counted(db):
    dj_id = make_dj(db)
    fan_id = db.create_user("fan")
    fan = db.as_user(fan_id)
    assert fan.rpc("follow", p_user_id=dj_id) is True
    assert fan.rpc("follow", p_user_id=dj_id) is None
    assert fan.rpc("is_following", p_user_id=dj_id) is True
    assert counts(db, dj_id) == {"follower_count": 1, "following_count": 0}
    assert counts(db, fan_id) == {"follower_count": 0, "following_count": 1}
    assert fan.rpc("unfollow", p_user_id=dj_id) is True
    assert fan.rpc("unfollow", p_user_id=dj_id) is None
    assert fan.rpc("is_following", p_user_id=dj_id) is False
    assert counts(db, dj_id)["follower_count"] == 0


def test_follower_and_following_lists_are_public(db):
    dj_id = make_dj(db)
    fans = [db.create_user(f"fan{n}") for n in range(3)]
    for fan in fans:
        db.as_user(fan).sql("insert into public.follows (followee_id) values (%s)", (dj_id,))
    followers = db.anon().sql("select follower_id from public.follows where followee_id = %s order by created_at", (dj_id,))
    assert {r["follower_id"] for r in followers} == set(fans)
    assert db.anon().value("select count(*) from public.follows where follower_id = %s", (fans[0],)) == 1


def test_no_self_follow_and_no_following_on_someone_elses_behalf(db):
    user_id = db.create_user("me")
    other = db.create_user("other")
    with pytest.raises(psycopg.errors.CheckViolation, match="follows_not_self"):
        db.as_user(user_id).rpc("follow", p_user_id=user_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(user_id).sql("insert into public.follows (follower_id, followee_id) values (%s, %s)", (other, user_id))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.anon().sql("insert into public.follows (followee_id) values (%s)", (user_id,))


def test_a_blocked_user_cannot_follow_and_blocking_ends_follows(db):
    dj_id = make_dj(db)
    fan_id = db.create_user("fan")
    db.as_user(fan_id).rpc("follow", p_user_id=dj_id)
    db.as_user(dj_id).rpc("follow", p_user_id=fan_id)
    db.as_user(dj_id).sql("insert into public.user_blocks (blocked_id) values (%s)", (fan_id,))
    assert counts(db, dj_id) == {"follower_count": 0, "following_count": 0}
    assert counts(db, fan_id) == {"follower_count": 0, "following_count": 0}
    with refused("PT403", "cannot follow"):
        db.as_user(fan_id).rpc("follow", p_user_id=dj_id)
    assert db.as_user(fan_id).sql("select * from public.user_blocks") == []  # blocks are private to the blocker
    db.as_user(dj_id).sql("delete from public.user_blocks where blocked_id = %s", (fan_id,))
    assert db.as_user(fan_id).rpc("follow", p_user_id=dj_id) is True


def test_concurrent_follows_keep_counts_exact(db):
    dj_id = make_dj(db)
    fans = [db.create_user(f"fan{n}") for n in range(16)]
    barrier = threading.Barrier(len(fans))

    def follow(fan):
        with db.connect("authenticator") as conn:
            barrier.wait()
            db.as_user(fan, conn).rpc("follow", p_user_id=dj_id)

    threads = [threading.Thread(target=follow, args=(f,)) for f in fans]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert counts(db, dj_id)["follower_count"] == 16 == db.anon().value(
        "select count(*) from public.follows where followee_id = %s", (dj_id,))
