"""The listener's library (issue 15): saved songs with where they were heard,
session likes, playlists (create, add, reorder, rename, delete; public by link)."""

import json

import pytest

from tests.room import go_live, join, make_dj, refused

ADD = ("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
       "values (%s, %s, 'Artist', 200000, 'spotify', %s) returning id")


@pytest.fixture
def room(db):
    dj_id = make_dj(db, "nova")
    session = go_live(db, dj_id, "Sunset set")
    return {"dj": dj_id, "session": session["id"], "listener": join(db, session["id"], "listener")}


def played(db, room, ref):
    """A song that has started playing in the room."""
    item = db.as_user(room["dj"]).value(ADD, (room["session"], f"Song {ref}", ref))
    db.as_user(room["dj"]).rpc_rows("advance", p_session_id=room["session"])
    return item


def test_a_saved_song_says_where_it_was_heard_and_who_played_it(db, room):
    item = played(db, room, "a")
    me = db.as_user(room["listener"])
    saved = me.rpc_rows("save_song", p_item_id=item)[0]
    assert (saved["title"], saved["session_title"], saved["dj_username"], saved["dj_id"]) == \
        ("Song a", "Sunset set", "nova", room["dj"])
    assert me.rpc_rows("save_song", p_item_id=item)[0]["id"] == saved["id"]  # once per song
    # Kept after leaving, and after the session ends.
    me.rpc("leave_session", p_session_id=room["session"])
    db.as_user(room["dj"]).rpc_rows("end_session", p_session_id=room["session"])
    assert [r["title"] for r in me.sql("select title from public.saved_songs")] == ["Song a"]
    me.sql("delete from public.saved_songs where id = %s", (saved["id"],))
    assert me.sql("select * from public.saved_songs") == []


def test_only_songs_you_heard_can_be_saved(db, room):
    item = played(db, room, "a")
    queued = db.as_user(room["dj"]).value(ADD, (room["session"], "Later", "b"))
    with refused("PT409", "not played"):
        db.as_user(room["listener"]).rpc_rows("save_song", p_item_id=queued)
    stranger = db.as_user(db.create_user("stranger"))
    with refused("PT404"):
        stranger.rpc_rows("save_song", p_item_id=item)
    assert stranger.sql("select * from public.saved_songs") == []
    assert db.as_user(room["dj"]).sql("select * from public.saved_songs") == []  # not the listener's


def test_likes_are_for_sessions_you_were_in_and_public(db, room):
    me = db.as_user(room["listener"])
    me.sql("insert into public.session_likes (session_id) values (%s)", (room["session"],))
    with refused("PT403"):
        db.as_user(db.create_user("stranger")).sql(
            "insert into public.session_likes (session_id) values (%s)", (room["session"],))
    assert db.anon().value("select count(*) from public.session_likes where session_id = %s", (room["session"],)) == 1
    me.sql("delete from public.session_likes")
    assert db.anon().value("select count(*) from public.session_likes") == 0


def test_playlists_create_add_reorder_rename_delete(db, room):
    me = db.as_user(room["listener"])
    saved = [me.rpc_rows("save_song", p_item_id=played(db, room, ref))[0]["id"] for ref in ("a", "b", "c")]
    playlist = me.one("insert into public.playlists (name) values (' Road trip ') returning *")
    assert playlist["name"] == "Road trip" and not playlist["is_public"]
    items = [me.value("insert into public.playlist_items (playlist_id, saved_song_id) values (%s, %s) returning id",
                      (playlist["id"], s)) for s in saved]

    def order():
        return [r["saved_song_id"] for r in me.sql(
            "select saved_song_id from public.playlist_items where playlist_id = %s order by position",
            (playlist["id"],))]

    assert order() == saved
    assert me.rpc("reorder_playlist", p_playlist_id=playlist["id"], p_item_ids=[items[2], items[0]]) == 3
    assert order() == [saved[2], saved[0], saved[1]]
    me.sql("update public.playlists set name = 'Drive' where id = %s", (playlist["id"],))
    me.sql("delete from public.playlist_items where id = %s", (items[0],))
    assert order() == [saved[2], saved[1]]
    # Unsaving a song takes it out of playlists; deleting the playlist removes its items.
    me.sql("delete from public.saved_songs where id = %s", (saved[1],))
    assert order() == [saved[2]]
    me.sql("delete from public.playlists where id = %s", (playlist["id"],))
    assert me.sql("select * from public.playlist_items") == []


