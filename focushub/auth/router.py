from __future__ import annotations

from fastapi import Request, status

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
from focushub.core.deps import RuntimeDep, client_address
from focushub.core.routing import Router

router = Router(prefix="/api/v1/auth", tags=["auth"])


SENT = "If an account with this email exists, a message is on its way."


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=SessionRead)
async def signup(data: SignupCreate, rt: RuntimeDep, request: Request) -> SessionRead:
    return await service.sign_up(rt, data, client=client_address(request))


@router.post("/login", response_model=SessionRead)
async def login(data: LoginCreate, rt: RuntimeDep, request: Request) -> SessionRead:
    return await service.log_in(rt, data, client=client_address(request))


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
    await service.request_email_token(rt, data.email, "verify_email", client=client_address(request))
    return MessageRead(message=SENT)


@router.post("/password-reset/request", status_code=status.HTTP_202_ACCEPTED, response_model=MessageRead)
async def password_reset_request(data: EmailCreate, rt: RuntimeDep, request: Request) -> MessageRead:
    await service.request_email_token(rt, data.email, "password_reset", client=client_address(request))
    return MessageRead(message=SENT)


@router.post("/password-reset/confirm", response_model=MessageRead)
async def password_reset_confirm(data: PasswordResetConfirm, rt: RuntimeDep) -> MessageRead:
    await service.reset_password(rt, data)
    return MessageRead(message="Your password is changed. Sign in again on every device.")
