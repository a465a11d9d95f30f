"""Spotify for the app: link (the PKCE code exchange), unlink, and playlist
import. The app runs the authorization itself (code_challenge S256, one of
our registered redirect URIs) and hands us the code and its verifier; the
tokens never go back to the app."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field, model_validator

from functions.deps import PoolDep, SettingsDep, UserDep, authenticated_json, json_body_doc, maybe_row, one_row
from openparty import queries
from openparty.spotify import (
    SpotifyClient,
    SpotifyError,
    SpotifyInvalidGrant,
    SpotifyRateLimited,
    SpotifyRefused,
    SpotifyUnauthorized,
    clean,
    playlist_id,
)
from openparty.spotify_links import refresh_link

log = logging.getLogger("openparty.spotify")
router = APIRouter(prefix="/spotify", tags=["spotify"])


def spotify_client(request: Request) -> SpotifyClient:
    client: SpotifyClient | None = request.app.state.spotify
    if client is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            detail={"error": "not_configured", "message": "Spotify is not configured"})
    return client


Client = Annotated[SpotifyClient, Depends(spotify_client)]


class LinkRequest(BaseModel):
    code: str = Field(min_length=1, max_length=2048, pattern=r"^[A-Za-z0-9_\-.~]+$")
    # RFC 7636: 43-128 characters of [A-Z a-z 0-9 - . _ ~]
    code_verifier: str = Field(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9\-._~]+$")
    redirect_uri: str = Field(min_length=1, max_length=500)


class LinkResponse(BaseModel):
    spotify_user_id: str
    display_name: str | None
    scopes: list[str]
    status: str


class ImportRequest(BaseModel):
    playlist: str = Field(min_length=1, max_length=500, description="playlist id, open.spotify.com URL or spotify: URI")
    target: Literal["fallback", "queue"]
    session_id: UUID | None = Field(default=None, description="your live session, when target is queue")

    @model_validator(mode="after")
    def _session_for_queue(self) -> ImportRequest:
        if self.target == "queue" and self.session_id is None:
            raise ValueError("session_id is required to import into the queue")
        return self


class ImportResponse(BaseModel):
    playlist_id: str
    found: int
    imported: int


LinkBody = Annotated[LinkRequest, Depends(authenticated_json(LinkRequest))]
ImportBody = Annotated[ImportRequest, Depends(authenticated_json(ImportRequest))]


def spotify_failed(exc: SpotifyError) -> HTTPException:
    if isinstance(exc, SpotifyRateLimited):
        return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(exc.retry_after)},
                             detail={"error": "spotify_busy", "message": f"Spotify is busy; retry in {exc.retry_after} s"})
    log.error("spotify.request_failed error=%s", exc)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, detail={"error": "spotify_unavailable",
                                                               "message": "Spotify failed; retry"})


@router.post("/link", response_model=LinkResponse, openapi_extra=json_body_doc(LinkRequest))
async def link(body: LinkBody, user: UserDep, pool: PoolDep, settings: SettingsDep, client: Client) -> LinkResponse:
    """Exchange the authorization code (with its PKCE verifier) and keep the tokens."""
    if body.redirect_uri not in settings.spotify_redirect_uris:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail={"error": "bad_redirect_uri", "message": "not one of our registered redirect URIs"})
    try:
        tokens = await client.exchange_code(body.code, body.code_verifier, body.redirect_uri)
        profile = await client.me(tokens.access_token)
    except SpotifyInvalidGrant as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            detail={"error": "invalid_grant", "message": "the code is invalid, used or expired"}) from exc
    except SpotifyRefused as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail={"error": "refused", "message": str(exc)}) from exc
    except SpotifyError as exc:
        raise spotify_failed(exc) from exc
    if tokens.refresh_token is None:
        raise spotify_failed(SpotifyError("the code exchange returned no refresh token"))
    row = await one_row(pool, queries.SPOTIFY_LINK, {
        "user_id": user.id, "spotify_user_id": clean(str(profile["id"])),
        "display_name": clean(profile.get("display_name")) or None,
        "scopes": tokens.scopes or [], "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
        "expires_in": tokens.expires_in})
    log.info("spotify.linked user=%s", user.id)
    return LinkResponse(spotify_user_id=row["spotify_user_id"], display_name=row["display_name"],
                        scopes=row["scopes"], status=row["status"])


@router.delete("/link")
async def unlink(user: UserDep, pool: PoolDep) -> dict[str, bool]:
    """Forget the link and delete its tokens (idempotent)."""
    row = await one_row(pool, queries.SPOTIFY_UNLINK, {"user_id": user.id})
    log.info("spotify.unlinked user=%s existed=%s", user.id, row["unlinked"])
    return {"unlinked": bool(row["unlinked"])}


async def _access_token(pool: PoolDep, client: SpotifyClient, user_id: UUID, *, force_refresh: bool = False) -> str:
    tokens = await maybe_row(pool, queries.SPOTIFY_TOKENS_OF, {"user_id": user_id})
    if tokens is None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail={"error": "not_linked", "message": "link Spotify first (or again)"})
    if not force_refresh and tokens["expires_at"] > datetime.now(UTC) + timedelta(seconds=30):
        access: str = tokens["access_token"]
        return access
    async with pool.connection() as conn:
        refreshed = await refresh_link(conn, client, user_id, tokens["refresh_token"])
    if refreshed is None:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail={"error": "not_linked", "message": "Spotify refused the link: link again"})
    return refreshed


@router.post("/import", response_model=ImportResponse, openapi_extra=json_body_doc(ImportRequest))
async def import_playlist(body: ImportBody, user: UserDep, pool: PoolDep, settings: SettingsDep,
                          client: Client) -> ImportResponse:
    """Import a playlist's tracks into your fallback list or your live session's queue."""
    playlist = playlist_id(body.playlist)
    if playlist is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail={"error": "bad_playlist", "message": "give a playlist id, URL or spotify: URI"})
    tracks: list[dict[str, Any]] = []
    try:
        for attempt in range(2):
            access = await _access_token(pool, client, user.id, force_refresh=attempt > 0)
            try:
                tracks = await client.playlist_tracks(access, playlist, settings.spotify_import_max_tracks)
                break
            except SpotifyUnauthorized:
                if attempt:
                    raise
    except SpotifyRefused as exc:
        if exc.status == 404:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                detail={"error": "not_found", "message": "no such playlist"}) from exc
        if exc.status == 403:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail={
                "error": "forbidden", "message": "Spotify lists the items only of playlists you own or collaborate on"},
            ) from exc
        raise spotify_failed(exc) from exc
    except SpotifyError as exc:
        raise spotify_failed(exc) from exc
    row = await one_row(pool, queries.SPOTIFY_IMPORT_TRACKS, {
        "user_id": user.id, "target": body.target, "session_id": body.session_id, "tracks": json.dumps(tracks)})
    log.info("spotify.imported user=%s playlist=%s target=%s found=%s imported=%s",
             user.id, playlist, body.target, len(tracks), row["imported"])
    return ImportResponse(playlist_id=playlist, found=len(tracks), imported=row["imported"])
