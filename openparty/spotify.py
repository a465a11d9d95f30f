"""A small Spotify client over httpx: the token endpoint (PKCE code exchange,
refresh) and the Web API calls we make (current user, currently playing,
playlist items). Errors come back as typed exceptions; nothing here touches
the database.

Shapes follow Spotify's Web API reference (developer.spotify.com/documentation/web-api):
tokens in "Refreshing tokens" and "Authorization Code with PKCE Flow"; the
playlist endpoint after the February 2026 changes (`/playlists/{id}/items`,
each entry's track under `item`, `track` kept while deprecated)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

PLAYLIST_URL = re.compile(r"^(?:https?://open\.spotify\.com/(?:intl-[a-z-]+/)?playlist/|spotify:playlist:)"
                          r"(?P<id>[0-9A-Za-z]{22})(?:[/?#].*)?$")
PLAYLIST_ID = re.compile(r"^[0-9A-Za-z]{22}$")


class SpotifyError(Exception):
    """Spotify failed in a way a retry may fix (5xx, network, unexpected body)."""


class SpotifyRateLimited(SpotifyError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


class SpotifyUnauthorized(SpotifyError):
    """401: the access token expired or was revoked (refresh it)."""


class SpotifyInvalidGrant(SpotifyError):
    """The authorization code or refresh token is no longer valid: link again."""


class SpotifyRefused(SpotifyError):
    """A 4xx other than 401 / 429: the request will not succeed as it is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None  # a refresh may or may not rotate it
    expires_in: int
    scopes: list[str] | None


def playlist_id(value: str) -> str | None:
    """The playlist id of an id, an open.spotify.com URL or a spotify: URI."""
    value = value.strip()
    if PLAYLIST_ID.match(value):
        return value
    match = PLAYLIST_URL.match(value)
    return match.group("id") if match else None


def retry_after(response: httpx.Response) -> int:
    try:
        return max(1, int(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # Web API: {"error": {"status", "message"}}
            return str(error.get("message", ""))
        if isinstance(error, str):  # accounts service: {"error", "error_description"}
            return f"{error}: {body.get('error_description', '')}"
    return str(body)[:200]


class SpotifyClient:
    def __init__(self, http: httpx.AsyncClient, *, client_id: str, accounts_url: str, api_url: str,
                 timeout: float = 10) -> None:
        self.http = http
        self.client_id = client_id
        self.accounts_url = accounts_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    # Accounts service -------------------------------------------------------
    async def _token(self, form: dict[str, str]) -> Tokens:
        try:
            response = await self.http.post(f"{self.accounts_url}/api/token", data={**form, "client_id": self.client_id},
                                            timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise SpotifyError(f"token endpoint unreachable: {exc}") from exc
        if response.status_code == 429:
            raise SpotifyRateLimited(retry_after(response))
        if response.status_code == 400:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            if body.get("error") == "invalid_grant":
                raise SpotifyInvalidGrant(_error_message(response))
            raise SpotifyRefused(400, _error_message(response))
        if response.status_code >= 500 or response.status_code != 200:
            raise SpotifyError(f"token endpoint answered {response.status_code}")
        body = response.json()
        scope = body.get("scope")
        return Tokens(access_token=body["access_token"], refresh_token=body.get("refresh_token"),
                      expires_in=int(body.get("expires_in", 3600)),
                      scopes=scope.split() if isinstance(scope, str) else None)

    async def exchange_code(self, code: str, code_verifier: str, redirect_uri: str) -> Tokens:
        return await self._token({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                  "code_verifier": code_verifier})

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    # Web API ----------------------------------------------------------------
    async def _get(self, access_token: str, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.api_url}{path}"
        try:
            response = await self.http.get(url, params=params, timeout=self.timeout,
                                           headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise SpotifyError(f"Web API unreachable: {exc}") from exc
        if response.status_code == 429:
            raise SpotifyRateLimited(retry_after(response))
        if response.status_code == 401:
            raise SpotifyUnauthorized(_error_message(response))
        if 400 <= response.status_code < 500:
            raise SpotifyRefused(response.status_code, _error_message(response))
        if response.status_code >= 500:
            raise SpotifyError(f"Web API answered {response.status_code}")
        return response

    async def me(self, access_token: str) -> dict[str, Any]:
        body: dict[str, Any] = (await self._get(access_token, "/me")).json()
        return body

    async def currently_playing(self, access_token: str) -> dict[str, Any] | None:
        """The playback object, or None when nothing plays (204 No Content)."""
        response = await self._get(access_token, "/me/player/currently-playing")
        if response.status_code == 204 or not response.content:
            return None
        body: dict[str, Any] = response.json()
        return body

    async def playlist_tracks(self, access_token: str, playlist: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` tracks of a playlist, page by page (50 a page), as our
        track shape: title, artist, album_art_url, duration_ms, spotify_id, isrc.
        Episodes, local files and unavailable entries are left out."""
        tracks: list[dict[str, Any]] = []
        next_url: str | None = f"/playlists/{playlist}/items"
        params: dict[str, Any] | None = {"limit": 50, "offset": 0, "additional_types": "track"}
        while next_url and len(tracks) < limit:
            page = (await self._get(access_token, next_url, params)).json()
            params = None  # `next` carries them
            for entry in page.get("items") or []:
                track = as_track((entry or {}).get("item") or (entry or {}).get("track"))
                if track is not None:
                    tracks.append(track)
            next_url = page.get("next")
        return tracks[:limit]


def clean(text: Any, limit: int = 200) -> str:
    """Text Postgres can store (no NUL, no lone surrogate), trimmed and bounded."""
    if not isinstance(text, str):
        return ""
    return "".join(c for c in text if c != "\x00" and not "\ud800" <= c <= "\udfff").strip()[:limit]


def as_track(item: Any) -> dict[str, Any] | None:
    """Our track shape from a Spotify track object, or None for anything we cannot queue."""
    if not isinstance(item, dict) or item.get("type", "track") != "track" or item.get("is_local"):
        return None
    track_id = item.get("id")
    duration = item.get("duration_ms")
    if not isinstance(track_id, str) or not PLAYLIST_ID.match(track_id) or not isinstance(duration, int) or duration <= 0:
        return None
    artists = ", ".join(clean(a["name"]) for a in item.get("artists") or [] if isinstance(a, dict) and a.get("name"))
    images = [i["url"] for i in (item.get("album") or {}).get("images") or []
              if isinstance(i, dict) and isinstance(i.get("url"), str) and i["url"].startswith(("https://", "http://"))]
    isrc = ((item.get("external_ids") or {}).get("isrc") or "").upper()
    return {"title": clean(item.get("name")) or "Unknown track",
            "artist": artists[:200].strip() or "Unknown artist",
            "album_art_url": images[0] if images else None,
            "duration_ms": duration,
            "spotify_id": track_id,
            "isrc": isrc if re.match(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$", isrc) else None}
