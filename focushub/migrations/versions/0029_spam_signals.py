"""Spam signals for moderators.

Revision ID: 0029_spam_signals
Revises: 0028_privacy_and_credentials

``admin_spam_signals(hours)`` (admins only; SECURITY DEFINER, since the signals come
from rows no admin's policies show, such as other people's chats and blocks): accounts
that in the last ``hours`` hours
* were blocked by several people (3 or more),
* sent the same text many times (5 or more identical chat messages, posts or comments),
* opened many chats with people who do not follow them (5 or more rooms),
ranked by how many of these they trip and how strongly, with their open reports. Only
counts leave the function, never what anyone wrote in a chat or who blocked whom.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0029_spam_signals"
down_revision = "0028_privacy_and_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE FUNCTION public.admin_spam_signals(p_hours integer)
    RETURNS TABLE (user_id uuid, username text, created_at timestamptz, is_active boolean,
                   blocks_received bigint, repeated_texts bigint, rooms_with_strangers bigint,
                   open_reports bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        since timestamptz := now() - make_interval(hours => least(greatest(p_hours, 1), 24 * 30));
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: administrators only';
        END IF;
        RETURN QUERY
        WITH blocks AS (
            SELECT b.blocked_id AS uid, count(*) AS n FROM user_blocks b
            WHERE b.created_at > since GROUP BY 1 HAVING count(*) >= 3
        ), texts AS (
            SELECT t.uid, max(t.n) AS n FROM (
                SELECT m.sender_id AS uid, count(*) AS n FROM chat_messages m
                WHERE m.created_at > since AND m.message_type = 'text' AND m.deleted_at IS NULL
                GROUP BY m.sender_id, md5(m.content) HAVING count(*) >= 5
                UNION ALL
                SELECT p.author_id, count(*) FROM posts p WHERE p.created_at > since
                GROUP BY p.author_id, md5(p.content) HAVING count(*) >= 5
                UNION ALL
                SELECT c.author_id, count(*) FROM comments c WHERE c.created_at > since
                GROUP BY c.author_id, md5(c.content) HAVING count(*) >= 5
            ) t GROUP BY t.uid
        ), rooms AS (
            SELECT r.created_by AS uid, count(DISTINCT r.id) AS n
            FROM chat_rooms r JOIN chat_room_participants p ON p.room_id = r.id
            WHERE r.created_at > since AND p.user_id <> r.created_by
              AND NOT EXISTS (SELECT 1 FROM followers f WHERE f.follower_id = p.user_id
                              AND f.following_id = r.created_by)
            GROUP BY r.created_by HAVING count(DISTINCT r.id) >= 5
        ), flagged AS (
            SELECT uid FROM blocks UNION SELECT uid FROM texts UNION SELECT uid FROM rooms
        )
        SELECT u.id, u.username::text, u.created_at, u.is_active,
               coalesce(b.n, 0), coalesce(t.n, 0), coalesce(r.n, 0),
               (SELECT count(*) FROM reports rp WHERE rp.target_user_id = u.id AND rp.status = 'open')
        FROM flagged f JOIN users u ON u.id = f.uid
        LEFT JOIN blocks b ON b.uid = u.id
        LEFT JOIN texts t ON t.uid = u.id
        LEFT JOIN rooms r ON r.uid = u.id
        WHERE u.role <> 'admin'
        ORDER BY ((b.n IS NOT NULL)::int + (t.n IS NOT NULL)::int + (r.n IS NOT NULL)::int) DESC,
                 coalesce(b.n, 0) + coalesce(t.n, 0) + coalesce(r.n, 0) DESC, u.id
        LIMIT 100;
    END
    $$;
    REVOKE ALL ON FUNCTION public.admin_spam_signals(integer) FROM PUBLIC, anon, authenticated,
        service_role;
    GRANT EXECUTE ON FUNCTION public.admin_spam_signals(integer) TO authenticated;
    CREATE INDEX idx_user_blocks_created ON public.user_blocks (created_at);
    """)


def downgrade() -> None:
    run_sql("""
    DROP INDEX public.idx_user_blocks_created;
    DROP FUNCTION public.admin_spam_signals(integer);
    """)
