"""Signing up, logging in and out, confirming an email, resetting a password."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from focushub.auth import service as auth_service
from focushub.auth.schemas import EmailCreate, LoginCreate, PasswordResetConfirm, SignupCreate
from focushub.core.deps import client_address
from focushub.core.errors import AppError, as_app_error
from focushub.core.routing import Router
from focushub.users import service as users_service
from focushub.web import session
from focushub.web.kit import (
    PageDep,
    RtDep,
    Text,
    carried,
    field_errors,
    in_words,
    redirect,
    render,
    resend_page,
    safe_next,
    with_retry_after,
)

router = Router(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, page: PageDep, next: str | None = None) -> Response:
    return render(request, page, "login.html", next=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, page: PageDep, rt: RtDep,
                email: Text = "", password: Text = "",
                csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/",
                resend_to: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, page, csrf_token)
    # A form whose session had ended, carried here by kit.signed_out_form: offered again.
    resend = {"resend_to": safe_next(resend_to), "kept": carried(await request.form())} \
        if resend_to else {}
    try:
        tokens = await auth_service.log_in(rt, LoginCreate(email=email, password=password),
                                          client=client_address(request))
    except ValidationError as exc:
        return render(request, page, "login.html", status=422, field_errors=field_errors(exc),
                      email=email, next=safe_next(next), **resend)
    except AppError as exc:
        return with_retry_after(render(
            request, page, "login.html", status=exc.status_code, error=in_words(exc),
            email=email, next=safe_next(next), **resend), exc)
    session.start(page, tokens, rt)
    if resend:
        return resend_page(request, page, resend["resend_to"], resend["kept"], safe_next(next))
    return redirect(request, page, safe_next(next))


# The sign-up refusals that belong to one field: (field, what is said next to it).
SIGNUP_FIELD_ERRORS = {
    "username_taken": ("username", "This username is taken; choose another one."),
    "email_taken": ("email", "An account with this email already exists. Log in, or reset "
                             "your password if you forgot it."),
}


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request, page: PageDep) -> Response:
    return render(request, page, "signup.html")


@router.post("/signup", response_class=HTMLResponse)
async def signup(request: Request, page: PageDep, rt: RtDep,
                 email: Text = "", password: Text = "", full_name: Text = "",
                 username: Text = "", csrf_token: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, page, csrf_token)
    form = {"email": email, "full_name": full_name, "username": username}
    try:
        data = SignupCreate(password=password, **form)
        tokens = await auth_service.sign_up(rt, data, client=client_address(request))
    except ValidationError as exc:
        errors = field_errors(exc)
        if errors.get("username", "").startswith("This is not"):  # its pattern, in words
            errors["username"] = "Use 3 to 50 letters, digits or underscores."
        return render(request, page, "signup.html", status=422, form=form, field_errors=errors)
    except (AppError, DBAPIError) as exc:
        # A taken username or email arrives from the database's unique keys (409): said
        # next to its field, with what was typed (never the password).
        error = as_app_error(exc)
        if error is None or error.status_code >= 500:
            raise
        field = SIGNUP_FIELD_ERRORS.get(error.code)
        if field is not None:
            return render(request, page, "signup.html", status=error.status_code, form=form,
                          field_errors={field[0]: field[1]})
        return with_retry_after(render(request, page, "signup.html", status=error.status_code,
                                       errors=[in_words(error)], form=form), error)
    session.start(page, tokens, rt)
    return redirect(request, page, "/?welcome=1")


@router.post("/logout")
async def logout(request: Request, page: PageDep, rt: RtDep,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, page, csrf_token)
    refresh = request.cookies.get(session.REFRESH)
    if refresh:
        await auth_service.log_out(rt, refresh)
    page.clear = True
    page.set_cookies.pop(session.ACCESS, None)
    page.set_cookies.pop(session.REFRESH, None)
    return redirect(request, page, "/")


@router.get("/verify-email", response_class=HTMLResponse)
async def verify_email(request: Request, page: PageDep, rt: RtDep,
                       token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """The link of the verification mail."""
    try:
        await auth_service.verify_email(rt, token)
    except AppError as exc:
        # A spent link is often one a mail scanner opened first, or a second click: its
        # signed-in owner is told that the address is confirmed, not that it "does not work".
        me = None
        if page.signed_in:
            with contextlib.suppress(AppError):  # a session ended meanwhile: say nothing
                me = await users_service.get_me(rt, page.caller)
        if me is not None and me.is_verified:
            return render(request, page, "message.html", title="Email confirmed",
                          message=f"Your email address {me.email} is confirmed.")
        return render(request, page, "message.html", status=exc.status_code,
                      title="This link does not work", message=exc.message)
    return render(request, page, "message.html", title="Email confirmed",
                  message="Your email address is confirmed. Welcome to Focus Hub!")


@router.get("/password-reset", response_class=HTMLResponse)
async def reset_page(request: Request, page: PageDep,
                     token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Without a token: ask for the mail. With one (the mail's link): choose a password."""
    return render(request, page, "password_reset.html", token=token)


@router.post("/password-reset", response_class=HTMLResponse)
async def reset(request: Request, page: PageDep, rt: RtDep,
                email: Text = "", token: Annotated[str, Form(max_length=200)] = "",
                password: Text = "",
                csrf_token: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, page, csrf_token)
    if not token:
        try:
            # The address as the API reads it (blanks dropped, an ASCII-encoded domain as
            # the account stores it): the raw field named no account for those.
            address = EmailCreate(email=email).email
        except ValidationError:
            return render(request, page, "password_reset.html", status=422, token="",
                          error="Enter the email address of your account")
        await auth_service.request_email_token(rt, address, "password_reset",
                                              client=client_address(request))
        return render(request, page, "message.html", title="Check your email",
                      message="If an account with this email exists, a message is on its way.")
    try:
        await auth_service.reset_password(rt, PasswordResetConfirm(token=token, password=password))
    except ValidationError as exc:
        errors = field_errors(exc)
        if "token" in errors:  # a link cut short or made up
            return render(request, page, "password_reset.html", status=422, token=token,
                          error="This link does not work; ask for a new one.")
        return render(request, page, "password_reset.html", status=422, token=token,
                      field_errors=errors)
    except AppError as exc:
        return render(request, page, "password_reset.html", status=exc.status_code, token=token,
                      error=exc.message)
    return render(request, page, "message.html", title="Password changed",
                  message="Your password is changed. Log in again on every device.")


