"""Settings: profile, avatar, privacy, notifications, blocks, the account."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.background import BackgroundTask

from focushub.accounts import service as accounts_service
from focushub.accounts.schemas import AccountDelete, EmailChange, PasswordChange
from focushub.auth import service as auth_service
from focushub.core.deps import client_address
from focushub.core.errors import AppError, as_app_error
from focushub.core.routing import Router
from focushub.core.runtime import Runtime
from focushub.files.responses import file_response
from focushub.notifications import service as notifications_service
from focushub.notifications.schemas import (
    NotificationPreferencesUpdate,
)
from focushub.safety import service as safety_service
from focushub.users import service as users_service
from focushub.users.schemas import PrivacyUpdate, UserUpdate
from focushub.web import session
from focushub.web.kit import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    PageDep,
    RtDep,
    Text,
    guard,
    is_htmx,
    need_login,
    redirect,
    render,
)
from focushub.web.session import PageSession

router = Router(include_in_schema=False)


@router.get("/me")
async def my_profile(request: Request, page: PageDep, rt: RtDep) -> Response:
    """The header's "Profile": one's own public profile, under one's current username."""
    if (gone := need_login(request, page)) is not None:
        return gone
    me = await users_service.get_me(rt, page.caller)
    return redirect(request, page, f"/u/{quote(me.username, safe='')}")


@router.get("/settings/profile", response_class=HTMLResponse)
async def profile_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    if (gone := need_login(request, page)) is not None:
        return gone
    me = await users_service.get_me(rt, page.caller)
    return render(request, page, "settings_profile.html", account=me)


# What a refused profile field is said as, next to it (the rules of users/schemas.UserUpdate).
PROFILE_FIELD_ERRORS = {"full_name": "Enter your name (1 to 255 characters).",
                        "bio": "Keep this to 2,000 characters."}


