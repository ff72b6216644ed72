"""An administrator deleting someone else's content is a moderation action, whatever the path.

Revision ID: 0054_admin_removals_logged
Revises: 0053_avatars_seen_as_profiles

The seed lets administrators delete any post, comment, question, answer or resource
("Admins can delete any …"). Through ``moderate(…, 'delete', …)`` (0021) that is logged,
resolves the target's open reports and tells the author; through a plain ``DELETE`` (the
API's ``DELETE /posts/{id}`` and its kin, or SQL) it left no trace: no audit entry, the
reports still open in the queue, the author never told. Now an AFTER DELETE trigger on the
five tables, ``log_admin_removal()``, does for such a delete what ``moderate()`` does:
``moderation.delete`` in the audit log (no reason, ``details.through = 'delete'``), the
target's open reports resolved as ``delete`` and the author's system notification "A
moderator removed your …". It acts only when the deleting caller is an administrator and
not the author, and only on a row deleted for itself: rows a foreign key takes along with
the row they belong to (the comments of a deleted post, the answers of a deleted question)
are not separate decisions. Their triggers run at the end of the statement, at the same
depth as the row's own, so the trigger tells them by their parent being gone.
``moderate()`` marks its own target in the transaction-local setting
``focushub.moderating``, so that the trigger leaves it to ``moderate_target()``, which logs
it with its reason.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0054_admin_removals_logged"
down_revision = "0053_avatars_seen_as_profiles"
branch_labels = None
depends_on = None

# (table, report_target) of the content an administrator may delete.
TABLES = (("posts", "post"), ("comments", "comment"), ("questions", "question"),
          ("answers", "answer"), ("resources", "resource"))

MODERATE = """
CREATE OR REPLACE FUNCTION public.moderate(p_type report_target, p_id uuid, p_action text,
        p_reason text, p_suspend_until timestamp with time zone, p_request_id text)
    RETURNS jsonb
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path TO 'public', 'pg_temp'
AS $function$
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        IF (SELECT s.state FROM public.report_target_state(p_type, p_id) s) = 'deleted'
           AND NOT EXISTS (SELECT 1 FROM reports r
                           WHERE r.target_type = p_type AND r.target_id = p_id) THEN
            RAISE EXCEPTION 'not_found: there is nothing to moderate here';
        END IF;{mark}
        RETURN public.moderate_target(p_type, p_id, p_action, p_reason, p_suspend_until,
                                      p_request_id);
    END
    $function$;
"""

# moderate_target() logs its own delete with the reason: log_admin_removal() leaves it.
MARK = """
        PERFORM set_config('focushub.moderating', p_id::text, true);"""


def upgrade() -> None:
    run_sql(MODERATE.format(mark=MARK))
    run_sql("""
    CREATE FUNCTION public.log_admin_removal() RETURNS trigger
        LANGUAGE plpgsql
        SECURITY DEFINER
        SET search_path = public, pg_temp
    AS $function$
        DECLARE
            target report_target := TG_ARGV[0]::report_target;
            resolved integer;
        BEGIN
            IF pg_trigger_depth() > 1  -- deleted by another trigger
               OR auth.uid() IS NULL
               OR OLD.author_id IS NOT DISTINCT FROM auth.uid()
               OR NOT focushub_auth.is_admin()
               OR current_setting('focushub.moderating', true) = OLD.id::text THEN
                RETURN NULL;
            END IF;
            -- Taken along by a foreign key (ON DELETE CASCADE) with the row it belongs to,
            -- which is gone when this trigger runs at the end of the statement: the comments
            -- of a deleted post or the replies of a deleted comment, the answers of a deleted
            -- question, everything of a deleted account.
            -- (Each test of OLD's columns is its own statement: PL/pgSQL prepares one only
            -- when it runs, and only comments have a post_id.)
            IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = OLD.author_id) THEN
                RETURN NULL;
            ELSIF target = 'comment' THEN
                IF NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = OLD.post_id)
                   OR (OLD.parent_id IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM comments c WHERE c.id = OLD.parent_id)) THEN
                    RETURN NULL;
                END IF;
            ELSIF target = 'answer' THEN
                IF NOT EXISTS (SELECT 1 FROM questions q WHERE q.id = OLD.question_id) THEN
                    RETURN NULL;
                END IF;
            END IF;
            UPDATE reports SET status = 'actioned', resolved_at = now(),
                               resolved_by = auth.uid(), resolution = 'delete'
            WHERE target_type = target AND target_id = OLD.id AND status = 'open';
            GET DIAGNOSTICS resolved = ROW_COUNT;
            PERFORM public.notify_system(OLD.author_id,
                'A moderator removed your ' || replace(target::text, '_', ' '), '',
                jsonb_build_object('kind', 'moderation', 'action', 'delete',
                                   'subject_type', target, 'subject_id', OLD.id));
            INSERT INTO audit_log (actor_id, action, target_type, target_id, details)
            VALUES (auth.uid(), 'moderation.delete', target::text, OLD.id,
                    jsonb_build_object('reports_resolved', resolved, 'author_id', OLD.author_id,
                                       'through', 'delete'));
            RETURN NULL;
        END
    $function$;
    REVOKE ALL ON FUNCTION public.log_admin_removal() FROM PUBLIC, anon, authenticated, service_role;
    """)
    for table, target in TABLES:
        run_sql(f"""
        CREATE TRIGGER log_admin_removal_trigger AFTER DELETE ON public.{table}
            FOR EACH ROW EXECUTE FUNCTION public.log_admin_removal('{target}');
        """)


def downgrade() -> None:
    for table, _ in TABLES:
        run_sql(f"DROP TRIGGER log_admin_removal_trigger ON public.{table};")
    run_sql("DROP FUNCTION public.log_admin_removal();")
    run_sql(MODERATE.format(mark=""))
