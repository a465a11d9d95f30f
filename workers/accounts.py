"""Account deletion, the steps after the database one: the user's files through
the Storage API, then the auth user through the Auth admin API. Each step is
recorded when done; a failure is recorded with the error and retried later
with backoff, and the job resumes at the step that failed."""

from __future__ import annotations

import logging
from collections import defaultdict
from uuid import UUID

from openparty import queries
from openparty.db import Connection, fetch_one
from openparty.supabase_admin import SupabaseAdmin, SupabaseAdminError
from workers.context import JobContext
from workers.maintenance import exclusive

log = logging.getLogger("openparty.accounts")
ACCOUNT_DELETION_LOCK = 7_246_513_103
LIST_BATCH = 1000
MAX_ROUNDS = 20  # listing batches per job and run: a user with more files continues next run


async def _record(conn: Connection, user_id: UUID, step: str, error: str | None = None, files: int = 0) -> None:
    await fetch_one(conn, queries.RECORD_ACCOUNT_DELETION_STEP,
                    {"user_id": user_id, "step": step, "error": error, "files": files})


async def _remove_files(conn: Connection, admin: SupabaseAdmin, user_id: UUID) -> int | None:
    """Remove every file of the user; the count, or None if files remain for the next run."""
    removed = 0
    for _ in range(MAX_ROUNDS):
        rows = await (await conn.execute(queries.ACCOUNT_STORAGE_OBJECTS,
                                         {"user_id": user_id, "limit": LIST_BATCH})).fetchall()
        if not rows:
            return removed
        by_bucket: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            by_bucket[row["bucket_id"]].append(row["name"])
        before = removed
        for bucket, paths in by_bucket.items():
            removed += await admin.remove_files(bucket, paths)
        if removed == before:
            raise SupabaseAdminError("storage removed nothing but still lists the files")
    return None


async def delete_accounts(ctx: JobContext) -> int:
    if ctx.settings.supabase_service_role_key is None or ctx.settings.supabase_url is None:
        return 0  # the database step is done at request time; these steps wait for the service key
    async with exclusive(ctx, ACCOUNT_DELETION_LOCK) as conn:
        if conn is None:
            return 0
        jobs = await (await conn.execute(queries.ACCOUNT_DELETIONS_DUE,
                                         {"limit": ctx.settings.account_deletion_batch_size})).fetchall()
        if not jobs:
            return 0
        if ctx.supabase is None:
            ctx.supabase = await SupabaseAdmin.connect(ctx.settings)
        done = 0
        for job in jobs:
            user_id = job["user_id"]
            step = "storage"
            try:
                if job["storage_removed_at"] is None:
                    files = await _remove_files(conn, ctx.supabase, user_id)
                    if files is None:
                        log.info("account.deletion_storage_continues user=%s", user_id)
                        continue
                    await _record(conn, user_id, "storage", files=files)
                step = "auth"
                existed = await ctx.supabase.delete_user(user_id)
                await _record(conn, user_id, "auth")
                log.info("account.deleted user=%s auth_user_existed=%s", user_id, existed)
                done += 1
            except SupabaseAdminError as exc:
                log.warning("account.deletion_step_failed user=%s step=%s error=%s", user_id, step, exc)
                await _record(conn, user_id, step, error=str(exc))
        return done
