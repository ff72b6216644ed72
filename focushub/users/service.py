"""Profiles: the caller's own account and public profiles of others."""

from __future__ import annotations

import re
from typing import BinaryIO
from uuid import UUID

from focushub.core.db import Caller
from focushub.core.errors import NotFound, ValidationFailed
from focushub.core.runtime import Runtime
from focushub.core.schemas import user_ref
from focushub.files import previews, sniff
from focushub.files import service as files
from focushub.safety import limits
from focushub.users.schemas import PrivacyRead, PrivacyUpdate, UserMe, UserProfile, UserUpdate

# Avatars are stored at most 512 px a side, with smaller copies for lists.
AVATAR_SIZES = (512, 128, 48)

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
    avatar = changes.get("avatar_url")
    if avatar is not None and not _own_avatar(caller, avatar):
        # users_avatar_url_uploaded (0048): no outside address, which every reader's
        # client would fetch from whoever chose it.
        raise ValidationFailed("Upload a picture with PUT /api/v1/users/me/avatar; "
                               "avatar_url takes only null (or its current value)",
                               details={"field": "avatar_url"})
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


_PROFILE = f"""
SELECT {PUBLIC_COLUMNS},
       (SELECT count(*) FROM public.followers f WHERE f.following_id = u.id) AS followers_count,
       (SELECT count(*) FROM public.followers f WHERE f.follower_id = u.id) AS following_count,
       (SELECT count(*) FROM public.posts p WHERE p.author_id = u.id AND p.is_published)
           AS posts_count,
       (SELECT count(*) FROM public.questions q WHERE q.author_id = u.id) AS questions_count,
       (SELECT count(*) FROM public.answers a WHERE a.author_id = u.id) AS answers_count,
       CASE WHEN auth.uid() IS NOT NULL THEN EXISTS (
           SELECT 1 FROM public.followers f
           WHERE f.follower_id = auth.uid() AND f.following_id = u.id) END AS is_following,
       public.shown_email(u.id) AS public_email
FROM public.users u
"""


# Not across a block (0025), and not for anonymous callers when its owner said so (0028).
_NOT_BLOCKED = ("AND u.id <> ALL ((SELECT public.block_wall())::uuid[])"
                " AND public.profile_visible(u.id)")


async def get_profile(rt: Runtime, caller: Caller, ref: str) -> UserProfile:
    """A public profile by username or by id, with its counts (of what the caller may
    see: RLS applies to each) and whether the caller follows this person.

    A username may be 32 hex digits, which also reads as an id written without hyphens:
    the account of that username comes first, the account of that id otherwise."""
    username, by_id = user_ref(ref)
    if username is None and by_id is None:
        raise NotFound("No such user", code="user_not_found")
    async with rt.transaction(caller) as tx:
        # Across a block (0025) the profile is not there, as for someone who does not exist.
        row = await tx.one_or_none(
            f"{_PROFILE} WHERE (u.username = :u OR u.id = :id) {_NOT_BLOCKED}"
            " ORDER BY u.username = :u DESC NULLS LAST LIMIT 1", u=username, id=by_id)
    if row is None:
        raise NotFound("No such user", code="user_not_found")
    return UserProfile.model_validate(dict(row))


async def get_by_username(rt: Runtime, caller: Caller, username: str) -> UserProfile:
    return await get_profile(rt, caller, username)


def _own_avatar(caller: Caller, url: str) -> bool:
    """Whether ``url`` is the address PUT /users/me/avatar writes for the caller."""
    return re.fullmatch(rf"/api/v1/users/{caller.user_id}/avatar\?v=[0-9a-f]{{12}}", url) is not None


def _avatar_key(key: str, size: int) -> str:
    return key if size == AVATAR_SIZES[0] else f"{key}.{size}"


async def set_avatar(rt: Runtime, caller: Caller, upload: BinaryIO, file_name: str | None) -> UserMe:
    """Replace the caller's avatar with an image (PNG, JPEG, GIF, WebP), stored without its
    metadata (EXIF location included) in :data:`AVATAR_SIZES`; the old one is removed."""
    await limits.check_write(rt, caller, "upload")
    settings = rt.settings
    async with files.receive(upload, file_name, max_bytes=settings.max_upload_bytes,
                             allowed=sniff.IMAGES) as original:
        async with files.reencoded(original, AVATAR_SIZES[0]) as image:
            async with files.stored(rt, image, "avatar") as key:
                for size in AVATAR_SIZES[1:]:
                    data = await files.decode(
                        previews.strip_image, image.path, image.kind.mime, size)
                    await rt.storage.put_bytes(_avatar_key(key, size), data, image.kind.mime)
                async with rt.transaction(caller) as tx:
                    # Under the uploads' lock, so that of two avatars uploaded at once the
                    # second removes the first instead of missing it (one avatar each).
                    await files.lock_uploads(tx)
                    await tx.execute("DELETE FROM public.stored_files"
                                     " WHERE owner_id = auth.uid() AND purpose = 'avatar'")
                    file_id = await files.insert(tx, image, key, purpose="avatar",
                                                 quota=settings.storage_quota_bytes)
                    url = f"/api/v1/users/{caller.user_id}/avatar?v={file_id.hex[:12]}"
                    await tx.execute("UPDATE public.users SET avatar_url = :url"
                                     " WHERE id = auth.uid()", url=url)
                    tx.enqueue("files.purge")
                    row = await tx.one(f"SELECT {ME_COLUMNS} FROM public.current_user_account()")
    return UserMe.model_validate(dict(row))


async def open_avatar(rt: Runtime, caller: Caller, user_id: UUID, size: int) -> tuple[str, str, str]:
    """(object key, content type, ETag) of a user's avatar at ``size``; 404 without one."""
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            "SELECT storage_key, content_type, sha256 FROM public.stored_files"
            " WHERE owner_id = :id AND purpose = 'avatar'", id=user_id)
    if row is None:
        raise NotFound("This user has no avatar", code="avatar_not_found")
    return (_avatar_key(row["storage_key"], size), row["content_type"],
            f'"{row["sha256"]}.{size}"')


_PRIVACY_DEFAULTS = {"profile_visibility": "everyone", "show_email": False, "dm_from": "everyone"}


async def get_privacy(rt: Runtime, caller: Caller) -> PrivacyRead:
    async with rt.transaction(caller) as tx:
        row = await tx.one_or_none(
            "SELECT profile_visibility, show_email, dm_from FROM public.user_privacy"
            " WHERE user_id = auth.uid()")
    return PrivacyRead.model_validate(dict(row) if row else _PRIVACY_DEFAULTS)


async def update_privacy(rt: Runtime, caller: Caller, data: PrivacyUpdate) -> PrivacyRead:
    """Change some of the caller's privacy settings; the others keep their value."""
    current = (await get_privacy(rt, caller)).model_dump()
    current.update({k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None})
    async with rt.transaction(caller) as tx:
        await tx.execute(
            "INSERT INTO public.user_privacy (user_id, profile_visibility, show_email, dm_from)"
            " VALUES (auth.uid(), :profile_visibility, :show_email, :dm_from)"
            " ON CONFLICT (user_id) DO UPDATE SET profile_visibility = EXCLUDED.profile_visibility,"
            " show_email = EXCLUDED.show_email, dm_from = EXCLUDED.dm_from, updated_at = now()",
            **current)
    return PrivacyRead.model_validate(current)
