"""A thin typed client for the two Supabase HTTP APIs account deletion needs,
over Supabase's Python client (`supabase`, async): the Storage API (files are
removed through it: the platform refuses direct deletes from storage tables)
and the Auth admin API (the auth user). Tests fake both at the HTTP boundary."""

from __future__ import annotations

import logging
from uuid import UUID

import httpx
from storage3.exceptions import StorageApiError
from supabase import AsyncClient, AsyncClientOptions, acreate_client
from supabase_auth.errors import AuthApiError, AuthError

from openparty.settings import Settings

log = logging.getLogger("openparty.supabase_admin")
# Storage's remove takes a list of paths; we send at most this many per request.
MAX_PATHS_PER_REMOVE = 100


class SupabaseAdminError(Exception):
    """A Storage or Auth admin request failed; the step is retried later."""


class SupabaseAdmin:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    @classmethod
    async def connect(cls, settings: Settings) -> SupabaseAdmin:
        if settings.supabase_url is None or settings.supabase_service_role_key is None:
            raise RuntimeError("OPENPARTY_SUPABASE_URL and OPENPARTY_SUPABASE_SERVICE_ROLE_KEY are needed")
        # Our own httpx client (the library's per-service timeout options are deprecated).
        options = AsyncClientOptions(httpx_client=httpx.AsyncClient(timeout=30))
        client = await acreate_client(settings.supabase_url, settings.supabase_service_role_key.get_secret_value(),
                                      options)
        return cls(client)

    async def remove_files(self, bucket: str, paths: list[str]) -> int:
        """Remove files from a bucket; returns how many Storage says it removed
        (a path that is already gone is not an error)."""
        removed = 0
        for start in range(0, len(paths), MAX_PATHS_PER_REMOVE):
            chunk = paths[start:start + MAX_PATHS_PER_REMOVE]
            try:
                answer = await self.client.storage.from_(bucket).remove(chunk)
            except (StorageApiError, OSError) as exc:
                raise SupabaseAdminError(f"storage remove in {bucket}: {exc}") from exc
            removed += len(answer)
        return removed

    async def delete_user(self, user_id: UUID) -> bool:
        """Delete the auth user; False when Auth says there is no such user
        (deleted already: a resumed job must not fail on it)."""
        try:
            await self.client.auth.admin.delete_user(str(user_id))
        except AuthApiError as exc:
            if exc.status == 404 or exc.code == "user_not_found":
                return False
            raise SupabaseAdminError(f"auth admin delete_user: {exc.status} {exc.code} {exc.message}") from exc
        except AuthError as exc:  # network errors and 5xx (AuthRetryableError)
            raise SupabaseAdminError(f"auth admin delete_user: {exc.message}") from exc
        return True
