"""Discovery: the live-now feed, DJ search, suggested DJs."""

from tests.room import go_live, join, make_dj


def test_live_now_orders_by_listeners_and_puts_followed_djs_first(db):
    small_dj, big_dj, idle_dj = make_dj(db, "small"), make_dj(db, "big"), make_dj(db, "idle")
    small = go_live(db, small_dj, genres=["techno"])
    big = go_live(db, big_dj, genres=["house"])
    db.as_user(idle_dj).sql("insert into public.sessions (title) values ('later')")
    for n in range(3):
        join(db, big["id"], f"b{n}")
    join(db, small["id"], "s0")
    feed = db.anon().rpc_rows("live_now")
    assert [r["dj_username"] for r in feed] == ["big", "small"]
    assert feed[0]["listener_count"] == 3

    fan = db.create_user("fan")
    db.as_user(fan).rpc("follow", p_user_id=small_dj)
    personal = db.as_user(fan).rpc_rows("live_now")
    assert [(r["dj_username"], r["followed"]) for r in personal] == [("small", True), ("big", False)]
    assert [r["dj_username"] for r in db.anon().rpc_rows("live_now", p_genre="Techno")] == ["small"]


def test_live_now_hides_djs_who_blocked_you(db):
    dj_id = make_dj(db, "grumpy")
    go_live(db, dj_id)
    fan = db.create_user("fan")
    db.as_user(dj_id).sql("insert into public.user_blocks (blocked_id) values (%s)", (fan,))
    assert db.as_user(fan).rpc_rows("live_now") == []
    assert len(db.anon().rpc_rows("live_now")) == 1


def test_search_djs_by_username_and_display_name(db):
    nova = db.create_user("dj_nova", metadata={"full_name": "Nova Starlight"})
    db.as_user(nova).sql("update public.profiles set is_dj = true where id = %s", (nova,))
    make_dj(db, "techno_tom")
    db.create_user("nova_fan")  # not a DJ
    assert [r["username"] for r in db.anon().rpc_rows("search_djs", p_query="nova")] == ["dj_nova"]
    assert [r["username"] for r in db.anon().rpc_rows("search_djs", p_query="starlite")] == ["dj_nova"]
    assert [r["username"] for r in db.anon().rpc_rows("search_djs", p_query="TOM")] == ["techno_tom"]
    assert db.anon().rpc_rows("search_djs", p_query="x") == []
    searcher = db.create_user("searcher")
    db.as_user(searcher).sql("insert into public.user_blocks (blocked_id) values (%s)", (nova,))
    assert db.as_user(searcher).rpc_rows("search_djs", p_query="nova") == []


def test_search_uses_the_trigram_index(db):
    db.admin.execute("set enable_seqscan = off")
    plan = "\n".join(r[0] for r in db.admin.execute(
        "explain select id from public.profiles where username operator(extensions.%) 'nova'").fetchall())
    assert "profiles_username_trgm" in plan


def test_suggested_djs(db):
    me = db.create_user("me")
    friend = db.create_user("friend")
    db.as_user(me).sql("update public.profiles set genres = array['techno'] where id = %s", (me,))
    liked_by_friend = make_dj(db, "friends_pick")
    same_genre = make_dj(db, "techno_dj")
    db.as_user(same_genre).sql("update public.profiles set genres = array['techno'] where id = %s", (same_genre,))
    live_dj = make_dj(db, "live_dj")
    go_live(db, live_dj)
    already = make_dj(db, "already")
    blocked = make_dj(db, "blocked")
    make_dj(db, "unrelated")
    db.as_user(me).rpc("follow", p_user_id=friend)
    db.as_user(me).rpc("follow", p_user_id=already)
    db.as_user(friend).rpc("follow", p_user_id=liked_by_friend)
    db.as_user(friend).rpc("follow", p_user_id=blocked)
    db.as_user(me).sql("insert into public.user_blocks (blocked_id) values (%s)", (blocked,))
    suggested = db.as_user(me).rpc_rows("suggested_djs")
    assert [(r["username"], r["score"]) for r in suggested] == [("friends_pick", 3), ("live_dj", 2), ("techno_dj", 1)]
