"""The signed-in user's account: deletion (confirmed) and a data export. Each
verifies the token, lets one SQL function decide, and answers."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from functions.deps import PoolDep, UserDep, authenticated_json, json_body_doc, one_row
from openparty import queries

log = logging.getLogger("openparty.account")
router = APIRouter(tags=["account"])


class DeleteAccountRequest(BaseModel):
    confirm: Literal["DELETE"]


class DeletionResponse(BaseModel):
    user_id: UUID
    status: Literal["deleting", "deleted"]
    requested_at: datetime
    completed_at: datetime | None


DeleteBody = Annotated[DeleteAccountRequest, Depends(authenticated_json(DeleteAccountRequest))]


@router.delete("/account", response_model=DeletionResponse, status_code=status.HTTP_202_ACCEPTED,
               openapi_extra=json_body_doc(DeleteAccountRequest))
async def delete_account(body: DeleteBody, user: UserDep, pool: PoolDep) -> DeletionResponse:
    """Delete your account, confirmed with {"confirm": "DELETE"}. Your data is
    gone from the app at once; your files and sign-in are removed by a job
    shortly after. Asking again returns the same deletion."""
    job = await one_row(pool, queries.REQUEST_ACCOUNT_DELETION, {"user_id": user.id})
    log.info("account.deletion_requested user=%s", user.id)
    return DeletionResponse(user_id=job["user_id"], status="deleted" if job["completed_at"] else "deleting",
                            requested_at=job["requested_at"], completed_at=job["completed_at"])


@router.get("/account/export")
async def export_account(user: UserDep, pool: PoolDep) -> JSONResponse:
    """Everything OpenParty holds about you, as one JSON document (a download)."""
    export: dict[str, Any] = (await one_row(pool, queries.EXPORT_ACCOUNT, {"user_id": user.id}))["export"]
    log.info("account.exported user=%s", user.id)
    return JSONResponse(export, headers={
        "Content-Disposition": f'attachment; filename="openparty-export-{user.id}.json"',
        "Cache-Control": "no-store"})
