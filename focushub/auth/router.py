from __future__ import annotations

from fastapi import APIRouter, Request, status

from focushub.auth import service
from focushub.auth.schemas import (
    EmailCreate,
    LoginCreate,
    MessageRead,
    PasswordResetConfirm,
    RefreshCreate,
    SessionRead,
    SignupCreate,
    TokenRead,
    VerifyEmailCreate,
)
from focushub.core.deps import RuntimeDep
from focushub.core.ratelimit import RateLimiter

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class AuthLimits:
    """Per client address (and email): generous for people, tight for password guessing."""

    def __init__(self) -> None:
        self.login = RateLimiter(limit=10, window_seconds=60)
        # Password spraying: many accounts from one address (a classroom behind one address
        # still logs in: 60 attempts in 5 minutes), or one account from many addresses.
        self.login_address = RateLimiter(limit=60, window_seconds=300)
        self.login_account = RateLimiter(limit=20, window_seconds=900)
        self.mail = RateLimiter(limit=5, window_seconds=300)
        self.signup = RateLimiter(limit=20, window_seconds=3600)


def _limits(request: Request) -> AuthLimits:
    limits = getattr(request.app.state, "auth_limits", None)
    if limits is None:
        limits = request.app.state.auth_limits = AuthLimits()
    return limits


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


SENT = "If an account with this email exists, a message is on its way."


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=SessionRead)
async def signup(data: SignupCreate, rt: RuntimeDep, request: Request) -> SessionRead:
    _limits(request).signup.hit(_client(request))
    return await service.sign_up(rt, data)


@router.post("/login", response_model=SessionRead)
async def login(data: LoginCreate, rt: RuntimeDep, request: Request) -> SessionRead:
    limits = _limits(request)
    limits.login.hit(f"{_client(request)}|{data.email.lower()}")
    limits.login_address.hit(_client(request))
    limits.login_account.hit(data.email.lower())
    return await service.log_in(rt, data)


@router.post("/refresh", response_model=TokenRead)
async def refresh(data: RefreshCreate, rt: RuntimeDep) -> TokenRead:
    return await service.refresh(rt, data.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(data: RefreshCreate, rt: RuntimeDep) -> None:
    await service.log_out(rt, data.refresh_token)


@router.post("/verify-email", response_model=MessageRead)
async def verify_email(data: VerifyEmailCreate, rt: RuntimeDep) -> MessageRead:
    await service.verify_email(rt, data.token)
    return MessageRead(message="Your email address is confirmed.")


@router.post("/verify-email/request", status_code=status.HTTP_202_ACCEPTED, response_model=MessageRead)
async def resend_verification(data: EmailCreate, rt: RuntimeDep, request: Request) -> MessageRead:
    _limits(request).mail.hit(f"{_client(request)}|{data.email.lower()}")
    await service.request_email_token(rt, data.email, "verify_email")
    return MessageRead(message=SENT)


@router.post("/password-reset/request", status_code=status.HTTP_202_ACCEPTED, response_model=MessageRead)
async def password_reset_request(data: EmailCreate, rt: RuntimeDep, request: Request) -> MessageRead:
    _limits(request).mail.hit(f"{_client(request)}|{data.email.lower()}")
    await service.request_email_token(rt, data.email, "password_reset")
    return MessageRead(message=SENT)


@router.post("/password-reset/confirm", response_model=MessageRead)
async def password_reset_confirm(data: PasswordResetConfirm, rt: RuntimeDep) -> MessageRead:
    await service.reset_password(rt, data)
    return MessageRead(message="Your password is changed. Sign in again on every device.")
