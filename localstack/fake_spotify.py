"""A local HTTP server on loopback speaking the parts of Spotify we use: the
accounts service's token endpoint (Authorization Code with PKCE, refresh with
or without a rotated refresh token, `invalid_grant`) and the Web API's
`/me`, `/me/player/currently-playing` (200 and 204) and
`/playlists/{id}/items` (paged), with 401 for an unknown or expired token and
429 with `Retry-After` when a test asks for it. It records every request.

Every body below follows Spotify's published material; each fixture names its
source. Fields documented as nullable are null where a real answer has them
null (`context` when playing from a search, `preview_url`, `linked_from`
absent); fields removed for development-mode apps in February 2026
(`popularity`, `available_markets`, `followers`) are absent."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def spotify_id(seed: object) -> str:
    """A 22-character base-62 id derived from `seed`, shaped as Spotify's ids are."""
    number = int.from_bytes(hashlib.sha256(str(seed).encode()).digest(), "big")
    chars = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(BASE62[digit])
    return "".join(chars)


def track(track_id: str, name: str = "Midnight City", artists: tuple[str, ...] = ("M83",),
          duration_ms: int = 243_960, isrc: str | None = "FR6V81141061") -> dict[str, Any]:
    """A track object. Source: Web API reference, "Get Track" response
    (TrackObject), as changed by the February 2026 changelog (no
    `popularity`, no `available_markets`); `external_ids` kept (the removal
    was reverted in March 2026)."""
    return {
        "album": {
            "album_type": "album", "total_tracks": 22, "external_urls": {"spotify": "https://open.spotify.com/album/6R0ynY7RF20ofs9GJR5TXR"},
            "href": "https://api.spotify.com/v1/albums/6R0ynY7RF20ofs9GJR5TXR", "id": "6R0ynY7RF20ofs9GJR5TXR",
            "images": [{"url": "https://i.scdn.co/image/ab67616d0000b273fff2cb485c36a6d8f639bdba", "height": 640, "width": 640},
                       {"url": "https://i.scdn.co/image/ab67616d00001e02fff2cb485c36a6d8f639bdba", "height": 300, "width": 300}],
            "name": "Hurry Up, We're Dreaming", "release_date": "2011-10-18", "release_date_precision": "day",
            "type": "album", "uri": "spotify:album:6R0ynY7RF20ofs9GJR5TXR",
            "artists": [{"external_urls": {"spotify": "https://open.spotify.com/artist/63MQldklfxkjYDoUE4Tppz"},
                         "href": "https://api.spotify.com/v1/artists/63MQldklfxkjYDoUE4Tppz",
                         "id": "63MQldklfxkjYDoUE4Tppz", "name": artists[0], "type": "artist",
                         "uri": "spotify:artist:63MQldklfxkjYDoUE4Tppz"}],
        },
        "artists": [{"external_urls": {"spotify": f"https://open.spotify.com/artist/{spotify_id(a)}"},
                     "href": f"https://api.spotify.com/v1/artists/{spotify_id(a)}", "id": spotify_id(a), "name": a,
                     "type": "artist", "uri": f"spotify:artist:{spotify_id(a)}"} for a in artists],
        "disc_number": 1, "duration_ms": duration_ms, "explicit": False,
        "external_ids": {"isrc": isrc} if isrc else {},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"https://api.spotify.com/v1/tracks/{track_id}", "id": track_id, "is_playable": True,
        "name": name, "preview_url": None, "track_number": 2, "type": "track", "uri": f"spotify:track:{track_id}",
        "is_local": False,
    }


def currently_playing(item: dict[str, Any] | None, *, progress_ms: int = 42_000, is_playing: bool = True,
                      playing_type: str = "track") -> dict[str, Any]:
    """Source: Web API reference, "Get Currently Playing Track" (200 response:
    CurrentlyPlayingObject). `context` is null when the track was started
    outside a playlist/album; `item` is null for an ad (currently_playing_type "ad")."""
    return {"timestamp": 1_763_900_000_000, "context": None, "progress_ms": progress_ms, "item": item,
            "currently_playing_type": playing_type, "actions": {"disallows": {"resuming": True}},
            "is_playing": is_playing}


