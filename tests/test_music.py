"""The music keeps playing: auto-advance and pause, recommendations from our
play history, tracks the DJ's app reports, provider ids, now playing in
live_now, the went-live event, social links."""

import threading

import psycopg
import pytest

from tests.room import broadcasts, go_live, join, make_dj, refused, session_row
from tests.test_realtime import realtime_authorizes
from tests.workerhelpers import worker_context
from workers import music

ADD = ("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
       "values (%s, %s, 'Artist', %s, 'spotify', %s) returning *")
FALLBACK = ("insert into public.dj_fallback_tracks (position, title, artist, duration_ms, provider, provider_ref) "
            "values (%s, %s, 'Artist', 200000, 'spotify', %s)")
LATER = "now() + interval '1 hour'"  # auto-advance's clock, past any song's end


def add(client, session_id, ref, *, duration_ms=200_000):
    return client.one(ADD, (session_id, ref, duration_ms, ref))


def auto_advance(db, when: str = LATER, grace: int = 5) -> int:
    return db.admin.execute(
        f"select private.auto_advance(make_interval(secs => %s), 50, {when})", (grace,)).fetchone()[0]


def playing(db, session_id) -> dict | None:
    cur = db.admin.execute("select title, origin, status, from_fallback, added_by from public.queue_items "
                           "where session_id = %s and status = 'playing'", (session_id,))
    row = cur.fetchone()
    return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None


def play_history(db, titles: list[str], dj_name: str = "history_dj", genres=("house",)) -> None:
    """Another DJ's session that played these songs in this order, then ended."""
    dj_id = make_dj(db, dj_name)
    session = go_live(db, dj_id, genres=list(genres))["id"]
    dj = db.as_user(dj_id)
    for title in titles:
        add(dj, session, title)
    for _ in titles:
        dj.rpc_rows("advance", p_session_id=session)
    dj.rpc_rows("advance", p_session_id=session)
    dj.rpc_rows("end_session", p_session_id=session)


@pytest.fixture
def room(db):
    dj_id = make_dj(db)
    session = go_live(db, dj_id)
    return {"dj": dj_id, "session": session["id"], "listener": join(db, session["id"], "listener")}


def test_a_room_with_no_dj_action_plays_queue_then_fallback_then_recommendations(db, room):
    play_history(db, ["f", "b", "a", "c"])  # elsewhere, "b" followed "f"; "a" followed "b"
    db.as_user(room["dj"]).sql(FALLBACK, (0, "f", "f"))
    add(db.as_user(room["listener"]), room["session"], "q")

    assert auto_advance(db, "now()") == 1  # nothing played yet and a song waits: it starts
    assert playing(db, room["session"])["title"] == "q"
    assert auto_advance(db, "now()") == 0  # the song has not ended
    titles, origins = [], []
    for _ in range(3):
        assert auto_advance(db) == 1
        song = playing(db, room["session"])
        titles.append(song["title"])
        origins.append(song["origin"])
    assert titles == ["f", "b", "a"]  # fallback, then what followed it elsewhere, then what followed that
    assert origins == ["fallback", "recommendation", "recommendation"]
    assert playing(db, room["session"])["added_by"] == room["dj"]
    statuses = [r["status"] for r in broadcasts(db, f"session:{room['session']}", "queue_item_status")]
    assert statuses == ["played", "played", "played"]
    assert [r["title"] for r in broadcasts(db, f"session:{room['session']}", "now_playing")] == ["q", "f", "b", "a"]
    # recommendations are not announced as requests
    assert [r["title"] for r in broadcasts(db, f"session:{room['session']}", "queue_item_added")] == ["q"]


def test_recommendations_skip_what_played_here_recently_and_can_be_switched_off(db, room):
    play_history(db, ["x", "y"])
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "y")
    dj.rpc_rows("advance", p_session_id=room["session"])
    assert [r["title"] for r in dj.rpc_rows("recommendations", p_session_id=room["session"])] == ["x"]
    dj.sql("update public.sessions set recommendations_enabled = false where id = %s", (room["session"],))
    assert auto_advance(db) == 1
    assert playing(db, room["session"]) is None  # queue, fallback empty; recommendations off: silence
    dj.sql("update public.sessions set recommendations_enabled = true where id = %s", (room["session"],))
    assert dj.rpc_rows("advance", p_session_id=room["session"])[0]["title"] == "x"


def test_only_the_dj_reads_recommendations(db, room):
    with refused("PT403", "only the session's DJ"):
        db.as_user(room["listener"]).rpc_rows("recommendations", p_session_id=room["session"])