def test_others_cannot_touch_your_playlists_or_use_your_songs(db, room):
    me = db.as_user(room["listener"])
    saved = me.rpc_rows("save_song", p_item_id=played(db, room, "a"))[0]["id"]
    playlist = me.value("insert into public.playlists (name) values ('Mine') returning id")
    other = db.as_user(join(db, room["session"], "other"))
    theirs = other.value("insert into public.playlists (name) values ('Theirs') returning id")
    assert other.sql("select * from public.playlists where id = %s", (playlist,)) == []
    with refused("42501"):  # someone else's saved song, or someone else's playlist
        other.sql("insert into public.playlist_items (playlist_id, saved_song_id) values (%s, %s)", (theirs, saved))
    with refused("42501"):
        other.sql("insert into public.playlist_items (playlist_id, saved_song_id) values (%s, %s)", (playlist, saved))
    with refused("PT404"):
        other.rpc("reorder_playlist", p_playlist_id=playlist, p_item_ids=[])
    assert other.sql("update public.playlists set name = 'x' where id = %s returning id", (playlist,)) == []


def test_a_public_playlist_is_read_only_by_link(db, room):
    me = db.as_user(room["listener"])
    saved = me.rpc_rows("save_song", p_item_id=played(db, room, "a"))[0]["id"]
    playlist = me.one("insert into public.playlists (name) values ('Shared') returning *")
    me.sql("insert into public.playlist_items (playlist_id, saved_song_id) values (%s, %s)", (playlist["id"], saved))
    assert db.anon().rpc("shared_playlist", p_share_code=playlist["share_code"]) is None  # private
    me.sql("update public.playlists set is_public = true where id = %s", (playlist["id"],))
    shared = db.anon().rpc("shared_playlist", p_share_code=playlist["share_code"])
    assert shared["name"] == "Shared"
    assert [(s["title"], s["heard_at"], s["played_by"]) for s in shared["songs"]] == [("Song a", "Sunset set", "nova")]
    assert db.anon().rpc("shared_playlist", p_share_code="guess") is None
    # Public is not listed: nobody else sees it in the table.
    assert db.as_user(db.create_user("someone")).sql("select * from public.playlists") == []


# Issue 10: the rules save_song, reorder_playlist and shared_playlist checked in
# security definer bodies now live in grants, policies and triggers; a direct
# request (as PostgREST would send it) is held to them.

def test_a_saved_song_cannot_be_forged_by_a_direct_insert(db, room):
    item = played(db, room, "a")
    me = db.as_user(room["listener"])
    with refused("42501"):  # the song and where it was heard come from the queue item, never from the app
        me.sql("insert into public.saved_songs (queue_item_id, title) values (%s, 'Forged')", (item,))
    with refused("42501"):
        me.sql("insert into public.saved_songs (queue_item_id, user_id) values (%s, %s)", (item, room["dj"]))
    with refused("PT404"):  # a room never joined
        db.as_user(db.create_user("stranger")).sql("insert into public.saved_songs (queue_item_id) values (%s)", (item,))
    banned = join(db, room["session"], "banned")
    db.as_user(room["dj"]).rpc_rows("ban_user", p_session_id=room["session"], p_user_id=banned)
    with refused("PT404"):
        db.as_user(banned).rpc_rows("save_song", p_item_id=item)
    saved = me.one("insert into public.saved_songs (queue_item_id) values (%s) returning title, dj_username", (item,))
    assert saved == {"title": "Song a", "dj_username": "nova"}