def current_user(user_id: str) -> dict[str, Any]:
    """Source: Web API reference, "Get Current User's Profile" (PrivateUserObject)
    without the fields that need extra scopes (email, country, product) and
    without `followers` (removed for development mode, February 2026)."""
    return {"display_name": user_id.title(), "external_urls": {"spotify": f"https://open.spotify.com/user/{user_id}"},
            "href": f"https://api.spotify.com/v1/users/{user_id}", "id": user_id, "images": [], "type": "user",
            "uri": f"spotify:user:{user_id}"}


def playlist_entry(item: dict[str, Any]) -> dict[str, Any]:
    """Source: the February 2026 migration guide ("Playlist endpoint rename"):
    each entry carries the track under `item`; `track` still sent, deprecated."""
    return {"added_at": "2026-03-01T12:00:00Z", "added_by": {"id": "dj", "type": "user", "uri": "spotify:user:dj",
                                                               "href": "https://api.spotify.com/v1/users/dj",
                                                               "external_urls": {"spotify": "https://open.spotify.com/user/dj"}},
            "is_local": False, "item": item, "track": item}


def web_api_error(status: int, message: str) -> dict[str, Any]:
    """Source: Web API reference, "Response Status Codes" (regular error object)."""
    return {"error": {"status": status, "message": message}}


