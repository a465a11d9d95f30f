"""Listening history and stats (issue 15): sessions attended with time listened
over every stint, the songs of a finished session for those who were there,
and stats over a period."""

from tests.room import go_live, join, make_dj, refused

ADD = ("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
       "values (%s, %s, 'Artist', 200000, 'spotify', %s) returning id")


def play(db, dj, session, *refs):
    for ref in refs:
        db.as_user(dj).value(ADD, (session, f"Song {ref}", ref))
        db.as_user(dj).rpc_rows("advance", p_session_id=session)


def stint(db, session, user, minutes):
    """The listener's open stint began `minutes` ago; then they leave."""
    db.admin.execute("update public.session_participants set joined_at = now() - make_interval(mins => %s) "
                     "where session_id = %s and user_id = %s", (minutes, session, user))
    db.as_user(user).rpc("leave_session", p_session_id=session)


def test_time_listened_adds_up_every_stint(db):
    dj = make_dj(db, "nova")
    session = go_live(db, dj, "Deep", genres=["house"])["id"]
    me = join(db, session, "me")
    stint(db, session, me, 10)
    db.as_user(me).rpc_rows("join_session", p_session_id=session)
    stint(db, session, me, 5)
    db.as_user(me).rpc_rows("join_session", p_session_id=session)  # still here: the open stint counts too
    db.admin.execute("update public.session_participants set joined_at = now() - interval '1 minute' "
                     "where user_id = %s", (me,))
    [row] = db.as_user(me).rpc_rows("my_sessions_attended")
    assert (row["title"], row["dj_username"], row["genres"]) == ("Deep", "nova", ["house"])
    assert 16 * 60 - 5 <= row["listened_seconds"] <= 16 * 60 + 5
    assert db.as_user(make_dj(db, "other")).rpc_rows("my_sessions_attended") == []


def test_a_finished_sessions_songs_are_readable_by_those_who_were_there(db):
    dj = make_dj(db)
    session = go_live(db, dj)["id"]
    was_there = join(db, session, "was_there")
    play(db, dj, session, "a", "b")
    db.as_user(was_there).rpc("leave_session", p_session_id=session)
    db.as_user(dj).rpc_rows("end_session", p_session_id=session)
    me = db.as_user(was_there)
    assert me.sql("select * from public.queue_items") == []  # the room's table is for the room only
    assert [r["title"] for r in me.rpc_rows("session_songs", p_session_id=session)] == ["Song a", "Song b"]
    assert [r["title"] for r in me.rpc_rows("my_songs_heard")] == ["Song b", "Song a"]
    assert [r["title"] for r in db.as_user(dj).rpc_rows("session_songs", p_session_id=session)] == ["Song a", "Song b"]
    assert db.as_user(db.create_user("stranger")).rpc_rows("session_songs", p_session_id=session) == []


def test_a_ban_hides_the_room_from_your_history(db):
    dj = make_dj(db)
    session = go_live(db, dj)["id"]
    banned = join(db, session, "banned")
    play(db, dj, session, "a")
    db.as_user(dj).rpc_rows("ban_user", p_session_id=session, p_user_id=banned)
    me = db.as_user(banned)
    assert me.rpc_rows("session_songs", p_session_id=session) == []
    assert me.rpc_rows("my_sessions_attended") == [] and me.rpc_rows("my_songs_heard") == []


def test_stats_over_a_period(db):
    nova, kai = make_dj(db, "nova"), make_dj(db, "kai")
    deep = go_live(db, nova, "Deep", genres=["house", "disco"])["id"]
    jazz = go_live(db, kai, "Jazz", genres=["jazz"])["id"]
    me = join(db, deep, "me")
    db.as_user(me).rpc_rows("join_session", p_session_id=jazz)
    play(db, nova, deep, "a", "b")
    stint(db, deep, me, 90)
    stint(db, jazz, me, 30)
    stats = db.as_user(me).rpc("my_listening_stats")
    assert (stats["sessions"], stats["songs_heard"]) == (2, 2)
    assert abs(stats["seconds_listened"] - 120 * 60) <= 5 and stats["hours_listened"] == 2.0
    assert [d["username"] for d in stats["top_djs"]] == ["nova", "kai"]
    assert [g["genre"] for g in stats["top_genres"]] == ["disco", "house", "jazz"]
    # A period before any of it is empty.
    empty = db.as_user(me).rpc("my_listening_stats", p_to="2020-01-01T00:00:00Z")
    assert (empty["sessions"], empty["seconds_listened"], empty["top_djs"]) == (0, 0, [])


def test_who_may_read_a_sessions_songs_is_the_policy_of_songs_played(db):
    """Issue 10: the history RPCs run as the caller; a direct read of the
    tables behind them is held to the same rule (the DJ, and whoever listened
    and is not banned), and nothing there is the app's to write."""
    dj = make_dj(db)
    session = go_live(db, dj)["id"]
    listener, banned = join(db, session, "listener"), join(db, session, "banned")
    play(db, dj, session, "a", "b")
    db.as_user(dj).rpc_rows("ban_user", p_session_id=session, p_user_id=banned)
    songs = "select title from private.songs_played where session_id = %s order by started_at"
    assert [r["title"] for r in db.as_user(listener).sql(songs, (session,))] == ["Song a", "Song b"]
    assert [r["title"] for r in db.as_user(dj).sql(songs, (session,))] == ["Song a", "Song b"]
    assert db.as_user(banned).sql(songs, (session,)) == []
    assert db.as_user(db.create_user("stranger")).sql(songs, (session,)) == []
    assert db.as_user(listener).value("select count(*) from private.listen_time") == 1  # their own row only
    with refused("42501"):
        db.as_user(listener).sql("insert into private.songs_played (item_id, session_id, title, artist, duration_ms, "
                                 "provider, provider_ref, status, started_at) select item_id, session_id, 'x', 'y', 1, "
                                 "provider, provider_ref, status, now() from private.songs_played limit 1")
    with refused("42501"):
        db.as_user(listener).sql("update private.listen_time set seconds = 999999")
    # The copy follows the queue: what ended and how.
    assert db.admin.execute(
        "select count(*) from public.queue_items q left join private.songs_played p on p.item_id = q.id "
        "where q.session_id = %s and (p.item_id is null or (p.status, p.started_at, p.ended_at) "
        "is distinct from (q.status, q.started_at, q.ended_at))", (session,)).fetchone()[0] == 0
