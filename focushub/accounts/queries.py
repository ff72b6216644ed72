"""What an account export holds: one JSON document per file of the zip.

Every query runs as the account holder, so RLS decides, and each reads only the
holder's own rows (``auth.uid()``). Derived columns (search vectors, scores,
extracted text) stay out: they are the server's, not the person's.

``OBJECTS`` are single JSON objects; ``LISTS`` return one JSON value per row, in
the document's order, and are streamed (a large account's rows are never all in
memory). ``SIZE`` counts what ``LISTS`` would write, each kind up to ``:cap`` rows
(index scans that stop early), plus the bytes of the uploads.
"""

from __future__ import annotations

from focushub.ai.queries import SOURCES_SEEN

# (file, table, owner column, dropped columns)
_OWN: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("posts.json", "posts", "author_id", ("search_vector", "trending_score")),
    ("comments.json", "comments", "author_id", ()),
    ("questions.json", "questions", "author_id", ("search_vector", "trending_score")),
    ("answers.json", "answers", "author_id", ("search_vector",)),
    ("resources.json", "resources", "author_id", ("search_vector", "extracted_text")),
    ("votes.json", "votes", "user_id", ()),
    ("following.json", "followers", "follower_id", ()),
    ("followers.json", "followers", "following_id", ()),
    ("chat_rooms.json", "chat_room_participants", "user_id", ()),
    ("chat_messages.json", "chat_messages", "sender_id", ("is_read",)),
    ("notifications.json", "notifications", "user_id", ()),
    # A reporter sees their report's status and when it was resolved (reports.ReportRead),
    # not who resolved it nor the moderator's note.
    ("reports.json", "reports", "reporter_id", ("target_user_id", "resolved_by", "resolution")),
    # last_error is what the model's provider said: the server's, not the person's.
    ("ai_answers_requested.json", "ai_answers", "requested_by", ("last_error",)),
    ("files.json", "stored_files", "owner_id", ("preview_text", "storage_key", "preview_key")),
)


def _own(table: str, owner: str, drop: tuple[str, ...]) -> str:
    minus = "".join(f" - '{column}'" for column in drop)
    return (f"SELECT to_jsonb(t){minus} FROM public.{table} t WHERE t.{owner} = auth.uid()"
            " ORDER BY t.created_at, t.id")


OBJECTS: dict[str, str] = {
    "account.json": "SELECT to_jsonb(a) FROM public.current_user_account() a",
    "notification_preferences.json": (
        "SELECT coalesce((SELECT to_jsonb(p) FROM public.notification_preferences p"
        " WHERE p.user_id = auth.uid()), '{}')"),
}

LISTS: dict[str, str] = {
    file: _own(table, owner, drop) for file, table, owner, drop in _OWN
    if file != "chat_rooms.json"
}
# A reporter may read only some columns of their reports (0047): a whole-row to_jsonb would
# be refused. The snapshot of a reported AI answer keeps its text for the moderators; the
# reporter's copy leaves it out, as the API would withhold it from a reader who may not
# see every source it was made from (docs/architecture.md, "AI answers"), and reporting
# the answer must not be a way to read it.
LISTS["reports.json"] = """
    SELECT to_jsonb(r) FROM (
        SELECT id, reporter_id, target_type, target_id, reason, details,
               CASE WHEN target_type = 'ai_answer' THEN snapshot - 'content'
                    ELSE snapshot END AS snapshot,
               status, created_at, resolved_at
        FROM public.reports WHERE reporter_id = auth.uid() ORDER BY created_at, id) r"""
LISTS["chat_rooms.json"] = """
    SELECT jsonb_build_object('room_id', r.id, 'name', r.name, 'type', r.type, 'role', p.role,
                              'joined_at', p.joined_at)
    FROM public.chat_room_participants p JOIN public.chat_rooms r ON r.id = p.room_id
    WHERE p.user_id = auth.uid() ORDER BY p.joined_at, r.id"""

