"""Spotify against a loopback server speaking its documented shapes: linking
with PKCE, unlinking, token refresh (rotated or not, invalid_grant), the
currently-playing poller (200, 204, 401, 429 with Retry-After, the app's
budget) and playlist import (the 2026 `/playlists/{id}/items`)."""

from __future__ import annotations

import secrets

import pytest

from localstack.fake_spotify import FakeSpotify, currently_playing, spotify_id, track
from tests.apphelpers import client_for, user_token
from tests.room import broadcasts, go_live, make_dj, refused
from tests.workerhelpers import worker_context
from workers import music

REDIRECT = "openparty://spotify/callback"


@pytest.fixture
def spotify():
    with FakeSpotify() as fake:
        yield fake


def spotify_settings(fake: FakeSpotify) -> dict:
    return {"spotify_client_id": fake.client_id, "spotify_accounts_url": fake.accounts_url,
            "spotify_api_url": fake.api_url}


def auth(user_id) -> dict:
    return {"Authorization": f"Bearer {user_token(user_id)}"}


def link_directly(db, fake: FakeSpotify, user_id, spotify_user: str = "djnova", expires_in: int = 3600) -> str:
    """A linked user (as the edge leaves it after the code exchange); returns the access token."""
    access, refresh = fake.issue(spotify_user)
    db.admin.execute("select private.spotify_link(%s, %s, 'DJ Nova', '{user-read-currently-playing}', %s, %s, %s)",
                     (user_id, spotify_user, access, refresh, expires_in))
    return access


def tokens(db, user_id) -> dict | None:
    cur = db.admin.execute("select * from private.spotify_tokens where user_id = %s", (user_id,))
    row = cur.fetchone()
    return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None


def spotify_room(db, fake: FakeSpotify, name: str = "dj", spotify_user: str = "djnova"):
    dj_id = make_dj(db, name)
    link_directly(db, fake, dj_id, spotify_user)
    session = go_live(db, dj_id, plays_from="spotify")
    return dj_id, session["id"]


def playing_rows(db, session_id) -> list[tuple]:
    return db.admin.execute("select title, origin, status::text, spotify_id, isrc from public.queue_items "
                            "where session_id = %s order by id", (session_id,)).fetchall()