def test_saving_another_play_of_a_saved_song_returns_the_first(db, room):
    me = db.as_user(room["listener"])
    first = me.rpc_rows("save_song", p_item_id=played(db, room, "a"))[0]
    other_dj = make_dj(db, "kai")
    other = {"dj": other_dj, "session": go_live(db, other_dj, "Later set")["id"]}
    me.rpc_rows("join_session", p_session_id=other["session"])
    again = played(db, other, "A")  # the same track, played in another room
    me.rpc("leave_session", p_session_id=other["session"])  # that room's queue is no longer readable: still saved once
    assert me.rpc_rows("save_song", p_item_id=again)[0]["id"] == first["id"]
    assert me.value("select count(*) from public.saved_songs") == 1


def test_playlist_order_is_yours_and_stays_a_list(db, room):
    me = db.as_user(room["listener"])
    saved = [me.rpc_rows("save_song", p_item_id=played(db, room, ref))[0]["id"] for ref in ("a", "b")]
    playlist = me.value("insert into public.playlists (name) values ('Mine') returning id")
    items = [me.value("insert into public.playlist_items (playlist_id, saved_song_id) values (%s, %s) returning id",
                      (playlist, s)) for s in saved]
    assert me.sql("update public.playlist_items set position = 5 where id = %s returning position", (items[0],)) \
        == [{"position": 5}]
    with refused("23505"):  # two songs in one place
        me.sql("update public.playlist_items set position = 1 where id = %s", (items[0],))
    with refused("23514"):
        me.sql("update public.playlist_items set position = -1 where id = %s", (items[0],))
    with refused("42501"):  # the song's copy is not the app's to write
        me.sql("update public.playlist_items set title = 'x' where id = %s", (items[0],))
    other = db.as_user(join(db, room["session"], "other"))
    assert other.sql("update public.playlist_items set position = 9 returning id") == []
    with refused("PT404"):
        other.rpc("reorder_playlist", p_playlist_id=playlist, p_item_ids=items)
    assert me.rpc("reorder_playlist", p_playlist_id=playlist, p_item_ids=[items[1]]) == 2


def presenting(client, code, query, params=None):
    """A request that carries a share code the way shared_playlist() presents it."""
    with client.conn.transaction(), client.conn.cursor() as cur:
        cur.execute(f"set local role {client.role}")
        cur.execute("select set_config('request.jwt.claims', %s, true), set_config('openparty.share_code', %s, true)",
                    (json.dumps(client.claims), code))
        cur.execute(query, params)
        return cur.fetchall()


def test_only_a_public_playlist_is_read_by_its_code_and_only_its_songs(db, room):
    me = db.as_user(room["listener"])
    saved = me.rpc_rows("save_song", p_item_id=played(db, room, "a"))[0]["id"]
    playlist = me.one("insert into public.playlists (name) values ('Shared') returning *")
    me.sql("insert into public.playlist_items (playlist_id, saved_song_id) values (%s, %s)", (playlist["id"], saved))
    stranger = db.as_user(db.create_user("stranger"))
    for client in (db.anon(), stranger):  # private: its code opens nothing
        assert presenting(client, playlist["share_code"], "select name from public.playlists") == []
    me.sql("update public.playlists set is_public = true where id = %s", (playlist["id"],))
    for client in (db.anon(), stranger):
        assert presenting(client, "", "select name from public.playlists") == []  # without the code: not listed
        assert presenting(client, playlist["share_code"], "select name from public.playlists") == [("Shared",)]
        assert presenting(client, playlist["share_code"], "select title from public.playlist_items") == [("Song a",)]
    assert presenting(stranger, playlist["share_code"], "select id from public.saved_songs") == []  # the owner's library
    with refused("42501"):  # anon reads what the link shows, nothing more
        presenting(db.anon(), playlist["share_code"], "select id from public.saved_songs")
    with refused("42501"):
        presenting(db.anon(), playlist["share_code"], "select is_public from public.playlists")
    with refused("42501"):
        presenting(db.anon(), playlist["share_code"], "select saved_song_id from public.playlist_items")
    with refused("42501"):  # the code opens reading, not writing
        presenting(stranger, playlist["share_code"], "insert into public.playlist_items (playlist_id, saved_song_id) "
                   "values (%s, %s)", (playlist["id"], saved))
    assert presenting(stranger, playlist["share_code"], "update public.playlists set name = 'x' returning id") == []
    assert db.anon().rpc("shared_playlist", p_share_code=playlist["share_code"])["name"] == "Shared"
