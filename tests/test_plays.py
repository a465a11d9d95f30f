"""The play log: every song played in a session is logged from the queue's
status changes, with the listeners present and how long each heard it; 30 s
makes a stream. Listeners read their history, artists their stats."""

from tests.catalog import make_artist, queue_track, rewind, upload_track
from tests.room import go_live, join, make_dj

SPOTIFY_SONG = ("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
                "values (%s, %s, 'Band', 200000, 'spotify', %s) returning id")


def room(db):
    dj = make_dj(db)
    session = go_live(db, dj)["id"]
    return dj, session, join(db, session, "early"), join(db, session, "late")


def test_a_play_is_logged_from_start_to_end_with_its_listeners(db):
    dj, session, early, late = room(db)
    db.as_user(dj).value(SPOTIFY_SONG, (session, "One", "sp1"))
    db.as_user(dj).value(SPOTIFY_SONG, (session, "Two", "sp2"))
    db.as_user(dj).rpc_rows("advance", p_session_id=session)
    play = db.service().one("select * from public.plays")
    assert (play["title"], play["provider"], play["provider_ref"], play["listeners_at_start"], play["ended_at"]) == \
        ("One", "spotify", "sp1", 2, None)
    rewind(db, session, 45)  # 45 s into the song; 'late' only heard the last 20 s of it
    db.admin.execute("update public.session_participants set joined_at = now() - interval '20 seconds' "
                     "where user_id = %s", (late,))
    db.as_user(dj).rpc_rows("advance", p_session_id=session)
    play = db.service().one("select * from public.plays where title = 'One'")
    assert 45_000 <= play["ms_played"] < 47_000
    assert (play["listeners"], play["streams"]) == (2, 1)
    heard = {r["user_id"]: r for r in db.service().sql("select * from public.play_listeners where play_id = %s",
                                                        (play["id"],))}
    assert set(heard) == {early, late}  # the DJ is no listener of their own set
    assert heard[early]["is_stream"] and not heard[late]["is_stream"]
    assert db.service().value("select count(*) from public.plays where ended_at is null") == 1  # 'Two' plays


def test_a_stream_needs_thirty_seconds(db):
    dj, session, early, _ = room(db)
    for n in range(3):
        db.as_user(dj).value(SPOTIFY_SONG, (session, f"Song {n}", f"s{n}"))
    db.as_user(dj).rpc_rows("advance", p_session_id=session)
    rewind(db, session, 29)
    db.as_user(dj).rpc_rows("skip", p_session_id=session)
    rewind(db, session, 30)
    db.as_user(dj).rpc_rows("advance", p_session_id=session)
    streams = {r["title"]: r["is_stream"] for r in db.service().sql(
        "select p.title, l.is_stream from public.play_listeners l join public.plays p on p.id = l.play_id "
        "where l.user_id = %s", (early,))}
    assert streams == {"Song 0": False, "Song 1": True}


def test_ending_the_session_closes_the_play(db):
    dj, session, early, _ = room(db)
    db.as_user(dj).value(SPOTIFY_SONG, (session, "Last", "l1"))
    db.as_user(dj).rpc_rows("advance", p_session_id=session)
    rewind(db, session, 60)
    db.as_user(dj).rpc_rows("end_session", p_session_id=session)
    play = db.service().one("select * from public.plays")
    assert play["ended_at"] is not None and play["streams"] == 2


def test_listeners_read_their_history_and_artists_their_stats(db):
    artist = make_artist(db)
    track = upload_track(db, artist, "Hit")
    dj, session, early, late = room(db)
    db.as_user(artist).rpc_rows("join_session", p_session_id=session)  # the artist listens too: not counted
    queue_track(db, early, session, track)
    db.as_user(dj).value(SPOTIFY_SONG, (session, "After", "a1"))
    db.as_user(dj).rpc_rows("advance", p_session_id=session)
    rewind(db, session, 90)
    db.as_user(dj).rpc_rows("advance", p_session_id=session)

    history = db.as_user(early).rpc_rows("my_listening_history")
    assert [(h["title"], h["is_stream"], h["track_id"]) for h in history] == [("Hit", True, track)]
    assert db.as_user(dj).rpc_rows("my_listening_history") == []
    stats = db.as_user(artist).rpc_rows("my_track_stats")
    assert [(s["title"], s["plays"], s["streams"], s["unique_listeners"]) for s in stats] == [("Hit", 1, 2, 2)]
    assert stats[0]["minutes"] >= 3
    assert db.as_user(early).rpc_rows("my_track_stats") == []  # not an artist: no tracks, no numbers
    # others see neither the play's listeners nor the play of someone else's session
    assert db.as_user(late).sql("select user_id from public.play_listeners") == [{"user_id": late}]
    stranger = db.create_user("stranger")
    assert db.as_user(stranger).sql("select 1 from public.plays") == []
    assert len(db.as_user(artist).sql("select 1 from public.plays")) == 1  # the artist sees plays of their track