async def test_linking_exchanges_the_code_with_pkce_and_keeps_the_tokens_from_the_app(db, spotify):
    dj_id = make_dj(db)
    verifier = secrets.token_urlsafe(48)
    code = spotify.authorize("djnova", verifier, REDIRECT)
    async with client_for(db, **spotify_settings(spotify)) as client:
        wrong = await client.post("/spotify/link", headers=auth(dj_id), json={
            "code": spotify.authorize("djnova", verifier, REDIRECT), "code_verifier": "x" * 43,
            "redirect_uri": REDIRECT})
        assert (wrong.status_code, wrong.json()["detail"]["error"]) == (400, "invalid_grant")
        elsewhere = await client.post("/spotify/link", headers=auth(dj_id), json={
            "code": code, "code_verifier": verifier, "redirect_uri": "https://evil.example/callback"})
        assert elsewhere.status_code == 422
        anonymous = await client.post("/spotify/link", json={"code": code, "code_verifier": verifier,
                                                              "redirect_uri": REDIRECT})
        assert anonymous.status_code == 401
        response = await client.post("/spotify/link", headers=auth(dj_id), json={
            "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT})
    assert response.status_code == 200, response.text
    assert response.json() == {"spotify_user_id": "djnova", "display_name": "Djnova",
                               "scopes": ["user-read-currently-playing", "playlist-read-private"], "status": "active"}
    exchange = next(r for r in spotify.requests if r["form"].get("grant_type") == "authorization_code"
                    and r["form"]["code"] == code)
    assert exchange["form"]["code_verifier"] == verifier and "client_secret" not in exchange["form"]
    assert "access_token" not in response.text
    # the DJ sees the link, nobody else does, and no app role can read the tokens
    assert db.as_user(dj_id).value("select status from public.spotify_links") == "active"
    other = db.as_user(db.create_user("other"))
    assert other.sql("select * from public.spotify_links") == []
    with refused("42501"):
        db.as_user(dj_id).sql("select * from private.spotify_tokens")
    with refused("42501"):
        db.service().sql("select * from private.spotify_tokens")
    assert tokens(db, dj_id)["access_token"] in spotify.access


async def test_unlinking_deletes_the_tokens(db, spotify):
    dj_id = make_dj(db)
    link_directly(db, spotify, dj_id)
    async with client_for(db, **spotify_settings(spotify)) as client:
        first = await client.delete("/spotify/link", headers=auth(dj_id))
        again = await client.delete("/spotify/link", headers=auth(dj_id))
    assert (first.json(), again.json()) == ({"unlinked": True}, {"unlinked": False})
    assert tokens(db, dj_id) is None
    assert db.as_user(dj_id).sql("select * from public.spotify_links") == []


async def test_without_a_client_id_spotify_answers_503(db):
    dj_id = make_dj(db)
    async with client_for(db) as client:
        response = await client.delete("/spotify/link", headers=auth(dj_id))
        assert response.status_code == 200  # unlinking needs no Spotify
        response = await client.post("/spotify/import", headers=auth(dj_id),
                                     json={"playlist": "37i9dQZF1DXcBWIGoYBM5M", "target": "fallback"})
    assert response.status_code == 503


@pytest.mark.parametrize("rotate", [True, False])
async def test_the_refresh_job_renews_tokens_that_expire_soon(db, spotify, rotate):
    spotify.rotate_refresh_tokens = rotate
    dj_id, fresh_id = make_dj(db, "expiring"), make_dj(db, "fresh")
    old_access = link_directly(db, spotify, dj_id, "expiring", expires_in=120)
    link_directly(db, spotify, fresh_id, "fresh", expires_in=3600)
    old_refresh = tokens(db, dj_id)["refresh_token"]
    async with worker_context(db, **spotify_settings(spotify)) as ctx:
        assert await music.spotify_refresh(ctx) == 1  # only the one expiring within 10 min
        assert await music.spotify_refresh(ctx) == 0
    after = tokens(db, dj_id)
    assert after["access_token"] != old_access and after["access_token"] in spotify.access
    assert (after["refresh_token"] != old_refresh) is rotate  # not rotated: the old one is kept
    assert after["refresh_token"] in spotify.refresh_tokens


async def test_invalid_grant_breaks_the_link_and_tells_the_dj(db, spotify):
    dj_id = make_dj(db)
    link_directly(db, spotify, dj_id, expires_in=60)
    spotify.revoke("djnova")  # the user removed our app in their Spotify account
    async with worker_context(db, **spotify_settings(spotify)) as ctx:
        assert await music.spotify_refresh(ctx) == 1
    link = db.as_user(dj_id).one("select status, broken_reason from public.spotify_links")
    assert link["status"] == "broken" and "invalid_grant" in link["broken_reason"]
    assert tokens(db, dj_id) is None
    (event,) = broadcasts(db, f"user:{dj_id}", "spotify_link_broken")
    assert "invalid_grant" in event["reason"]


async def test_a_spotify_track_change_becomes_now_playing_like_an_advance(db, spotify):
    dj_id, session_id = spotify_room(db, spotify)
    first, second = spotify_id("first"), spotify_id("second")
    spotify.playing["djnova"] = currently_playing(track(first, "Midnight City"), progress_ms=30_000)
    async with worker_context(db, **spotify_settings(spotify)) as ctx:
        assert await music.spotify_poll(ctx) == 1
        assert await music.spotify_poll(ctx) == 0  # not due again for 10 s
        assert playing_rows(db, session_id) == [("Midnight City", "spotify", "playing", first, "FR6V81141061")]
        now = db.as_user(dj_id).rpc_rows("now_playing", p_session_id=session_id)[0]
        assert now["position_ms"] >= 30_000 and now["spotify_id"] == first

        db.admin.execute("update private.spotify_tokens set poll_due_at = now()")
        assert await music.spotify_poll(ctx) == 1  # the same track: nothing changes
        assert len(playing_rows(db, session_id)) == 1

        spotify.playing["djnova"] = None  # 204: nothing plays; now playing stays
        db.admin.execute("update private.spotify_tokens set poll_due_at = now()")
        assert await music.spotify_poll(ctx) == 1
        assert len(playing_rows(db, session_id)) == 1

        spotify.playing["djnova"] = currently_playing(track(second, "Reunion", isrc=None))
        db.admin.execute("update private.spotify_tokens set poll_due_at = now()")
        assert await music.spotify_poll(ctx) == 1
    assert playing_rows(db, session_id) == [("Midnight City", "spotify", "played", first, "FR6V81141061"),
                                            ("Reunion", "spotify", "playing", second, None)]
    events = broadcasts(db, f"session:{session_id}", "now_playing")
    assert [e["title"] for e in events] == ["Midnight City", "Reunion"]
    assert spotify.count("/v1/me/player/currently-playing") == 4


async def test_a_429_stops_every_poll_until_retry_after(db, spotify):
    dj_id, session_id = spotify_room(db, spotify)
    spotify.playing["djnova"] = currently_playing(track(spotify_id("t")))
    spotify.force("/v1/me/player/currently-playing", 429, {"Retry-After": "30"})
    async with worker_context(db, **spotify_settings(spotify)) as ctx:
        assert await music.spotify_poll(ctx) == 0
        blocked = db.admin.execute("select blocked_until > now() + interval '25 seconds' "
                                   "from private.spotify_budget").fetchone()[0]
        assert blocked
        db.admin.execute("update private.spotify_tokens set poll_due_at = now()")
        assert await music.spotify_poll(ctx) == 0
        assert spotify.count("/v1/me/player/currently-playing") == 1  # nothing asked while blocked
        db.admin.execute("update private.spotify_budget set blocked_until = now() - interval '1 second'")
        assert await music.spotify_poll(ctx) == 1
    assert playing_rows(db, session_id)[0][2] == "playing"


async def test_the_poller_batches_djs_within_the_apps_budget(db, spotify):
    for n in range(3):
        _, _ = spotify_room(db, spotify, f"dj{n}", f"spotify{n}")
        spotify.playing[f"spotify{n}"] = currently_playing(track(spotify_id(n), f"Song {n}"))
    async with worker_context(db, spotify_budget_per_window=2, **spotify_settings(spotify)) as ctx:
        assert await music.spotify_poll(ctx) == 2  # one batch, two requests: the window's budget
        db.admin.execute("update private.spotify_tokens set poll_due_at = now()")
        assert await music.spotify_poll(ctx) == 0  # spent until the window turns
        db.admin.execute("update private.spotify_budget set window_started_at = now() - interval '31 seconds'")
        assert await music.spotify_poll(ctx) == 2
    assert spotify.count("/v1/me/player/currently-playing") == 4


async def test_a_401_sends_the_token_to_the_refresh_job(db, spotify):
    dj_id, _ = spotify_room(db, spotify)
    spotify.force("/v1/me/player/currently-playing", 401)
    async with worker_context(db, **spotify_settings(spotify)) as ctx:
        assert await music.spotify_poll(ctx) == 0
        assert await music.spotify_refresh(ctx) == 1  # refreshed at once, though it had an hour left
    assert tokens(db, dj_id)["expires_at"] > db.admin.execute("select now() + interval '50 minutes'").fetchone()[0]


async def test_importing_a_playlist_pages_through_its_items(db, spotify):
    dj_id = make_dj(db)
    link_directly(db, spotify, dj_id)
    playlist = spotify_id("playlist")
    spotify.playlists[playlist] = [track(spotify_id(n), f"Track {n}") for n in range(60)]
    spotify.playlists[playlist][3] = {**spotify.playlists[playlist][3], "is_local": True}  # a local file: skipped
    spotify.playlists[playlist][5] = {**spotify.playlists[playlist][5], "name": "Bad\x00Name"}  # text Postgres refuses
    async with client_for(db, **spotify_settings(spotify)) as client:
        response = await client.post("/spotify/import", headers=auth(dj_id), json={
            "playlist": f"https://open.spotify.com/playlist/{playlist}?si=abc", "target": "fallback"})
        assert response.status_code == 200, response.text
        assert response.json() == {"playlist_id": playlist, "found": 59, "imported": 59}
        again = await client.post("/spotify/import", headers=auth(dj_id),
                                  json={"playlist": f"spotify:playlist:{playlist}", "target": "fallback"})
        assert again.json()["imported"] == 0  # already on the list
        bad = await client.post("/spotify/import", headers=auth(dj_id),
                                json={"playlist": "not a playlist", "target": "fallback"})
        assert bad.status_code == 422
        missing = await client.post("/spotify/import", headers=auth(dj_id),
                                    json={"playlist": spotify_id("nope"), "target": "fallback"})
        assert missing.status_code == 404
    pages = [r["path"] for r in spotify.requests if r["path"].startswith(f"/v1/playlists/{playlist}")]
    assert len(pages) == 4 and all("/items" in p for p in pages)  # 50 + 10, twice
    fallback = db.as_user(dj_id).sql("select position, title, spotify_id from public.dj_fallback_tracks "
                                     "order by position")
    assert [f["position"] for f in fallback] == list(range(59))
    assert fallback[0]["title"] == "Track 0" and fallback[0]["spotify_id"] == spotify_id(0)
    assert fallback[4]["title"] == "BadName"


async def test_importing_into_the_queue_and_with_an_expired_token(db, spotify):
    dj_id = make_dj(db)
    link_directly(db, spotify, dj_id, expires_in=10)  # expired for our purposes: refreshed first
    session = go_live(db, dj_id)
    playlist = spotify_id("set")
    spotify.playlists[playlist] = [track(spotify_id(n), f"Track {n}") for n in range(3)]
    stranger = db.create_user("stranger")
    async with client_for(db, **spotify_settings(spotify)) as client:
        no_session = await client.post("/spotify/import", headers=auth(dj_id),
                                       json={"playlist": playlist, "target": "queue"})
        assert no_session.status_code == 422
        response = await client.post("/spotify/import", headers=auth(dj_id),
                                     json={"playlist": playlist, "target": "queue", "session_id": str(session["id"])})
        assert response.json()["imported"] == 3, response.text
        not_linked = await client.post("/spotify/import", headers=auth(stranger),
                                       json={"playlist": playlist, "target": "fallback"})
        assert not_linked.status_code == 409
    assert spotify.count("/api/token") == 1  # one refresh before the import
    titles = [r["title"] for r in db.as_user(dj_id).rpc_rows("session_queue", p_session_id=session["id"])]
    assert titles == ["Track 0", "Track 1", "Track 2"]
