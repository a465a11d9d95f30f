"""One refresh of a linked user's Spotify tokens, shared by the refresh worker
and the edge (an import whose token has expired): store the new tokens (a
refresh may or may not rotate the refresh token), or mark the link broken on
`invalid_grant` (the user is told and must link again)."""

from __future__ import annotations

import logging
from uuid import UUID

from openparty import queries
from openparty.db import Connection
from openparty.spotify import SpotifyClient, SpotifyInvalidGrant

log = logging.getLogger("openparty.spotify")


async def refresh_link(conn: Connection, client: SpotifyClient, user_id: UUID, refresh_token: str) -> str | None:
    """The new access token, or None when Spotify refused the refresh token.
    Other Spotify errors propagate (the caller retries later)."""
    try:
        tokens = await client.refresh(refresh_token)
    except SpotifyInvalidGrant as exc:
        await conn.execute(queries.SPOTIFY_MARK_BROKEN, {"user_id": user_id, "reason": str(exc)})
        log.warning("spotify.link_broken user=%s reason=%s", user_id, exc)
        return None
    await conn.execute(queries.SPOTIFY_STORE_TOKENS, {
        "user_id": user_id, "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
        "expires_in": tokens.expires_in, "scopes": tokens.scopes})
    log.info("spotify.refreshed user=%s rotated=%s", user_id, tokens.refresh_token is not None)
    return tokens.access_token
