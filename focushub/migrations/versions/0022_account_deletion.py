"""People can delete their own account.

Revision ID: 0022_account_deletion
Revises: 0021_reports_moderation

What goes and what stays follows the seed's ON DELETE rules, with one change:

* Gone with the account (CASCADE): the user's posts, comments, questions,
  answers, resources and uploaded files (their objects are purged by the
  ``files.purge`` job), votes (the counters they moved move back), follows both
  ways, chat memberships and sent messages (each a ``message.deleted`` event,
  and 0017 blanks its earlier events), notifications and preferences, sessions
  and credentials. A hard-deleted message's earlier events are blanked as a soft
  delete's are (0017 did that for soft deletes only).
* Kept, without the person: AI answers they asked for (``requested_by`` SET
  NULL), their reports (``reporter_id`` SET NULL, still counted), reports about
  them, and the audit log, whose ``actor_id`` becomes NULL. The audit log's
  append-only trigger lets that one change through and nothing else.
* ``chat_rooms.created_by`` was NOT NULL with ON DELETE RESTRICT, so whoever had
  ever created a room could never delete their account. It is now nullable
  with ON DELETE SET NULL: a group room belongs to its participants (its admin
  role is in ``chat_room_participants``; the last admin leaving promotes
  another). Direct rooms of the deleted user are archived for the other person
  (history kept, no new messages); group rooms left with nobody are deleted.

``delete_own_account()`` (signed-in callers, for themselves only) does this and
writes ``user.deleted`` to the audit log. The last active administrator cannot
delete their account: nobody could administer the site after it.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0022_account_deletion"
down_revision = "0021_reports_moderation"
branch_labels = None
depends_on = None

# chat_message_events() as 0017 left it (downgrade restores it word for word). A hard
# DELETE (an account's messages going with it) appended its ``message.deleted`` event
# but left the text in the message's earlier events; upgrade() blanks those too.
_EVENTS_BEFORE = """
    CREATE OR REPLACE FUNCTION chat_message_events() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM chat_append_room_event(NEW.room_id, 'message.created', chat_message_json(NEW));
        ELSIF TG_OP = 'DELETE' THEN
            -- A hard delete (plain SQL; the API soft-deletes) leaves a gap in the
            -- message numbers but still tells subscribers.
            PERFORM chat_append_room_event(OLD.room_id, 'message.deleted',
                chat_message_json(OLD) || jsonb_build_object('content', '', 'file_url', NULL,
                                                             'deleted_at', now()));
            RETURN NULL;
        ELSIF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
            -- Earlier versions of the message leave the log: replays show it as it is now.
            UPDATE chat_room_events e SET payload = chat_message_json(NEW)
            WHERE e.room_id = NEW.room_id AND e.type IN ('message.created', 'message.updated')
              AND e.payload ->> 'id' = NEW.id::text;
            PERFORM chat_append_room_event(NEW.room_id, 'message.deleted', chat_message_json(NEW));
        ELSIF NEW.content IS DISTINCT FROM OLD.content OR NEW.file_url IS DISTINCT FROM OLD.file_url THEN
            -- Earlier versions of the message leave the log: replays show it as it is now.
            UPDATE chat_room_events e SET payload = chat_message_json(NEW)
            WHERE e.room_id = NEW.room_id AND e.type IN ('message.created', 'message.updated')
              AND e.payload ->> 'id' = NEW.id::text;
            PERFORM chat_append_room_event(NEW.room_id, 'message.updated', chat_message_json(NEW));
        END IF;
        RETURN NULL;
    END
    $$;
"""
_HARD_DELETE_BEFORE = """            PERFORM chat_append_room_event(OLD.room_id, 'message.deleted',
                chat_message_json(OLD) || jsonb_build_object('content', '', 'file_url', NULL,
                                                             'deleted_at', now()));
            RETURN NULL;"""
_HARD_DELETE_AFTER = """            UPDATE chat_room_events e
            SET payload = chat_message_json(OLD) || jsonb_build_object(
                'content', '', 'file_url', NULL, 'deleted_at', now())
            WHERE e.room_id = OLD.room_id AND e.type IN ('message.created', 'message.updated')
              AND e.payload ->> 'id' = OLD.id::text;
            PERFORM chat_append_room_event(OLD.room_id, 'message.deleted',
                chat_message_json(OLD) || jsonb_build_object('content', '', 'file_url', NULL,
                                                             'deleted_at', now()));
            RETURN NULL;"""

_APPEND_ONLY = """
    CREATE OR REPLACE FUNCTION public.audit_log_is_append_only() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN{allow}
        RAISE EXCEPTION 'forbidden: the audit log is append-only';
    END
    $$;
