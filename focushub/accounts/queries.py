"""What an account export holds: one JSON document per file of the zip.

Every query runs as the account holder, so RLS decides, and each reads only the
holder's own rows (``auth.uid()``). Derived columns (search vectors, scores,
extracted text) stay out: they are the server's, not the person's.
"""

from __future__ import annotations


def _own(table: str, owner: str, *, drop: tuple[str, ...] = (), order: str = "created_at") -> str:
    minus = "".join(f" - '{column}'" for column in drop)
    return (f"SELECT coalesce(jsonb_agg(to_jsonb(t){minus} ORDER BY t.{order}, t.id), '[]')"
            f" FROM public.{table} t WHERE t.{owner} = auth.uid()")


EXPORT: dict[str, str] = {
    "account.json": "SELECT to_jsonb(a) FROM public.current_user_account() a",
    "notification_preferences.json": (
        "SELECT coalesce((SELECT to_jsonb(p) FROM public.notification_preferences p"
        " WHERE p.user_id = auth.uid()), '{}')"),
    "posts.json": _own("posts", "author_id", drop=("search_vector", "trending_score")),
    "comments.json": _own("comments", "author_id"),
    "questions.json": _own("questions", "author_id", drop=("search_vector", "trending_score")),
    "answers.json": _own("answers", "author_id", drop=("search_vector",)),
    "resources.json": _own("resources", "author_id", drop=("search_vector", "extracted_text")),
    "votes.json": _own("votes", "user_id"),
    "following.json": _own("followers", "follower_id"),
    "followers.json": _own("followers", "following_id"),
    "chat_rooms.json": """
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'room_id', r.id, 'name', r.name, 'type', r.type, 'role', p.role,
                   'joined_at', p.joined_at) ORDER BY p.joined_at, r.id), '[]')
        FROM public.chat_room_participants p JOIN public.chat_rooms r ON r.id = p.room_id
        WHERE p.user_id = auth.uid()""",
    "chat_messages.json": _own("chat_messages", "sender_id", drop=("is_read",)),
    "notifications.json": _own("notifications", "user_id"),
    "reports.json": _own("reports", "reporter_id", drop=("target_user_id",)),
    "ai_answers_requested.json": _own("ai_answers", "requested_by"),
    "files.json": _own("stored_files", "owner_id", drop=("preview_text", "storage_key", "preview_key")),
}

# The objects to copy into the zip under files/.
FILES = """
SELECT id, storage_key, file_name FROM public.stored_files
WHERE owner_id = auth.uid() ORDER BY created_at, id
"""

OWN_EMAIL = "SELECT email FROM public.current_user_account()"
LOGIN_LOOKUP = "SELECT password_hash FROM focushub_auth.login_lookup(:email)"
DELETE = "SELECT public.delete_own_account(:rid)"
