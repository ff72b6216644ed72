"""Sign-up, sessions, email verification and password reset.

Every step runs in a request transaction as ``anon`` (or the signed-in user) and
reaches credentials only through the ``auth.*`` SECURITY DEFINER functions.
Password hashing is CPU-bound, so it runs in a worker thread.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import anyio

from focushub.auth.schemas import (
    LoginCreate,
    PasswordResetConfirm,
    SessionRead,
    SignupCreate,
    TokenRead,
)
from focushub.core import observability, ratelimit
from focushub.core.db import ANONYMOUS, SERVICE, Caller, Tx
from focushub.core.errors import BadRequest, Forbidden, TooManyRequests, Unauthorized
from focushub.core.ratelimit import Rate
from focushub.core.runtime import Runtime
from focushub.core.security import issue_access_token, new_opaque_token, token_digest
from focushub.users import service as users_service
from focushub.users.schemas import UserMe
from focushub.users.service import ME_COLUMNS


def _expires(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _tokens(rt: Runtime, *, user_id: UUID, email: str, app_role: str, family: UUID,
            refresh_token: str) -> TokenRead:
    access, exp = issue_access_token(
        secret=rt.jwt_secret,
        issuer=rt.settings.jwt_issuer,
        ttl_seconds=rt.settings.access_token_ttl_seconds,
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


async def _start_session(tx: Tx, rt: Runtime, user_id: UUID) -> tuple[UUID, str]:
    refresh = new_opaque_token()
    family = await tx.scalar(
        "SELECT focushub_auth.start_session(:uid, :hash, :exp)",
        uid=user_id,
        hash=token_digest(refresh),
        exp=_expires(rt.settings.refresh_token_ttl_seconds),
    )
    return family, refresh


async def _queue_mail_token(tx: Tx, rt: Runtime, *, email: str, purpose: str) -> None:
    """Store a one-time token for ``email`` and queue its mail; silent for unknown emails."""
    token = new_opaque_token()
    base = rt.settings.public_base_url.rstrip("/")
    if purpose == "verify_email":
        ttl = rt.settings.email_token_ttl_seconds
        subject = "Confirm your Focus Hub email"
        body = (
            "Welcome to Focus Hub!\n\nConfirm your email address by opening:\n"
            f"{base}/verify-email?token={token}\n\nor by sending this token to "
            f"POST /api/v1/auth/verify-email:\n{token}\n"
        )
    else:
        ttl = rt.settings.password_reset_ttl_seconds
        subject = "Reset your Focus Hub password"
        body = (
            "Someone asked to reset the password of your Focus Hub account.\n"
            f"If it was you, open:\n{base}/password-reset?token={token}\n\nor send this token "
            f"with your new password to POST /api/v1/auth/password-reset/confirm:\n{token}\n\n"
            f"The token expires in {ttl // 60} minutes. If it was not you, ignore this mail.\n"
        )
    outbox_id = await tx.scalar(
        "SELECT focushub_auth.issue_mail_token(:email, :purpose, :hash, :exp, :subject, :body)",
        email=email, purpose=purpose, hash=token_digest(token), exp=_expires(ttl),
        subject=subject, body=body,
    )
    if outbox_id is not None:
        tx.enqueue("mail.send", outbox_id=outbox_id)


async def _limit_login(rt: Runtime, client: str, email: str) -> None:
    """Password guessing: one address on one account, one address across accounts
    (spraying), one account from anywhere. The last one tripping is a security event,
    logged once per window."""
    rates = rt.settings
    await ratelimit.hit(rt.limiter, f"login:{client}|{email}", rates.rate_login)
    await ratelimit.hit(rt.limiter, f"login-address:{client}", rates.rate_login_address)
    try:
        await ratelimit.hit(rt.limiter, f"login-account:{email}", rates.rate_login_account)
    except TooManyRequests:
        once = Rate(1, rates.rate_login_account.seconds)
        if await rt.limiter.wait_ms(f"login-account-logged:{email}", once) == 0:
            async with rt.transaction(SERVICE) as tx:
                await tx.execute(
                    "SELECT public.audit_security_event('login_limit', NULL,"
                    " jsonb_build_object('email', CAST(:email AS text),"
                    " 'address', CAST(:address AS text)), :rid)",
                    email=email, address=client, rid=observability.request_id.get())
        raise


async def sign_up(rt: Runtime, data: SignupCreate, *, client: str) -> SessionRead:
    """Precondition: ``client`` is the caller's address (rate limits)."""
    await ratelimit.hit(rt.limiter, f"signup:{client}", rt.settings.rate_signup_address)
    await ratelimit.hit(rt.limiter, f"signup-daily:{client}", rt.settings.rate_signup_address_daily)
    password_hash = await anyio.to_thread.run_sync(rt.passwords.hash, data.password)
    async with rt.transaction(ANONYMOUS) as tx:
        user = await tx.one(
            f"SELECT {ME_COLUMNS} FROM focushub_auth.sign_up(:email, :hash, :full_name, :username)",
            email=data.email, hash=password_hash, full_name=data.full_name, username=data.username,
        )
        await _queue_mail_token(tx, rt, email=user["email"], purpose="verify_email")
        family, refresh = await _start_session(tx, rt, user["id"])
    tokens = _tokens(rt, user_id=user["id"], email=user["email"], app_role=user["role"],
                     family=family, refresh_token=refresh)
    return SessionRead(**tokens.model_dump(), user=UserMe.model_validate(dict(user)))


