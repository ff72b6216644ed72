"""Profiles: the caller's own account and public profiles of others."""

from __future__ import annotations

from focushub.core.db import Caller
from focushub.core.errors import NotFound, ValidationFailed
from focushub.core.runtime import Runtime
from focushub.users.schemas import UserMe, UserRead, UserUpdate

# Columns anyone may read (email and last_login are not among them: the
# database grants them to nobody but the account itself).
PUBLIC_COLUMNS = "id, username, full_name, avatar_url, bio, role, is_verified, created_at"
ME_COLUMNS = PUBLIC_COLUMNS + ", email, is_active, last_login, updated_at"

_UPDATABLE = ("full_name", "username", "bio", "avatar_url")


async def get_me(rt: Runtime, caller: Caller) -> UserMe:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(f"SELECT {ME_COLUMNS} FROM public.current_user_account()")
    if row is None:
        raise NotFound("This account no longer exists", code="user_not_found")
    return UserMe.model_validate(dict(row))


async def update_me(rt: Runtime, caller: Caller, data: UserUpdate) -> UserMe:
    changes = data.model_dump(exclude_unset=True, mode="json")
    for required in ("full_name", "username"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"{required} cannot be empty", details={"field": required})
    async with rt.transaction(caller) as tx:
        if changes:
            assignments = ", ".join(f"{col} = :{col}" for col in _UPDATABLE if col in changes)
            updated = await tx.scalar(
                f"UPDATE public.users SET {assignments} WHERE id = auth.uid() RETURNING id",
                **changes,
            )
            if updated is None:
                raise NotFound("This account no longer exists", code="user_not_found")
        row = await tx.one(f"SELECT {ME_COLUMNS} FROM public.current_user_account()")
    return UserMe.model_validate(dict(row))


async def get_by_username(rt: Runtime, caller: Caller, username: str) -> UserRead:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            f"SELECT {PUBLIC_COLUMNS} FROM public.users WHERE username = :u", u=username.lower()
        )
    if row is None:
        raise NotFound("No such user", code="user_not_found")
    return UserRead.model_validate(dict(row))
