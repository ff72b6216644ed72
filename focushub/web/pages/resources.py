"""Shared learning files: the list, uploading, a resource's page, its file and preview."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Depends, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from focushub.content.fields import split_tags
from focushub.core.deps import client_address
from focushub.core.errors import AppError, Forbidden
from focushub.core.routing import Router
from focushub.files.responses import file_response, preview_response
from focushub.resources import service as resources_service
from focushub.resources.schemas import ResourceFields, ResourceListParams, ResourceUpdate
from focushub.web import markdown, session
from focushub.web.kit import (
    PageDep,
    RtDep,
    Text,
    field_errors,
    guard,
    need_login,
    redirect,
    render,
)

router = Router(include_in_schema=False)


async def _resource_filters(request: Request) -> ResourceListParams:
    """The resource list's query. The filter form sends every field, its "Any" choice as an
    empty value: an empty field is no filter (the API's schema would refuse it)."""
    try:
        return ResourceListParams.model_validate(
            {name: value for name, value in request.query_params.items() if value})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


@router.get("/resources", response_class=HTMLResponse)
async def resources_page(request: Request, page: PageDep, rt: RtDep,
                         params: Annotated[ResourceListParams, Depends(_resource_filters)]
                         ) -> Response:
    """Public resources, or with ``mine=true`` the caller's own (private ones too), a page at
    a time: the "Load more" link carries the filters and the next cursor."""
    if params.mine and not page.signed_in:
        return redirect(request, page, "/login?next=%2Fresources%3Fmine%3Dtrue")
    result = await resources_service.list_resources(rt, page.caller, params)
    more = None
    if result.next_cursor:
        query = {name: ("true" if value is True else value) for name, value in
                 params.model_dump(exclude={"cursor"}, exclude_defaults=True).items()}
        more = "/resources?" + urlencode({**query, "cursor": result.next_cursor})
    return render(request, page, "resources.html", items=result.items,
                  next_cursor=result.next_cursor, more=more, params=params)


@router.get("/resources/new", response_class=HTMLResponse)
async def upload_page(request: Request, page: PageDep) -> Response:
    return need_login(request, page) or render(request, page, "resource_new.html", form={})


@router.post("/resources/new", response_class=HTMLResponse)
async def upload(request: Request, page: PageDep, rt: RtDep,
                 file: Annotated[UploadFile, File()],
                 title: Text = "",
                 description: Text = "",
                 tags: Text = "",
                 is_public: Annotated[bool, Form()] = False,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    form = {"title": title, "description": description, "tags": tags, "is_public": is_public}
    try:
        fields = ResourceFields(title=title, description=description or None, is_public=is_public,
                                tags=split_tags(tags))
        resource = await resources_service.create_resource(rt, page.caller, fields, file.file,
                                                           file.filename)
    except ValidationError as exc:
        return render(request, page, "resource_new.html", status=422, form=form,
                      field_errors=field_errors(exc))
    except AppError as exc:
        return render(request, page, "resource_new.html", status=exc.status_code,
                      errors=[exc.message], form=form)
    return redirect(request, page, f"/resources/{resource.id}")


@router.get("/resources/{resource_id}", response_class=HTMLResponse)
async def resource_page(request: Request, page: PageDep, rt: RtDep, resource_id: UUID) -> Response:
    resource = await resources_service.get_resource(rt, page.caller, resource_id)
    await markdown.prepare([resource.description])
    return render(request, page, "resource.html", r=resource)


def _resource_form(resource: Any) -> dict[str, Any]:
    return {"title": resource.title, "description": resource.description or "",
            "tags": ", ".join(resource.tags), "is_public": resource.is_public}


@router.get("/resources/{resource_id}/edit", response_class=HTMLResponse)
async def edit_resource_page(request: Request, page: PageDep, rt: RtDep,
                             resource_id: UUID) -> Response:
    """The owner's form to change a resource's words and visibility, and to delete it
    (403 for anyone else, said before they fill it in; the database decides on saving)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    resource = await resources_service.get_resource(rt, page.caller, resource_id)
    if resource.author.id != page.caller.user_id:
        raise Forbidden("Only the person who uploaded a resource changes it",
                        code="not_resource_owner")
    return render(request, page, "resource_edit.html", r=resource, form=_resource_form(resource))


@router.post("/resources/{resource_id}/edit", response_class=HTMLResponse)
async def edit_resource(request: Request, page: PageDep, rt: RtDep, resource_id: UUID,
                        title: Text = "",
                        description: Text = "",
                        tags: Text = "",
                        is_public: Annotated[bool, Form()] = False,
                        csrf_token: Annotated[str, Form()] = "") -> Response:
    """Save the form (every field at once: an unticked box is not sent, so private)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    form = {"title": title, "description": description, "tags": tags, "is_public": is_public}
    try:
        data = ResourceUpdate(title=title, description=description or None,
                              tags=split_tags(tags), is_public=is_public)
    except ValidationError as exc:
        resource = await resources_service.get_resource(rt, page.caller, resource_id)
        return render(request, page, "resource_edit.html", status=422, r=resource, form=form,
                      field_errors=field_errors(exc))
    await resources_service.update_resource(rt, page.caller, resource_id, data)
    return redirect(request, page, f"/resources/{resource_id}?saved=1")


@router.post("/resources/{resource_id}/delete")
async def delete_resource(request: Request, page: PageDep, rt: RtDep, resource_id: UUID,
                          csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete one's resource and its file, then to one's list, which says so."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await resources_service.delete_resource(rt, page.caller, resource_id)
    return redirect(request, page, "/resources?mine=true&deleted=1")


@router.get("/resources/{resource_id}/file")
async def resource_file(request: Request, page: PageDep, rt: RtDep, resource_id: UUID) -> Response:
    """The resource's file as the page's caller (the session cookie; the API's
    ``/api/v1/resources/{id}/file`` wants a bearer token, so an owner's private file was a
    404 from the page): the same service call, download counting and ``file_response``
    (validators, ranges, nosniff, a sandboxing policy) as the API."""
    stored, show_inline = await resources_service.open_file(
        rt, page.caller, resource_id, client_address=client_address(request),
        count="if-none-match" not in request.headers)
    response = await file_response(
        rt.storage, stored.storage_key, headers=request.headers,
        content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
        modified_at=stored.created_at, name=stored.file_name, inline=show_inline)
    session.write_cookies(response, request, page)
    return response


@router.get("/resources/{resource_id}/preview")
async def resource_preview(request: Request, page: PageDep, rt: RtDep,
                           resource_id: UUID) -> Response:
    """The resource's preview image as the page's caller, served as the API serves it."""
    stored = await resources_service.open_preview(rt, page.caller, resource_id)
    assert stored.preview_key is not None
    response = await preview_response(rt.storage, stored.preview_key, headers=request.headers,
                                      sha256=stored.sha256)
    session.write_cookies(response, request, page)
    return response


