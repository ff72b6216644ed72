"""A notification that changes without news is announced as updated, not created again.

Revision ID: 0055_notification_updates
Revises: 0054_admin_removals_logged

``notify_realtime_notification()`` (0008) announced every insert and every update of an
unread notification alike, and the API sent each as ``notification.created``: a new action
joining it (another like: news), but also its quoted words edited or hidden (0044, 0045) and
one of its people leaving (0043), which are not. A client showing or counting what is new
did so again for each. The payload now says which (``op``): ``created`` for a new
notification, one that another action joined (``notify()`` moves its ``created_at`` to the
moment of the action) and one unread again; ``updated`` for any other change to an unread
one. An update that changes nothing says nothing. Same channel, same trigger.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0055_notification_updates"
down_revision = "0054_admin_removals_logged"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION public.notify_realtime_notification()
    RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'public', 'pg_temp'
AS $function${body}$function$;
"""

BEFORE = """
    DECLARE
        body text;
    BEGIN
        IF NEW.is_read THEN
            RETURN NULL;
        END IF;
        body := jsonb_build_object(
            'user_id', NEW.user_id,
            'notification', jsonb_build_object(
                'id', NEW.id, 'type', NEW.type, 'title', NEW.title, 'message', NEW.message,
                'data', NEW.data, 'is_read', NEW.is_read, 'created_at', NEW.created_at))::text;
        IF octet_length(body) > 7000 THEN
            body := jsonb_build_object('user_id', NEW.user_id, 'id', NEW.id)::text;
        END IF;
        PERFORM pg_notify('focushub_notifications', body);
        RETURN NULL;
    END
    """

AFTER = """
    DECLARE
        body text;
        op text := 'created';
    BEGIN
        IF NEW.is_read THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'UPDATE' THEN
            IF NEW IS NOT DISTINCT FROM OLD THEN
                RETURN NULL;
            END IF;
            -- Joined by a new action (notify() moves created_at to it) or unread again: news.
            IF NOT OLD.is_read AND NEW.created_at IS NOT DISTINCT FROM OLD.created_at THEN
                op := 'updated';
            END IF;
        END IF;
        body := jsonb_build_object(
            'user_id', NEW.user_id, 'op', op,
            'notification', jsonb_build_object(
                'id', NEW.id, 'type', NEW.type, 'title', NEW.title, 'message', NEW.message,
                'data', NEW.data, 'is_read', NEW.is_read, 'created_at', NEW.created_at))::text;
        IF octet_length(body) > 7000 THEN
            body := jsonb_build_object('user_id', NEW.user_id, 'op', op, 'id', NEW.id)::text;
        END IF;
        PERFORM pg_notify('focushub_notifications', body);
        RETURN NULL;
    END
    """


def upgrade() -> None:
    run_sql(FUNCTION.format(body=AFTER))


def downgrade() -> None:
    run_sql(FUNCTION.format(body=BEFORE))