def auth_error(error: str, description: str) -> dict[str, Any]:
    """Source: Authorization guide (authentication error object, RFC 6749 §5.2)."""
    return {"error": error, "error_description": description}


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class FakeSpotify:
    def __init__(self, client_id: str = "test-client-id") -> None:
        self.client_id = client_id
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.codes: dict[str, dict[str, str]] = {}  # code -> {user, challenge, redirect_uri}
        self.access: dict[str, str] = {}  # access token -> spotify user id
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> spotify user id
        self.rotate_refresh_tokens = True  # a refresh answer carries a new refresh token
        self.playing: dict[str, dict[str, Any] | None] = {}  # spotify user -> playback (None: 204)
        self.playlists: dict[str, list[dict[str, Any]]] = {}
        self.forced: list[tuple[str, int, dict[str, str]]] = []  # (path prefix, status, headers) for next matches
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
                encoded = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                self._answer(*fake._post(self.path, dict(self.headers), form))

            def do_GET(self) -> None:
                self._answer(*fake._get(self.path, dict(self.headers)))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def accounts_url(self) -> str:
        return self.base

    @property
    def api_url(self) -> str:
        return f"{self.base}/v1"

    def __enter__(self) -> FakeSpotify:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # What tests set up ------------------------------------------------------
    def authorize(self, user: str, verifier: str, redirect_uri: str) -> str:
        """The user approved our app: the code Spotify hands to the redirect URI."""
        code = "AQ" + secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"user": user, "challenge": challenge_of(verifier), "redirect_uri": redirect_uri}
        return code

    def issue(self, user: str) -> tuple[str, str]:
        with self.lock:
            access, refresh = "BQ" + secrets.token_urlsafe(24), "AQ" + secrets.token_urlsafe(32)
            self.access[access] = user
            self.refresh_tokens[refresh] = user
        return access, refresh

    def force(self, path_prefix: str, status: int, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.forced.append((path_prefix, status, headers or {}))

    def revoke(self, user: str) -> None:
        """The user removed our app from their account: every token stops working."""
        with self.lock:
            self.access = {k: v for k, v in self.access.items() if v != user}
            self.refresh_tokens = {k: v for k, v in self.refresh_tokens.items() if v != user}

    def count(self, path_prefix: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["path"].startswith(path_prefix))

    # The protocol -----------------------------------------------------------
    def _forced(self, path: str) -> tuple[int, Any, dict[str, str]] | None:
        for index, (prefix, status, headers) in enumerate(self.forced):
            if path.startswith(prefix):
                del self.forced[index]
                if status == 429:
                    return status, web_api_error(429, "API rate limit exceeded"), headers
                if status == 401:
                    return status, web_api_error(401, "The access token expired"), headers
                return status, web_api_error(status, "Service unavailable"), headers
        return None

    def _post(self, path: str, headers: dict[str, str], form: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.requests.append({"method": "POST", "path": path, "headers": headers, "form": form})
            forced = self._forced(path)
            if forced:
                return forced
            if path != "/api/token":
                return 404, web_api_error(404, "Not found"), {}
            if form.get("client_id") != self.client_id:
                return 400, auth_error("invalid_client", "Invalid client"), {}
            grant = form.get("grant_type")
            if grant == "authorization_code":
                entry = self.codes.pop(form.get("code", ""), None)
                if entry is None:
                    return 400, auth_error("invalid_grant", "Invalid authorization code"), {}
                if entry["redirect_uri"] != form.get("redirect_uri"):
                    return 400, auth_error("invalid_grant", "Invalid redirect URI"), {}
                if challenge_of(form.get("code_verifier", "")) != entry["challenge"]:
                    return 400, auth_error("invalid_grant", "code_verifier was incorrect"), {}
                access, refresh = "BQ" + secrets.token_urlsafe(24), "AQ" + secrets.token_urlsafe(32)
                self.access[access] = entry["user"]
                self.refresh_tokens[refresh] = entry["user"]
                # Source: "Authorization Code with PKCE Flow", response sample.
                return 200, {"access_token": access, "token_type": "Bearer",
                             "scope": "user-read-currently-playing playlist-read-private", "expires_in": 3600,
                             "refresh_token": refresh}, {}
            if grant == "refresh_token":
                user = self.refresh_tokens.get(form.get("refresh_token", ""))
                if user is None:
                    # Source: "Refreshing tokens"; a revoked or unknown refresh token.
                    return 400, auth_error("invalid_grant", "Invalid refresh token"), {}
                access = "BQ" + secrets.token_urlsafe(24)
                self.access[access] = user
                # Source: "Refreshing tokens", response sample: `refresh_token`
                # only when Spotify rotates it; otherwise keep the old one.
                body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                        "scope": "user-read-currently-playing playlist-read-private",
                                        "expires_in": 3600}
                if self.rotate_refresh_tokens:
                    del self.refresh_tokens[form["refresh_token"]]
                    new_refresh = "AQ" + secrets.token_urlsafe(32)
                    self.refresh_tokens[new_refresh] = user
                    body["refresh_token"] = new_refresh
                return 200, body, {}
            return 400, auth_error("unsupported_grant_type", "grant_type parameter is invalid"), {}

    def _get(self, path: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.requests.append({"method": "GET", "path": path, "headers": headers})
            forced = self._forced(path)
            if forced:
                return forced
            auth = headers.get("Authorization") or headers.get("authorization") or ""
            user = self.access.get(auth.removeprefix("Bearer "))
            if user is None:
                return 401, web_api_error(401, "Invalid access token"), {}
            url = urlsplit(path)
            if url.path == "/v1/me":
                return 200, current_user(user), {}
            if url.path == "/v1/me/player/currently-playing":
                playback = self.playing.get(user)
                if playback is None:
                    return 204, None, {}  # Source: "Get Currently Playing Track": 204 when nothing plays
                return 200, playback, {}
            if url.path.startswith("/v1/playlists/") and url.path.endswith("/items"):
                playlist_id = url.path.split("/")[3]
                if playlist_id not in self.playlists:
                    return 404, web_api_error(404, "Resource not found"), {}
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                limit, offset = min(int(query.get("limit", 20)), 50), int(query.get("offset", 0))
                entries = self.playlists[playlist_id]
                page = entries[offset:offset + limit]
                href = f"{self.api_url}/playlists/{playlist_id}/items"
                following = f"{href}?offset={offset + limit}&limit={limit}" if offset + limit < len(entries) else None
                # Source: "Get Playlist Items" (paging object of PlaylistTrackObject), 2026 path.
                return 200, {"href": f"{href}?offset={offset}&limit={limit}", "limit": limit, "next": following,
                             "offset": offset, "previous": None, "total": len(entries),
                             "items": [playlist_entry(t) for t in page]}, {}
            return 404, web_api_error(404, "Service not found"), {}