# An AI answer as its asker reads it through the API (ai.queries.SOURCES_SEEN): only the
# cited sources they may still see (a source deleted, hidden, made private or behind a
# block is not named, nor is one the model was given and did not cite), and its text
# withheld when they may not see one of the sources it was made from. The answer may
# quote what its asker never could read (a source whose author had blocked them), and
# the export is no way around that.
LISTS["ai_answers_requested.json"] = f"""
    SELECT to_jsonb(a) - 'last_error' - 'citations' - 'answer_text'
           || jsonb_build_object(
                'answer_text', CASE WHEN s.unavailable > 0 THEN '' ELSE a.answer_text END,
                'sources_unavailable', s.unavailable, 'citations', s.citations)
    FROM public.ai_answers a
    CROSS JOIN LATERAL (
        SELECT CAST(x.seen ->> 'unavailable' AS integer) AS unavailable,
               x.seen -> 'citations' AS citations
        FROM (SELECT {SOURCES_SEEN} AS seen OFFSET 0) x) s
    WHERE a.requested_by = auth.uid() ORDER BY a.created_at, a.id"""

# The documents in the zip's order.
DOCUMENTS: tuple[str, ...] = ("account.json", "notification_preferences.json",
                              *(file for file, *_ in _OWN))

SIZE = "SELECT " + " + ".join(
    f"(SELECT count(*) FROM (SELECT 1 FROM public.{table} t WHERE t.{owner} = auth.uid()"
    " LIMIT :cap) x)" for _, table, owner, _ in _OWN
) + (" AS rows, (SELECT coalesce(sum(f.size), 0)::bigint FROM public.stored_files f"
     " WHERE f.owner_id = auth.uid()) AS bytes")

# The objects to copy into the zip under files/.
FILES = """
SELECT id, storage_key, file_name FROM public.stored_files
WHERE owner_id = auth.uid() ORDER BY created_at, id
"""

OWN_EMAIL = "SELECT email FROM public.current_user_account()"
LOGIN_LOOKUP = "SELECT password_hash FROM focushub_auth.login_lookup(:email)"
DELETE = "SELECT public.delete_own_account(:rid)"

# --- exports made by the accounts.export job (0033) ----------------------------------------

EXPORT_COLUMNS = ("id, status, file_name, size, error, created_at, started_at, finished_at,"
                  " expires_at")
REQUEST_EXPORT = "SELECT id, created FROM public.request_account_export()"
EXPORT = (f"SELECT {EXPORT_COLUMNS} FROM public.account_exports"
          " WHERE id = :id AND user_id = auth.uid()")
LATEST_EXPORT = (f"SELECT {EXPORT_COLUMNS} FROM public.account_exports"
                 " WHERE user_id = auth.uid() ORDER BY created_at DESC, id DESC LIMIT 1")
# Only while it has not expired (whether or not accounts.expire_exports has run yet).
EXPORT_FILE = """
SELECT storage_key, file_name, size, sha256, finished_at FROM public.account_exports
WHERE id = :id AND user_id = auth.uid() AND status = 'ready' AND expires_at > now()
"""

# service_role, from the jobs.
EXPORT_START = """
UPDATE public.account_exports SET status = 'running', started_at = now()
WHERE id = :id AND status IN ('queued', 'running') RETURNING user_id
"""
EXPORT_READY = """
UPDATE public.account_exports
SET status = 'ready', storage_key = :key, file_name = :name, size = :size, sha256 = :sha,
    finished_at = now(), expires_at = now() + make_interval(hours => :hours), error = NULL
WHERE id = :id AND status = 'running' RETURNING user_id, expires_at
"""
EXPORT_FAILED = """
UPDATE public.account_exports
SET status = 'failed', error = left(:error, 500), finished_at = now(),
    expires_at = now() + make_interval(hours => :hours)
WHERE id = :id AND status IN ('queued', 'running') RETURNING user_id
"""
NOTIFY = "SELECT public.notify_system(:user_id, :title, :message, CAST(:data AS jsonb))"
# An export queued or running for a day has lost its job (it finishes in minutes).
EXPORTS_STALLED = """
UPDATE public.account_exports
SET status = 'failed', error = 'The export did not finish', finished_at = now(),
    expires_at = now() + make_interval(hours => :hours)
WHERE status IN ('queued', 'running') AND created_at < now() - interval '1 day'
RETURNING id
"""
EXPORTS_EXPIRED = """
WITH gone AS (DELETE FROM public.account_exports WHERE expires_at <= now() RETURNING 1)
SELECT count(*) FROM gone
"""
