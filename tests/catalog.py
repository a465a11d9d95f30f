"""Helpers for the catalog, play log and payout tests: artists, uploaded and
published tracks, and moving a play's clock back instead of sleeping."""

from __future__ import annotations

import uuid

OBJECT = ("insert into storage.objects (bucket_id, name, owner_id, metadata) "
          "values ('tracks', %s, %s, '{\"mimetype\": \"audio/mpeg\", \"size\": 4000000}') returning id")


def make_artist(db, username: str = "artist") -> uuid.UUID:
    artist = db.create_user(username)
    db.as_user(artist).sql("update public.profiles set is_artist = true where id = %s", (artist,))
    return artist


def upload_track(db, artist: uuid.UUID, title: str = "Original", *, duration_ms: int = 180_000,
                 publish: bool = True, file_name: str | None = None) -> uuid.UUID:
    """As the app does it: the file into tracks/<artist>/, then the metadata row; the platform reviews it."""
    path = f"{artist}/{file_name or uuid.uuid4().hex + '.mp3'}"
    client = db.as_user(artist)
    client.sql(OBJECT, (path, str(artist)))
    track_id: uuid.UUID = client.value(
        "insert into public.tracks (title, artist_name, duration_ms, audio_path) values (%s, %s, %s, %s) returning id",
        (title, f"{title} Artist", duration_ms, path))
    if publish:
        db.service().sql("select private.review_track(%s, 'published')", (track_id,))
    return track_id


def queue_track(db, user: uuid.UUID, session_id: uuid.UUID, track_id: uuid.UUID) -> int:
    item: int = db.as_user(user).value(
        "insert into public.queue_items (session_id, title, artist, duration_ms, provider, provider_ref) "
        "values (%s, 'x', 'x', 1000, 'openparty', %s) returning id", (session_id, str(track_id)))
    return item


def rewind(db, session_id: uuid.UUID, seconds: float) -> None:
    """Pretend the playing song started (and everyone present joined) `seconds` earlier."""
    db.admin.execute("update public.plays set started_at = started_at - make_interval(secs => %s) "
                     "where session_id = %s and ended_at is null", (seconds, session_id))
    db.admin.execute("update public.session_participants set joined_at = joined_at - make_interval(secs => %s) "
                     "where session_id = %s and left_at is null", (seconds, session_id))