def test_recommendations_follow_the_rooms_queue_and_only_its_dj_reads_them(db, room):
    play_history(db, ["x", "y", "z"])
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "y")
    dj.rpc_rows("advance", p_session_id=room["session"])  # "y" starts: the room's recommendations are refreshed
    assert [r["title"] for r in dj.rpc_rows("recommendations", p_session_id=room["session"])] == ["z", "x"]
    add(dj, room["session"], "z")  # queued here now: no longer a recommendation
    assert [r["title"] for r in dj.rpc_rows("recommendations", p_session_id=room["session"])] == ["x"]
    # the projection is the DJ's: the room's listener and another DJ read nothing of it
    assert db.as_user(room["listener"]).sql("select * from public.session_recommendations") == []
    assert db.as_user(make_dj(db, "other")).sql("select * from public.session_recommendations") == []
    dj.rpc_rows("end_session", p_session_id=room["session"])
    assert db.admin.execute("select count(*) from public.session_recommendations where session_id = %s",
                            (room["session"],)).fetchone()[0] == 0


def test_auto_advance_and_the_djs_advance_move_the_song_once(db, room):
    dj = db.as_user(room["dj"])
    for ref in ("one", "two", "three"):
        add(dj, room["session"], ref)
    first = dj.rpc_rows("advance", p_session_id=room["session"])[0]
    assert auto_advance(db) == 1  # "one" ended long ago by auto-advance's clock
    assert playing(db, room["session"])["title"] == "two"
    # the DJ's app saw "one" end too, and says so: nothing changes
    assert dj.rpc_rows("advance", p_session_id=room["session"], p_expected_item_id=first["id"])[0]["title"] == "two"
    assert playing(db, room["session"])["title"] == "two"


def test_auto_advance_skips_a_room_the_dj_is_advancing_right_now(db, room):
    dj = db.as_user(room["dj"])
    for ref in ("one", "two", "three"):
        add(dj, room["session"], ref)
    dj.rpc_rows("advance", p_session_id=room["session"])
    with db.connect() as busy, busy.transaction():
        busy.execute("select 1 from public.sessions where id = %s for update", (room["session"],))
        assert auto_advance(db) == 0  # skipped, not waited on
    assert auto_advance(db) == 1
    assert playing(db, room["session"])["title"] == "two"


def test_replicas_and_the_dj_racing_advance_each_ended_song_once(db, room):
    dj = db.as_user(room["dj"])
    for ref in ("one", "two", "three", "four"):
        add(dj, room["session"], ref)
    first = dj.rpc_rows("advance", p_session_id=room["session"])[0]
    db.admin.execute("update public.queue_items set started_at = now() - interval '300 seconds' where id = %s",
                     (first["id"],))  # "one" (200 s) ended; "two", once started, will not have
    barrier = threading.Barrier(4)
    advanced = []

    def replica():
        with db.connect("openparty_worker") as conn:
            barrier.wait()
            advanced.append(conn.execute("select private.auto_advance(interval '5 seconds', 50)").fetchone()[0])

    def the_dj():
        with db.connect("authenticator") as conn:
            barrier.wait()
            db.as_user(room["dj"], conn).rpc_rows("advance", p_session_id=room["session"],
                                                  p_expected_item_id=first["id"])
            advanced.append(0)

    threads = [threading.Thread(target=replica) for _ in range(3)] + [threading.Thread(target=the_dj)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(advanced) <= 1  # the DJ or one replica moved "one"; nobody moved "two"
    assert playing(db, room["session"])["title"] == "two"
    assert db.admin.execute("select count(*) from public.queue_items where status = 'played'").fetchone()[0] == 1


def test_a_paused_room_is_left_alone_and_resumes_where_it_stood(db, room):
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "one")
    add(dj, room["session"], "two")
    dj.rpc_rows("advance", p_session_id=room["session"])
    with refused("PT403", "only the session's DJ"):
        db.as_user(room["listener"]).rpc_rows("pause_session", p_session_id=room["session"])
    paused = dj.rpc_rows("pause_session", p_session_id=room["session"])[0]
    assert paused["paused_at"] is not None
    assert broadcasts(db, f"session:{room['session']}", "session_updated")[-1]["paused"] is True
    assert auto_advance(db) == 0
    db.admin.execute("update public.sessions set paused_at = now() - interval '30 seconds' where id = %s",
                     (room["session"],))
    before = db.admin.execute("select started_at from public.queue_items where status = 'playing'").fetchone()[0]
    listener_view = db.as_user(room["listener"]).rpc_rows("now_playing", p_session_id=room["session"])[0]
    assert listener_view["paused"] is True
    dj.rpc_rows("resume_session", p_session_id=room["session"])
    after = db.admin.execute("select started_at from public.queue_items where status = 'playing'").fetchone()[0]
    assert 29 <= (after - before).total_seconds() <= 31  # the song ends as much later as the pause lasted
    assert session_row(db, room["session"])["paused_at"] is None
    assert auto_advance(db) == 1


