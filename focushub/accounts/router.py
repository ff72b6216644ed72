"""``/api/v1/users/me/export``, ``/api/v1/users/me/exports/{id}`` and ``DELETE /api/v1/users/me``."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask

from focushub.accounts import service
from focushub.accounts.schemas import AccountDelete, AccountExportRead, EmailChange, PasswordChange
from focushub.auth import service as auth_service
from focushub.core.deps import RuntimeDep, UserDep
from focushub.core.errors import ErrorRead
from focushub.core.routing import Router
from focushub.files.responses import file_response

router = Router(prefix="/api/v1/users/me", tags=["users"])

_EXPORTS = "/api/v1/users/me/exports"


def _accepted(export: AccountExportRead) -> JSONResponse:
    return JSONResponse(export.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"{_EXPORTS}/{export.id}",
                                 "Cache-Control": "no-store"})


@router.get("/export", response_class=FileResponse,
            responses={200: {"content": {"application/zip": {}},
                             "description": "A zip of JSON documents and your uploads"},
                       202: {"model": AccountExportRead,
                             "description": "A large account: the export job, whose status "
                                            "URL is in Location"}})
async def export_account(caller: UserDep, rt: RuntimeDep) -> Response:
    """Everything your account holds: profile, posts, comments, questions, answers,
    resources, votes, follows, chat rooms and your messages, notifications, reports,
    and your uploaded files. A large account (over ``FOCUSHUB_EXPORT_SYNC_MAX_ROWS`` rows
    or ``FOCUSHUB_EXPORT_SYNC_MAX_BYTES`` of uploads) gets 202 instead, as from
    ``POST``: the zip is made by a job. At most ``FOCUSHUB_RATE_EXPORT`` (5 an hour) zips
    are made within the request per account; beyond it, 429 with ``Retry-After``."""
    result = await service.export_now_or_later(rt, caller)
    if isinstance(result, AccountExportRead):
        return _accepted(result)
    path, filename = result
    return FileResponse(path, media_type="application/zip", filename=filename,
                        headers={"Cache-Control": "no-store"},
                        background=BackgroundTask(path.unlink, missing_ok=True))


@router.post("/export", status_code=status.HTTP_202_ACCEPTED, response_model=AccountExportRead,
             responses={202: {"description": "The export job (new, or the one already queued "
                                             "or running); its status URL is in Location"}})
async def request_export(caller: UserDep, rt: RuntimeDep) -> Response:
    """Have the export made by a job, whatever the account's size. Poll
    ``GET /exports/{id}``; when it is ``ready`` you also get a notification, and its
    ``download_url`` serves the zip until ``expires_at``. One export at a time: asking
    while one is queued or running returns that one; a new one replaces the finished one."""
    return _accepted(await service.request_export(rt, caller))


@router.get("/exports/{export_id}", response_model=AccountExportRead,
            responses={404: {"model": ErrorRead, "description": "No such export of yours"}})
async def get_export(export_id: UUID, caller: UserDep, rt: RuntimeDep) -> AccountExportRead:
    """An export's status: ``queued``, ``running``, ``ready`` (with ``download_url``) or
    ``failed``. Gone (404) once expired."""
    return await service.get_export(rt, caller, export_id)


@router.get("/exports/{export_id}/download", response_class=Response,
            responses={200: {"content": {"application/zip": {}}, "description": "The zip"},
                       206: {"description": "A byte range"},
                       304: {"description": "Not modified (If-None-Match)"},
                       404: {"model": ErrorRead,
                             "description": "No ready export of yours, or it has expired"},
                       416: {"model": ErrorRead, "description": "Range not satisfiable"}})
async def download_export(export_id: UUID, caller: UserDep, rt: RuntimeDep,
                          request: Request) -> Response:
    """The zip of a ready export, until it expires (resumable with ``Range``)."""
    stored = await service.open_export(rt, caller, export_id)
    response = await file_response(
        rt.storage, stored["storage_key"], headers=request.headers,
        content_type="application/zip", size=stored["size"], sha256=stored["sha256"],
        modified_at=stored["finished_at"], name=stored["file_name"], inline=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response


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