async def log_in(rt: Runtime, data: LoginCreate, *, client: str) -> SessionRead:
    await _limit_login(rt, client, data.email.lower())
    async with rt.transaction(ANONYMOUS) as tx:
        found = await tx.one_or_none("SELECT * FROM focushub_auth.login_lookup(:email)", email=data.email)
    ok = await anyio.to_thread.run_sync(
        rt.passwords.verify, found["password_hash"] if found else None, data.password
    )
    if not ok or found is None:
        raise Unauthorized("Wrong email or password", code="invalid_credentials")
    if not found["is_active"]:
        raise Forbidden("This account is deactivated; contact an administrator", code="inactive_user")
    if found["suspended_until"] is not None:
        until = found["suspended_until"].astimezone(UTC)
        raise Forbidden(f"This account is suspended until {until:%Y-%m-%d %H:%M} UTC",
                        code="suspended_user", details={"suspended_until": until.isoformat()})
    async with rt.transaction(ANONYMOUS) as tx:
        family, refresh = await _start_session(tx, rt, found["user_id"])
    tokens = _tokens(rt, user_id=found["user_id"], email=found["email"],
                     app_role=found["app_role"], family=family, refresh_token=refresh)
    me = Caller(role="authenticated", user_id=found["user_id"], claims={"sub": str(found["user_id"])})
    user = await users_service.get_me(rt, me)
    return SessionRead(**tokens.model_dump(), user=user)


async def refresh(rt: Runtime, refresh_token: str) -> TokenRead:
    """Rotate a refresh token. A token spent again revokes its whole family (committed first),
    unless it was spent less than 10 s ago (0052): then 401 ``token_raced``, nothing revoked."""
    new_refresh = new_opaque_token()
    async with rt.transaction(ANONYMOUS) as tx:
        result = await tx.one(
            "SELECT * FROM focushub_auth.rotate_session(:old, :new, :exp)",
            old=token_digest(refresh_token),
            new=token_digest(new_refresh),
            exp=_expires(rt.settings.refresh_token_ttl_seconds),
        )
    status = result["status"]
    if status == "raced":  # spent moments ago by another request of this client (0052)
        raise Unauthorized("This refresh token was renewed a moment ago by another request; "
                           "use the newest one", code="token_raced")
    if status == "reused":
        raise Unauthorized(
            "This refresh token was already used; every session of its login was ended",
            code="token_reused",
        )
    if status == "inactive":
        raise Forbidden("This account is deactivated or suspended", code="inactive_user")
    if status != "ok":
        raise Unauthorized("The refresh token is invalid or expired", code="invalid_token")
    return _tokens(rt, user_id=result["user_id"], email=result["email"],
                   app_role=result["app_role"], family=result["family_id"],
                   refresh_token=new_refresh)


async def log_out(rt: Runtime, refresh_token: str) -> None:
    """End the session family of ``refresh_token``; unknown tokens are ignored."""
    async with rt.transaction(ANONYMOUS) as tx:
        await tx.execute("SELECT focushub_auth.end_session(:hash)", hash=token_digest(refresh_token))


