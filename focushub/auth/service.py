"""Sign-up, sessions, email verification and password reset.

Every step runs in a request transaction as ``anon`` (or the signed-in user) and
reaches credentials only through the ``auth.*`` SECURITY DEFINER functions.
Password hashing is CPU-bound, so it runs in a worker thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.auth import mail
from focushub.auth.schemas import (
    LoginCreate,
    PasswordResetConfirm,
    SessionRead,
    SignupCreate,
    TokenRead,
)
from focushub.core.db import ANONYMOUS, Caller, Tx, transaction
from focushub.core.errors import BadRequest, Forbidden, Unauthorized
from focushub.core.security import (
    hash_password,
    issue_access_token,
    new_opaque_token,
    token_digest,
    verify_password,
)
from focushub.core.settings import Settings
from focushub.users import service as users_service
from focushub.users.schemas import UserMe
from focushub.users.service import ME_COLUMNS


@dataclass(frozen=True)
class AuthContext:
    engine: AsyncEngine
    settings: Settings
    jwt_secret: str


def _expires(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _tokens(ctx: AuthContext, *, user_id: UUID, email: str, app_role: str, family: UUID,
            refresh_token: str) -> TokenRead:
    access, exp = issue_access_token(
        secret=ctx.jwt_secret,
        issuer=ctx.settings.jwt_issuer,
        ttl_seconds=ctx.settings.access_token_ttl_seconds,
        user_id=user_id,
        email=email,
        app_role=app_role,
        session_id=family,
    )
    return TokenRead(
        access_token=access,
        expires_in=exp - int(time.time()),
        expires_at=exp,
        refresh_token=refresh_token,
    )


async def _start_session(tx: Tx, ctx: AuthContext, user_id: UUID) -> tuple[UUID, str]:
    refresh = new_opaque_token()
    family = await tx.scalar(
        "SELECT auth.start_session(:uid, :hash, :exp)",
        uid=user_id,
        hash=token_digest(refresh),
        exp=_expires(ctx.settings.refresh_token_ttl_seconds),
    )
    return family, refresh


async def _queue_mail_token(tx: Tx, ctx: AuthContext, *, email: str, purpose: str) -> None:
    """Store a one-time token for ``email`` and queue its mail; silent for unknown emails."""
    token = new_opaque_token()
    base = ctx.settings.public_base_url.rstrip("/")
    if purpose == "verify_email":
        ttl = ctx.settings.email_token_ttl_seconds
        subject = "Confirm your Focus Hub email"
        body = (
            "Welcome to Focus Hub!\n\nConfirm your email address by opening:\n"
            f"{base}/verify-email?token={token}\n\nor by sending this token to "
            f"POST /api/v1/auth/verify-email:\n{token}\n"
        )
    else:
        ttl = ctx.settings.password_reset_ttl_seconds
        subject = "Reset your Focus Hub password"
        body = (
            "Someone asked to reset the password of your Focus Hub account.\n"
            f"If it was you, open:\n{base}/reset-password?token={token}\n\nor send this token "
            f"with your new password to POST /api/v1/auth/password-reset/confirm:\n{token}\n\n"
            f"The token expires in {ttl // 60} minutes. If it was not you, ignore this mail.\n"
        )
    queued = await tx.scalar(
        "SELECT auth.issue_mail_token(:email, :purpose, :hash, :exp, :subject, :body)",
        email=email, purpose=purpose, hash=token_digest(token), exp=_expires(ttl),
        subject=subject, body=body,
    )
    if not queued:
        return
    if ctx.settings.smtp_url:
        tx.after_commit(lambda: mail.deliver_pending(ctx.engine, ctx.settings))
    else:
        tx.after_commit(lambda: mail.log_message(email, subject, body))


async def sign_up(ctx: AuthContext, data: SignupCreate) -> SessionRead:
    password_hash = await anyio.to_thread.run_sync(hash_password, data.password)
    async with transaction(ctx.engine, ANONYMOUS) as tx:
        user = await tx.one(
            f"SELECT {ME_COLUMNS} FROM auth.sign_up(:email, :hash, :full_name, :username)",
            email=data.email, hash=password_hash, full_name=data.full_name, username=data.username,
        )
        await _queue_mail_token(tx, ctx, email=user["email"], purpose="verify_email")
        family, refresh = await _start_session(tx, ctx, user["id"])
    tokens = _tokens(ctx, user_id=user["id"], email=user["email"], app_role=user["role"],
                     family=family, refresh_token=refresh)
    return SessionRead(**tokens.model_dump(), user=UserMe.model_validate(dict(user)))


async def log_in(ctx: AuthContext, data: LoginCreate) -> SessionRead:
    async with transaction(ctx.engine, ANONYMOUS) as tx:
        found = await tx.one_or_none("SELECT * FROM auth.login_lookup(:email)", email=data.email)
    ok = await anyio.to_thread.run_sync(
        verify_password, found["password_hash"] if found else None, data.password
    )
    if not ok or found is None:
        raise Unauthorized("Wrong email or password", code="invalid_credentials")
    if not found["is_active"]:
        raise Forbidden("This account is deactivated; contact an administrator", code="inactive_user")
    async with transaction(ctx.engine, ANONYMOUS) as tx:
        family, refresh = await _start_session(tx, ctx, found["user_id"])
    tokens = _tokens(ctx, user_id=found["user_id"], email=found["email"],
                     app_role=found["app_role"], family=family, refresh_token=refresh)
    me = Caller(role="authenticated", user_id=found["user_id"], claims={"sub": str(found["user_id"])})
    user = await users_service.get_me(ctx.engine, me)
    return SessionRead(**tokens.model_dump(), user=user)


async def refresh(ctx: AuthContext, refresh_token: str) -> TokenRead:
    """Rotate a refresh token. A spent token revokes its whole family (committed first)."""
    new_refresh = new_opaque_token()
    async with transaction(ctx.engine, ANONYMOUS) as tx:
        result = await tx.one(
            "SELECT * FROM auth.rotate_session(:old, :new, :exp)",
            old=token_digest(refresh_token),
            new=token_digest(new_refresh),
            exp=_expires(ctx.settings.refresh_token_ttl_seconds),
        )
    status = result["status"]
    if status == "reused":
        raise Unauthorized(
            "This refresh token was already used; every session of its login was ended",
            code="token_reused",
        )
    if status == "inactive":
        raise Forbidden("This account is deactivated; contact an administrator", code="inactive_user")
    if status != "ok":
        raise Unauthorized("The refresh token is invalid or expired", code="invalid_token")
    return _tokens(ctx, user_id=result["user_id"], email=result["email"],
                   app_role=result["app_role"], family=result["family_id"],
                   refresh_token=new_refresh)


async def log_out(ctx: AuthContext, refresh_token: str) -> None:
    """End the session family of ``refresh_token``; unknown tokens are ignored."""
    async with transaction(ctx.engine, ANONYMOUS) as tx:
        await tx.execute("SELECT auth.end_session(:hash)", hash=token_digest(refresh_token))


async def request_email_token(ctx: AuthContext, email: str, purpose: str) -> None:
    """Queue a verification or reset mail; behaves the same for unknown emails."""
    async with transaction(ctx.engine, ANONYMOUS) as tx:
        await _queue_mail_token(tx, ctx, email=email, purpose=purpose)


async def verify_email(ctx: AuthContext, token: str) -> None:
    async with transaction(ctx.engine, ANONYMOUS) as tx:
        ok = await tx.scalar("SELECT auth.verify_email(:hash)", hash=token_digest(token))
    if not ok:
        raise BadRequest("The verification token is invalid, used or expired", code="invalid_token")


async def reset_password(ctx: AuthContext, data: PasswordResetConfirm) -> None:
    password_hash = await anyio.to_thread.run_sync(hash_password, data.password)
    async with transaction(ctx.engine, ANONYMOUS) as tx:
        ok = await tx.scalar(
            "SELECT auth.reset_password(:hash, :pw)", hash=token_digest(data.token), pw=password_hash
        )
    if not ok:
        raise BadRequest("The reset token is invalid, used or expired", code="invalid_token")
