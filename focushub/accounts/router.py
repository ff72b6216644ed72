"""``/api/v1/users/me/export`` and ``DELETE /api/v1/users/me``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from focushub.accounts import service
from focushub.accounts.schemas import AccountDelete, EmailChange, PasswordChange
from focushub.auth import service as auth_service
from focushub.core.deps import RuntimeDep, UserDep

router = APIRouter(prefix="/api/v1/users/me", tags=["users"])


@router.get("/export", response_class=FileResponse,
            responses={200: {"content": {"application/zip": {}},
                             "description": "A zip of JSON documents and your uploads"}})
async def export_account(caller: UserDep, rt: RuntimeDep) -> FileResponse:
    """Everything your account holds: profile, posts, comments, questions, answers,
    resources, votes, follows, chat rooms and your messages, notifications, reports,
    and your uploaded files."""
    path, filename = await service.export_account(rt, caller)
    return FileResponse(path, media_type="application/zip", filename=filename,
                        headers={"Cache-Control": "no-store"},
                        background=BackgroundTask(path.unlink, missing_ok=True))


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_account(data: AccountDelete, caller: UserDep, rt: RuntimeDep) -> Response:
    """Delete your account and what it made (docs/schema.md, 0022). Asks for your password."""
    await service.delete_account(rt, caller, data)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/password", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def change_password(data: PasswordChange, caller: UserDep, rt: RuntimeDep) -> Response:
    """With the current password; your other sessions end, this one goes on."""
    await auth_service.change_password(rt, caller, data.current_password, data.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/email", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def change_email(data: EmailChange, caller: UserDep, rt: RuntimeDep) -> Response:
    """With the current password; the new address gets a verification mail and stays
    unconfirmed until it is followed. 409 ``email_taken``."""
    await auth_service.change_email(rt, caller, data.password, str(data.email))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
