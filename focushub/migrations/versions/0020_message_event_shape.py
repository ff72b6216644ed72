"""Room events carry a message as REST shows it: with its sender's username.

Revision ID: 0020_message_event_shape
Revises: 0019_admin

``message.created``/``updated``/``deleted`` events (``chat_message_json``) had
the sender's id only, so a client had to look the username up. They now carry
``sender_username`` too. (``is_read`` stays out: it depends on who reads, and
events are shared by every participant; ``read.updated`` events move it.)
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0020_message_event_shape"
down_revision = "0019_admin"
branch_labels = None
depends_on = None

_JSON = """
    CREATE OR REPLACE FUNCTION chat_message_json(m chat_messages) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
        SELECT jsonb_build_object(
            'id', m.id, 'room_id', m.room_id, 'seq', m.seq, 'sender_id', m.sender_id,
            'content', m.content, 'message_type', m.message_type, 'file_url', m.file_url,
            'created_at', m.created_at, 'edited_at', m.edited_at, 'deleted_at', m.deleted_at){extra}
    $$;
"""


def upgrade() -> None:
    run_sql(_JSON.format(extra="""
            || jsonb_build_object('sender_username',
                                  (SELECT u.username FROM users u WHERE u.id = m.sender_id))"""))


def downgrade() -> None:
    run_sql(_JSON.format(extra=""))