def test_rooms_that_follow_spotify_or_the_djs_app_are_not_auto_advanced(db, room):
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "one")
    add(dj, room["session"], "two")
    dj.rpc_rows("advance", p_session_id=room["session"])
    dj.sql("update public.sessions set plays_from = 'app' where id = %s", (room["session"],))
    assert auto_advance(db) == 0


def test_the_djs_app_reports_the_track_it_plays(db, room):
    dj = db.as_user(room["dj"])
    dj.sql("update public.sessions set plays_from = 'app' where id = %s", (room["session"],))
    report = {"p_session_id": room["session"], "p_title": "Midnight City", "p_artist": "M83", "p_duration_ms": 243_000,
              "p_provider": "apple_music", "p_provider_ref": "1440873088", "p_apple_music_id": "1440873088",
              "p_isrc": "FR6V81141061", "p_position_ms": 10_000}
    song = dj.rpc_rows("report_track", **report)[0]
    assert (song["status"], song["origin"], song["apple_music_id"], song["isrc"]) == (
        "playing", "app", "1440873088", "FR6V81141061")
    (event,) = broadcasts(db, f"session:{room['session']}", "now_playing")
    assert event["title"] == "Midnight City" and event["apple_music_id"] == "1440873088"
    now = db.as_user(room["listener"]).rpc_rows("now_playing", p_session_id=room["session"])[0]
    assert now["position_ms"] >= 10_000  # the app said it was 10 s in
    assert dj.rpc_rows("report_track", **report)[0]["id"] == song["id"]  # the same track again: nothing changes

    # a listener's request that the DJ now plays is the song that starts
    request = add(db.as_user(room["listener"]), room["session"], "7ouMYWpwJ422jRcDASZB7P")
    with refused("PT429", "too fast"):
        dj.rpc_rows("report_track", **{**report, "p_provider": "spotify", "p_provider_ref": "7ouMYWpwJ422jRcDASZB7P"})
    db.admin.execute("update public.sessions set last_track_report_at = now() - interval '6 seconds'")
    started = dj.rpc_rows("report_track", **{**report, "p_title": "Request", "p_provider": "spotify",
                                             "p_provider_ref": "7ouMYWpwJ422jRcDASZB7P"})[0]
    assert (started["id"], started["origin"]) == (request["id"], "request")
    status = db.admin.execute("select status::text from public.queue_items where id = %s", (song["id"],)).fetchone()[0]
    assert status == "played"

    with refused("PT403", "only the session's DJ"):
        db.as_user(room["listener"]).rpc_rows("report_track", **report)
    dj.sql("update public.sessions set plays_from = 'spotify' where id = %s", (room["session"],))
    with refused("PT409", "follows your Spotify player"):
        dj.rpc_rows("report_track", **report)


def test_songs_carry_ids_for_other_services(db, room):
    listener = db.as_user(room["listener"])
    item = listener.one("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref, "
                        "spotify_id, apple_music_id, isrc) values (%s, 'S', 'A', 1000, 'spotify', 'x', "
                        "'7ouMYWpwJ422jRcDASZB7P', '1440873088', 'USUM71703861') returning *", (room["session"],))
    assert (item["spotify_id"], item["apple_music_id"]) == ("7ouMYWpwJ422jRcDASZB7P", "1440873088")
    with refused("23514", "queue_items_spotify_id_format"):
        listener.sql("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref, "
                     "spotify_id) values (%s, 'S', 'A', 1000, 'spotify', 'y', 'not an id')", (room["session"],))
    with refused("42501"):
        listener.sql("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref, "
                     "origin) values (%s, 'S', 'A', 1000, 'spotify', 'z', 'recommendation')", (room["session"],))


def test_live_now_shows_what_each_room_plays(db, room):
    dj = db.as_user(room["dj"])
    (row,) = db.anon().rpc_rows("live_now")
    assert row["now_playing_title"] is None
    add(dj, room["session"], "Song")
    dj.rpc_rows("advance", p_session_id=room["session"])
    (row,) = db.anon().rpc_rows("live_now")
    assert (row["now_playing_title"], row["now_playing_artist"]) == ("Song", "Artist")
    stranger = db.as_user(db.create_user("stranger"))
    assert stranger.sql("select * from public.queue_items") == []  # the queue itself stays the room's