@router.post("/settings/profile", response_class=HTMLResponse)
async def save_profile(request: Request, page: PageDep, rt: RtDep,
                       full_name: Text = "",
                       bio: Text = "",
                       csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = UserUpdate(full_name=full_name, bio=bio or None)
    except ValidationError as exc:
        # Said next to each refused field, with what was typed kept.
        fields = {e["loc"][0] for e in exc.errors() if e["loc"]}
        me = await users_service.get_me(rt, page.caller)
        return render(request, page, "settings_profile.html", status=422, account=me,
                      form={"full_name": full_name, "bio": bio},
                      field_errors={name: PROFILE_FIELD_ERRORS[name] for name in fields
                                    if name in PROFILE_FIELD_ERRORS})
    await users_service.update_me(rt, page.caller, data)
    return redirect(request, page, "/settings/profile?saved=1")


@router.post("/settings/avatar", response_class=HTMLResponse)
async def save_avatar(request: Request, page: PageDep, rt: RtDep,
                      file: Annotated[UploadFile, File()],
                      csrf_token: Annotated[str, Form()] = "") -> Response:
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        await users_service.set_avatar(rt, page.caller, file.file, file.filename)
    except AppError as exc:
        me = await users_service.get_me(rt, page.caller)
        return render(request, page, "settings_profile.html", status=exc.status_code,
                      account=me, errors=[exc.message])
    return redirect(request, page, "/settings/profile?saved=1")


@router.get("/settings/privacy", response_class=HTMLResponse)
async def privacy_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    if (gone := need_login(request, page)) is not None:
        return gone
    privacy = await users_service.get_privacy(rt, page.caller)
    return render(request, page, "settings_privacy.html", privacy=privacy)


@router.post("/settings/privacy", response_class=HTMLResponse)
async def save_privacy(request: Request, page: PageDep, rt: RtDep,
                       profile_visibility: Annotated[str, Form(max_length=20)] = "",
                       dm_from: Annotated[str, Form(max_length=20)] = "",
                       show_email: Annotated[bool, Form()] = False,
                       csrf_token: Annotated[str, Form()] = "") -> Response:
    """All three settings at once (an unticked box is not sent: the email is hidden)."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = PrivacyUpdate(profile_visibility=profile_visibility, dm_from=dm_from,
                             show_email=show_email)
    except ValidationError:
        privacy = await users_service.get_privacy(rt, page.caller)
        return render(request, page, "settings_privacy.html", status=422, privacy=privacy,
                      error="Choose one of the offered options for each setting")
    await users_service.update_privacy(rt, page.caller, data)
    return redirect(request, page, "/settings/privacy?saved=1")


NOTIFICATION_KINDS = (
    ("like", "likes my post or comment, or votes up my question or answer"),
    ("comment", "comments on my post or replies to my comment"),
    ("answer", "answers my question, or accepts my answer"),
    ("mention", "mentions me"),
    ("follow", "starts following me"),
    ("system", "moderators or Focus Hub itself have something to tell me"),
)


@router.get("/settings/notifications", response_class=HTMLResponse)
async def notification_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    if (gone := need_login(request, page)) is not None:
        return gone
    prefs = await notifications_service.get_preferences(rt, page.caller)
    return render(request, page, "settings_notifications.html", prefs=prefs.model_dump(),
                  kinds=NOTIFICATION_KINDS)


@router.post("/settings/notifications", response_class=HTMLResponse)
async def save_notification_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    """Every kind at once: a ticked box is sent ("true"), an unticked one is not (off)."""
    form = await request.form()
    if (gone := guard(request, page, str(form.get("csrf_token", "")))) is not None:
        return gone
    data = NotificationPreferencesUpdate(**{name: form.get(name) == "true"
                                            for name, _ in NOTIFICATION_KINDS})
    await notifications_service.update_preferences(rt, page.caller, data)
    return redirect(request, page, "/settings/notifications?saved=1")


@router.get("/settings/blocks", response_class=HTMLResponse)
async def blocks_settings(request: Request, page: PageDep, rt: RtDep,
                          blocked: Annotated[str, Query(max_length=50)] = "",
                          removed: Annotated[str, Query(pattern="^(block|mute)$")] = "",
                          name: Annotated[str, Query(max_length=50)] = "") -> Response:
    """Who the caller blocked and muted, each with the way back; ``blocked`` and ``removed``
    (with ``name``) say what was just done."""
    if (gone := need_login(request, page)) is not None:
        return gone
    return await _blocks_view(request, page, rt, "settings_blocks.html", blocked=blocked,
                              removed=removed or None, removed_name=name)


async def _blocks_view(request: Request, page: PageSession, rt: Runtime, template: str,
                       **context: Any) -> Response:
    blocks = await safety_service.listing(rt, page.caller, "block")
    mutes = await safety_service.listing(rt, page.caller, "mute")
    return render(request, page, template, blocks=blocks, mutes=mutes, **context)


@router.post("/settings/blocks/{relation}/{user_id}/remove", response_class=HTMLResponse)
async def unblock(request: Request, page: PageDep, rt: RtDep,
                  relation: Annotated[str, Path(pattern="^(block|mute)$")], user_id: UUID,
                  username: Annotated[str, Form(max_length=50)] = "",
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    """Unblock or unmute; with htmx the lists come back in place, saying what was done."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await safety_service.remove(rt, page.caller, relation, user_id)  # type: ignore[arg-type]
    if is_htmx(request):
        return await _blocks_view(request, page, rt, "_blocks_lists.html", removed=relation,
                                  removed_name=username)
    return redirect(request, page, f"/settings/blocks?removed={relation}"
                                   f"&name={quote(username, safe='')}")


async def _account_view(request: Request, page: PageSession, rt: Runtime, status: int = 200,
                        **context: Any) -> Response:
    me = await users_service.get_me(rt, page.caller)
    export = await accounts_service.latest_export(rt, page.caller)
    small = await accounts_service.export_is_small(rt, page.caller)
    hours = rt.settings.export_expiry_hours
    keep = f"{hours // 24} days" if hours % 24 == 0 else f"{hours} hours"
    return render(request, page, "settings_account.html", status=status, account=me,
                  export=export, export_small=small, export_keep=keep, **context)


@router.get("/settings/account", response_class=HTMLResponse)
async def account_settings(request: Request, page: PageDep, rt: RtDep) -> Response:
    if (gone := need_login(request, page)) is not None:
        return gone
    return await _account_view(request, page, rt)


def _refused(exc: Exception) -> AppError:
    """The error of a credential form to say on the page (wrong password, taken email…);
    anything else (too many tries: 429, our own faults) goes on to the error pages."""
    error = as_app_error(exc)
    if error is None or error.status_code >= 500 or error.status_code == 429:
        raise exc
    return error


@router.post("/settings/account/email", response_class=HTMLResponse)
async def change_email(request: Request, page: PageDep, rt: RtDep,
                       email: Annotated[str, Form(max_length=320)] = "",
                       password: Annotated[str, Form(max_length=1000)] = "",
                       csrf_token: Annotated[str, Form()] = "") -> Response:
    """A new email, with the current password; the new address is sent a verification mail."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        data = EmailChange(email=email.strip(), password=password)
    except ValidationError as exc:
        fields = {e["loc"][0] for e in exc.errors() if e["loc"]}
        errors = (["Enter a valid email address"] if "email" in fields else []) + \
            (["Enter your current password"] if "password" in fields else [])
        return await _account_view(request, page, rt, status=422, email_errors=errors,
                                   new_email=email)
    try:
        await auth_service.change_email(rt, page.caller, data.password, str(data.email))
    except (AppError, DBAPIError) as exc:
        error = _refused(exc)
        message = ("Another account already uses this email" if error.code == "email_taken"
                   else error.message)
        return await _account_view(request, page, rt, status=error.status_code,
                                   email_errors=[message], new_email=email)
    return redirect(request, page, "/settings/account?email=changed")


@router.post("/settings/account/verify-email", response_class=HTMLResponse)
async def resend_verification(request: Request, page: PageDep, rt: RtDep,
                              csrf_token: Annotated[str, Form()] = "") -> Response:
    """A new confirmation mail to the account's address: the sign-up's link expires
    (``FOCUSHUB_EMAIL_TOKEN_TTL_SECONDS``), and the address stays unconfirmed until one is
    followed. Under the mail limits of the API's ``/auth/verify-email/request``."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    me = await users_service.get_me(rt, page.caller)
    await auth_service.request_email_token(rt, me.email, "verify_email",
                                          client=client_address(request))
    return redirect(request, page, "/settings/account?verify=sent")


@router.post("/settings/account/password", response_class=HTMLResponse)
async def change_password(request: Request, page: PageDep, rt: RtDep,
                          current_password: Annotated[str, Form(max_length=1000)] = "",
                          new_password: Annotated[str, Form(max_length=1000)] = "",
                          confirm_password: Annotated[str, Form(max_length=1000)] = "",
                          csrf_token: Annotated[str, Form()] = "") -> Response:
    """A new password, with the current one. Every other session of the account ends; this
    one goes on, since its access token names the refresh token family in its cookie."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    errors: list[str] = []
    try:
        data = PasswordChange(current_password=current_password, new_password=new_password)
    except ValidationError as exc:
        fields = {e["loc"][0] for e in exc.errors() if e["loc"]}
        if "current_password" in fields:
            errors.append("Enter your current password")
        if "new_password" in fields:
            errors.append(f"The new password needs {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    if new_password != confirm_password:
        errors.append("The new password and its confirmation are not the same")
    if errors:
        return await _account_view(request, page, rt, status=422, password_errors=errors)
    try:
        await auth_service.change_password(rt, page.caller, data.current_password,
                                           data.new_password)
    except (AppError, DBAPIError) as exc:
        error = _refused(exc)
        return await _account_view(request, page, rt, status=error.status_code,
                                   password_errors=[error.message])
    return redirect(request, page, "/settings/account?password=changed")


@router.get("/settings/account/export")
async def export_account(request: Request, page: PageDep, rt: RtDep) -> Response:
    """Download everything the account holds (the API's export, as a zip). The temporary
    file is removed once sent, or when the download is abandoned. A large account is sent
    to the account page, whose form has the zip made by a job."""
    if (gone := need_login(request, page)) is not None:
        return gone
    if not await accounts_service.export_is_small(rt, page.caller):
        return redirect(request, page, "/settings/account#export-heading")
    path, filename = await accounts_service.export_account(rt, page.caller)
    response = FileResponse(path, media_type="application/zip", filename=filename,
                            headers={"Cache-Control": "no-store"},
                            background=BackgroundTask(path.unlink, missing_ok=True))
    session.write_cookies(response, request, page)
    return response


@router.post("/settings/account/export", response_class=HTMLResponse)
async def request_export(request: Request, page: PageDep, rt: RtDep,
                         csrf_token: Annotated[str, Form()] = "") -> Response:
    """Have the export made by a job (the API's ``POST /users/me/export``); the account page
    then shows its state, and its link once ready."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    await accounts_service.request_export(rt, page.caller)
    return redirect(request, page, "/settings/account?export=requested#export-heading")


@router.get("/settings/account/exports/{export_id}/download")
async def download_export(request: Request, page: PageDep, rt: RtDep,
                          export_id: UUID) -> Response:
    """The zip of a ready export of the caller's until it expires (404 for anyone else)."""
    if (gone := need_login(request, page)) is not None:
        return gone
    stored = await accounts_service.open_export(rt, page.caller, export_id)
    response = await file_response(
        rt.storage, stored["storage_key"], headers=request.headers,
        content_type="application/zip", size=stored["size"], sha256=stored["sha256"],
        modified_at=stored["finished_at"], name=stored["file_name"], inline=False)
    response.headers["Cache-Control"] = "private, no-store"
    session.write_cookies(response, request, page)
    return response


@router.post("/settings/account/delete", response_class=HTMLResponse)
async def delete_account(request: Request, page: PageDep, rt: RtDep,
                         password: Annotated[str, Form(max_length=1000)] = "",
                         csrf_token: Annotated[str, Form()] = "") -> Response:
    """Delete the account after checking the password; then signed out, on the front page."""
    if (gone := guard(request, page, csrf_token)) is not None:
        return gone
    try:
        await accounts_service.delete_account(rt, page.caller, AccountDelete(password=password))
    except ValidationError:
        error, status = "The password is wrong", 403
    except (AppError, DBAPIError) as exc:
        app_error = as_app_error(exc)
        if app_error is None or app_error.status_code >= 500 or app_error.status_code == 429:
            raise
        error, status = app_error.message, app_error.status_code
    else:
        page.clear = True
        page.set_cookies.pop(session.ACCESS, None)
        page.set_cookies.pop(session.REFRESH, None)
        return redirect(request, page, "/?deleted=1")
    return await _account_view(request, page, rt, status=status, delete_error=error)
