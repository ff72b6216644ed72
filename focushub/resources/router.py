"""Resources: ``/api/v1/resources``.

Create with ``multipart/form-data``: the ``file`` and the fields ``title``,
``description``, ``category``, ``tags`` (repeated, or comma-separated) and
``is_public``. Change with JSON (``PATCH``). The file is served at
``/api/v1/resources/{id}/file``, its preview image at ``…/preview``.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import File, Form, Query, Request, Response, UploadFile, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from focushub.content.fields import split_tags
from focushub.core.deps import CallerDep, RuntimeDep, UserDep, client_address
from focushub.core.errors import ErrorRead
from focushub.core.pagination import Page
from focushub.core.routing import Router
from focushub.files.responses import file_response, preview_response
from focushub.resources import service
from focushub.resources.schemas import (
    ResourceFields,
    ResourceListParams,
    ResourceRead,
    ResourceUpdate,
)

router = Router(prefix="/api/v1/resources", tags=["resources"])

# A status given here replaces the app's documentation of it, so each names the error body.
_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorRead,
          "description": "File over the size limit, or over the uploader's storage quota"},
    415: {"model": ErrorRead,
          "description": "A type not accepted, or content that disagrees with the file name"},
    422: {"model": ErrorRead,
          "description": "Invalid fields, empty file, bad file name, corrupt image or archive, "
                         "bomb-like archive, image over 64 megapixels"},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ResourceRead,
             responses=_ERRORS)
async def create_resource(
    caller: UserDep,
    rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="The file (PDF, image, video, text or code, "
                                                 "office document, zip)")],
    title: Annotated[str, Form(max_length=1000)],
    description: Annotated[str | None, Form(max_length=20_000)] = None,
    category: Annotated[str | None, Form(max_length=1000)] = None,
    tags: Annotated[list[str] | None, Form()] = None,
    is_public: Annotated[bool, Form()] = True,
) -> ResourceRead:
    """Upload a file as a resource. An image (PNG, JPEG, GIF, WebP) is stored without the
    metadata that may identify its author: EXIF (GPS location, camera serial, owner's
    name) and XMP blocks, comments and text chunks, and anything after the image's end
    go; its pixels, colour profile and EXIF orientation are kept as uploaded. The file's
    ``size`` and ``sha256`` are those of the stored bytes, and they count towards the
    quota."""
    try:
        fields = ResourceFields(title=title, description=description, category=category,
                                tags=split_tags(*(tags or [])), is_public=is_public)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return await service.create_resource(rt, caller, fields, file.file, file.filename)


@router.get("", response_model=Page[ResourceRead])
async def list_resources(
    params: Annotated[ResourceListParams, Query()], caller: CallerDep, rt: RuntimeDep
) -> Page[ResourceRead]:
    return await service.list_resources(rt, caller, params)


@router.get("/{resource_id}", response_model=ResourceRead)
async def read_resource(resource_id: UUID, caller: CallerDep, rt: RuntimeDep) -> ResourceRead:
    return await service.get_resource(rt, caller, resource_id)


@router.patch("/{resource_id}", response_model=ResourceRead)
async def update_resource(
    resource_id: UUID, data: ResourceUpdate, caller: UserDep, rt: RuntimeDep
) -> ResourceRead:
    return await service.update_resource(rt, caller, resource_id, data)


@router.delete("/{resource_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_resource(resource_id: UUID, caller: UserDep, rt: RuntimeDep) -> Response:
    await service.delete_resource(rt, caller, resource_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{resource_id}/file", response_class=Response,
            responses={200: {"description": "The file"}, 206: {"description": "A byte range"},
                       304: {"description": "Not modified (If-None-Match)"},
                       416: {"model": ErrorRead, "description": "Range not satisfiable"}})
async def download(resource_id: UUID, caller: CallerDep, rt: RuntimeDep,
                   request: Request) -> Response:
    """Counts a download once per user per day."""
    stored, inline = await service.open_file(
        rt, caller, resource_id,
        client_address=client_address(request),
        count="if-none-match" not in request.headers)
    return await file_response(
        rt.storage, stored.storage_key, headers=request.headers,
        content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
        modified_at=stored.created_at, name=stored.file_name, inline=inline)


@router.get("/{resource_id}/preview", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": "Preview image"}})
async def preview(resource_id: UUID, caller: CallerDep, rt: RuntimeDep,
                  request: Request) -> Response:
    stored = await service.open_preview(rt, caller, resource_id)
    assert stored.preview_key is not None
    return await preview_response(rt.storage, stored.preview_key, headers=request.headers,
                                  sha256=stored.sha256)