def test_going_live_is_announced_to_browse_screens_at_most_every_10_minutes(db):
    dj_id = make_dj(db)
    first = go_live(db, dj_id)
    db.as_user(dj_id).rpc_rows("end_session", p_session_id=first["id"])
    go_live(db, dj_id, "again")  # flapping: not announced again
    events = broadcasts(db, "discovery", "session_live")
    assert [e["session_id"] for e in events] == [str(first["id"])]
    assert set(events[0]) - {"event", "id"} == {"session_id", "dj_id", "genres", "started_at"}  # ids, no free text
    live_id = db.admin.execute("select id from public.sessions where status = 'live'").fetchone()[0]
    db.as_user(dj_id).rpc_rows("end_session", p_session_id=live_id)
    db.admin.execute("update private.live_announcements set announced_at = now() - interval '11 minutes'")
    third = go_live(db, dj_id, "third")
    assert [e["session_id"] for e in broadcasts(db, "discovery", "session_live")][-1] == str(third["id"])


def test_any_signed_in_user_may_receive_the_discovery_topic_and_nobody_may_send(db):
    user = db.create_user("browser")
    assert realtime_authorizes(db, user, "discovery")
    assert not realtime_authorizes(db, user, "discovery", write=True)
    assert not realtime_authorizes(db, user, "discovery", write=True, extension="presence")


SOCIAL_LINKS = [
    ("instagram_url", "https://instagram.com/dj.nova_1", True),
    ("instagram_url", "https://www.instagram.com/djnova/", True),
    ("instagram_url", "http://instagram.com/djnova", False),
    ("instagram_url", "https://instagram.com.evil.example/djnova", False),
    ("tiktok_url", "https://www.tiktok.com/@djnova", True),
    ("tiktok_url", "https://tiktok.com/djnova", False),
    ("soundcloud_url", "https://soundcloud.com/dj-nova", True),
    ("spotify_url", "https://open.spotify.com/artist/0TnOYISbd1XYRBk9myaseg", True),
    ("spotify_url", "https://open.spotify.com/track/0TnOYISbd1XYRBk9myaseg", False),
    ("website_url", "https://djnova.example.com/about?x=1", True),
    ("website_url", "https://user:pass@djnova.example.com/", False),
    ("website_url", "javascript:alert(1)", False),
    ("website_url", "https://localhost/", False),
]


def test_social_links_are_validated(db):
    user = db.create_user("linked")
    client = db.as_user(user)
    for column, value, ok in SOCIAL_LINKS:
        query = f"update public.profiles set {column} = %s where id = %s returning {column}"
        if ok:
            assert client.value(query, (value, user)) == value
            assert db.anon().value(f"select {column} from public.profiles where id = %s", (user,)) == value
        else:
            with pytest.raises(psycopg.errors.CheckViolation):
                client.value(query, (value, user))


async def test_the_auto_advance_job_advances_ended_songs_as_the_worker_role(db, room):
    dj = db.as_user(room["dj"])
    add(dj, room["session"], "one")
    add(dj, room["session"], "two")
    dj.rpc_rows("advance", p_session_id=room["session"])
    async with worker_context(db, auto_advance_grace_seconds=5) as ctx:
        assert await music.auto_advance(ctx) == 0  # "one" is still playing
        db.admin.execute("update public.queue_items set started_at = now() - interval '206 seconds' "
                         "where status = 'playing'")  # 200 s song + 5 s grace: due
        assert await music.auto_advance(ctx) == 1
    assert playing(db, room["session"])["title"] == "two"


def test_a_room_playing_only_by_itself_is_still_abandoned(db):
    dj_id = make_dj(db, "pocket")
    session = go_live(db, dj_id)["id"]
    db.as_user(dj_id).sql(FALLBACK, (0, "f", "f"))
    db.admin.execute("update public.sessions set started_at = now() - interval '5 hours' where id = %s", (session,))
    db.as_user(dj_id).rpc_rows("advance", p_session_id=session)  # the fallback starts: no listener, no request
    assert playing(db, session)["origin"] == "fallback"
    assert db.admin.execute("select private.end_abandoned_sessions(interval '4 hours', 10)").fetchone()[0] == 1
    assert session_row(db, session)["end_reason"] == "abandoned"
