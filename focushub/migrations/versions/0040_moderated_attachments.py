"""A chat message deleted or hidden by a moderator takes its attachment with it.

Revision ID: 0040_moderated_attachments
Revises: 0039_ai_request_visibility

``moderate()`` (0021) soft-deleted a chat message by blanking ``content`` and ``file_url``
only: the ``stored_files`` row stayed, and the room's members still downloaded the
attachment (``GET /chat/rooms/{room}/attachments/{file}`` looks the file up by its row),
whereas the sender deleting the message (``chat_delete_message()``, 0015) removes it. Now
``moderate()`` does what ``chat_delete_message()`` does: it clears ``file_id`` and deletes
the ``stored_files`` row, whose objects 0014's trigger queues in ``storage_deletions`` for
the ``files.purge`` job. The upgrade applies this to the messages moderated before (the
soft-deleted messages that still hold a file); the downgrade cannot bring those files back.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0040_moderated_attachments"
down_revision = "0039_ai_request_visibility"
branch_labels = None
depends_on = None

_MODERATE = """
    CREATE OR REPLACE FUNCTION public.moderate(
        p_type report_target, p_id uuid, p_action text, p_reason text,
        p_suspend_until timestamptz, p_request_id text
    ) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        target record;
        owner uuid;
        label text := replace(p_type::text, '_', ' ');
        resolved integer;
        changed integer := 0;
        why text := nullif(btrim(coalesce(p_reason, '')), '');{declare}
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        IF p_action NOT IN ('dismiss', 'hide', 'delete', 'warn', 'suspend', 'deactivate') THEN
            RAISE EXCEPTION 'validation_error: unknown moderation action';
        END IF;
        IF p_action <> 'dismiss' AND why IS NULL THEN
            RAISE EXCEPTION 'validation_error: a reason is required; the author is shown it';
        END IF;
        SELECT * INTO target FROM public.report_target_state(p_type, p_id);
        owner := target.owner_id;
        IF owner IS NULL THEN
            -- Already deleted: the reports still name the author.
            SELECT r.target_user_id INTO owner FROM reports r
            WHERE r.target_type = p_type AND r.target_id = p_id AND r.target_user_id IS NOT NULL
            LIMIT 1;
        END IF;
        IF owner = auth.uid() THEN
            RAISE EXCEPTION 'conflict: administrators do not moderate themselves';
        END IF;

        IF p_action IN ('hide', 'delete', 'dismiss') AND p_type = 'user' AND p_action <> 'dismiss' THEN
            RAISE EXCEPTION 'validation_error: a person is warned, suspended or deactivated, not hidden or deleted';
        END IF;
        IF p_action IN ('warn', 'suspend', 'deactivate') AND owner IS NULL THEN
            RAISE EXCEPTION 'validation_error: this target has no author to act on';
        END IF;
        IF p_action = 'suspend' AND (p_suspend_until IS NULL OR p_suspend_until <= now()) THEN
            RAISE EXCEPTION 'validation_error: a suspension needs an end in the future';
        END IF;
        IF p_action IN ('hide', 'delete') AND target.state = 'deleted' THEN
            RAISE EXCEPTION 'conflict: this content no longer exists';
        END IF;

        IF p_action IN ('dismiss', 'hide') AND p_type NOT IN ('user', 'chat_message') THEN
            CASE p_type
            WHEN 'post' THEN UPDATE posts SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'comment' THEN UPDATE comments SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'question' THEN UPDATE questions SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'answer' THEN UPDATE answers SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'ai_answer' THEN UPDATE ai_answers SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            WHEN 'resource' THEN UPDATE resources SET hidden_at = CASE WHEN p_action = 'hide'
                THEN coalesce(hidden_at, now()) END WHERE id = p_id;
            END CASE;
        ELSIF p_action = 'delete' OR (p_action = 'hide' AND p_type = 'chat_message') THEN
            -- A chat message is soft-deleted (0008, 0017 blank it in the event log too).
            CASE p_type
            WHEN 'post' THEN DELETE FROM posts WHERE id = p_id;
            WHEN 'comment' THEN DELETE FROM comments WHERE id = p_id;
            WHEN 'question' THEN DELETE FROM questions WHERE id = p_id;
            WHEN 'answer' THEN DELETE FROM answers WHERE id = p_id;
            WHEN 'ai_answer' THEN DELETE FROM ai_answers WHERE id = p_id;
            WHEN 'resource' THEN DELETE FROM resources WHERE id = p_id;
{branch}
            END CASE;
        ELSIF p_action = 'suspend' THEN
            UPDATE users SET suspended_until = p_suspend_until WHERE id = owner;
            UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
            WHERE user_id = owner AND revoked_at IS NULL;
        ELSIF p_action = 'deactivate' THEN
            PERFORM public.admin_set_user_status(owner, NULL, false);
        END IF;

        UPDATE reports SET status = CASE WHEN p_action = 'dismiss' THEN 'dismissed'
                                         ELSE 'actioned' END::report_status,
                           resolved_at = now(), resolved_by = auth.uid(),
                           resolution = p_action || coalesce(': ' || why, '')
        WHERE target_type = p_type AND target_id = p_id AND status = 'open';
        GET DIAGNOSTICS resolved = ROW_COUNT;

        IF owner IS NOT NULL AND p_action <> 'dismiss' THEN
            PERFORM public.notify_system(owner,
                CASE p_action
                    WHEN 'hide' THEN 'A moderator hid your ' || label
                    WHEN 'delete' THEN 'A moderator removed your ' || label
                    WHEN 'warn' THEN 'A warning from the moderators'
                    WHEN 'suspend' THEN 'Your account is suspended until '
                        || to_char(p_suspend_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
                    ELSE 'Your account was deactivated' END,
                why,
                jsonb_build_object('kind', 'moderation', 'action', p_action,
                                   'subject_type', p_type, 'subject_id', p_id));
        END IF;

        INSERT INTO audit_log (actor_id, action, target_type, target_id, reason, details, request_id)
        VALUES (auth.uid(), 'moderation.' || p_action, p_type::text, p_id, left(why, 1000),
                jsonb_strip_nulls(jsonb_build_object(
                    'reports_resolved', resolved, 'author_id', owner,
                    'suspended_until', p_suspend_until)),
                left(p_request_id, 64));
        RETURN jsonb_build_object('reports_resolved', resolved, 'author_id', owner,
                                  'state', (SELECT s.state FROM public.report_target_state(p_type, p_id) s));
    END
    $$;
"""

_OLD_BRANCH = """            WHEN 'chat_message' THEN
                UPDATE chat_messages SET content = '', file_url = NULL, deleted_at = now()
                WHERE id = p_id AND deleted_at IS NULL;"""

_NEW_BRANCH = """            WHEN 'chat_message' THEN
                -- Its attachment goes with it, as when its sender deletes it
                -- (chat_delete_message(), 0015): 0014's trigger queues the objects.
                SELECT m.file_id INTO attachment FROM chat_messages m
                WHERE m.id = p_id AND m.deleted_at IS NULL;
                UPDATE chat_messages SET content = '', file_url = NULL, file_id = NULL,
                    deleted_at = now()
                WHERE id = p_id AND deleted_at IS NULL;
                DELETE FROM stored_files WHERE id = attachment;"""


def upgrade() -> None:
    run_sql(_MODERATE.replace("{declare}", "\n        attachment uuid;")
            .replace("{branch}", _NEW_BRANCH) + """
    -- The files of messages moderated before (the foreign key clears their file_id).
    DELETE FROM public.stored_files f USING public.chat_messages m
    WHERE m.file_id = f.id AND m.deleted_at IS NOT NULL;
    """)


def downgrade() -> None:
    run_sql(_MODERATE.replace("{declare}", "").replace("{branch}", _OLD_BRANCH))