async def request_email_token(rt: Runtime, email: str, purpose: str, *, client: str) -> None:
    """Queue a verification or reset mail; behaves the same for unknown emails."""
    email = email.lower()
    await ratelimit.hit(rt.limiter, f"mail:{client}|{email}", rt.settings.rate_mail)
    await ratelimit.hit(rt.limiter, f"mail-account:{email}", rt.settings.rate_mail_account)
    async with rt.transaction(ANONYMOUS) as tx:
        await _queue_mail_token(tx, rt, email=email, purpose=purpose)


async def verify_email(rt: Runtime, token: str) -> None:
    async with rt.transaction(ANONYMOUS) as tx:
        ok = await tx.scalar("SELECT focushub_auth.verify_email(:hash)", hash=token_digest(token))
    if not ok:
        raise BadRequest("The verification token is invalid, used or expired", code="invalid_token")


async def reset_password(rt: Runtime, data: PasswordResetConfirm) -> None:
    password_hash = await anyio.to_thread.run_sync(rt.passwords.hash, data.password)
    async with rt.transaction(ANONYMOUS) as tx:
        ok = await tx.scalar(
            "SELECT focushub_auth.reset_password(:hash, :pw)", hash=token_digest(data.token), pw=password_hash
        )
    if not ok:
        raise BadRequest("The reset token is invalid, used or expired", code="invalid_token")


async def ensure_admin(rt: Runtime, data: SignupCreate, password_hash: str) -> dict[str, Any]:
    """Create an admin account, or promote the account with this email (maintenance path:
    service_role). Returns its id, email, username and role."""
    async with rt.transaction(SERVICE) as tx:
        row = await tx.one(
            "SELECT id, email, username, role FROM focushub_auth.ensure_admin(:e, :u, :n, :p)",
            e=data.email, u=data.username, n=data.full_name, p=password_hash,
        )
    return dict(row)


async def session_active(rt: Runtime, caller: Caller) -> bool:
    """Whether ``caller``'s session still holds (not logged out, ended by an administrator or a
    password change, the account not deactivated): the check every transaction begins with,
    for a connection that outlives its requests (a WebSocket)."""
    try:
        async with rt.direct_transaction(caller):
            return True
    except Unauthorized as exc:
        if exc.code == "session_ended":
            return False
        raise


async def _check_password(rt: Runtime, caller: Caller, password: str) -> str:
    """The caller's email, once ``password`` is theirs (403 ``wrong_password`` otherwise)."""
    async with rt.transaction(caller) as tx:
        email = await tx.scalar("SELECT email FROM public.current_user_account()")
        stored = await tx.scalar("SELECT password_hash FROM focushub_auth.login_lookup(:e)", e=email)
    if email is None or not await anyio.to_thread.run_sync(rt.passwords.verify, stored, password):
        raise Forbidden("The current password is wrong", code="wrong_password")
    return email


async def change_password(rt: Runtime, caller: Caller, current: str, new: str) -> None:
    """Change the caller's password after checking the current one; every other session
    of the account ends, this one goes on."""
    await ratelimit.hit(rt.limiter, f"login-account:{caller.user_id}", rt.settings.rate_login_account)
    await _check_password(rt, caller, current)
    password_hash = await anyio.to_thread.run_sync(rt.passwords.hash, new)
    async with rt.transaction(caller) as tx:
        await tx.execute("SELECT public.change_password(:hash, CAST(:family AS uuid))",
                         hash=password_hash, family=caller.claims.get("session_id"))


async def change_email(rt: Runtime, caller: Caller, password: str, email: str) -> None:
    """Change the caller's email after checking their password; the new address is
    unconfirmed until its verification mail is followed."""
    await ratelimit.hit(rt.limiter, f"login-account:{caller.user_id}", rt.settings.rate_login_account)
    await _check_password(rt, caller, password)
    # The new address gets a mail: it counts against that address's limit as any other mail
    # to it does, or changing back and forth would mail someone else's inbox without end.
    # Over it, nothing is changed.
    await ratelimit.hit(rt.limiter, f"mail-account:{email.lower()}", rt.settings.rate_mail_account)
    # One transaction: the address never changes without its confirmation mail queued.
    async with rt.transaction(caller) as tx:
        await tx.execute("SELECT public.change_email(:email)", email=email)
        await _queue_mail_token(tx, rt, email=email, purpose="verify_email")
