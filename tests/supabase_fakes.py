"""Supabase's Storage API and Auth admin API faked at their HTTP boundary (respx),
answering with the shapes the services send:

- Storage `DELETE /storage/v1/object/{bucket}` with `{"prefixes": [...]}` answers
  200 with the removed objects (supabase/storage, routes/object/deleteObjects:
  the rows it deleted; a path that does not exist is simply not in the list);
  errors are `{"statusCode": "...", "error": "...", "message": "..."}`.
- Auth `DELETE /auth/v1/admin/users/{id}` answers 200 `{}` (supabase/auth,
  internal/api/admin.go adminUserDelete); an unknown user is 404 with
  `{"code": "user_not_found", "message": "User not found"}` under API version
  2024-01-01 (the `X-Supabase-Api-Version` header the client sends and reads).

The fakes delete the rows the real services delete (storage.objects, auth.users)
in the test database, as supabase_storage_admin / supabase_auth_admin."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx
import respx

from tests.apphelpers import SUPABASE_URL

API_VERSION = {"X-Supabase-Api-Version": "2024-01-01"}


@dataclass
class FakeSupabase:
    db: object
    storage_failures: int = 0  # answer this many storage requests with a 500 first
    auth_failures: int = 0
    storage_calls: list[tuple[str, list[str]]] = field(default_factory=list)
    auth_calls: list[str] = field(default_factory=list)

    def remove(self, request: httpx.Request, bucket: str) -> httpx.Response:
        paths = json.loads(request.content)["prefixes"]
        self.storage_calls.append((bucket, paths))
        if self.storage_failures:
            self.storage_failures -= 1
            return httpx.Response(500, json={"statusCode": "500", "error": "internal",
                                             "message": "Internal Server Error"})
        admin = self.db.admin  # type: ignore[attr-defined]
        with admin.transaction():
            admin.execute("set local role supabase_storage_admin")
            rows = admin.execute(
                "delete from storage.objects where bucket_id = %s and name = any(%s) "
                "returning bucket_id, name, owner, owner_id, version, id, updated_at, created_at, last_accessed_at, "
                "metadata, user_metadata", (bucket, paths)).fetchall()
        columns = ["bucket_id", "name", "owner", "owner_id", "version", "id", "updated_at", "created_at",
                   "last_accessed_at", "metadata", "user_metadata"]
        return httpx.Response(200, json=[{c: (str(v) if c in ("id", "owner") or c.endswith("_at") else v)
                                          for c, v in zip(columns, row, strict=True)} for row in rows])

    def delete_user(self, request: httpx.Request, user_id: str) -> httpx.Response:
        self.auth_calls.append(user_id)
        if self.auth_failures:
            self.auth_failures -= 1
            return httpx.Response(500, json={"code": "unexpected_failure", "message": "Database error deleting user"},
                                  headers=API_VERSION)
        admin = self.db.admin  # type: ignore[attr-defined]
        with admin.transaction():
            admin.execute("set local role supabase_auth_admin")
            deleted = admin.execute("delete from auth.users where id = %s returning id", (user_id,)).fetchall()
        if not deleted:
            return httpx.Response(404, json={"code": "user_not_found", "message": "User not found"}, headers=API_VERSION)
        return httpx.Response(200, json={}, headers=API_VERSION)

    def install(self, router: respx.MockRouter) -> None:
        router.delete(url__regex=rf"^{SUPABASE_URL}/storage/v1/object/(?P<bucket>[a-z]+)$").mock(side_effect=self.remove)
        router.delete(url__regex=rf"^{SUPABASE_URL}/auth/v1/admin/users/(?P<user_id>[0-9a-f-]+)$").mock(
            side_effect=self.delete_user)
