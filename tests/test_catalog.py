"""The indie catalog: artists upload tracks (file in the tracks bucket, then
the metadata row), the platform reviews them, published tracks are public,
queueable (provider openparty) and streamable; a track taken down leaves the queues."""

import uuid

import psycopg
import pytest

from tests.catalog import OBJECT, make_artist, queue_track, upload_track
from tests.room import go_live, join, make_dj, refused


def test_only_artists_upload_and_only_into_their_own_folder(db):
    fan = db.create_user("fan")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(fan).sql(OBJECT, (f"{fan}/song.mp3", str(fan)))
    artist, other = make_artist(db), make_artist(db, "other_artist")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(artist).sql(OBJECT, (f"{other}/song.mp3", str(artist)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.as_user(artist).sql(OBJECT, (f"{artist}/../{other}/song.mp3", str(artist)))
    db.as_user(artist).sql(OBJECT, (f"{artist}/song.mp3", str(artist)))
    with refused("PT403", "only artists"):
        db.as_user(fan).sql("insert into public.tracks (title, artist_name, duration_ms, audio_path) "
                            "values ('x', 'x', 60000, %s)", (f"{fan}/song.mp3",))
    with refused("PT422", "upload the audio file"):  # no such file
        db.as_user(artist).sql("insert into public.tracks (title, artist_name, duration_ms, audio_path) "
                               "values ('x', 'x', 60000, %s)", (f"{artist}/missing.mp3",))
    with refused("PT422", "upload the audio file"):  # someone else's file
        db.as_user(other).sql("insert into public.tracks (title, artist_name, duration_ms, audio_path) "
                              "values ('x', 'x', 60000, %s)", (f"{artist}/song.mp3",))


def test_review_decides_who_sees_a_track_and_artists_only_take_down(db):
    artist, fan = make_artist(db), db.create_user("fan")
    track = upload_track(db, artist, "Demo", publish=False)
    row = db.as_user(artist).one("select status, artist_id from public.tracks where id = %s", (track,))
    assert row == {"status": "processing", "artist_id": artist}
    assert db.as_user(fan).sql("select 1 from public.tracks") == []
    with refused("PT403", "only take a track down"):
        db.as_user(artist).sql("update public.tracks set status = 'published' where id = %s", (track,))
    db.service().sql("select private.review_track(%s, 'published')", (track,))
    assert db.anon().value("select title from public.tracks where id = %s", (track,)) == "Demo"
    assert db.as_user(fan).sql("update public.tracks set title = 'mine' where id = %s returning 1", (track,)) == []
    db.as_user(artist).sql("update public.tracks set status = 'removed' where id = %s", (track,))
    assert db.anon().sql("select 1 from public.tracks") == []
    with refused("PT403"):
        db.as_user(artist).sql("update public.tracks set status = 'published' where id = %s", (track,))


def test_signed_in_users_may_read_a_published_tracks_file_only(db):
    """Storage signs a URL only for a file the caller may select."""
    artist, fan = make_artist(db), db.create_user("fan")
    published = upload_track(db, artist, "Out", file_name="out.mp3")
    upload_track(db, artist, "Draft", publish=False, file_name="draft.mp3")
    names = {r["name"] for r in db.as_user(fan).sql("select name from storage.objects where bucket_id = 'tracks'")}
    assert names == {f"{artist}/out.mp3"}
    assert db.anon().sql("select name from storage.objects where bucket_id = 'tracks'") == []
    assert published


def test_a_published_track_is_queued_with_its_own_metadata(db):
    artist, dj = make_artist(db), make_dj(db)
    track = upload_track(db, artist, "Night Drive", duration_ms=201_000)
    session = go_live(db, dj)["id"]
    listener = join(db, session, "listener")
    item = queue_track(db, listener, session, track)
    row = db.service().one("select title, artist, duration_ms, provider, provider_ref from public.queue_items "
                           "where id = %s", (item,))
    assert row == {"title": "Night Drive", "artist": "Night Drive Artist", "duration_ms": 201_000,
                   "provider": "openparty", "provider_ref": str(track)}
    draft = upload_track(db, artist, "Draft", publish=False)
    for ref in (draft, uuid.uuid4()):
        with refused("PT404", "no published track"):
            queue_track(db, dj, session, ref)
    with refused("PT404"):
        db.as_user(dj).sql("insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
                           "values (%s, 'x', 'x', 1000, 'openparty', 'not-a-uuid')", (session,))


def test_a_track_taken_down_leaves_queues_and_fallback_lists(db):
    artist, dj = make_artist(db), make_dj(db)
    track = upload_track(db, artist)
    session = go_live(db, dj)["id"]
    item = queue_track(db, dj, session, track)
    db.as_user(dj).sql("insert into public.dj_fallback_tracks (position, title, artist, duration_ms, provider, provider_ref) "
                       "values (0, 'x', 'x', 1000, 'openparty', %s)", (str(track),))
    db.as_user(artist).sql("update public.tracks set status = 'removed' where id = %s", (track,))
    assert db.service().value("select status::text from public.queue_items where id = %s", (item,)) == "removed"
    assert db.service().value("select count(*) from public.dj_fallback_tracks") == 0


def test_an_artist_deleting_their_account_takes_their_tracks_out_of_queues(db):
    artist, dj = make_artist(db), make_dj(db)
    track = upload_track(db, artist)
    session = go_live(db, dj)["id"]
    item = queue_track(db, dj, session, track)
    db.admin.execute("select private.request_account_deletion(%s)", (artist,))
    assert db.service().value("select status::text from public.queue_items where id = %s", (item,)) == "removed"
    assert db.as_user(dj).rpc_rows("advance", p_session_id=session)[0]["id"] is None  # nothing left, nothing broken