"""
_ALLOW_FORGET_ACTOR = """
        -- The foreign key's ON DELETE SET NULL when an actor deletes their account.
        IF TG_OP = 'UPDATE' AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
           AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
            RETURN NEW;
        END IF;"""


def upgrade() -> None:
    run_sql(f"""
    ALTER TABLE public.chat_rooms ALTER COLUMN created_by DROP NOT NULL,
        DROP CONSTRAINT chat_rooms_created_by_fkey,
        ADD CONSTRAINT chat_rooms_created_by_fkey FOREIGN KEY (created_by)
            REFERENCES public.users(id) ON DELETE SET NULL;
    CREATE INDEX idx_chat_rooms_created_by ON public.chat_rooms (created_by);

    {_APPEND_ONLY.format(allow=_ALLOW_FORGET_ACTOR)}
    {_EVENTS_BEFORE.replace(_HARD_DELETE_BEFORE, _HARD_DELETE_AFTER)}

    CREATE FUNCTION public.delete_own_account(p_request_id text) RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        me uuid := auth.uid();
        gone jsonb;
        rooms uuid[];
    BEGIN
        IF me IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to delete your account';
        END IF;
        -- One deletion at a time per site for admins, so two last admins cannot
        -- both pass the check below.
        IF EXISTS (SELECT 1 FROM users WHERE id = me AND role = 'admin') THEN
            PERFORM pg_advisory_xact_lock(hashtext('focushub.delete_admin_account'));
            IF NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND is_active AND id <> me) THEN
                RAISE EXCEPTION 'conflict: the last administrator cannot delete their account';
            END IF;
        END IF;
        SELECT jsonb_build_object(
            'posts', (SELECT count(*) FROM posts WHERE author_id = me),
            'comments', (SELECT count(*) FROM comments WHERE author_id = me),
            'questions', (SELECT count(*) FROM questions WHERE author_id = me),
            'answers', (SELECT count(*) FROM answers WHERE author_id = me),
            'resources', (SELECT count(*) FROM resources WHERE author_id = me),
            'messages', (SELECT count(*) FROM chat_messages WHERE sender_id = me
                         AND message_type <> 'system'),
            'files', (SELECT count(*) FROM stored_files WHERE owner_id = me))
        INTO gone;
        UPDATE chat_rooms SET is_active = false
        WHERE type = 'direct' AND is_active
          AND id IN (SELECT room_id FROM chat_room_participants WHERE user_id = me);
        rooms := ARRAY(SELECT room_id FROM chat_room_participants WHERE user_id = me);
        DELETE FROM users WHERE id = me;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: this account no longer exists';
        END IF;
        DELETE FROM chat_rooms r
        WHERE r.id = ANY (rooms) AND r.type = 'group'
          AND NOT EXISTS (SELECT 1 FROM chat_room_participants p WHERE p.room_id = r.id);
        INSERT INTO audit_log (action, target_type, target_id, details, request_id)
        VALUES ('user.deleted', 'user', me, gone, left(p_request_id, 64));
        RETURN gone;
    END
    $$;
    REVOKE ALL ON FUNCTION public.delete_own_account(text) FROM PUBLIC, anon, authenticated,
        service_role;
    GRANT EXECUTE ON FUNCTION public.delete_own_account(text) TO authenticated;
    """)


def downgrade() -> None:
    run_sql(f"""
    DROP FUNCTION public.delete_own_account(text);
    {_APPEND_ONLY.format(allow="")}
    {_EVENTS_BEFORE}
    DROP INDEX public.idx_chat_rooms_created_by;
    ALTER TABLE public.chat_rooms
        DROP CONSTRAINT chat_rooms_created_by_fkey,
        ADD CONSTRAINT chat_rooms_created_by_fkey FOREIGN KEY (created_by)
            REFERENCES public.users(id) ON DELETE RESTRICT,
        ALTER COLUMN created_by SET NOT NULL;
    """)
